"""What one stack declares: every component's resources and their key inputs."""
import json

import pytest
from google.protobuf import json_format

from components.types import ResourceType as T
from tests.conftest import STACKS, existing_grafana, run_values
from tools.mocks import SECRET_SIG, RecordingMonitor
from tools.routing import receivers

SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"  # Pulumi's marker: this value is a secret


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_declares_provider_datasources_folder_dashboard_rules_contact_points_and_one_policy(rendered, stack):
    run = rendered(stack)
    for type_ in (T.PROVIDER, T.FOLDER, T.DASHBOARD, T.RULE_GROUP, T.CONTACT_POINT, T.DATASOURCE):
        assert run.of_type(type_), f"{stack} registers no {type_}"
    assert len(run.of_type(T.NOTIFICATION_POLICY)) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_no_two_resources_share_a_type_and_name(rendered, stack):
    keys = [(r.type, r.name) for r in rendered(stack).registrations]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("stack", STACKS)
def test_every_grafana_resource_is_parented_to_a_platform_component(rendered, stack):
    for r in rendered(stack).registrations:
        if r.type != T.PLATFORM:
            assert r.parent, f"{r.type} {r.name} has no parent"


def test_provider_takes_url_org_and_secret_credentials_from_the_stack(rendered):
    provider = rendered("prod").one(T.PROVIDER, "grafana")
    assert provider.inputs["url"] == "https://grafana.acme-corp.com"
    assert provider.inputs["orgId"] == "1"
    assert provider.inputs["auth"] == "[secret]"


def test_prometheus_datasource_has_fixed_uid_stack_url_default_flag_and_secret_password(rendered):
    prometheus = rendered("prod").one(T.DATASOURCE, "prometheus")
    assert prometheus.inputs["uid"] == "prometheus"
    assert prometheus.inputs["url"] == "https://prometheus.prod.acme-corp.com"
    assert prometheus.inputs["isDefault"] is True
    assert prometheus.inputs["basicAuthEnabled"] is True
    assert prometheus.inputs["secureJsonDataEncoded"] == "[secret]"
    assert json.loads(prometheus.inputs["jsonDataEncoded"])["timeInterval"] == "15s"


def test_optional_datasources_exist_only_where_the_stack_names_them(rendered):
    assert {r.name for r in rendered("dev").of_type(T.DATASOURCE)} == {"prometheus", "loki"}
    assert {r.name for r in rendered("prod").of_type(T.DATASOURCE)} == {"prometheus", "loki", "alertmanager"}


def test_prod_protects_datasources_and_every_teams_folder_permissions_dashboards_and_rules(rendered):
    run = rendered("prod")
    kinds = (T.FOLDER, T.FOLDER_PERMISSION, T.DASHBOARD, T.RULE_GROUP, T.DATASOURCE)
    for r in [r for kind in kinds for r in run.of_type(kind)]:
        assert r.protect, f"{r.type} {r.name} is not protected in prod"
    assert all(f.inputs["preventDestroyIfNotEmpty"] for f in run.of_type(T.FOLDER))


def test_dev_protects_nothing(rendered):
    assert not any(r.protect for r in rendered("dev").registrations)


def test_team_folder_has_uid_title_and_permissions_from_the_stack(rendered):
    run = rendered("prod")
    folder = run.one(T.FOLDER, "api-production")
    assert (folder.inputs["uid"], folder.inputs["title"]) == ("api-production", "API Production")
    permission = run.one(T.FOLDER_PERMISSION, "api-production")
    assert {"role": "Editor", "permission": "View"} in permission.inputs["permissions"]


def test_dashboards_live_in_their_team_folder_and_bind_the_stack_datasource(rendered):
    board = rendered("staging").one(T.DASHBOARD, "api-production-overview")
    assert board.inputs["folder"] == "api-production"
    model = json.loads(board.inputs["configJson"])
    assert model["uid"] == "api-production-overview"
    assert "id" not in model and "version" not in model
    variable = next(v for v in model["templating"]["list"] if v["name"] == "datasource")
    assert variable["current"]["value"] == "prometheus"
    assert variable["current"]["text"] == "Prometheus (staging)"
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == {"${datasource}"}


def test_dashboard_queries_carry_the_team_selector_extended_by_the_stack(rendered):
    model = json.loads(rendered("prod").one(T.DASHBOARD, "api-production-overview").inputs["configJson"])
    exprs = [t["expr"] for p in model["panels"] for t in p.get("targets", [])]
    assert exprs and all('job="api-production", env="prod"' in e for e in exprs)


def test_rule_group_is_one_per_team_in_its_folder_with_every_rule(rendered):
    group = rendered("prod").one(T.RULE_GROUP, "api-production")
    assert group.inputs["folderUid"] == "api-production"
    assert group.inputs["intervalSeconds"] == 60
    assert [r["name"] for r in group.inputs["rules"]] == [
        "APIInstanceDown", "HighErrorRate", "ErrorSpike", "HighLatencyP95", "CriticalLatencyP99",
        "HighMemoryUsage", "HighCPUUsage", "APIMetricsAbsent"]


