"""The policy pack's guardrails, called directly with hand-built arguments (no Pulumi CLI needed)."""
from __future__ import annotations

import base64
import json
import runpy
import selectors
import subprocess
import sys
from types import SimpleNamespace

import pytest
import pulumi_policy
from pulumi_policy.proxy import unknown_checking_proxy

from estate import PROJECT_ROOT as ROOT
from tests.conftest import STACKS
from policy import guardrails as g


def resource(type_: str, props: dict, *, stack: str = "prod", name: str = "r") -> SimpleNamespace:
    """What pulumi_policy passes a resource check (and lists for a stack check), reduced to what the checks read."""
    return SimpleNamespace(resource_type=type_, props=props, name=name,
                           urn=f"urn:pulumi:{stack}::grafana-platform::{type_}::{name}")


def violations(check, args) -> list[str]:
    found: list[str] = []
    check(args, lambda message, urn=None: found.append(message))
    return found


# ------------------------------------------------------------------------------ dashboards in a folder

def test_a_dashboard_in_a_team_folder_passes():
    assert violations(g.dashboard_in_team_folder, resource(g.DASHBOARD, {"folder": "api-production"})) == []


@pytest.mark.parametrize("props", [{}, {"folder": ""}, {"folder": "  "}, {"folder": "general"}, {"folder": None}],
                         ids=["no folder", "empty", "blank", "General", "null"])
def test_a_dashboard_outside_a_team_folder_is_a_violation(props):
    [message] = violations(g.dashboard_in_team_folder, resource(g.DASHBOARD, {"configJson": "{}", **props}))
    assert "a dashboard must live in its team's folder" in message


def test_the_dashboard_check_ignores_other_resources():
    assert violations(g.dashboard_in_team_folder, resource("grafana:oss/folder:Folder", {})) == []


# ------------------------------------------------------------------------------------ labelled alerts

def rule(name: str = "HighErrorRate", **changes) -> dict:
    labels = {"severity": "critical", "team": "api-production"}
    annotations = {"summary": "High error rate", "runbook_url": "https://runbooks.acme-corp.com/api/high-error-rate"}
    labels.update(changes.pop("labels", {}))
    annotations.update(changes.pop("annotations", {}))
    return {"name": name, "labels": labels, "annotations": annotations, **changes}


def group(*rules: dict) -> SimpleNamespace:
    return resource(g.RULE_GROUP, {"name": "api-production", "folderUid": "api-production", "rules": list(rules)})


def test_rules_with_severity_team_summary_and_runbook_pass():
    assert violations(g.alert_rules_labelled, group(rule(), rule("ErrorSpike"))) == []


@pytest.mark.parametrize("missing, changes", [
    ("label severity", {"labels": {"severity": ""}}),
    ("label team", {"labels": {"team": None}}),
    ("annotation summary", {"annotations": {"summary": " "}}),
    ("annotation runbook_url", {"annotations": {"runbook_url": ""}}),
])
def test_a_rule_without_one_required_label_or_annotation_is_named(missing, changes):
    [message] = violations(g.alert_rules_labelled, group(rule(), rule("ErrorSpike", **changes)))
    assert message.startswith(f"alert rule 'ErrorSpike' in group 'api-production' lacks {missing}")


def test_a_rule_with_no_labels_or_annotations_lists_all_four():
    [message] = violations(g.alert_rules_labelled, group({"name": "Bare"}))
    assert "lacks label severity, label team, annotation summary, annotation runbook_url" in message


# ------------------------------------------------------------------------- prod contact points are real

def contact_point(stack: str = "prod", **integrations) -> SimpleNamespace:
    return resource(g.CONTACT_POINT, {"name": "api-production", **integrations}, stack=stack)


@pytest.mark.parametrize("integrations, path, domain", [
    ({"emails": [{"addresses": ["oncall@acme-corp.com", "team@example.com"]}]}, "emails[0].addresses[1]", "example.com"),
    ({"slacks": [{"url": "https://hooks.example.org/services/T0/B0"}]}, "slacks[0].url", "hooks.example.org"),
    ({"webhooks": [{"url": "https://alerts.example/hook"}]}, "webhooks[0].url", "alerts.example"),
    ({"webhooks": [{"url": "http://EXAMPLE.NET:8080/x"}]}, "webhooks[0].url", "example.net"),
    ({"slacks": [{"url": "[secret]", "recipient": "#ops", "endpointUrl": "https://slack.example.com/api"}]},
     "slacks[0].endpointUrl", "slack.example.com"),
], ids=["email", "slack", "example TLD", "upper case with port", "a non-secret field beside a masked secret"])
def test_a_prod_contact_point_on_an_example_domain_is_a_violation_that_quotes_no_value(integrations, path, domain):
    [message] = violations(g.prod_contact_points_real, contact_point(**integrations))
    assert message == (f"contact point 'api-production': {path} uses the example domain {domain}; "
                       "prod alerts must reach a real inbox, channel or service")
    assert "team@" not in message and "/services/" not in message and "/hook" not in message


