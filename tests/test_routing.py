"""Routing proven by Alertmanager's own router: every stack's policy tree through amtool.

Each stack's rendered policy tree, contact points and mute timings become an Alertmanager config
(tools/alertmanager.py) that `amtool check-config` accepts; every row of the stack's routing
table (tests/expected/routing/<stack>.yaml, written from the stack file's intent) goes through
`amtool config routes test`. The pure-Python walker (tools/routing.py, used by the catalog, the
diff and the lint) must agree with amtool on all of them, and on hand-made trees.
Without amtool these tests fail (never skip): run `bash scripts/setup`.
"""
from __future__ import annotations

import copy
import os
import zoneinfo
from pathlib import Path
from typing import Callable

import pytest

from components.types import ResourceType as T
from estate.stack import _known_time_zone, _listed_zone_file
from tests.conftest import STACKS, load_yaml, run_fails, run_values
from tools import alertmanager as am
from tools import routing
from tools.mocks import Run

EXPECTED = Path(__file__).parent / "expected" / "routing"


def require_amtool() -> None:
    """Fail (never skip) the calling test when amtool is missing, saying how to install it."""
    try:
        am.amtool()
        return
    except am.AmtoolMissing as e:
        message = str(e)
    pytest.fail(message, pytrace=False)


def resources(run: Run) -> list[dict]:
    return [r.as_json() for r in run.registrations]


def tree(run: Run) -> dict:
    return run.one(T.NOTIFICATION_POLICY, "notification-policy").inputs


def expected_table(stack: str) -> list[dict]:
    return load_yaml((EXPECTED / f"{stack}.yaml").read_text())


def teams(run: Run) -> list[str]:
    return [r.name for r in run.of_type(T.TEAM)]


@pytest.fixture(scope="session")
def amtool_routes(rendered, tmp_path_factory) -> Callable[[str], list[tuple[dict, list[routing.Reach]]]]:
    """amtool's answer for every row of a stack's routing table (and the table's own label sets), once per stack."""
    answers: dict[str, list] = {}

    def get(stack: str) -> list[tuple[dict, list[routing.Reach]]]:
        require_amtool()
        if stack not in answers:
            run = rendered(stack)
            label_sets = [row["labels"] for row in expected_table(stack)]
            label_sets += [ls for ls in routing.label_sets(teams(run)) if ls not in label_sets]
            reach = am.routing(tmp_path_factory.mktemp(f"amtool-{stack}"), am.config(resources(run)), label_sets)
            answers[stack] = list(zip(label_sets, reach))
        return answers[stack]

    return get


def amtool_reach(answers: list, labels: dict) -> list[routing.Reach]:
    return next(reach for ls, reach in answers if ls == labels)


# --- the stacks ------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_amtool_check_config_accepts_the_stacks_tree_mute_timings_and_templates(stack, rendered, tmp_path):
    require_amtool()
    run = rendered(stack)
    files = []
    for template in run.of_type(T.MESSAGE_TEMPLATE):  # every template group, parsed by Alertmanager
        files.append(tmp_path / f"{template.name}.tmpl")
        files[-1].write_text(template.inputs["template"])
    path = tmp_path / am.CONFIG_FILE
    path.write_text(am.dump(am.config(resources(run), templates=[str(f) for f in files])))
    done = am.check_config(path)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, f"amtool check-config {path}:\n{done.stdout}{done.stderr}"
    assert f" - {len(run.of_type(T.CONTACT_POINT))} receivers" in done.stdout
    assert f" - {len(run.of_type(T.MESSAGE_TEMPLATE))} templates" in done.stdout


@pytest.mark.parametrize("stack", STACKS)
def test_the_routing_table_covers_every_team_and_severity_an_unknown_team_and_the_root(stack, rendered):
    assert [row["labels"] for row in expected_table(stack)] == routing.label_sets(teams(rendered(stack)))


@pytest.mark.parametrize("stack", STACKS)
def test_every_row_of_the_routing_table_reaches_its_receivers_in_amtool(stack, amtool_routes):
    answers = amtool_routes(stack)
    wrong = []
    for row in expected_table(stack):
        reach = amtool_reach(answers, row["labels"])
        got = ([r.receiver for r in reach], sorted({m for r in reach for m in r.muted_by}))
        if got != (row["receivers"], sorted(row.get("muted", []))) or any(
                sorted(r.muted_by) != sorted(row.get("muted", [])) for r in reach):
            wrong.append(f"{routing.describe(row['labels'])}: expected {row['receivers']} muted by "
                         f"{row.get('muted', [])}, amtool says {routing.reach_text(reach)}")
    assert not wrong, f"tests/expected/routing/{stack}.yaml against amtool:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("stack", STACKS)
