"""The Grafana provider every other resource is created through."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from .types import ResourceType

# The provider retries 3 times without waiting by default; a Grafana that was just deployed (pods ready,
# DNS and the ingress still settling) answers with connection errors and 5xx for a while. Each API call
# is retried up to RETRIES times, RETRY_WAIT_SECONDS apart (about two minutes), on connection errors and
# the provider's default retry status codes, 429 and 5xx (`retries`, `retry_wait`, `retry_status_codes`:
# pulumiverse_grafana.Provider; they become the OpenAPI client's NumRetries / RetryTimeout /
# RetryStatusCodes in grafana/terraform-provider-grafana internal/provider/configure_clients.go).
RETRIES = 12
RETRY_WAIT_SECONDS = 10


@dataclass(frozen=True)
class GrafanaConnectionArgs:
    url: str
    auth: str | pulumi.Output[str]  # service account token, or `user:password` for basic auth
    org_id: int | None  # None with a service account token: the token's organization is the organization


class GrafanaConnection(pulumi.ComponentResource):
    provider: grafana.Provider

    def __init__(self, name: str, args: GrafanaConnectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.CONNECTION, name, None, opts)
        self.provider = grafana.Provider(
            name,
            url=args.url,
            auth=pulumi.Output.secret(args.auth),
            org_id=args.org_id,
            retries=RETRIES,
            retry_wait=RETRY_WAIT_SECONDS,
            # What this component waits for (the ingress of a Grafana the stack deploys), the provider waits for.
            opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None),
        )
        self.register_outputs({"url": args.url})
