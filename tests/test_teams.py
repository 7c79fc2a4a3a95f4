"""Every team of shared/TEAMS.md, complete in every stack: dashboards, panels, alerts, routing."""
import dataclasses
import json
from pathlib import Path

import pytest

from components.types import ResourceType as T
from estate import PROJECT_LAYOUT
from estate.model import duration_seconds
from tests.conftest import STACKS, dump_yaml, load_yaml
from tools.catalog import CATALOG, PROMOTION, _team_section, catalog
from tools.mocks import Run
from tools.render import rule_expr
from tools.routing import receivers

EXPECTED = load_yaml((Path(__file__).parent / "expected" / "teams.yaml").read_text())
CASES = [(stack, team) for stack in STACKS for team in EXPECTED]
IDS = [f"{stack}-{team}" for stack, team in CASES]
MODERN = {"timeseries", "stat", "gauge", "table", "barchart", "histogram", "piechart", "bargauge", "row"}


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_the_team_folder_holds_every_dashboard_with_its_uid_title_rows_and_panels(rendered, stack, team):
    run, expected = rendered(stack), EXPECTED[team]
    assert run.one(T.FOLDER, team).inputs["title"] == expected["folder"]
    for uid, board in expected["dashboards"].items():
        registration = run.one(T.DASHBOARD, uid)
        assert registration.inputs["folder"] == team
        model = json.loads(registration.inputs["configJson"])
        assert model["title"] == board["title"]
        titles = {p["title"]: p["type"] for p in model["panels"]}
        rows = {title for title, type_ in titles.items() if type_ == "row"}
        assert set(board.get("rows", [])) <= rows
        missing = [p for p in board["panels"] if p not in titles]
        assert not missing, f"{uid} lacks panels {missing}"
        assert set(titles.values()) <= MODERN
        if "refresh" in board:
            assert model["refresh"] == board["refresh"]


def _rules(run: Run, team: str) -> dict:
    """The team's rules as the run's estate resolved them (overrides applied), by alert name."""
    return {r.alert: r for t in run.estate.teams if t.slug == team for r in t.rules}


@pytest.mark.parametrize("team", EXPECTED)
def test_prod_runs_every_alert_with_the_originals_values_exactly(rendered, team):
    expected, run = EXPECTED[team], rendered("prod")
    rules = _rules(run, team)
    assert set(rules) == set(expected["alerts"])
    for name, (threshold, for_, severity) in expected["alerts"].items():
        assert rules[name].labels["severity"] == severity, name
        if threshold is not None:
            assert rules[name].threshold == threshold, f"{name}: prod must keep the original's threshold"
        if for_ is not None:
            assert rules[name].for_ == for_, f"{name}: prod must keep the original's for"
    for name, summary in expected.get("summaries", {}).items():
        assert rules[name].annotations["summary"] == summary
    if "evaluation" in expected:
        group = run.one(T.RULE_GROUP, team).inputs
        assert group["intervalSeconds"] == duration_seconds(expected["evaluation"])


def _looser(rule, prod) -> bool:
    """Whether `rule` fires no sooner than `prod` would: a `for` at least as long, a threshold no nearer."""
    if duration_seconds(rule.for_) < duration_seconds(prod.for_):
        return False
    if rule.threshold == prod.threshold:
        return True
    return (rule.comparison in (">", ">=") and rule.threshold > prod.threshold
            or rule.comparison in ("<", "<=") and rule.threshold < prod.threshold)


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_every_alert_runs_in_every_stack_as_the_estate_resolved_it(rendered, stack, team):
    run = rendered(stack)
    rules = {r["name"]: r for r in run.one(T.RULE_GROUP, team).inputs["rules"]}
    resolved = _rules(run, team)
    assert set(rules) == set(EXPECTED[team]["alerts"])
    for name, (_, _, severity) in EXPECTED[team]["alerts"].items():
        rule = rules[name]
        assert rule_expr(rule) == resolved[name].expr, "Grafana runs the resolved rule's quantity, comparison, threshold"
        assert rule["for"] == resolved[name].for_
        assert rule["labels"] == {"severity": severity, "team": team}
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])


