"""Everything one team owns in one stack: its folder, its dashboards, its alert rule group."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .alert_rules import TeamAlertRules, TeamAlertRulesArgs
from .dashboard import TeamDashboards, TeamDashboardsArgs
from .estate import Team as TeamModel
from .folder import TeamFolder, TeamFolderArgs
from .types import ResourceType


@dataclass(frozen=True)
class TeamArgs:
    team: TeamModel
    prometheus_uid: str
    provider: pulumi.ProviderResource
    protect: bool
    datasources: pulumi.Resource


class Team(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.TEAM, name, None, opts)
        team = args.team
        child = pulumi.ResourceOptions(parent=self)
        folder = TeamFolder(team.slug, TeamFolderArgs(
            slug=team.slug, uid=team.folder_uid, title=team.spec.folder,
            permissions=list(team.settings.permissions), provider=args.provider, protect=args.protect,
        ), child)
        TeamDashboards(team.slug, TeamDashboardsArgs(
            dashboards=team.dashboards, folder_uid=folder.folder.uid, provider=args.provider, protect=args.protect,
        ), child)
        if team.rules:  # Grafana refuses a rule group without rules; a team of imported dashboards may have none
            TeamAlertRules(team.slug, TeamAlertRulesArgs(
                team=team, folder_uid=folder.folder.uid, prometheus_uid=args.prometheus_uid,
                provider=args.provider, protect=args.protect, depends_on=[args.datasources],
            ), child)
        self.folder_uid = folder.folder.uid
        self.register_outputs({"folderUid": self.folder_uid})
