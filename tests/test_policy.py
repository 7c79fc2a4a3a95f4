"""The policy pack's guardrails, called directly with hand-built arguments (no Pulumi CLI needed)."""
from __future__ import annotations

import base64
import json
import runpy
import selectors
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Callable, NamedTuple

import pytest
import pulumi_policy
from pulumi_policy import proxy
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


# ------------------------------------------------------------------------------ inputs of any shape
# Each policy, given each shape where it reads an input, reports exactly the violation its rule calls
# for, or none: a rule that asks for something (a team folder, labels, an owner) cannot be met by a
# value it cannot read; a rule that forbids something (example domains, admin/admin, two defaults)
# is not broken by one. An unknown always passes: Pulumi runs the policies again at the update.

ABSENT = object()  # the key left out
SECRET_TEXT = "hunter2-s3cret"


def nested(depth: int) -> list:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


SHAPES = {
    "absent": ABSENT,
    "null": None,
    "an empty string": "",
    "a string": "x",
    "a huge string": "h" * 1_000_000,
    "a number": 7,
    "NaN": float("nan"),
    "a boolean": True,
    "a list in a list": [[1, 2]],
    "a nested map": {"k": {"k": 1}},
    "a list nested 100 deep": nested(100),
    "masked as [secret]": "[secret]",
    "a Secret wrapper": pulumi_policy.Secret(SECRET_TEXT),
    "an unknown string": proxy.UNKNOWN_STRING_VALUE,
    "an unknown object": proxy.UNKNOWN_OBJECT_VALUE,
}
UNKNOWNS = {"an unknown string", "an unknown object"}
STRINGS = {"a string", "a huge string"}
HUGE_QUOTED = "h" * 79 + "…"  # a huge string, as a message quotes it


def put(props: dict, key: str, value: Any) -> dict:
    """`props` with `key` set to `value`, or without `key` when the value is ABSENT."""
    rest = {k: v for k, v in props.items() if k != key}
    return rest if value is ABSENT else {**rest, key: value}


def labelled(**changes: Any) -> dict:
    """A rule with every label and annotation, `changes` replacing fields whole."""
    return {"name": "R", "labels": {"severity": "critical", "team": "t"},
            "annotations": {"summary": "s", "runbook_url": "https://runbooks.acme-corp.com/r"}, **changes}


def owned_folder(permission_props: dict) -> SimpleNamespace:
    return stack(folder("voicebot"), resource(g.FOLDER_PERMISSION, permission_props, name="voicebot"))


class Slot(NamedTuple):
    check: Callable
    build: Callable[[Any], SimpleNamespace]  # the arguments, with the shape in place
    violation: str | None = None  # a part of the one violation every shape reports, but those that pass
    passes: frozenset = frozenset()
    said: dict = {}  # shape -> a part of its violation where it says more (a tuple: of each, in order)

    def outcome(self, shape: str) -> tuple[str, ...]:
        if self.violation is None or shape in self.passes:
            return ()
        said = self.said.get(shape, self.violation)
        return said if isinstance(said, tuple) else (said,)