@pytest.mark.parametrize("integrations", [
    {"emails": [{"addresses": ["oncall@acme-corp.com"]}]},
    {"webhooks": [{"url": "https://example.com.acme-corp.com/hook"}]},  # a subdomain of a real domain
    {"webhooks": [{"url": "https://notexample.com/hook"}]},
    {"slacks": [{"url": "[secret]", "recipient": "#example"}]},  # a channel, not a domain
    {"slacks": [{"url": pulumi_policy.Secret("https://hooks.example.com/x")}]},  # masked: not visible
], ids=["real address", "example.com as a subdomain label", "notexample.com", "a channel named example",
        "a secret the policy cannot read"])
def test_real_or_invisible_endpoints_pass(integrations):
    assert violations(g.prod_contact_points_real, contact_point(**integrations)) == []


def test_example_domains_are_allowed_outside_prod():
    cp = contact_point("dev", emails=[{"addresses": ["team@example.com"]}])
    assert violations(g.prod_contact_points_real, cp) == []


def test_the_stack_is_read_from_the_urn():
    assert g.stack_of("urn:pulumi:prod::grafana-platform::grafana:oss/folder:Folder::api") == "prod"
    assert g.stack_of("urn:pulumi:staging::grafana-platform::pulumi:pulumi:Stack::grafana-platform-staging") == "staging"
    assert g.stack_of(None) == ""


# ---------------------------------------------------------------------------------- no admin/admin

def test_a_provider_logging_in_as_admin_admin_is_a_violation():
    [message] = violations(g.no_admin_admin, resource(g.GRAFANA_PROVIDER, {"auth": "admin:admin", "url": "https://g"}))
    assert "admin:admin" in message and "service account token" in message


def test_a_provider_with_a_token_passes():
    assert violations(g.no_admin_admin, resource(g.GRAFANA_PROVIDER, {"auth": "glsa_x", "url": "https://g"})) == []


def datasource(user, password, name: str = "Prometheus (prod)", **more) -> SimpleNamespace:
    secure = json.dumps({"basicAuthPassword": password}) if isinstance(password, str) and password != "[secret]" else password
    return resource(g.DATASOURCE, {"name": name, "basicAuthUsername": user, "secureJsonDataEncoded": secure, **more})


def test_a_datasource_with_basic_auth_admin_admin_is_a_violation():
    [message] = violations(g.no_admin_admin, datasource("admin", "admin"))
    assert message.startswith("datasource 'Prometheus (prod)' uses basic auth admin/admin")


@pytest.mark.parametrize("user, password", [("admin", "s3cret-long"), ("grafana", "admin"), ("admin", "[secret]"),
                                            ("admin", None), (None, None)],
                         ids=["admin with a real password", "admin password for another user",
                              "a password the policy cannot read", "no password", "no basic auth"])
def test_other_datasource_credentials_pass(user, password):
    assert violations(g.no_admin_admin, datasource(user, password)) == []


def test_a_kubernetes_secret_holding_admin_admin_is_a_violation():
    as_text = resource(g.K8S_SECRET, {"stringData": {"admin-user": "admin", "admin-password": "admin"}})
    encoded = {k: base64.b64encode(b"admin").decode() for k in ("admin-user", "admin-password")}
    as_data = resource(g.K8S_SECRET, {"data": encoded})
    assert len(violations(g.no_admin_admin, as_text)) == 1
    assert len(violations(g.no_admin_admin, as_data)) == 1
    strong = resource(g.K8S_SECRET, {"stringData": {"admin-user": "admin", "admin-password": "a-strong-one"}})
    assert violations(g.no_admin_admin, strong) == []


def test_a_helm_release_with_the_admin_password_admin_is_a_violation():
    weak = resource(g.HELM_RELEASE, {"values": {"adminPassword": "admin"}})
    assert len(violations(g.no_admin_admin, weak)) == 1
    secret_ref = resource(g.HELM_RELEASE, {"values": {"admin": {"existingSecret": "grafana-admin"}}})
    assert violations(g.no_admin_admin, secret_ref) == []


# ---------------------------------------------------------------------------- one default datasource

def stack(*resources) -> SimpleNamespace:
    return SimpleNamespace(resources=list(resources))


def test_two_default_datasources_are_one_violation_naming_both():
    found = violations(g.one_default_datasource, stack(
        resource(g.DATASOURCE, {"name": "Prometheus", "isDefault": True}, name="prometheus"),
        resource(g.DATASOURCE, {"name": "Loki", "isDefault": True}, name="loki"),
        resource(g.DATASOURCE, {"name": "Alertmanager", "isDefault": False}, name="alertmanager"),
        resource(g.DASHBOARD, {"isDefault": True}, name="not-a-datasource"),
    ))
    assert found == ["2 datasources set isDefault: Loki, Prometheus; Grafana has one default datasource per "
                     "organization, so set isDefault on one of them only"]


@pytest.mark.parametrize("defaults", [0, 1])
def test_zero_or_one_default_datasource_passes(defaults):
    sources = [resource(g.DATASOURCE, {"name": f"ds{i}", "isDefault": i < defaults}, name=f"ds{i}") for i in range(3)]
    assert violations(g.one_default_datasource, stack(*sources)) == []