def test_the_walker_agrees_with_amtool_on_every_label_set_of_the_stack(stack, rendered, amtool_routes):
    for labels, reach in amtool_routes(stack):
        assert routing.route(tree(rendered(stack)), labels) == reach, routing.describe(labels)


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_policy_tree_has_no_findings(stack, rendered):
    assert routing.stack_findings(resources(rendered(stack))) == []


# --- the walker against amtool on hand-made trees -------------------------------------------

def m(label: str, op: str, value: str) -> dict:
    return {"label": label, "match": op, "value": value}


HAND_MADE = {
    "regex, negation and continue": {
        "contactPoint": "root", "policies": [
            {"contactPoint": "ab", "matchers": [m("team", "=~", "a|b")], "continue": True},
            {"contactPoint": "not-c", "matchers": [m("team", "!=", "c")]},
            {"contactPoint": "rest", "matchers": [m("team", "!~", "x.*")]},
        ]},
    "inherited contact points and a fallback to the parent": {
        "contactPoint": "root", "policies": [
            {"matchers": [m("team", "=", "x")], "policies": [
                {"contactPoint": "pager", "matchers": [m("severity", "=", "critical")], "continue": True},
                {"matchers": [m("severity", "=~", "critical|warning")]},
            ]},
            {"contactPoint": "y", "matchers": [m("team", "=", "y")], "policies": [
                {"contactPoint": "y-info", "matchers": [m("severity", "=", "info")]}]},
        ]},
    "mute timings are a route's own": {
        "contactPoint": "root", "policies": [
            {"contactPoint": "x", "matchers": [m("team", "=", "x")], "muteTimings": ["night"], "policies": [
                {"contactPoint": "pager", "matchers": [m("severity", "=", "critical")]}]},
            {"matchers": [m("team", "=", "")], "muteTimings": ["night"]},
        ]},
}
GRID = [{k: v for k, v in (("team", team), ("severity", severity)) if v is not None}
        for team in ("a", "b", "c", "x", "xy", "y", None) for severity in ("critical", "warning", "info", None)]


@pytest.mark.parametrize("name", HAND_MADE)
def test_the_walker_agrees_with_amtool_on_hand_made_trees(name, tmp_path):
    require_amtool()
    policy = HAND_MADE[name]
    render = [{"type": T.NOTIFICATION_POLICY, "name": "notification-policy", "inputs": policy},
              {"type": T.MUTE_TIMING, "name": "night", "inputs": {
                  "name": "night", "intervals": [{"times": [{"start": "00:00", "end": "06:00"}]}]}}]
    for labels, reach in zip(GRID, am.routing(tmp_path, am.config(render), GRID)):
        assert routing.route(policy, labels) == reach, f"{name}: {routing.describe(labels)}"


def test_a_team_muted_with_severity_receivers_is_muted_on_every_route_amtool_takes(prod_values, tmp_path):
    require_amtool()
    values, secrets = prod_values
    values["muteTimings"] = {"nights": {"times": [{"start": "00:00", "end": "07:00"}], "location": "Europe/Paris"}}
    values["teams"]["voicebot"]["routing"]["muteTimings"] = ["nights"]
    run = run_values(values, secrets)
    critical, warning = am.routing(tmp_path, am.config(resources(run)),
                                   [{"team": "voicebot", "severity": "critical"}, {"team": "voicebot", "severity": "warning"}])
    assert [(r.receiver, r.muted_by) for r in critical] == [("voicebot-pagerduty", ("nights",)), ("voicebot", ("nights",))]
    assert [(r.receiver, r.muted_by) for r in warning] == [("voicebot", ("nights",))]


def test_missing_amtool_fails_with_the_setup_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"amtool is not installed.*bash scripts/setup"):
        require_amtool()
    with pytest.raises(am.AmtoolMissing, match="prometheus-alertmanager"):
        am.check_config(tmp_path / "alertmanager.yml")


