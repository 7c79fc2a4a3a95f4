"""Everything one product team owns in one stack: its Grafana team (when the stack names one), its folder,
its dashboards, its alert rule group."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

import estate

from .alert_rules import TeamAlertRules, TeamAlertRulesArgs
from .dashboard import TeamDashboards, TeamDashboardsArgs
from .folder import FolderOwner, TeamFolder, TeamFolderArgs
from .grafana_team import GrafanaTeam, GrafanaTeamArgs
from .types import ResourceType


@dataclass(frozen=True)
class ProductTeamArgs:
    team: estate.Team
    prometheus_uid: str
    prevent_destroy_if_not_empty: bool
    org_id: str | None


class ProductTeam(pulumi.ComponentResource):
    """The provider and `protect` given to this component reach every resource of the team: Pulumi
    deletes dependents first, so a protected folder alone would not save its dashboards or rules."""

    def __init__(self, name: str, args: ProductTeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.TEAM, name, None, opts)
        team = args.team
        child = pulumi.ResourceOptions(parent=self)
        owner = None
        if team.settings.grafana_team:
            grafana_team = GrafanaTeam(team.slug, GrafanaTeamArgs(config=team.settings.grafana_team, org_id=args.org_id), child)
            owner = FolderOwner(team_id=grafana_team.team_id, permission=team.settings.grafana_team.permission)
        folder = TeamFolder(team.slug, TeamFolderArgs(
            slug=team.slug, uid=team.folder_uid, title=team.spec.folder,
            permissions=list(team.settings.permissions),
            prevent_destroy_if_not_empty=args.prevent_destroy_if_not_empty, org_id=args.org_id,
            owner=owner,
        ), child)
        TeamDashboards(team.slug, TeamDashboardsArgs(dashboards=team.dashboards, folder_uid=folder.folder.uid,
                                                        org_id=args.org_id), child)
        if team.rules:  # Grafana refuses a rule group without rules; a team of imported dashboards may have none
            TeamAlertRules(team.slug, TeamAlertRulesArgs(
                team=team, folder_uid=folder.folder.uid, prometheus_uid=args.prometheus_uid, org_id=args.org_id,
            ), pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None))
        self.folder_uid = folder.folder.uid
        self.register_outputs({"folderUid": self.folder_uid})
