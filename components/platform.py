"""The root component: one stack's whole Grafana estate, built from a validated Estate."""
from __future__ import annotations

import pulumi

from .connection import GrafanaConnection, GrafanaConnectionArgs
from .contact_points import ContactPoints, ContactPointsArgs
from .datasources import Datasources, DatasourcesArgs
from .estate import Estate
from .grafana_deployment import GrafanaDeployment, GrafanaDeploymentArgs
from .notification_policy import NotificationPolicyTree, NotificationPolicyTreeArgs
from .notification_templates import NotificationTemplates, NotificationTemplatesArgs, platform_template, team_overrides
from .team import Team, TeamArgs
from .types import ResourceType


class GrafanaPlatform(pulumi.ComponentResource):
    def __init__(self, name: str, estate: Estate, opts: pulumi.ResourceOptions | None = None):
        overrides = team_overrides(estate.teams)  # a bad team template stops the program before any resource
        super().__init__(ResourceType.PLATFORM, name, None, opts)
        config = estate.config
        child = pulumi.ResourceOptions(parent=self)
        if config.kubernetes:
            # Deploy Grafana, then manage it through its ingress as admin: a new instance has no token yet.
            # Every Grafana resource goes through the provider, and the provider waits for the release.
            deployment = GrafanaDeployment("grafana", GrafanaDeploymentArgs(
                config=config.kubernetes, protect=config.protect), child)
            connection = GrafanaConnectionArgs(url=deployment.url, auth=deployment.admin_auth,
                                               org_id=config.org_id, depends_on=(deployment.release,))
        else:
            connection = GrafanaConnectionArgs(url=config.grafana_url, auth=config.grafana_auth, org_id=config.org_id)
        provider = GrafanaConnection("grafana", connection, child).provider
        datasources = Datasources("datasources", DatasourcesArgs(
            config=config.datasources, provider=provider, protect=config.protect), child)
        templates = NotificationTemplates("notification-templates", NotificationTemplatesArgs(
            platform=platform_template(estate, overrides), teams=overrides, provider=provider), child)
        contact_points = ContactPoints("contact-points", ContactPointsArgs(
            contact_points=config.contact_points, provider=provider, templates=tuple(templates.templates)), child)
        NotificationPolicyTree("notification-policy", NotificationPolicyTreeArgs(
            root=config.notification_policy, teams=estate.teams, contact_points=contact_points,
            mute_timings=config.mute_timings, provider=provider), child)
        self.teams = {
            team.slug: Team(team.slug, TeamArgs(
                team=team, prometheus_uid=config.datasources.prometheus.uid, provider=provider,
                protect=config.protect, datasources=datasources), child)
            for team in estate.teams
        }
        self.register_outputs({"teams": sorted(self.teams)})


def summary(estate: Estate, platform: GrafanaPlatform) -> dict:
    """Per team: folder uid, dashboard uids and rule count (the stack's main export)."""
    return {
        team.slug: {
            "folderUid": platform.teams[team.slug].folder_uid,
            "dashboardUids": [d.uid for d in team.dashboards],
            "ruleCount": len(team.rules),
        }
        for team in estate.teams
    }