def _rule(run, team, alert):
    return next(r for r in run.one(T.RULE_GROUP, team).inputs["rules"] if r["name"] == alert)


def test_each_rule_is_the_three_step_pipeline_grafanas_converter_emits(rendered):
    rule = _rule(rendered("prod"), "api-production", "HighErrorRate")
    steps = {d["refId"]: (d, json.loads(d["model"])) for d in rule["datas"]}
    assert list(steps) == ["A", "B", "C"]
    query, query_model = steps["A"]
    assert query["datasourceUid"] == "prometheus"
    assert query["relativeTimeRange"] == {"from": 600, "to": 0}
    assert query_model["instant"] is True and query_model["expr"].endswith("> 0.05")
    assert steps["B"][1] == {**steps["B"][1], "type": "math", "expression": "is_number($A) || is_nan($A) || is_inf($A)"}
    assert steps["C"][1]["type"] == "threshold" and steps["C"][1]["expression"] == "B"
    assert steps["C"][1]["conditions"][0]["evaluator"] == {"params": [0], "type": "gt"}
    assert (rule["condition"], rule["noDataState"], rule["execErrState"]) == ("C", "OK", "Error")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rule_resolves_an_instance_whose_series_is_gone_at_the_next_evaluation_as_prometheus_does(rendered, stack):
    """Grafana's default keeps a vanished series firing one evaluation more (2): the resolved message
    would come an interval later than promtool proves (grafana/grafana prom/convert.go sets 1)."""
    rules = [r for g in rendered(stack).of_type(T.RULE_GROUP) for r in g.inputs["rules"]]
    assert rules and {r["missingSeriesEvalsToResolve"] for r in rules} == {1}


def test_rules_carry_severity_team_and_annotations_with_a_runbook_per_stack(rendered):
    rule = _rule(rendered("staging"), "api-production", "APIInstanceDown")
    assert rule["labels"] == {"severity": "critical", "team": "api-production"}
    assert rule["for"] == "1m"
    assert rule["annotations"]["runbook_url"] == "https://runbooks.acme-corp.com/staging/api-production/api-instance-down"
    assert rule["annotations"]["description"] == "Instance {{ $labels.instance }} is not responding"


def test_stack_overrides_change_a_rules_threshold_or_for_and_nothing_else(rendered, prod_values):
    from tests.conftest import run_values

    prod, dev = rendered("prod"), rendered("dev")
    assert _rule(dev, "api-production", "APIInstanceDown")["for"] == "5m"
    assert _rule(prod, "api-production", "APIInstanceDown")["for"] == "1m"
    values, secrets = prod_values  # prod keeps the originals: a loosened threshold, as dev might set one
    values["teams"]["api-production"]["overrides"] = {"HighErrorRate": {"threshold": 0.1}}
    loose = _rule(run_values(values, secrets), "api-production", "HighErrorRate")
    kept = _rule(prod, "api-production", "HighErrorRate")
    assert json.loads(loose["datas"][0]["model"])["expr"].endswith("> 0.1")
    assert json.loads(kept["datas"][0]["model"])["expr"].endswith("> 0.05")
    assert {**loose, "datas": None, "annotations": None} == {**kept, "datas": None, "annotations": None}