@pytest.mark.parametrize("stack", PROMOTION[:-1])
@pytest.mark.parametrize("team", EXPECTED)
def test_dev_and_staging_only_loosen_prods_alerts(rendered, stack, team):
    prod, here = _rules(rendered("prod"), team), _rules(rendered(stack), team)
    tighter = [name for name, rule in here.items() if not _looser(rule, prod[name])]
    assert not tighter, f"{stack} makes {tighter} fire sooner than prod: an earlier warning is an added rule"


@pytest.mark.parametrize("stack", PROMOTION[:-1])
def test_every_override_says_why_beside_it(stack):
    lines = PROJECT_LAYOUT.stack_file(stack).read_text().splitlines()
    unexplained, depth = [], None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if depth is not None and line.strip() and indent <= depth:
            depth = None
        if depth is not None and line.strip() and "#" not in line:
            unexplained.append(line.strip())
        if line.strip() == "overrides:":
            depth = indent
    assert not unexplained, f"stacks/Pulumi.{stack}.yaml: overrides without their reason: {unexplained}"


def test_a_rule_whose_no_data_means_alerting_tells_grafana_so(scratch, prod_values):
    from tests.conftest import run_values

    team = scratch.team_dir("api-production")
    spec = load_yaml((team / "team.yaml").read_text())
    spec["alerts"][0].update(noData="alerting", noDataReason="this API must always be scraped")
    (team / "team.yaml").write_text(dump_yaml(spec, allow_unicode=True))
    values, secrets = prod_values
    values["teams"] = {"api-production": values["teams"]["api-production"]}
    rules = {r["name"]: r for r in run_values(values, secrets, layout=scratch).one(T.RULE_GROUP, "api-production")
             .inputs["rules"]}
    assert rules["APIInstanceDown"]["noDataState"] == "Alerting"
    assert rules["HighErrorRate"]["noDataState"] == "OK"


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_a_critical_alert_reaches_the_teams_receivers_for_the_stack(rendered, stack, team):
    tree = rendered(stack).one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    critical = {"team": team, "severity": "critical", "alertname": "Any"}
    expected = {"dev": ["platform-dev"], "staging": [f"{team}-staging"], "prod": [f"{team}-pagerduty", team],
                "local": ["pager-local", "platform-local"]}[stack]
    assert receivers(tree, critical) == expected
    if stack == "prod":
        assert receivers(tree, {**critical, "severity": "warning"}) == [team]


def test_prod_team_contact_points_mail_and_slack_the_team_with_secret_endpoints(rendered):
    run = rendered("prod")
    for team in EXPECTED:
        contact = run.one(T.CONTACT_POINT, team).inputs
        assert contact["emails"] == "[secret]" and contact["slacks"] == "[secret]"  # whole lists: see contact_points.py
        assert run.one(T.CONTACT_POINT, f"{team}-pagerduty").inputs["pagerduties"] == "[secret]"


def test_voicebot_prices_come_from_the_stack_into_dashboard_and_alert(prod_values):
    from tests.conftest import run_values

    values, secrets = prod_values
    values["teams"]["voicebot"]["variables"] = {"elevenlabs_usd_per_char": 0.0002}
    run = run_values(values, secrets)
    board = run.one(T.DASHBOARD, "voicebot-roi").inputs["configJson"]
    rule = next(r for r in run.one(T.RULE_GROUP, "voicebot").inputs["rules"] if r["name"] == "CostPerCallRunaway")
    assert "0.0002" in board and "0.00011" not in board
    assert "* 0.0002" in json.loads(rule["datas"][0]["model"])["expr"]


def test_the_catalog_is_current():
    assert CATALOG.read_text() == catalog(), "run `venv/bin/python -m tools.catalog`"


def test_the_catalog_shows_a_dash_for_a_stack_without_the_team(rendered):
    dev = rendered("dev")
    without = Run(dev.registrations, dev.exports,
                  dataclasses.replace(dev.estate, teams=tuple(t for t in dev.estate.teams if t.slug != "voicebot")))
    lines = _team_section("voicebot", {"dev": without, "staging": rendered("staging"), "prod": rendered("prod")})
    assert lines[0] == "## Voicebot (`voicebot`)"
    rows = [line.split(" | ") for line in lines if line.startswith(("| CostPerCallRunaway ", "| critical "))]
    assert len(rows) == 2 and all(row[-3] == "—" and "—" not in row[-2:] for row in rows), rows
