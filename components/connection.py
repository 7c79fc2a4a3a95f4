"""The Grafana provider every other resource is created through."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from .types import ResourceType


@dataclass(frozen=True)
class GrafanaConnectionArgs:
    url: str
    auth: str | pulumi.Output[str]  # service account token, or `user:password` for basic auth
    org_id: int


class GrafanaConnection(pulumi.ComponentResource):
    provider: grafana.Provider

    def __init__(self, name: str, args: GrafanaConnectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.CONNECTION, name, None, opts)
        self.provider = grafana.Provider(
            name,
            url=args.url,
            auth=pulumi.Output.secret(args.auth),
            org_id=args.org_id,
            # What this component waits for (the Helm release of a Grafana the stack deploys), the provider waits for.
            opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None),
        )
        self.register_outputs({"url": args.url})