class RawRecordingMonitor(RecordingMonitor):
    """Also keeps each registration's inputs as sent, secrets unmasked (with their signature)."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: dict[tuple[str, str], dict] = {}

    def RegisterResource(self, request):
        self.raw[(request.type, request.name)] = json_format.MessageToDict(request.object)
        return super().RegisterResource(request)


def test_each_integration_list_of_a_contact_point_is_one_secret_with_no_secret_nested_inside(prod_values):
    """The shape the engine stores (pulumiverse/pulumi-grafana#379): a nested secret diffs on every preview."""
    monitor = RawRecordingMonitor()
    run = run_values(*existing_grafana(*prod_values), monitor)
    team = run.one(T.CONTACT_POINT, "api-production").inputs
    assert (team["emails"], team["slacks"]) == ("[secret]", "[secret]")
    assert run.one(T.CONTACT_POINT, "api-production-pagerduty").inputs["pagerduties"] == "[secret]"
    raw = monitor.raw[(T.CONTACT_POINT, "api-production")]
    for key in ("emails", "slacks"):
        assert raw[key][SECRET_SIG] == SECRET_VALUE_SIG  # the whole list is the secret
        assert SECRET_SIG not in json.dumps(raw[key]["value"])  # and nothing inside is a secret of its own
    assert raw["slacks"]["value"] == [{
        "recipient": "#api-production-alerts", "url": "<secure grafana-platform:contactPoints.api-production.slack.url>",
        "title": '{{ template "notification.slack.title" . }}', "text": '{{ template "notification.slack.text" . }}'}]
    assert raw["emails"]["value"] == [{
        "addresses": ["<secure grafana-platform:contactPoints.api-production.email.addresses>"], "singleEmail": False,
        "subject": '{{ template "notification.email.subject" . }}',
        "message": '{{ template "notification.email.message" . }}'}]
    pager = monitor.raw[(T.CONTACT_POINT, "api-production-pagerduty")]["pagerduties"]["value"]
    assert pager == [{"integrationKey": "<secure grafana-platform:contactPoints.api-production-pagerduty.pagerduty.integrationKey>"}]


def test_a_contact_points_addresses_are_split_on_semicolons(prod_values):
    values, secrets = existing_grafana(*prod_values)
    values["contactPoints"]["platform-ops"]["email"]["addresses"] = "a@acme-corp.com; b@acme-corp.com;"
    monitor = RawRecordingMonitor()
    run_values(values, secrets, monitor)
    emails = monitor.raw[(T.CONTACT_POINT, "platform-ops")]["emails"]["value"]
    assert emails[0]["addresses"] == ["a@acme-corp.com", "b@acme-corp.com"]


def test_root_policy_keeps_the_original_alertmanager_timings_in_prod(rendered):
    policy = rendered("prod").one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    assert (policy["groupWait"], policy["groupInterval"], policy["repeatInterval"]) == ("30s", "5m", "1h")
    assert policy["contactPoint"] == "platform-ops"


def test_prod_pages_critical_alerts_and_still_tells_the_team(rendered):
    tree = rendered("prod").one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    critical = {"team": "api-production", "severity": "critical", "alertname": "HighErrorRate"}
    assert receivers(tree, critical) == ["api-production-pagerduty", "api-production"]
    assert receivers(tree, {**critical, "severity": "warning"}) == ["api-production"]
    assert receivers(tree, {"team": "unknown", "severity": "critical"}) == ["platform-ops"]


def test_routing_without_a_root_contact_point_reaches_only_matching_routes():
    tree = {"policies": [{"contactPoint": "team-a", "matchers": [{"label": "team", "match": "=", "value": "a"}]}]}
    assert receivers(tree, {"team": "a"}) == ["team-a"]
    assert receivers(tree, {"team": "b"}) == []
    assert receivers({}, {"team": "a"}) == []


def test_staging_sends_a_teams_alerts_to_its_channel_and_dev_to_the_platform_channel(rendered):
    alert = {"team": "api-production", "severity": "critical"}
    staging = rendered("staging").one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    dev = rendered("dev").one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    assert receivers(staging, alert) == ["api-production-staging"]
    assert receivers(dev, alert) == ["platform-dev"]


def test_dev_mutes_every_team_at_night_and_on_weekends(rendered):
    run = rendered("dev")
    assert run.one(T.MUTE_TIMING, "weekends").inputs["intervals"][0]["weekdays"] == ["saturday", "sunday"]
    assert run.one(T.MUTE_TIMING, "nights").inputs["intervals"][0]["times"] == [
        {"start": "00:00", "end": "08:00"}, {"start": "19:00", "end": "24:00"}]
    routes = run.one(T.NOTIFICATION_POLICY, "notification-policy").inputs["policies"]
    assert len(routes) == 5 and all(r["muteTimings"] == ["nights", "weekends"] for r in routes)


def test_panels_draw_the_threshold_the_stacks_alert_uses(rendered, prod_values):
    from tests.conftest import run_values

    def p95_steps(run):
        model = json.loads(run.one(T.DASHBOARD, "api-production-overview").inputs["configJson"])
        panel = next(p for p in model["panels"] if p["title"] == "Latency p95")
        return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    values, secrets = prod_values
    values["teams"]["api-production"]["overrides"] = {"HighLatencyP95": {"threshold": 1.5}}
    assert p95_steps(rendered("prod")) == [None, 1]
    assert p95_steps(run_values(values, secrets)) == [None, 1.5]


def test_the_stack_exports_each_teams_folder_dashboards_and_rule_count(rendered):
    teams = rendered("prod").exports["teams"]
    assert teams["api-production"] == {
        "folderUid": "api-production", "dashboardUids": ["api-production-overview"], "ruleCount": 8}
    assert sorted(teams) == ["api-production", "chatbot-sav", "customer-service", "mlops-scoring", "voicebot"]
    assert rendered("prod").exports["grafanaUrl"] == "https://grafana.acme-corp.com"


@pytest.mark.parametrize("stack", STACKS)
def test_every_grafana_resource_names_the_stacks_organization_where_the_provider_logs_in_as_a_user(rendered, stack):
    run = rendered(stack)
    grafana = [r for r in run.registrations if r.type.startswith("grafana:")]
    if run.estate.config.kubernetes:  # basic auth as the deployed Grafana's admin: each resource says its org
        assert {r.inputs.get("orgId") for r in grafana} == {str(run.estate.config.org_id)}
    else:  # a service account token: its organization is the one, and the provider refuses org_id
        assert not [r for r in grafana if "orgId" in r.inputs]
