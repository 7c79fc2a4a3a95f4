"""Every team of shared/TEAMS.md, complete in every stack: dashboards, panels, alerts, routing."""
import json
from pathlib import Path

import pytest
import yaml

from components.types import ResourceType as T
from tests.conftest import STACKS
from tools.catalog import CATALOG, _team_section, catalog, threshold_of
from tools.mocks import Run
from tools.routing import receivers

EXPECTED = yaml.safe_load((Path(__file__).parent / "expected" / "teams.yaml").read_text())
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


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_every_alert_exists_with_the_threshold_for_and_severity_in_force_in_the_stack(rendered, stack, team):
    expected = EXPECTED[team]
    rules = {r["name"]: r for r in rendered(stack).one(T.RULE_GROUP, team).inputs["rules"]}
    assert set(rules) == set(expected["alerts"])
    for name, (threshold, for_, severity) in expected["alerts"].items():
        override = expected.get("overrides", {}).get(stack, {}).get(name, {})
        rule = rules[name]
        expr = json.loads(rule["datas"][0]["model"])["expr"]
        assert rule["labels"] == {"severity": severity, "team": team}
        assert rule["for"] == override.get("for", for_)
        if threshold is not None:
            want = override.get("threshold", threshold)
            assert float(threshold_of(expr).split()[1]) == want, f"{name}: {expr}"
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_every_query_carries_the_team_selector(rendered, stack, team):
    run = rendered(stack)
    selector = f'job="{"fastapi-app" if team == "chatbot-sav" else team}", env="{stack}"'
    exprs = [json.loads(r["datas"][0]["model"])["expr"] for r in run.one(T.RULE_GROUP, team).inputs["rules"]]
    for uid in EXPECTED[team]["dashboards"]:
        model = json.loads(run.one(T.DASHBOARD, uid).inputs["configJson"])
        exprs += [t["expr"] for p in model["panels"] for t in p.get("targets", []) if "expr" in t]
    assert exprs and all(selector in e for e in exprs)


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
    without = Run([r for r in rendered("dev").registrations if (r.type, r.name) != (T.TEAM, "voicebot")])
    lines = _team_section("voicebot", {"dev": without, "staging": rendered("staging"), "prod": rendered("prod")})
    assert lines[0] == "## Voicebot (`voicebot`)"
    rows = [line.split(" | ") for line in lines if line.startswith(("| CostPerCallRunaway ", "| critical "))]
    assert len(rows) == 2 and all(row[-3] == "—" and "—" not in row[-2:] for row in rows), rows
