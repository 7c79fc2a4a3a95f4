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
    # What must exist before the provider connects (the Helm release of a Grafana this stack deploys).
    depends_on: tuple[pulumi.Resource, ...] = ()


class GrafanaConnection(pulumi.ComponentResource):
    provider: grafana.Provider

    def __init__(self, name: str, args: GrafanaConnectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.CONNECTION, name, None, opts)
        self.provider = grafana.Provider(
            name,
            url=args.url,
            auth=pulumi.Output.secret(args.auth),
            org_id=args.org_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"url": args.url})
