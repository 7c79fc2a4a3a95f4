"""The grafana-platform policy pack: `pulumi preview --policy-pack policy` (or `pulumi up --policy-pack policy`)."""
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import guardrails  # noqa: E402  (the checks, importable without starting a policy server)

MANDATORY = EnforcementLevel.MANDATORY

PolicyPack(
    name="grafana-platform-guardrails",
    enforcement_level=MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="dashboards-in-team-folder",
            description="Every dashboard lives in a team's folder, never in General.",
            validate=guardrails.dashboard_in_team_folder,
        ),
        ResourceValidationPolicy(
            name="alert-rules-labelled",
            description="Every alert rule has severity and team labels and summary and runbook_url annotations.",
            validate=guardrails.alert_rules_labelled,
        ),
        ResourceValidationPolicy(
            name="prod-contact-points-not-example-domains",
            description="In a prod stack no contact point uses example.com/.org/.net or the .example TLD.",
            validate=guardrails.prod_contact_points_real,
        ),
        ResourceValidationPolicy(
            name="no-admin-admin",
            description="No provider, datasource, Kubernetes Secret or Helm release uses admin/admin.",
            validate=guardrails.no_admin_admin,
        ),
        StackValidationPolicy(
            name="one-default-datasource",
            description="At most one datasource is the organization's default.",
            validate=guardrails.one_default_datasource,
        ),
        StackValidationPolicy(
            name="team-folders-owned",
            description="Every folder has an owner: a Grafana team holds a permission on it.",
            validate=guardrails.team_folders_owned,
        ),
    ],
)