TEAM = {"teamId": "7", "permission": "Edit"}
LACKS_ALL = "lacks label severity, label team, annotation summary, annotation runbook_url"
SLOTS = {
    "a dashboard's folder": Slot(
        g.dashboard_in_team_folder, lambda v: resource(g.DASHBOARD, put({"configJson": "{}"}, "folder", v)),
        "a dashboard must live in its team's folder", frozenset(STRINGS | UNKNOWNS),
        {"absent": "(no folder)", "null": "(no folder)", "an empty string": "(no folder)",
         "masked as [secret]": "(`folder` is a secret, not a folder uid", "a Secret wrapper": "(`folder` is a secret,",
         "a nested map": "(`folder` is a map,", "NaN": "(`folder` is NaN,"}),
    "a dashboard's configJson": Slot(
        g.dashboard_in_team_folder,
        lambda v: resource(g.DASHBOARD, put({"folder": "api-production"}, "configJson", v))),
    "a rule group's rules": Slot(
        g.alert_rules_labelled, lambda v: resource(g.RULE_GROUP, put({"name": "api-production"}, "rules", v)),
        "rule group 'api-production': `rules` is", frozenset({"absent", "null"} | UNKNOWNS),
        {"a list in a list": "alert rule 'rules[0]' in group 'api-production' is a list, not an alert rule",
         "a list nested 100 deep": "alert rule 'rules[0]' in group 'api-production' is a list, not an alert rule",
         "masked as [secret]": "`rules` is a secret, not a list of alert rules", "a nested map": "`rules` is a map,"}),
    "one alert rule": Slot(
        g.alert_rules_labelled, lambda v: group(*([] if v is ABSENT else [v])),
        "alert rule 'rules[0]' in group 'api-production' is", frozenset({"absent"} | UNKNOWNS),
        {"a nested map": f"alert rule 'rules[0]' in group 'api-production' {LACKS_ALL}",
         "null": "is null, not an alert rule", "a Secret wrapper": "is a secret, not an alert rule"}),
    "a rule's labels": Slot(
        g.alert_rules_labelled, lambda v: group(put(labelled(), "labels", v)),
        "alert rule 'R' in group 'api-production' lacks label severity, label team:", frozenset(UNKNOWNS),
        {"masked as [secret]": "lacks label severity (got a secret), label team (got a secret):",
         "a Secret wrapper": "lacks label severity (got a secret), label team (got a secret):"}),
    "a rule's severity label": Slot(
        g.alert_rules_labelled, lambda v: group(labelled(labels=put({"team": "t"}, "severity", v))),
        "alert rule 'R' in group 'api-production' lacks label severity", frozenset(STRINGS | UNKNOWNS),
        {"a number": "lacks label severity (got a number):", "NaN": "lacks label severity (got NaN):",
         "a list in a list": "lacks label severity (got a list):", "a Secret wrapper": "(got a secret):"}),
    "a rule's name": Slot(
        g.alert_rules_labelled, lambda v: group(put({}, "name", v)),
        f"alert rule 'rules[0]' in group 'api-production' {LACKS_ALL}", frozenset(),
        {"a string": f"alert rule 'x' in group 'api-production' {LACKS_ALL}",
         "a huge string": f"alert rule '{HUGE_QUOTED}' in group 'api-production' {LACKS_ALL}"}),
    "a prod contact point's integrations": Slot(
        g.prod_contact_points_real, lambda v: resource(g.CONTACT_POINT, put({"name": "api-production"}, "emails", v)),
        "contact point 'api-production': emails[0][0][0]", frozenset(set(SHAPES) - {"a list nested 100 deep"}),
        {"a list nested 100 deep": "nests deeper than 32 levels, which the policy does not follow"}),
    "a prod contact point's name": Slot(
        g.prod_contact_points_real,
        lambda v: resource(g.CONTACT_POINT, put({"emails": [{"addresses": ["team@example.com"]}]}, "name", v)),
        "contact point '(unnamed)': emails[0].addresses[0] uses the example domain example.com;", frozenset(),
        {"a string": "contact point 'x': emails[0]", "a huge string": f"contact point '{HUGE_QUOTED}': emails[0]",
         "a list nested 100 deep": ("contact point '(unnamed)': emails[0].addresses[0] uses the example domain",
                                    "contact point '(unnamed)': name[0][0][0]")}),  # the name is walked too
    "the Grafana provider's auth": Slot(
        g.no_admin_admin, lambda v: resource(g.GRAFANA_PROVIDER, put({"url": "https://g"}, "auth", v))),
    "a datasource's basic auth user": Slot(g.no_admin_admin, lambda v: datasource(v, "admin")),
    "a datasource's secureJsonDataEncoded": Slot(
        g.no_admin_admin,
        lambda v: resource(g.DATASOURCE, put({"basicAuthUsername": "admin"}, "secureJsonDataEncoded", v))),
    "a Kubernetes Secret's stringData": Slot(
        g.no_admin_admin, lambda v: resource(g.K8S_SECRET, put({}, "stringData", v))),
    "a Kubernetes Secret's admin-user": Slot(
        g.no_admin_admin,
        lambda v: resource(g.K8S_SECRET, {"stringData": put({"admin-password": "admin"}, "admin-user", v)})),
    "a Helm release's values": Slot(g.no_admin_admin, lambda v: resource(g.HELM_RELEASE, put({}, "values", v))),
    "a Helm release's adminUser": Slot(  # left out (or null, which Helm drops), the chart's default is admin
        g.no_admin_admin,
        lambda v: resource(g.HELM_RELEASE, {"values": put({"adminPassword": "admin"}, "adminUser", v)}),
        "the Helm release sets Grafana's admin password to 'admin'", frozenset(set(SHAPES) - {"absent", "null"})),
    "a datasource's isDefault": Slot(
        g.one_default_datasource,
        lambda v: stack(resource(g.DATASOURCE, {"name": "Loki", "isDefault": True}, name="loki"),
                        resource(g.DATASOURCE, put({"name": "Tempo"}, "isDefault", v), name="tempo")),
        "2 datasources set isDefault: Loki, Tempo;", frozenset(set(SHAPES) - {"a boolean"})),
    "a default datasource's name": Slot(
        g.one_default_datasource,
        lambda v: stack(resource(g.DATASOURCE, {"name": "Loki", "isDefault": True}, name="loki"),
                        resource(g.DATASOURCE, put({"isDefault": True}, "name", v), name="tempo")),
        "2 datasources set isDefault: Loki, tempo;", frozenset(),
        {"a string": "2 datasources set isDefault: Loki, x;", "a huge string": f"isDefault: Loki, {HUGE_QUOTED};"}),
    "a folder's uid": Slot(
        g.team_folders_owned,
        lambda v: stack(resource(g.FOLDER, put({"title": "Voicebot"}, "uid", v), name="voicebot"),
                        folder_permission("voicebot", TEAM)),
        "has no owner", frozenset(UNKNOWNS),
        {"absent": "folder 'Voicebot' (uid: null) has no owner", "a string": "folder 'Voicebot' (x) has no owner",
         "a huge string": f"folder 'Voicebot' ({HUGE_QUOTED}) has no owner",
         "a list in a list": "folder 'Voicebot' (uid: a list) has no owner",
         "masked as [secret]": "folder 'Voicebot' (uid: a secret) has no owner"}),
    "a folder permission's folderUid": Slot(
        g.team_folders_owned, lambda v: owned_folder(put({"permissions": [TEAM]}, "folderUid", v)),
        "folder 'Voicebot' (voicebot) has no owner", frozenset(UNKNOWNS)),
    "a folder permission's permissions": Slot(
        g.team_folders_owned, lambda v: owned_folder(put({"folderUid": "voicebot"}, "permissions", v)),
        "folder 'Voicebot' (voicebot) has no owner", frozenset(UNKNOWNS)),
    "a permission's teamId": Slot(
        g.team_folders_owned,
        lambda v: owned_folder({"folderUid": "voicebot", "permissions": [put({"permission": "Edit"}, "teamId", v)]}),
        "folder 'Voicebot' (voicebot) has no owner", frozenset(STRINGS | UNKNOWNS | {"a number"})),
}


