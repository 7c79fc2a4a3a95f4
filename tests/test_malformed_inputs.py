"""A catalog of malformed inputs: each stops the program with ONE clear ConfigError and registers nothing.

Every case names the file, the field path and what is allowed. Two routes are covered:
- the stack values route (the prod stack's values, edited as dicts, run through the real program);
- the CLI route (`python -m tools.render`, in-process and as a subprocess) on a temporary stack file
  `stacks/Pulumi.malformed-<n>.yaml` of a private project folder, which must exit 1 without a traceback and write nothing.

Team files are edited in a temporary copy of teams/api-production (the private project folder of the `layout` fixture is
monkeypatched), so the catalog never touches the real teams/ folder other engineers work in.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import tools.mocks
import tools.render
from estate.model import ConfigError
from estate import PROJECT, PROJECT_ROOT as ROOT, Layout
from components.types import ResourceType as T
import tests.conftest
from tests.conftest import existing_grafana, run_values, scratch_layout, stack_values
from tools.mocks import RecordingMonitor
from tools.render import summary, write

TEAM = "api-production"  # the team every committed stack deploys; its copy is what the team cases edit
STACK_FILE = "stacks/Pulumi.unit-test.yaml"  # the dict route's stack has no file; errors still name it
TEAM_FILE = f"{TEAM}/team.yaml"


# ---------------------------------------------------------------------------------------------- helpers

def assert_one_clear_error(message: str, file: str, *parts: str) -> None:
    """One ConfigError naming `file` first, then every expected part (field path, what is allowed)."""
    first = message.splitlines()[0]
    assert re.fullmatch(rf"\S*{re.escape(file)}: invalid configuration \(\d+ problems?\); nothing was deployed:",
                        first), message
    assert message.count("invalid configuration") == 1, message
    assert "Traceback" not in message
    for part in parts:
        assert part in message, f"{part!r} not in:\n{message}"


def fails(values: dict, secret_keys: list[str]) -> tuple[str, RecordingMonitor]:
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_values(values, secret_keys, monitor)
    return str(error.value), monitor


def put(path: tuple, value: Any) -> Callable[[dict], None]:
    """Set `value` at `path`, making the maps on the way that the file lacks (e.g. a team's overrides)."""
    def mutate(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else target[key]
        target[path[-1]] = value
    return mutate


def drop(path: tuple) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def both(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        for m in mutations:
            m(data)
    return mutate


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    """A private project folder with a copy of teams/api-production, which every run of this module reads."""
    scratch = scratch_layout(tmp_path / "project", (TEAM,))
    monkeypatch.setattr(tests.conftest, "LAYOUT", scratch)
    return scratch


@pytest.fixture
def teams_dir(layout) -> Path:
    return layout.teams


@pytest.fixture
def base() -> tuple[dict, list[str]]:
    """The prod stack as an existing Grafana (token, no kubernetes section), deploying only api-production."""
    values, secret_keys = existing_grafana(*stack_values("prod"))
    values["teams"] = {TEAM: values["teams"][TEAM]}
    return values, secret_keys


def test_the_unmodified_baseline_deploys(base, teams_dir):
    """Guards the catalog: each case below fails because of its one change, not because of the baseline."""
    values, secret_keys = base
    assert run_values(values, secret_keys).registrations


# -------------------------------------------------------------------------------- stack values route

@dataclass
class StackCase:
    mutate: Callable[[dict], None]
    parts: tuple[str, ...]
    plain: str | None = None  # a secret key given in clear


def stack_case(id_: str, mutate, *parts: str, plain: str | None = None):
    return pytest.param(StackCase(mutate, parts, plain), id=id_)


P = f"{PROJECT}:"
STACK_CASES = [
    # wrong types
    stack_case("orgId is a word", put(("orgId",), "one"),
               f"{P}orgId: Input should be a valid integer", "(got 'one')"),
    stack_case("protect is neither true nor false", put(("protect",), "sometimes"),
               f"{P}protect: Input should be a valid boolean", "(got 'sometimes')"),
    stack_case("teams is a list", put(("teams",), [TEAM]), f"{P}teams: Input should be a valid dictionary"),
    stack_case("contactPoints is a string", put(("contactPoints",), "ops"),
               f"{P}contactPoints: Input should be a valid dictionary (got 'ops')"),
    stack_case("jsonData is a list", put(("datasources", "prometheus", "jsonData"), [1]),
               f"{P}datasources.prometheus.jsonData: Input should be a valid dictionary"),
    stack_case("a team's settings are null", put(("teams", TEAM), None),
               f"{P}teams.{TEAM}: Input should be a valid dictionary or instance of TeamSettings"),
    stack_case("a grafanaUrl without scheme", put(("grafanaUrl",), "grafana.acme-corp.com"),
               f"{P}grafanaUrl: must be an http:// or https:// URL without spaces (got 'grafana.acme-corp.com')"),
    stack_case("a team slug in capitals", put(("teams", "API"), {}),
               f"{P}teams.API: must be lowercase letters, digits and '-', starting with a letter (got 'API')"),
    stack_case("no team at all", put(("teams",), {}), f"{P}teams: Dictionary should have at least 1 item"),
    # unknown keys and typos
    stack_case("tresholds instead of threshold", put(("teams", TEAM, "overrides", "HighErrorRate"), {"tresholds": 0.01}),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.tresholds: unknown field (did you mean 'threshold'?); "
               "allowed: for, threshold"),
    stack_case("isdefault in lower case", put(("datasources", "loki", "isdefault"), True),
               f"{P}datasources.loki.isdefault: unknown field (did you mean 'isDefault'?); allowed: ",
               "basicAuthPassword, basicAuthUser"),
    stack_case("reciever instead of receiver", put(("teams", TEAM, "routing", "reciever"), "platform-ops"),
               f"{P}teams.{TEAM}.routing.reciever: unknown field (did you mean 'receiver'?); "
               "allowed: groupBy, muteTimings, receiver, severityReceivers"),
    stack_case("an unknown top-level key", put(("grafanaURL",), "https://grafana.acme-corp.com"),
               f"{P}grafanaURL: unknown field (did you mean 'grafanaUrl'?)"),
    stack_case("a contact point type that does not exist", put(("contactPoints", "platform-ops", "teams"), {"url": "x"}),
               f"{P}contactPoints.platform-ops.teams: unknown field; allowed: email, pagerduty, slack, webhook"),
    # unknown references
    stack_case("an unknown team", put(("teams", "billing"), {}),
               f"{P}teams.billing: unknown team 'billing'; allowed: {TEAM}"),
    stack_case("a route to an unknown contact point", put(("teams", TEAM, "routing", "receiver"), "api-prod"),
               f"{P}teams.{TEAM}.routing.receiver: unknown contact point 'api-prod' (defined: ", "platform-ops"),
    stack_case("a root receiver that is not defined", put(("notificationPolicy", "receiver"), "nobody"),
               f"{P}notificationPolicy.receiver: unknown contact point 'nobody' (defined: "),
    stack_case("a severity receiver for a severity that does not exist",
               put(("teams", TEAM, "routing", "severityReceivers"), {"page": "platform-ops"}),
               f"{P}teams.{TEAM}.routing.severityReceivers.page: Input should be 'critical', 'warning' or 'info'"),
    stack_case("an unknown mute timing", put(("teams", TEAM, "routing", "muteTimings"), ["nights"]),
               f"{P}teams.{TEAM}.routing.muteTimings: unknown mute timing 'nights' (defined: none)"),
    stack_case("an unknown datasource kind", put(("datasources", "elastic"), {"uid": "e", "name": "E", "url": "http://e"}),
               f"{P}datasources.elastic: unknown field; allowed: alertmanager, loki, prometheus"),
    stack_case("no prometheus datasource", drop(("datasources", "prometheus")), f"{P}datasources.prometheus: is required"),
    stack_case("an override of an alert the team does not have",
               put(("teams", TEAM, "overrides", "HighErrorRates"), {"threshold": 0.01}),
               f"{P}teams.{TEAM}.overrides.HighErrorRates: unknown alert; allowed: APIInstanceDown"),
    stack_case("a dashboard variable the team does not declare", put(("teams", TEAM, "variables"), {"budget": 1}),
               f"{P}teams.{TEAM}.variables.budget: unknown variable; allowed: none"),
    stack_case("a selector that is not label matchers", put(("teams", TEAM, "selector"), "env=prod"),
               f"{P}teams.{TEAM}.selector: not valid label matchers: invalid PromQL"),
    # bad durations
    stack_case("a duration in words", put(("notificationPolicy", "groupWait"), "30 seconds"),
               f"{P}notificationPolicy.groupWait: not a duration: write a number and a unit, e.g. 30s, 5m, 1h30m",
               "(got '30 seconds')"),
    stack_case("an override's for without unit", put(("teams", TEAM, "overrides", "HighErrorRate", "for"), "5"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.for: not a duration", "(got '5')"),
    # duplicates and uid length
    stack_case("two datasources with one uid", put(("datasources", "loki", "uid"), "prometheus"),
               "datasource 'prometheus': used by both prometheus and loki; uids must be unique"),
    stack_case("two default datasources", put(("datasources", "loki", "isDefault"), True),
               f"{P}datasources: at most one datasource may set isDefault: true (got prometheus, loki)"),
    stack_case("a datasource uid of 41 characters", put(("datasources", "loki", "uid"), "l" * 41),
               f"{P}datasources.loki.uid: String should have at most 40 characters"),
    stack_case("a datasource uid with a space", put(("datasources", "loki", "uid"), "lo ki"),
               f"{P}datasources.loki.uid: a uid may use only letters, digits, '-' and '_' (got 'lo ki')"),
    # secrets
    stack_case("no grafanaAuth", drop(("grafanaAuth",)), f"{P}grafanaAuth: is required"),
    stack_case("a Slack contact point without url", drop(("contactPoints", TEAM, "slack", "url")),
               f"{P}contactPoints.{TEAM}.slack.url: is required"),
    stack_case("a PagerDuty contact point without key",
               drop(("contactPoints", f"{TEAM}-pagerduty", "pagerduty", "integrationKey")),
               f"{P}contactPoints.{TEAM}-pagerduty.pagerduty.integrationKey: is required"),
    stack_case("grafanaAuth in clear", lambda v: None,
               f"{P}grafanaAuth: must be a secret; set it with: pulumi config set --stack unit-test --secret "
               f"--path '{P}grafanaAuth' <value>", plain="grafanaAuth"),
    stack_case("a datasource password in clear", lambda v: None,
               f"{P}datasources.prometheus.basicAuthPassword: must be a secret; set it with: pulumi config set "
               f"--stack unit-test --secret --path '{P}datasources.prometheus.basicAuthPassword' <value>",
               plain="datasources"),
    stack_case("a Slack URL and a PagerDuty key in clear", lambda v: None,
               f"pulumi config set --stack unit-test --secret --path '{P}contactPoints.{TEAM}.slack.url' <value>",
               f"pulumi config set --stack unit-test --secret --path "
               f"'{P}contactPoints.{TEAM}-pagerduty.pagerduty.integrationKey' <value>", plain="contactPoints"),
    # shapes the model refuses
    stack_case("a contact point with no integration", put(("contactPoints", "platform-ops"), {}),
               f"{P}contactPoints.platform-ops: a contact point needs at least one of: email, slack, webhook, pagerduty"),
    stack_case("a folder permission naming a role and a team",
               put(("teams", TEAM, "permissions"), [{"role": "Viewer", "teamId": "3", "permission": "View"}]),
               f"{P}teams.{TEAM}.permissions.0: a permission names exactly one of: role, teamId, userId"),
    stack_case("a folder permission that does not exist",
               put(("teams", TEAM, "permissions"), [{"role": "Viewer", "permission": "Read"}]),
               f"{P}teams.{TEAM}.permissions.0.permission: Input should be 'View', 'Edit' or 'Admin' (got 'Read')"),
]


@pytest.mark.parametrize("case", STACK_CASES)
def test_a_malformed_stack_value_gives_one_clear_error_and_registers_nothing(case, base, teams_dir):
    values, secret_keys = base
    case.mutate(values)
    if case.plain:
        secret_keys.remove(case.plain)
    message, monitor = fails(values, secret_keys)
    assert_one_clear_error(message, STACK_FILE, *case.parts)
    assert monitor.registrations == []


def test_a_secret_that_fails_validation_is_not_repeated_in_the_message(base, teams_dir):
    values, secret_keys = base
    values["contactPoints"]["platform-ops"]["email"]["addresses"] = "zq"  # too short, and secret
    message, monitor = fails(values, secret_keys)
    assert_one_clear_error(message, STACK_FILE,
                           f"{P}contactPoints.platform-ops.email.addresses: String should have at least 3 characters")
    assert "zq" not in message
    assert monitor.registrations == []


# -------------------------------------------------------------------------------------- team file route

@dataclass
class TeamCase:
    mutate: Callable[[dict], Any] | str  # edits the parsed team.yaml, or is the file's whole text
    file: str
    parts: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)  # extra files written into the team folder


def team_case(id_: str, mutate, *parts: str, file: str = TEAM_FILE, files: dict | None = None):
    return pytest.param(TeamCase(mutate, file, parts, files or {}), id=id_)


def alert(name: str, key: str, value: Any) -> Callable[[dict], None]:
    def mutate(team: dict) -> None:
        next(a for a in team["alerts"] if a["alert"] == name)[key] = value
    return mutate


def imports(*entries: dict) -> Callable[[dict], None]:
    return put(("imports",), list(entries))


SCOPED_PANEL = {"type": "timeseries", "title": "Up", "targets": [{"expr": "up{%(selector)s}"}]}
TEAM_CASES = [
    team_case("a YAML syntax error in team.yaml", "title: API\nalerts: [\n",
              "line 3, column 1: not valid YAML: expected the node content"),
    team_case("a team.yaml that is a list", "- title: API\n", "must be a YAML mapping"),
    team_case("an empty team.yaml", "", "title: is required", "metrics: is required"),
    team_case("a team without metrics", put(("metrics",), []), "metrics: List should have at least 1 item"),
    team_case("a key given twice in team.yaml", "title: A\ntitle: B\n", "key 'title' is given twice; keep one"),
    # invalid PromQL, checked in-process after the selector and Grafana macros are substituted
    team_case("an alert quantity cut short", alert("APIInstanceDown", "quantity", "up{%(selector)s} =="),
              "alerts.APIInstanceDown.quantity: invalid PromQL (", 'up{job="api-production", env="prod"} =='),
    team_case("an alert with unbalanced parentheses",
              alert("ErrorSpike", "quantity", "sum(rate(http_requests_5xx_total{%(selector)s}[1m])"),
              "alerts.ErrorSpike.quantity: invalid PromQL ("),
    team_case("an alert using a Grafana macro that does not exist",
              alert("APIInstanceDown", "quantity", "rate(up{%(selector)s}[$__rate])"),
              "alerts.APIInstanceDown.quantity: invalid PromQL ("),
    team_case("an alert without the selector placeholder", alert("APIInstanceDown", "quantity", "up"),
              "alerts.0.quantity: must scope its metrics with %(selector)s"),
    team_case("an alert with one metric outside the selector",
              alert("APIInstanceDown", "quantity", "up{%(selector)s} == 0 and on() up"),
              "alerts.APIInstanceDown.quantity: metrics ['up'] lack the team selector %(selector)s"),
    team_case("a comparison without a threshold", drop(("alerts", 1, "threshold")),
              "alerts.1: give a comparison and a threshold together"),
    team_case("an alert quantity naming no expression", alert("ErrorSpike", "quantity", "%(error_spike)s"),
              "alerts.2.quantity: unknown placeholder %(error_spike)s; allowed: selector, window"),
    team_case("an alert that does not say what no data means", drop(("alerts", 1, "noDataReason")),
              "alerts.1.noDataReason: is required"),
    # wrong values and typos
    team_case("tresholds in an alert", alert("HighErrorRate", "tresholds", 0.1),
              "alerts.1.tresholds: unknown field (did you mean 'threshold'?); allowed: alert, comparison, description, for,"),
    team_case("a severity that does not exist", alert("HighErrorRate", "severity", "page"),
              "alerts.1.severity: Input should be 'critical', 'warning' or 'info' (got 'page')"),
    team_case("a label the platform sets", alert("HighErrorRate", "labels", {"team": "x"}),
              "alerts.1: labels ['team'] are set by the platform; use the severity field"),
    team_case("a label value that is a number", alert("HighErrorRate", "labels", {"tier": 1}),
              "alerts.1.labels.tier: Input should be a valid string (got 1)"),
    team_case("an alert entry that is only a name", put(("alerts", 0), "APIInstanceDown"),
              "alerts.0: Input should be a valid dictionary or instance of AlertRule (got 'APIInstanceDown')"),
    # bad durations
    team_case("an alert's for in words", alert("APIInstanceDown", "for", "5 min"),
              "alerts.0.for: not a duration: write a number and a unit", "(got '5 min')"),
    team_case("an evaluation interval Grafana refuses", put(("alert_interval",), "15s"),
              "alert_interval: must be a multiple of 10s, e.g. 1m (got '15s')"),
    # duplicates and uid length
    team_case("two alerts with one name", lambda t: t["alerts"].append(dict(t["alerts"][0])),
              "alerts: duplicate alert names: APIInstanceDown; each alert needs its own name"),
    team_case("two alerts with one uid", both(alert("APIInstanceDown", "uid", "api-x"), alert("ErrorSpike", "uid", "api-x")),
              "alert rule 'api-x': used by both api-production (alerts.APIInstanceDown) and "
              "api-production (alerts.ErrorSpike); uids must be unique", file=STACK_FILE),
    team_case("a folder uid that is a dashboard's uid", put(("folderUid",), "api-production-overview"),
              "folder/dashboard 'api-production-overview': used by both api-production (folder) and "
              "api-production (dashboard 'API Production Overview'); uids must be unique", file=STACK_FILE),
    team_case("an alert name whose generated uid is over 40 characters",
              alert("APIInstanceDown", "alert", "APIInstanceDownForMoreThanItShouldBeAllowed"),
              "alerts.APIInstanceDownForMoreThanItShouldBeAllowed.uid: generated uid "
              "'api-production-api-instance-down-for-more-than-it-should-be-allowed' is over 40 characters; "
              "set a shorter uid"),
    team_case("an explicit alert uid of 41 characters", alert("APIInstanceDown", "uid", "a" * 41),
              "alerts.0.uid: String should have at most 40 characters"),
    team_case("a folder uid of 41 characters", put(("folderUid",), "f" * 41),
              "folderUid: String should have at most 40 characters"),
    # dashboards imported as JSON
    team_case("an imported dashboard that is not valid JSON", imports({"file": "broken.json", "uid": "imp"}),
              "not valid JSON at line 1, column 27: Expecting value",
              file=f"{TEAM}/broken.json", files={"broken.json": '{"title": "x", "panels": [}'}),
    team_case("an imported JSON that is not a dashboard", imports({"file": "other.json", "uid": "imp"}),
              "not a Grafana dashboard: needs a title and a panels list",
              file=f"{TEAM}/other.json", files={"other.json": '{"apiVersion": 1, "datasources": []}'}),
    team_case("an imported dashboard with a panel without type", imports({"file": "notype.json", "uid": "imp"}),
              "every panel needs a type (or a libraryPanel reference)",
              file=f"{TEAM}/notype.json", files={"notype.json": '{"title": "x", "panels": [{"title": "p"}]}'}),
    team_case("an imported dashboard whose targets are not a list", imports({"file": "targets.json", "uid": "imp"}),
              "dashboard 'x': not a dashboard model Grafana accepts", "panels and targets must be lists of objects",
              file=f"{TEAM}/targets.json",
              files={"targets.json": '{"title": "x", "panels": [{"type": "timeseries", "targets": "up"}]}'}),
    team_case("an imported dashboard file that is missing", imports({"file": "dashboards/gone.json", "uid": "imp"}),
              "imports.0.file: cannot read 'dashboards/gone.json' (No such file or directory); "
              "give a JSON file's path relative to teams/api-production/"),
    # An export's queries get the team's selector on import; one naming another job never shows data.
    team_case("an imported dashboard querying another team's job", imports({"file": "unscoped.json", "uid": "imp"}),
              "panels['p'].targets.A.expr: `up` selects job=\"billing\" but the team's selector is job=\"api-production\"",
              file=f"{TEAM}/unscoped.json",
              files={"unscoped.json": '{"title": "x", "panels": [{"type": "stat", "title": "p", '
                                      '"targets": [{"expr": "up{job=\\"billing\\"}"}]}]}'}),
    team_case("an imported dashboard reusing a built dashboard's uid",
              imports({"file": "copy.json", "uid": "api-production-overview"}),
              "folder/dashboard 'api-production-overview': used by both api-production (dashboard 'API Production "
              "Overview') and api-production (dashboard 'Copy'); uids must be unique",
              file=STACK_FILE, files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    team_case("an imported dashboard reusing a built dashboard's title", imports({"file": "same.json", "uid": "same"}),
              "teams.api-production: two dashboards titled 'API Production Overview' in one folder",
              file=STACK_FILE,
              files={"same.json": json.dumps({"title": "API Production Overview", "panels": [SCOPED_PANEL]})}),
    team_case("an imported dashboard uid of 41 characters", imports({"file": "copy.json", "uid": "d" * 41}),
              "imports.0.uid: String should have at most 40 characters",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
]


def write_team(teams_dir: Path, case: TeamCase) -> None:
    folder = teams_dir / TEAM
    for name, text in case.files.items():
        (folder / name).write_text(text)
    if isinstance(case.mutate, str):
        (folder / "team.yaml").write_text(case.mutate)
    else:
        team = yaml.safe_load((folder / "team.yaml").read_text())
        case.mutate(team)
        (folder / "team.yaml").write_text(yaml.safe_dump(team, sort_keys=False))


@pytest.mark.parametrize("case", TEAM_CASES)
def test_a_malformed_team_file_gives_one_clear_error_and_registers_nothing(case, base, teams_dir):
    write_team(teams_dir, case)
    message, monitor = fails(*base)
    assert_one_clear_error(message, case.file, *case.parts)
    assert monitor.registrations == []


def test_a_team_folder_copied_without_renaming_its_uids_and_folder_is_refused(base, teams_dir):
    shutil.copytree(teams_dir / TEAM, teams_dir / "zz-malformed-twin")
    values, secret_keys = base
    values["teams"]["zz-malformed-twin"] = {}
    message, monitor = fails(values, secret_keys)
    assert_one_clear_error(
        message, STACK_FILE,
        "folder/dashboard 'api-production-overview': used by both api-production (dashboard 'API Production Overview') "
        "and zz-malformed-twin (dashboard 'API Production Overview'); uids must be unique",
        "folder title 'API Production': used by both api-production and zz-malformed-twin; folder titles must be unique")
    assert "(2 problems)" in message
    assert monitor.registrations == []


def test_a_dashboards_module_that_raises_names_the_module_and_the_error(base, teams_dir):
    (teams_dir / TEAM / "dashboards.py").write_text("def dashboards(team):\n    return [team.missing]\n")
    message, monitor = fails(*base)
    assert_one_clear_error(message, f"{TEAM}/dashboards.py",
                           "dashboards(): AttributeError: 'TeamView' object has no attribute 'missing'")
    assert monitor.registrations == []


# ------------------------------------------------------------------------------------- stack file (CLI)

def prod_file_for_one_team() -> dict:
    """The committed prod stack file as YAML data, deploying api-production only, `secure:` values kept,
    managing an existing Grafana (a secure token instead of the kubernetes section)."""
    data = yaml.safe_load(Layout.at(ROOT).stack_file("prod").read_text())
    config = data["config"]
    config[f"{P}teams"] = {TEAM: config[f"{P}teams"][TEAM]}
    config.pop(f"{P}kubernetes")
    config[f"{P}grafanaAuth"] = {"secure": "AAABAplaceholderForTheGrafanaToken"}
    return data


def prod_text() -> str:
    return yaml.safe_dump(prod_file_for_one_team(), sort_keys=False)


def in_clear(*path: str, value: str) -> Callable[[], str]:
    def text() -> str:
        data = prod_file_for_one_team()
        target = data["config"]
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
        return yaml.safe_dump(data, sort_keys=False)
    return text


@dataclass
class FileCase:
    text: Callable[[], str | bytes]
    parts: tuple[str, ...]


def file_case(id_: str, text, *parts: str):
    return pytest.param(FileCase(text, parts), id=id_)


FILE_CASES = [
    file_case("an unclosed bracket", lambda: prod_text() + f"  {P}orgId: [\n", "not valid YAML"),
    file_case("a tab used for indentation", lambda: prod_text().replace(f"\n  {P}orgId", f"\n\t{P}orgId"),
              "not valid YAML: found character '\\t' that cannot start any token"),
    file_case("a key given twice", lambda: prod_text() + f"  {P}teams: {{}}\n",
              f"not valid YAML: key '{P}teams' is given twice; keep one"),
    file_case("config that is a list", lambda: "config:\n  - grafanaUrl\n",
              f"config: must be a mapping of {P}<key>: <value>"),
    file_case("a config key that is a number", lambda: prod_text() + "  1: 2\n",
              f"config.1: keys are names like {P}orgId"),
    file_case("a file that is a list", lambda: "- config\n", "must be a YAML mapping"),
    file_case("a file that is not UTF-8", lambda: prod_text().replace("acme-corp", "acmé-corp").encode("latin-1"),
              "not UTF-8 text; save the file as UTF-8"),
    file_case("a date where a duration goes",
              lambda: prod_text().replace("groupWait: 30s", "groupWait: 2026-11-01"),
              f"{P}notificationPolicy.groupWait: not a duration", "(got '2026-11-01')"),
    file_case("a secure value where plain text goes",
              in_clear(f"{P}grafanaUrl", value={"secure": "AAABAVX0"}),
              f"{P}grafanaUrl: must be an http:// or https:// URL"),
    file_case("a Slack URL in clear", in_clear(f"{P}contactPoints", TEAM, "slack", "url",
                                               value="https://hooks.slack.com/services/T000/B000/XXXX"),
              "must be a secret; set it with: pulumi config set --stack {stack} --secret --path "
              f"'{P}contactPoints.{TEAM}.slack.url' <value>"),
    file_case("a PagerDuty key in clear", in_clear(f"{P}contactPoints", f"{TEAM}-pagerduty", "pagerduty",
                                                   "integrationKey", value="0123456789abcdef0123456789abcdef"),
              "must be a secret; set it with: pulumi config set --stack {stack} --secret --path "
              f"'{P}contactPoints.{TEAM}-pagerduty.pagerduty.integrationKey' <value>"),
    file_case("the Grafana token in clear", in_clear(f"{P}grafanaAuth", value="glsa_in_clear_0123"),
              "pulumi config set --stack {stack} --secret --path 'grafana-platform:grafanaAuth' <value>"),
    file_case("the tresholds typo", in_clear(f"{P}teams", TEAM, "overrides", "HighErrorRate", value={"tresholds": 1}),
              f"{P}teams.{TEAM}.overrides.HighErrorRate.tresholds: unknown field (did you mean 'threshold'?)"),
]


@pytest.fixture
def stack_named(layout):
    """Writes the private project's stacks/Pulumi.malformed-<n>.yaml."""
    written: list[Path] = []

    def write(content: str | bytes) -> str:
        name = f"malformed-{len(written)}"
        path = layout.stack_file(name)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        written.append(path)
        return name

    return write


@pytest.mark.parametrize("case", FILE_CASES)
def test_a_malformed_stack_file_exits_1_with_one_message_and_no_traceback(case, stack_named, teams_dir, tmp_path,
                                                                          capsys, monkeypatch):
    monitor = RecordingMonitor()
    real = tools.render.run_program
    monkeypatch.setattr(tools.render, "run_program", lambda *a, **kw: real(*a, **{**kw, "monitor": monitor}))
    stack = stack_named(case.text())
    out = tmp_path / "out"
    assert tools.render.main(["--root", str(teams_dir.parent), "--stack", stack, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert_one_clear_error(err[len("error: "):], f"stacks/Pulumi.{stack}.yaml",
                           *(p.replace("{stack}", stack) for p in case.parts))
    assert monitor.registrations == []
    assert not out.exists()


def test_an_unknown_stack_name_lists_the_stacks_there_are(tmp_path, capsys):
    assert tools.render.main(["--stack", "malformed-nonexistent", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert_one_clear_error(err[len("error: "):], "stacks/Pulumi.malformed-nonexistent.yaml",
                           "no such stack; available: ", "prod")


@pytest.mark.parametrize("case", [p for p in FILE_CASES if p.id in (
    "an unclosed bracket", "a key given twice", "a Slack URL in clear", "the tresholds typo")])
def test_the_render_cli_exits_1_without_a_traceback_and_writes_nothing(case, stack_named, layout, tmp_path):
    stack = stack_named(case.text())
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tools.render", "--root", str(layout.root), "--stack", stack,
                             "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: stacks/Pulumi.{stack}.yaml: invalid configuration")
    for part in case.parts:
        assert part.replace("{stack}", stack) in result.stderr
    assert not out.exists()


def test_the_catalog_has_at_least_30_cases():
    assert len(STACK_CASES) + len(TEAM_CASES) + len(FILE_CASES) >= 30


# ------------------------------------------------------------------------------ secrets never leak

PLANTED = "PLANTED"  # every fed secret contains it; no output may


def plant_secrets(values: dict) -> list[str]:
    """Replace every secret in the stack values with a known value; returns the values planted."""
    planted = {
        "grafanaAuth": "glsa_PLANTED_token_7f3a",
        "prometheus": "PLANTED-prometheus-password-91c",
        "loki": "PLANTED-loki-password-5d2",
    }
    values["grafanaAuth"] = planted["grafanaAuth"]
    for kind in ("prometheus", "loki"):
        values["datasources"][kind].update(basicAuthUser="grafana", basicAuthPassword=planted[kind])
    values["contactPoints"]["zz-webhook"] = {"webhook": {"url": ""}}
    for name, point in values["contactPoints"].items():
        if "email" in point:
            point["email"]["addresses"] = planted[f"{name}.email"] = f"oncall-PLANTED-{name}@acme-corp.com"
        if "slack" in point:
            point["slack"]["url"] = planted[f"{name}.slack"] = f"https://hooks.slack.com/services/PLANTED/{name}"
        if "webhook" in point:
            point["webhook"]["url"] = planted[f"{name}.webhook"] = f"https://hooks.acme-corp.com/PLANTED/{name}"
        if "pagerduty" in point:
            point["pagerduty"]["integrationKey"] = planted[f"{name}.pagerduty"] = f"pdkeyPLANTED{name}"
    return list(planted.values())


def test_known_secrets_never_reach_the_render_the_exports_or_the_logs(base, teams_dir, tmp_path, capfd, caplog):
    """Every secret the program is fed (token, datasource passwords, each contact point endpoint) stays secret."""
    caplog.set_level(logging.DEBUG)
    values, secret_keys = base
    planted = plant_secrets(values)
    assert len(planted) >= 8

    run = run_values(values, secret_keys)
    exports = run.exports
    write(run, tmp_path / "render")
    print(summary("unit-test", run))

    rendered = {str(p.relative_to(tmp_path)): p.read_text() for p in (tmp_path / "render").rglob("*") if p.is_file()}
    captured = capfd.readouterr()
    places = {
        **rendered,
        "recorded inputs": json.dumps([r.as_json() for r in run.registrations]),
        "stack exports": json.dumps(exports, default=str),
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    for where, text in places.items():
        for secret in planted:
            assert secret not in text, f"{secret!r} leaked into {where}"
        assert PLANTED not in text, f"part of a secret leaked into {where}"

    # Not vacuous: the secrets were sent, masked, and the exports and render exist.
    assert set(exports) == {"grafanaUrl", "teams"} and TEAM in exports["teams"]
    assert run.one(T.PROVIDER, "grafana").inputs["auth"] == "[secret]"
    assert run.one(T.DATASOURCE, "prometheus").inputs["secureJsonDataEncoded"] == "[secret]"
    assert run.one(T.CONTACT_POINT, "zz-webhook").inputs["webhooks"] == "[secret]"  # each list whole
    assert run.one(T.CONTACT_POINT, TEAM).inputs["slacks"] == "[secret]"
    assert "resources.json" in "".join(rendered)


def test_a_config_error_never_repeats_a_secret_value(base, teams_dir, capfd):
    """A stack that fails validation, with real-looking secrets in it, prints none of them."""
    values, secret_keys = base
    planted = plant_secrets(values)
    values["contactPoints"]["api-production"]["slack"]["recipient"] = 42  # the error, in a plain field
    values["datasources"]["prometheus"]["basicAuthPassword"] = 12345  # a secret of the wrong type
    message, monitor = fails(values, secret_keys)
    assert_one_clear_error(message, STACK_FILE,
                           f"{P}contactPoints.{TEAM}.slack.recipient: Input should be a valid string (got 42)",
                           f"{P}datasources.prometheus.basicAuthPassword: Input should be a valid string")
    assert "12345" not in message
    for secret in planted:
        assert secret not in message
    assert monitor.registrations == []
