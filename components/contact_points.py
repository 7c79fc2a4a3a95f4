"""The stack's contact points; every integration (with its address, URL or key) is a Pulumi secret."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana
from pulumiverse_grafana import alerting

from estate.notifications import message
from estate.stack import ContactPoint

from .types import ResourceType


def _integrations(cp: ContactPoint) -> dict:
    """Each integration list as one secret, the shape the engine stores it in.

    A secret nested in an integration block (a Slack `url` inside `slacks`) makes the engine store the
    whole `slacks` property as a secret, so the next preview compares a secret list with a list holding a
    secret and reports a change on every `pulumi up` (pulumiverse/pulumi-grafana#379: `- slacks: [secret]`
    / `+ slacks: [{... url: [secret]}]`). Passing each list whole as a secret keeps every endpoint secret and
    gives the program's inputs the state's shape. Only a real engine proves the preview clean (the e2e
    workflow's `pulumi preview --expect-no-changes`); docs/grafana-semantics.md has the workaround if not.
    """
    secret = pulumi.Output.secret
    args: dict = {}
    if cp.email:
        addresses = [x.strip() for x in cp.email.addresses.split(";") if x.strip()]
        args["emails"] = secret([alerting.ContactPointEmailArgs(
            addresses=addresses, single_email=cp.email.single_email,
            subject=message("email.subject"), message=message("email.message"))])
    if cp.slack:
        args["slacks"] = secret([alerting.ContactPointSlackArgs(
            url=cp.slack.url, recipient=cp.slack.recipient, title=message("slack.title"), text=message("slack.text"))])
    if cp.webhook:
        args["webhooks"] = secret([alerting.ContactPointWebhookArgs(url=cp.webhook.url, http_method=cp.webhook.http_method)])
    if cp.pagerduty:
        args["pagerduties"] = secret([alerting.ContactPointPagerdutyArgs(integration_key=cp.pagerduty.integration_key)])
    return args


@dataclass(frozen=True)
class ContactPointsArgs:
    contact_points: dict[str, ContactPoint]
    org_id: str | None


class ContactPoints(pulumi.ComponentResource):
    def __init__(self, name: str, args: ContactPointsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.CONTACT_POINTS, name, None, opts)
        self.by_name = {
            cp_name: grafana.alerting.ContactPoint(
                cp_name, name=cp_name, **_integrations(cp), org_id=args.org_id,
                # what this component waits for (the message templates the messages name), each contact point waits for
                opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None))
            for cp_name, cp in sorted(args.contact_points.items())
        }
        self.register_outputs({"names": sorted(self.by_name)})