def test_a_broken_config_is_refused_by_amtool(tmp_path):
    require_amtool()
    render = [{"type": T.NOTIFICATION_POLICY, "name": "notification-policy",
               "inputs": {"contactPoint": "root", "policies": [{"muteTimings": ["undefined"]}]}}]
    path = tmp_path / am.CONFIG_FILE
    path.write_text(am.dump(am.config(render)))
    done = am.check_config(path)
    assert done.returncode != 0 and "undefined" in done.stdout + done.stderr


# --- findings --------------------------------------------------------------------------------

FINDINGS = [
    ("a route under a route it contradicts",
     {"contactPoint": "root", "policies": [{"matchers": [m("team", "=", "a")], "policies": [
         {"contactPoint": "b", "matchers": [m("team", "=", "b")]}]}]},
     [("route-never-matches", "/0/0", 'team="a" contradicts team="b"')]),
    ("an equality a regex on the same label refuses",
     {"contactPoint": "root", "policies": [{"contactPoint": "b", "matchers": [m("team", "=", "a"), m("team", "=~", "b.*")]}]},
     [("route-never-matches", "/0", 'team="a" contradicts team=~"b.*"')]),
    ("a catch-all before a team route",
     {"contactPoint": "root", "policies": [{"contactPoint": "all"}, {"contactPoint": "a", "matchers": [m("team", "=", "a")]}]},
     [("route-shadowed", "/1", "taken first by /0 {}")]),
    ("a regex sibling that takes the team's alerts",
     {"contactPoint": "root", "policies": [{"contactPoint": "ab", "matchers": [m("team", "=~", "a|b")]},
                                           {"contactPoint": "a", "matchers": [m("team", "=", "a"), m("severity", "=", "critical")]}]},
     [("route-shadowed", "/1", 'taken first by /0 {team=~"a|b"}')]),
    ("a severity no alert has",
     {"contactPoint": "root", "policies": [{"contactPoint": "a", "matchers": [m("team", "=", "a")], "policies": [
         {"contactPoint": "info", "matchers": [m("severity", "=", "info")], "continue": True}, {}]}]},
     [("route-never-matches", "/0/0", "no alert rule of the stack reaches it")]),
    ("a contact point no route names",
     {"contactPoint": "root", "policies": [{"contactPoint": "a", "matchers": [m("team", "=", "a")]}]},
     [("contact-point-unreached", "pager", "no notification policy sends")]),
]


@pytest.mark.parametrize("policy,expected", [(p, e) for _, p, e in FINDINGS], ids=[i for i, _, _ in FINDINGS])
def test_a_route_or_contact_point_that_can_do_nothing_is_a_finding(policy, expected):
    contact_points = sorted(routing.receiver_names(policy) | {"pager"}) if expected[0][0] == "contact-point-unreached" \
        else sorted(routing.receiver_names(policy))
    found = routing.findings(policy, contact_points, [{"team": "a", "severity": "critical", "alertname": "A"}])
    assert [(f.rule, f.route) for f in found] == [(rule, where) for rule, where, _ in expected]
    for finding, (_, _, text) in zip(found, expected):
        assert text in finding.message


def test_a_sibling_with_continue_shadows_nothing():
    policy = {"contactPoint": "root", "policies": [{"contactPoint": "all", "continue": True},
                                                   {"contactPoint": "a", "matchers": [m("team", "=", "a")]}]}
    assert routing.findings(policy, ["root", "all", "a"], [{"team": "a"}]) == []


def test_the_lint_reports_routing_findings_of_a_render(rendered, tmp_path):
    from tools import lint
    from tools.render import write

    run = rendered("prod")
    edited = copy.deepcopy(run)
    edited.one(T.NOTIFICATION_POLICY, "notification-policy").inputs["policies"].insert(0, {"contactPoint": "platform-ops"})
    write(edited, tmp_path / "prod")
    findings, _ = lint.lint_render(tmp_path / "prod")
    assert [(f.rule, f.dashboard) for f in findings] == [  # each team route, not the routes under it
        ("route-shadowed", f"notification policy /{i}") for i in range(1, 6)]
    assert str(findings[0]) == ('prod: notification policy /1: [route-shadowed] {team="api-production"}: every alert '
                                'it matches is taken first by /0 {}, which has no `continue`')


# --- mute timings that mute always are refused ------------------------------------------------