# ------------------------------------------------------------------------------------ folders have owners

def folder(uid: str) -> SimpleNamespace:
    return resource(g.FOLDER, {"uid": uid, "title": uid.replace("-", " ").title()}, name=uid)


def folder_permission(uid: str, *entries: dict) -> SimpleNamespace:
    return resource(g.FOLDER_PERMISSION, {"folderUid": uid, "permissions": list(entries)}, name=uid)


VIEWERS = {"role": "Viewer", "permission": "View"}


def test_a_folder_a_grafana_team_holds_a_permission_on_is_owned():
    found = violations(g.team_folders_owned, stack(
        folder("voicebot"), folder_permission("voicebot", VIEWERS, {"teamId": "7", "permission": "View"})))
    assert found == []


@pytest.mark.parametrize("permissions", [
    [],
    [folder_permission("voicebot", VIEWERS, {"role": "Editor", "permission": "Edit"})],
    [folder_permission("voicebot", {"userId": "3", "permission": "Admin"})],
    [folder_permission("voicebot", {"teamId": "", "permission": "Edit"})],
    [folder_permission("chatbot-sav", {"teamId": "7", "permission": "Edit"})],
], ids=["no permission resource", "roles only", "a user only", "an empty team id", "another folder's team"])
def test_a_folder_no_grafana_team_holds_a_permission_on_is_a_violation(permissions):
    [message] = violations(g.team_folders_owned, stack(folder("voicebot"), *permissions))
    assert message.startswith("folder 'Voicebot' (voicebot) has no owner")
    assert "teams.<slug>.grafanaTeam" in message


def test_a_new_team_whose_id_is_unknown_in_a_preview_still_owns_its_folder():
    """Grafana assigns the id on creation: the engine sends the policy an unknown, which the check must not read."""
    unknown = unknown_checking_proxy({"folderUid": "voicebot", "permissions": [
        {"teamId": pulumi_policy.proxy.UNKNOWN_STRING_VALUE, "permission": "Edit"}]})
    permission = SimpleNamespace(resource_type=g.FOLDER_PERMISSION, props=unknown, name="voicebot", urn="")
    assert violations(g.team_folders_owned, stack(folder("voicebot"), permission)) == []


# -------------------------------------------------------------------------------------- the pack

def test_the_pack_registers_every_guardrail_as_mandatory(monkeypatch):
    built = {}
    monkeypatch.setattr(sys, "path", list(sys.path))  # __main__ puts policy/ first on the path
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kw: built.update(kw))  # the real one serves gRPC
    runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="__main__")
    assert built["name"] == "grafana-platform-guardrails"
    assert built["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    policies = {p.name: p for p in built["policies"]}
    assert set(policies) == {"dashboards-in-team-folder", "alert-rules-labelled",
                             "prod-contact-points-not-example-domains", "no-admin-admin", "one-default-datasource",
                             "team-folders-owned"}
    assert isinstance(policies["one-default-datasource"], pulumi_policy.StackValidationPolicy)
    assert isinstance(policies["team-folders-owned"], pulumi_policy.StackValidationPolicy)
    # Through the SDK's own argument type and unknown-checking proxies, as the engine calls it:
    args = pulumi_policy.ResourceValidationArgs(
        g.RULE_GROUP, unknown_checking_proxy({"name": "api", "rules": [{"name": "Bare", "labels": {}}]}),
        "urn:pulumi:prod::grafana-platform::grafana:alerting/ruleGroup:RuleGroup::api", "api", None, None)
    found: list[str] = []
    policies["alert-rules-labelled"].validate(args, lambda message, urn=None: found.append(message))
    assert len(found) == 1 and "alert rule 'Bare'" in found[0]


def test_the_pack_starts_its_policy_server_as_the_cli_runs_it():
    """Run for real, the pack builds every policy and prints the port it serves on (what the Pulumi CLI reads)."""
    proc = subprocess.Popen([sys.executable, "policy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "the pack printed no port within 30 s"
        assert proc.stdout.readline().strip().isdigit()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("stack_name", STACKS)
def test_the_committed_stacks_pass_every_guardrail(rendered, stack_name):
    """The recorded inputs of each render, as the engine would show them to the pack (secrets masked)."""
    recorded = [resource(r.type, r.inputs, stack=stack_name, name=r.name) for r in rendered(stack_name).registrations]
    found: list[str] = []
    for check in (g.dashboard_in_team_folder, g.alert_rules_labelled, g.prod_contact_points_real, g.no_admin_admin):
        for args in recorded:
            check(args, lambda message, urn=None: found.append(message))
    for check in (g.one_default_datasource, g.team_folders_owned):
        check(stack(*recorded), lambda message, urn=None: found.append(message))
    assert found == []
    assert any(r.resource_type == g.FOLDER for r in recorded)
    assert any(r.resource_type == g.DASHBOARD for r in recorded) and any(r.resource_type == g.RULE_GROUP for r in recorded)
