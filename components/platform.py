"""The root component: one stack's whole Grafana estate, built from a validated Estate."""
from __future__ import annotations

import pulumi

import estate
from estate.notifications import platform_template

from .connection import GrafanaConnection, GrafanaConnectionArgs
from .contact_points import ContactPoints, ContactPointsArgs
from .datasources import Datasources, DatasourcesArgs
from .notification_policy import NotificationPolicyTree, NotificationPolicyTreeArgs
from .notification_templates import NotificationTemplates, NotificationTemplatesArgs
from .team import ProductTeam, ProductTeamArgs
from .types import ResourceType


class GrafanaPlatform(pulumi.ComponentResource):
    def __init__(self, name: str, estate: estate.Estate, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.PLATFORM, name, None, opts)
        config = estate.config
        child = pulumi.ResourceOptions(parent=self)
        # The organization: the provider-level org_id does not reach every resource (alerting resources
        # use their own; grafana/terraform-provider-grafana#980, #747), so each resource names it. Only with
        # basic auth: with a service account token the provider refuses org_id ("org_id is only supported
        # with basic auth. API keys are already org-scoped", terraform-provider-grafana
        # internal/provider/configure_clients.go `parseAuth`, and its create validation of a resource's
        # org_id): the token's organization is the one (docs/grafana-semantics.md).
        org_id = config.org_id if config.kubernetes else None
        resource_org = str(org_id) if org_id is not None else None
        if config.kubernetes:
            # Only a stack that deploys Grafana loads pulumi-kubernetes (dev and staging never do).
            from .grafana_deployment import GrafanaDeployment, GrafanaDeploymentArgs

            # Deploy Grafana, then manage it through its ingress as admin: a new instance has no token yet.
            # Every Grafana resource goes through the provider, and the provider waits for the ingress.
            deployment = GrafanaDeployment("grafana", GrafanaDeploymentArgs(config=config.kubernetes),
                                           pulumi.ResourceOptions(parent=self, protect=config.protect))
            connection = GrafanaConnection("grafana", GrafanaConnectionArgs(
                url=deployment.url, auth=deployment.admin_auth, org_id=org_id),
                pulumi.ResourceOptions(parent=self, depends_on=[deployment.ingress]))
        else:
            connection = GrafanaConnection("grafana", GrafanaConnectionArgs(
                url=config.grafana_url, auth=config.grafana_auth, org_id=None), child)
        # Children inherit the provider, and `protect` where it is given: the datasources and every
        # team's resources are protected in protected stacks; contact points and routing are not.
        grafana = pulumi.ResourceOptions(parent=self, providers=[connection.provider])
        protected = pulumi.ResourceOptions.merge(grafana, pulumi.ResourceOptions(protect=config.protect))
        datasources = Datasources("datasources", DatasourcesArgs(config=config.datasources, org_id=resource_org),
                                  protected)
        templates = NotificationTemplates("notification-templates", NotificationTemplatesArgs(
            platform=platform_template(estate),
            teams={t.slug: t.notification_templates for t in estate.teams if t.notification_templates},
            org_id=resource_org), grafana)
        contact_points = ContactPoints("contact-points", ContactPointsArgs(
            contact_points=config.contact_points, org_id=resource_org),
            pulumi.ResourceOptions.merge(grafana, pulumi.ResourceOptions(depends_on=templates.templates)))
        NotificationPolicyTree("notification-policy", NotificationPolicyTreeArgs(
            root=config.notification_policy, teams=estate.teams, contact_points=contact_points,
            mute_timings=config.mute_timings, org_id=resource_org), grafana)
        team_options = pulumi.ResourceOptions.merge(protected, pulumi.ResourceOptions(depends_on=[datasources]))
        self.teams = {}
        for team in estate.teams:  # a loop, not a comprehension: the SDK records every frame in each resource's stack
            self.teams[team.slug] = ProductTeam(team.slug, ProductTeamArgs(
                team=team, prometheus_uid=config.datasources.prometheus.uid,
                prevent_destroy_if_not_empty=config.protect, org_id=resource_org,
            ), team_options)
        self.register_outputs({"teams": sorted(self.teams)})


def summary(estate: estate.Estate, platform: GrafanaPlatform) -> dict:
    """Per team: folder uid, dashboard uids and rule count (the stack's main export)."""
    return {
        team.slug: {
            "folderUid": platform.teams[team.slug].folder_uid,
            "dashboardUids": [d.uid for d in team.dashboards],
            "ruleCount": len(team.rules),
        }
        for team in estate.teams
    }
