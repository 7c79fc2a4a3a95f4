"""A team's dashboards, each with its canonical JSON, in the team's folder."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from estate import Dashboard
from .types import ResourceType


@dataclass(frozen=True)
class TeamDashboardsArgs:
    dashboards: tuple[Dashboard, ...]
    folder_uid: pulumi.Input[str]
    org_id: str | None


class TeamDashboards(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamDashboardsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.TEAM_DASHBOARDS, name, None, opts)
        for board in args.dashboards:
            grafana.oss.Dashboard(
                board.uid,
                config_json=board.config_json,
                folder=args.folder_uid,
                overwrite=True,  # the program is the source of truth: edits made in the UI are replaced
                org_id=args.org_id,
                opts=pulumi.ResourceOptions(parent=self),  # provider and protect: the parent's
            )
        self.register_outputs({"uids": [b.uid for b in args.dashboards]})