def through_the_engine(args: SimpleNamespace) -> SimpleNamespace:
    """The arguments as the SDK builds them: props behind its unknown-checking proxies."""
    for each in getattr(args, "resources", [args]):
        each.props = unknown_checking_proxy(each.props)
    return args


@pytest.mark.parametrize("engine", [False, True], ids=["as built", "through the engine's proxies"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("slot", SLOTS)
def test_a_policy_given_any_shape_of_input_reports_exactly_the_violation_its_rule_calls_for(slot, shape, engine):
    args = SLOTS[slot].build(SHAPES[shape])
    found = violations(SLOTS[slot].check, through_the_engine(args) if engine else args)
    expected = SLOTS[slot].outcome(shape)
    assert len(found) == len(expected), found
    for part, message in zip(expected, found):
        assert part in message
        assert len(message) < 600 and SECRET_TEXT not in message


def test_the_shape_table_covers_every_policy_of_the_pack():
    checks = {slot.check for slot in SLOTS.values()}
    assert checks == {g.dashboard_in_team_folder, g.alert_rules_labelled, g.prod_contact_points_real, g.no_admin_admin,
                      g.one_default_datasource, g.team_folders_owned}


def test_a_kubernetes_secret_holding_admin_admin_is_found_behind_the_engines_proxies():
    """The engine's props are Mapping proxies, not dicts: a check that asked for a dict saw nothing."""
    encoded = base64.b64encode(b"admin").decode()
    for props in ({"stringData": {"admin-user": "admin", "admin-password": "admin"}},
                  {"data": {"admin-user": encoded, "admin-password": encoded}}):
        [message] = violations(g.no_admin_admin, through_the_engine(resource(g.K8S_SECRET, props)))
        assert "admin/admin" in message


@pytest.mark.parametrize("args", [
    datasource("admin", None, secureJsonDataEncoded="[" * 100_000),
    datasource("admin", None, secureJsonDataEncoded='["admin"]'),
    datasource("admin", None, secureJsonDataEncoded="NaN"),
    resource(g.K8S_SECRET, {"stringData": {"admin-user": "admin"}, "data": {"admin-password": "é"}}),
    resource(g.K8S_SECRET, {"stringData": {7: "admin", "password": "admin"}}),
    resource(g.K8S_SECRET, {"stringData": {"admin-user": "admin"}, "data": {"admin-password": "//8="}}),
], ids=["JSON nested past the parser's depth", "JSON that is no object", "JSON NaN", "base64 that is not ASCII",
        "a key that is no string", "base64 of bytes that are not UTF-8"])
def test_credentials_the_policy_cannot_decode_are_no_admin_admin_and_raise_nothing(args):
    assert violations(g.no_admin_admin, args) == []


def test_a_violation_never_shows_more_than_80_characters_of_a_name_nor_its_control_characters():
    long_name = "Voicebot\n[mandatory] forged line \u202e" + "v" * 500
    [message] = violations(g.alert_rules_labelled, group({"name": long_name}))
    quoted = message.split("'")[1]
    assert len(quoted) == g.QUOTE_LIMIT and quoted.endswith("…")
    assert "\n" not in message and "\u202e" not in message and quoted.startswith("Voicebot?[mandatory] forged line ?")


def test_a_deep_contact_point_path_is_cut_to_80_characters_and_keys_that_are_no_plain_names_are_not_shown():
    settings: Any = {"url": "https://alerts.example.com/hook"}
    for _ in range(20):
        settings = {"level" + "x" * 30: settings}
    [message] = violations(g.prod_contact_points_real, contact_point(webhooks=[settings]))
    path = message.split(": ", 1)[1].split(" uses the example domain ")[0]
    assert len(path) == g.PATH_LIMIT and path.startswith("webhooks[0].levelxxx") and path.endswith("…")
    [message] = violations(g.prod_contact_points_real, contact_point(
        webhooks=[{"https://hooks.slack.com/T0/B0/token": {"url": "https://a.example.com"}}]))
    assert message.startswith("contact point 'api-production': webhooks[0][?].url uses the example domain "
                              "a.example.com;")
    assert "hooks.slack.com" not in message and "token" not in message


def test_a_contact_point_with_many_example_addresses_reports_the_first_twenty_then_how_many_more():
    found = violations(g.prod_contact_points_real, contact_point(
        emails=[{"addresses": [f"team{i}@example.com" for i in range(1000)]}]))
    assert len(found) == g.MAX_REPORTS + 1
    assert found[0].startswith("contact point 'api-production': emails[0].addresses[0] uses the example domain")
    assert found[-1] == "980 more violations of this policy like those above, not listed"


def test_a_long_example_domain_is_cut_in_the_message():
    host = "a" * 60 + "." + "b" * 60 + ".example.com"
    [message] = violations(g.prod_contact_points_real, contact_point(webhooks=[{"url": f"https://{host}/x"}]))
    assert f"the example domain {host[:79]}…;" in message


def test_an_unknown_anywhere_in_a_stack_leaves_the_other_folders_judged():
    """The SDK would skip the whole stack check on an unknown that escaped it; read through `at`, only
    the unknown value goes unjudged."""
    unknown_title = resource(g.FOLDER, {"uid": "chatbot-sav", "title": proxy.UNKNOWN_STRING_VALUE}, name="chatbot-sav")
    found = violations(g.team_folders_owned, through_the_engine(stack(
        unknown_title, folder("voicebot"), folder_permission("voicebot", {"teamId": proxy.UNKNOWN_STRING_VALUE}))))
    assert found == ["folder 'chatbot-sav' (chatbot-sav) has no owner: no Grafana team holds a permission on it; "
                     "name the team's Grafana team in the stack (teams.<slug>.grafanaTeam: {name, permission})"]


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
