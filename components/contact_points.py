"""The stack's contact points; every endpoint (address, URL, key) is a Pulumi secret."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana
from pulumiverse_grafana import alerting

from estate.notifications import message
from estate.stack import ContactPoint

from .types import ResourceType


def _integrations(cp: ContactPoint) -> dict:
    secret = pulumi.Output.secret
    args: dict = {}
    if cp.email:
        args["emails"] = [alerting.ContactPointEmailArgs(
            addresses=secret(cp.email.addresses).apply(lambda a: [x.strip() for x in a.split(";") if x.strip()]),
            single_email=cp.email.single_email,
            subject=message("email.subject"), message=message("email.message"))]
    if cp.slack:
        args["slacks"] = [alerting.ContactPointSlackArgs(url=secret(cp.slack.url), recipient=cp.slack.recipient,
                                                      title=message("slack.title"), text=message("slack.text"))]
    if cp.webhook:
        args["webhooks"] = [alerting.ContactPointWebhookArgs(url=secret(cp.webhook.url), http_method=cp.webhook.http_method)]
    if cp.pagerduty:
        args["pagerduties"] = [alerting.ContactPointPagerdutyArgs(integration_key=secret(cp.pagerduty.integration_key))]
    return args


@dataclass(frozen=True)
class ContactPointsArgs:
    contact_points: dict[str, ContactPoint]
    templates: tuple[pulumi.Resource, ...]  # the notification templates the messages name


class ContactPoints(pulumi.ComponentResource):
    def __init__(self, name: str, args: ContactPointsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.CONTACT_POINTS, name, None, opts)
        self.by_name = {
            cp_name: grafana.alerting.ContactPoint(
                cp_name, name=cp_name, **_integrations(cp),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.templates)))
            for cp_name, cp in sorted(args.contact_points.items())
        }
        self.register_outputs({"names": sorted(self.by_name)})
