"""A product team as a Grafana Team: the owner its folder's permissions are granted to (the stack's `grafanaTeam`).

Membership: with `members`, the team has exactly those users (they must already exist in Grafana).
Without, the program leaves membership alone, and members that the organization's SSO team sync
adds are ignored by the provider either way (`ignore_externally_synced_members`, true by default:
grafana/terraform-provider-grafana, internal/resources/grafana/resource_team.go). `org_id` only where
the provider logs in as a user: it refuses one with a service account token, which is already scoped
to one organization (same file, Create; docs/grafana-semantics.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from estate.stack import GrafanaTeam as GrafanaTeamConfig
from .types import ResourceType


@dataclass(frozen=True)
class GrafanaTeamArgs:
    config: GrafanaTeamConfig
    org_id: str | None = None


class GrafanaTeam(pulumi.ComponentResource):
    team_id: pulumi.Output[str]  # what a folder permission names the team by (Grafana assigns it)

    def __init__(self, name: str, args: GrafanaTeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.GRAFANA_TEAM, name, None, opts)
        config = args.config
        team = grafana.oss.Team(
            name,
            name=config.name,
            members=sorted(config.members) if config.members is not None else None,
            ignore_externally_synced_members=True,
            org_id=args.org_id,
            opts=pulumi.ResourceOptions(parent=self),  # provider and protect: the parent's
        )
        self.team_id = team.team_id.apply(str)
        self.register_outputs({"name": config.name})