EVERY_DAY = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@pytest.mark.parametrize("timing", [
    {},
    {"weekdays": EVERY_DAY},
    {"times": [{"start": "00:00", "end": "12:00"}, {"start": "12:00", "end": "24:00"}], "location": "Europe/Paris"},
], ids=["no restriction", "every weekday", "the whole day"])
def test_a_mute_timing_that_mutes_always_is_refused(prod_values, timing):
    values, secrets = prod_values
    values["muteTimings"] = {"quiet": timing}
    message, monitor = run_fails(values, secrets)
    assert "muteTimings.quiet: mutes every minute of the week" in message
    assert monitor.registrations == []


def test_mute_timings_that_together_mute_always_are_refused_on_the_team_that_uses_them(prod_values):
    values, secrets = prod_values
    values["muteTimings"] = {
        "nights": {"times": [{"start": "00:00", "end": "08:00"}, {"start": "19:00", "end": "24:00"}], "location": "Europe/Paris"},
        "days": {"times": [{"start": "08:00", "end": "19:00"}], "location": "Europe/Paris"},
    }
    values["teams"]["voicebot"]["routing"]["muteTimings"] = ["nights", "days"]
    message, monitor = run_fails(values, secrets)
    assert ("teams.voicebot.routing.muteTimings: nights, days together mute every minute of the week: "
            "the team's alerts would never notify anyone") in message
    assert monitor.registrations == []


def test_mute_timings_in_different_zones_that_leave_a_gap_are_accepted(prod_values):
    values, secrets = prod_values
    values["muteTimings"] = {
        "paris-nights": {"times": [{"start": "00:00", "end": "08:00"}, {"start": "19:00", "end": "24:00"}],
                         "location": "Europe/Paris"},
        "new-york-days": {"times": [{"start": "08:00", "end": "19:00"}], "location": "America/New_York"},
    }
    values["teams"]["voicebot"]["routing"]["muteTimings"] = ["paris-nights", "new-york-days"]
    assert run_values(values, secrets).one(T.NOTIFICATION_POLICY, "notification-policy")


# --- a mute timing's location ------------------------------------------------------------------

def _database_files() -> list[str]:
    """Every file of the time zone database by its relative path, right/ and posix/ and links included."""
    return sorted({os.path.relpath(os.path.join(folder, name), root) for root in zoneinfo.TZPATH if os.path.isdir(root)
                   for folder, _, names in os.walk(root, followlinks=True) for name in names})


@pytest.mark.parametrize("names", [
    sorted(zoneinfo.available_timezones()),
    _database_files(),
    ["Europe/Pariss", "europe/paris", "../etc/passwd", "/etc/passwd", "/usr/share/zoneinfo/UTC", "Europe//Paris",
     "./UTC", "Europe/../UTC", "right/UTC", "posix/UTC", "posixrules", "UTC\x00", "", ".", "Europe", "zone.tab"],
], ids=["every listed zone", "every file of the database", "names that are none"])
def test_a_location_is_known_exactly_when_zoneinfo_lists_it_though_most_are_found_without_the_list(names):
    listed = zoneinfo.available_timezones()
    assert [n for n in names if _known_time_zone(n) != (n in listed)] == []
    assert [n for n in names if _listed_zone_file(n) and n not in listed] == []  # the quick look never says more


# --- the catalog and the diff ------------------------------------------------------------------

def test_the_catalog_shows_each_stacks_routing_table(rendered):
    from tools.catalog import _routing_section

    lines = _routing_section({stack: rendered(stack) for stack in STACKS})
    prod = lines[lines.index("### prod"):]
    assert "| team=api-production, severity=critical | api-production-pagerduty + api-production | — |" in prod
    assert "| team=voicebot, severity=info | platform-dev | nights, weekends |" in lines[:lines.index("### staging")]
    rows = [line for line in lines if line.startswith("| team=") or line.startswith("| no labels")]
    assert len(rows) == sum(len(expected_table(stack)) for stack in STACKS)


def test_the_diff_says_which_labels_now_reach_whom(rendered):
    from tools import diff

    old = {(r["type"], r["name"]): r for r in resources(rendered("prod")) if not r["type"].startswith("grafana-platform:")}
    new = copy.deepcopy(old)
    team_route = new[(T.NOTIFICATION_POLICY, "notification-policy")]["inputs"]["policies"][0]
    del team_route["policies"]  # api-production stops paging
    lines = diff.stack_markdown("prod", diff.diff_stack(old, new))
    routing_lines = lines[lines.index("#### Routing") + 1:]
    assert routing_lines == ["- labels `team=api-production, severity=critical` now reach `api-production` "
                             "instead of `api-production-pagerduty + api-production`", ""]
