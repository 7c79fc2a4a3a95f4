"""The Grafana provider every other resource is created through."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from .types import ResourceType


@dataclass(frozen=True)
class GrafanaConnectionArgs:
    url: str
    auth: str  # service account token
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"url": args.url})
