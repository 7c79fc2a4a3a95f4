"""The catalog of bad input: whatever a file, a team's code, the command line or the environment
says, the answer is ONE ConfigError — file, field path, what is allowed, at most 15 lines, no
traceback, no secret value — with nothing registered and nothing written. Nothing vanishes,
unprotects, goes silent or leaks (issue 12).

Each table reads as a specification, one row per case, grouped by the seven classes:
1. keys that silently win or vanish;      2. team code that yields nothing or escapes;
3. secrets echoed or left unmasked;       4. names and paths that escape;
5. values that neuter an alert;           6. tracebacks, hangs and blow-ups;
7. coercions and noisy messages;          and the everyday mistakes (types, typos, references).

Routes: stack values edited as dicts and run through the real program (`run_fails`); stack files
as text through `python -m tools.render` (in-process, and a few as a subprocess); team files and
team code in a private copy of teams/api-production; the environment through the program's seam.
"""
from __future__ import annotations

import json
import logging
import os
import re
import runpy
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import estate.config
import estate.model
import estate.stack
import estate.resolve
import estate.team_code
import tests.conftest
import tools.mocks
import tools.render
from components.types import ResourceType as T
from estate import PROJECT, PROJECT_LAYOUT, PROJECT_ROOT as ROOT, ConfigError, Layout
from estate.model import MAX_LINES
from tests.conftest import (PYDANTIC_TYPE_NAMES, dump_yaml, ends_within, existing_grafana, files, load_yaml, run_fails,
                            run_values, scratch_layout, stack_values)
from tools import command, shown_path
from tools.mocks import RecordingMonitor
from tools.render import MARKER, committed, summary, write

TEAM = "api-production"  # the team every committed stack deploys; its copy is what the team cases edit
STACK_FILE = "stacks/Pulumi.unit-test.yaml"  # the dict route's stack has no file; errors still name it
TEAM_FILE = f"teams/{TEAM}/team.yaml"
CODE_FILE = f"teams/{TEAM}/dashboards.py"
P = f"{PROJECT}:"


# ---------------------------------------------------------------------------------------------- helpers

def assert_one_clear_error(message: str, file: str, *parts: str) -> None:
    """One ConfigError naming `file` first, then every expected part; short, one line per problem."""
    lines = message.splitlines()
    assert re.fullmatch(rf"(error: )?{re.escape(file)}: invalid configuration \(\d+ problems?\); nothing was deployed:",
                        lines[0]), message
    assert message.count("invalid configuration") == 1, message
    assert len(lines) <= MAX_LINES and all(len(line) <= 400 for line in lines), message
    assert "Traceback" not in message and 'File "' not in message
    assert not PYDANTIC_TYPE_NAMES.search(message), f"pydantic's own type names in:\n{message}"
    for part in parts:
        assert part in message, f"{part!r} not in:\n{message}"


def put(path: tuple, value: Any) -> Callable[[dict], None]:
    """Set `path` to `value`, making the mappings on the way that the data lacks (e.g. `overrides`)."""
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
def base(layout) -> tuple[dict, list[str]]:
    """The prod stack as an existing Grafana (token, no kubernetes section), deploying only api-production."""
    values, secret_keys = existing_grafana(*stack_values("prod"))
    values["teams"] = {TEAM: values["teams"][TEAM]}
    return values, secret_keys


def test_the_unmodified_baseline_deploys(base):
    """Guards the catalog: each case below fails because of its one change, not because of the baseline."""
    values, secret_keys = base
    assert run_values(values, secret_keys).registrations


# -------------------------------------------------------------------------------- stack values route

@dataclass
class StackCase:
    mutate: Callable[[dict], None]
    parts: tuple[str, ...]
    plain: str | None = None  # a secret key given in clear
    hidden: tuple[str, ...] = ()  # what the message must not show


def stack_case(id_: str, mutate, *parts: str, plain: str | None = None, hidden: tuple[str, ...] = ()):
    return pytest.param(StackCase(mutate, parts, plain, hidden), id=id_)


SLACK = ("contactPoints", TEAM, "slack")
HALF_A_MB = "x" * (1 << 19)  # within a stack file's bound (1 MiB)
STACK_CASES = [
    # the everyday mistakes: wrong types
    stack_case("orgId is a word", put(("orgId",), "one"), f"{P}orgId: Input should be a valid integer", "(got 'one')"),
    stack_case("protect is neither true nor false", put(("protect",), "sometimes"),
               f"{P}protect: Input should be a valid boolean", "(got 'sometimes')"),
    stack_case("teams is a list", put(("teams",), [TEAM]), f"{P}teams: Input should be a valid dictionary"),
    stack_case("contactPoints is a string", put(("contactPoints",), "ops"),
               f"{P}contactPoints: Input should be a valid dictionary", hidden=("ops",)),
    stack_case("jsonData is a list", put(("datasources", "prometheus", "jsonData"), [1]),
               f"{P}datasources.prometheus.jsonData: Input should be a valid dictionary"),
    stack_case("a team's settings are null", put(("teams", TEAM), None),
               f"{P}teams.{TEAM}: Input should be a mapping with the keys grafanaTeam, overrides, permissions, routing, "),
    stack_case("a grafanaUrl without scheme", put(("grafanaUrl",), "grafana.acme-corp.com"),
               f"{P}grafanaUrl: must be an http:// or https:// URL without spaces (got 'grafana.acme-corp.com')"),
    stack_case("a grafanaUrl with a port past 65535", put(("grafanaUrl",), "https://grafana.acme-corp.com:99999"),
               f"{P}grafanaUrl: the port must be a number from 1 to 65535 (got 'https://grafana.acme-corp.com:99999')"),
    stack_case("a datasource URL on port 0", put(("datasources", "loki", "url"), "http://loki.acme-corp.com:0"),
               f"{P}datasources.loki.url: the port must be a number from 1 to 65535"),
    stack_case("a team slug in capitals", put(("teams", "API"), {}),
               f"{P}teams.API: must be lowercase letters, digits and '-', starting with a letter (got 'API')"),
    stack_case("no team at all", put(("teams",), {}), f"{P}teams: Dictionary should have at least 1 item"),
    # the everyday mistakes: unknown keys and typos
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
    # the everyday mistakes: unknown references
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
    stack_case("a group-by that is neither a label name nor '...'",
               put(("notificationPolicy", "groupBy"), ["grafana_folder", "bad-label"]),
               f"{P}notificationPolicy.groupBy.1: a label name is letters, digits and '_', not starting with a digit, "
               "or '...' (got 'bad-label')"),
    stack_case("a duration in words", put(("notificationPolicy", "groupWait"), "30 seconds"),
               f"{P}notificationPolicy.groupWait: not a duration: write a number and a unit, e.g. 30s, 5m, 1h30m",
               "(got '30 seconds')"),
    stack_case("an override's for without unit", put(("teams", TEAM, "overrides", "HighErrorRate", "for"), "5"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.for: not a duration", "(got '5')"),
    stack_case("two datasources with one uid", put(("datasources", "loki", "uid"), "prometheus"),
               "datasource 'prometheus': used by both prometheus and loki; uids must be unique"),
    stack_case("two datasources with one name (Grafana refuses the second)",
               lambda v: v["datasources"]["loki"].update(name=v["datasources"]["prometheus"]["name"]),
               f"{P}datasources: prometheus and loki are both named", "a datasource's name is unique in its organization"),
    stack_case("two default datasources", put(("datasources", "loki", "isDefault"), True),
               f"{P}datasources: at most one datasource may set isDefault: true (got prometheus, loki)"),
    stack_case("a Grafana team name with a tab", put(("teams", TEAM, "grafanaTeam", "name"), "API\tProduction"),
               f"{P}teams.{TEAM}.grafanaTeam.name: must be one line of text without control characters (it holds U+0009)"),
    stack_case("a datasource name with a bell", put(("datasources", "loki", "name"), "Loki\a"),
               f"{P}datasources.loki.name: must be one line of text without control characters (it holds U+0007)"),
    stack_case("a Grafana team name longer than Grafana's team.name holds",
               put(("teams", TEAM, "grafanaTeam", "name"), "T" * 191),
               f"{P}teams.{TEAM}.grafanaTeam.name: 191 characters; Grafana holds at most 190 (team.name)"),
    stack_case("a datasource name with a trailing space", put(("datasources", "loki", "name"), "Loki "),
               f"{P}datasources.loki.name: begins or ends with a space"),
    stack_case("a datasource name longer than Grafana's data_source.name holds",
               put(("datasources", "loki", "name"), "L" * 191),
               f"{P}datasources.loki.name: 191 characters; Grafana holds at most 190 (data_source.name)"),
    stack_case("a datasource uid of 41 characters", put(("datasources", "loki", "uid"), "l" * 41),
               f"{P}datasources.loki.uid: String should have at most 40 characters"),
    stack_case("a contact point with no integration", put(("contactPoints", "platform-ops"), {}),
               f"{P}contactPoints.platform-ops: a contact point needs at least one of: email, slack, webhook, pagerduty"),
    stack_case("a folder permission naming a role and a team",
               put(("teams", TEAM, "permissions"), [{"role": "Viewer", "teamId": "3", "permission": "View"}]),
               f"{P}teams.{TEAM}.permissions.0: a permission names exactly one of: role, teamId, userId"),
    stack_case("a role given two folder permissions (Grafana would keep one)",
               put(("teams", TEAM, "permissions"), [{"role": "Viewer", "permission": "View"},
                                                    {"role": "Viewer", "permission": "Admin"}]),
               f"{P}teams.{TEAM}.permissions.1: role 'Viewer' is given a permission twice (View and Admin); give it one"),
    stack_case("a folder permission that does not exist",
               put(("teams", TEAM, "permissions"), [{"role": "Viewer", "permission": "Read"}]),
               f"{P}teams.{TEAM}.permissions.0.permission: Input should be 'View', 'Edit' or 'Admin' (got 'Read')"),
    stack_case("a mute timing from 25:00",
               put(("muteTimings",), {"quiet": {"times": [{"start": "25:00", "end": "24:00"}]}}),
               f"{P}muteTimings.quiet.times.0.start: a time of day is HH:MM, from 00:00 to 23:59 (got '25:00')"),
    stack_case("a mute timing on an unknown weekday", put(("muteTimings",), {"quiet": {"weekdays": ["sundays"]}}),
               f"{P}muteTimings.quiet.weekdays.0: Input should be 'monday', 'tuesday'"),
    stack_case("a mute timing over midnight", put(("muteTimings",), {"quiet": {"times": [{"start": "19:00",
                                                                                          "end": "08:00"}]}}),
               f"{P}muteTimings.quiet.times.0: start 19:00 must come before end 08:00 (split a range over midnight in two)"),
    stack_case("a mute timing in an unknown zone",
               put(("muteTimings",), {"quiet": {"weekdays": ["sunday"], "location": "Europe/Pariss"}}),
               f"{P}muteTimings.quiet.location: unknown time zone 'Europe/Pariss'; use an IANA name such as Europe/Paris"),
    # 3. secrets: missing, in clear, echoed
    stack_case("no grafanaAuth", drop(("grafanaAuth",)),
               f"{P}grafanaAuth: a secret this stack needs, not set; set it with: pulumi config set --stack unit-test "
               f"--secret --path '{P}grafanaAuth' (value on stdin)"),
    stack_case("a Slack contact point without url", drop((*SLACK, "url")),
               f"{P}contactPoints.{TEAM}.slack.url: a secret this stack needs, not set"),
    stack_case("a PagerDuty contact point without key",
               drop(("contactPoints", f"{TEAM}-pagerduty", "pagerduty", "integrationKey")),
               f"{P}contactPoints.{TEAM}-pagerduty.pagerduty.integrationKey: a secret this stack needs, not set"),
    stack_case("a basicAuthUser without its password", drop(("datasources", "prometheus", "basicAuthPassword")),
               f"{P}datasources.prometheus.basicAuthPassword: a secret this stack needs, not set"),
    stack_case("grafanaAuth in clear", lambda v: None,
               f"{P}grafanaAuth: must be a secret, not plain text in the stack file; set it with: pulumi config set "
               f"--stack unit-test --secret --path '{P}grafanaAuth' (value on stdin)", plain="grafanaAuth"),
    stack_case("a datasource password in clear", lambda v: None,
               f"{P}datasources.prometheus.basicAuthPassword: must be a secret", plain="datasources"),
    stack_case("a Slack URL and a PagerDuty key in clear", lambda v: None,
               f"--path '{P}contactPoints.{TEAM}.slack.url' (value on stdin)",
               f"--path '{P}contactPoints.{TEAM}-pagerduty.pagerduty.integrationKey' (value on stdin)",
               plain="contactPoints"),
    stack_case("a webhook in braces for quotes, which YAML reads as a key",
               put(SLACK, {"https://hooks.slack.com/services/T0/B0/SECRETX": None}),
               f"{P}contactPoints.{TEAM}.slack.(a key that looks like a secret): unknown field; allowed: recipient, url",
               hidden=("SECRETX", "hooks.slack")),
    stack_case("a plain URL where the slack mapping goes", put(SLACK, "https://hooks.slack.com/services/T0/B0/SECRETX"),
               f"{P}contactPoints.{TEAM}.slack: Input should be a mapping with the keys recipient, url", hidden=("SECRETX", "hooks.slack")),
    stack_case("an e-mail address where the email mapping goes",
               put(("contactPoints", "platform-ops", "email"), "oncall-secret@acme-corp.com"),
               f"{P}contactPoints.platform-ops.email: Input should be a mapping with the keys addresses, singleEmail", hidden=("oncall-secret",)),
    stack_case("a secret that fails its own check", put(("contactPoints", "platform-ops", "email", "addresses"), "zq"),
               f"{P}contactPoints.platform-ops.email.addresses: must be e-mail addresses separated by ';'",
               hidden=("zq",)),
    stack_case("a ',' inside an address (the provider splits on it: a change on every preview)",
               put(("contactPoints", "platform-ops", "email", "addresses"), "oncall,pager@acme-corp.com"),
               f"{P}contactPoints.platform-ops.email.addresses: must be e-mail addresses separated by ';' (no ','",
               hidden=("oncall", "pager@")),
    stack_case("a secret of the wrong type", put(("datasources", "prometheus", "basicAuthPassword"), 123456789),
               f"{P}datasources.prometheus.basicAuthPassword: Input should be a valid string", hidden=("123456789",)),
    stack_case("a Grafana token copied with its newline", put(("grafanaAuth",), "glsa_PLANTEDX_0123\n"),
               f"{P}grafanaAuth: holds a line break (copied with its newline?)", hidden=("PLANTEDX",)),
    stack_case("a Grafana token with a space in it", put(("grafanaAuth",), "glsa_PLANTEDX 0123"),
               f"{P}grafanaAuth: a service account token has no spaces", hidden=("PLANTEDX",)),
    stack_case("a Slack URL that is no URL", put((*SLACK, "url"), "hooks slack PLANTEDX"),
               f"{P}contactPoints.{TEAM}.slack.url: must be a https:// URL without spaces", hidden=("PLANTEDX",)),
    stack_case("a Slack URL with a port past 65535", put((*SLACK, "url"), "https://hooks.slack.com:99999/PLANTEDX"),
               f"{P}contactPoints.{TEAM}.slack.url: the port must be a number from 1 to 65535", hidden=("PLANTEDX",)),
    stack_case("credentials inside the Grafana URL", put(("grafanaUrl",), "https://admin:hunter22@grafana.acme-corp.com"),
               f"{P}grafanaUrl: must not hold credentials (user:password@)", hidden=("hunter22",)),
    stack_case("credentials inside a datasource URL",
               put(("datasources", "loki", "url"), "https://loki:s3cretpw@loki.prod.acme-corp.com"),
               f"{P}datasources.loki.url: must not hold credentials", hidden=("s3cretpw",)),
    stack_case("credentials inside the runbook URL", put(("runbookBaseUrl",), "https://u:tok3n99@runbooks.acme-corp.com"),
               f"{P}runbookBaseUrl: must not hold credentials", hidden=("tok3n99",)),
    # 5. values that neuter an alert
    stack_case("a NaN threshold", put(("teams", TEAM, "overrides", "HighErrorRate", "threshold"), float("nan")),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.threshold: Input should be a finite number"),
    stack_case("an infinite threshold", put(("teams", TEAM, "overrides", "HighErrorRate", "threshold"), float("inf")),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.threshold: Input should be a finite number"),
    stack_case("a boolean threshold", put(("teams", TEAM, "overrides", "HighErrorRate", "threshold"), True),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.threshold: Input should be a valid number",
               "(a number, without quotes)"),
    stack_case("a threshold in quotes", put(("teams", TEAM, "overrides", "HighErrorRate", "threshold"), "0.5"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.threshold: Input should be a valid number"),
    stack_case("a duration past Go's range", put(("teams", TEAM, "overrides", "HighErrorRate", "for"),
                                                 "99999999999999999999y"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.for: longer than Prometheus and Grafana accept"),
    # digits beyond ASCII, which Python's and pydantic's \d take and Go's duration parsers refuse
    stack_case("an override's for in fullwidth digits", put(("teams", TEAM, "overrides", "HighErrorRate", "for"), "５m"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.for: not a duration"),
    stack_case("an override's for in Arabic-Indic digits",
               put(("teams", TEAM, "overrides", "HighErrorRate", "for"), "\u0665m"),
               f"{P}teams.{TEAM}.overrides.HighErrorRate.for: not a duration"),
    stack_case("a groupWait in fullwidth digits", put(("notificationPolicy", "groupWait"), "１m"),
               f"{P}notificationPolicy.groupWait: not a duration"),
    stack_case("a repeatInterval with one fullwidth digit", put(("notificationPolicy", "repeatInterval"), "1２h"),
               f"{P}notificationPolicy.repeatInterval: not a duration"),
    stack_case("a mute timing from a time in Arabic-Indic digits",
               put(("muteTimings",), {"quiet": {"times": [{"start": "1\u0669:00", "end": "24:00"}]}}),
               f"{P}muteTimings.quiet.times.0.start: a time of day is HH:MM, from 00:00 to 23:59"),
    stack_case("a runbookBaseUrl holding {{, which every alert's runbook_url template would hold",
               put(("runbookBaseUrl",), "https://runbooks.acme-corp.com/prod?x={{"),
               f"{P}runbookBaseUrl: must not hold '{{{{' or '}}}}': the program writes this URL into Go templates"),
    stack_case("a grafanaUrl holding }}, which the notification templates' links would hold",
               put(("grafanaUrl",), "https://grafana.acme-corp.com/}}"), f"{P}grafanaUrl: must not hold '{{{{' or '}}}}'"),
    # free-form JSON for Grafana: NaN would be written as `NaN`, which is no JSON
    stack_case("a NaN in a datasource's jsonData",
               put(("datasources", "prometheus", "jsonData"), {"timeInterval": "30s", "x": float("nan")}),
               f"{P}datasources.prometheus.jsonData.x: NaN is no JSON number, and Grafana reads this as JSON"),
    stack_case("an infinity deep in a datasource's jsonData",
               put(("datasources", "loki", "jsonData"), {"derivedFields": [{"n": 1}, {"n": float("-inf")}]}),
               f"{P}datasources.loki.jsonData.derivedFields.1.n: infinity is no JSON number"),
    stack_case("an empty mute timing", put(("muteTimings",), {"quiet": {}}),
               f"{P}muteTimings.quiet: mutes every minute of the week"),
    stack_case("a reserved label in the group-by", put(("teams", TEAM, "routing", "groupBy"), ["__name__"]),
               f"{P}teams.{TEAM}.routing.groupBy.0", "label names starting with __ are reserved"),
    # 6. blow-ups
    stack_case("a selector that is PromQL, not matchers", put(("teams", TEAM, "selector"), 'env="prod"} or vector(1) or up{a="b"'),
               f"{P}teams.{TEAM}.selector: not valid label matchers: write label matchers only"),
    stack_case("a selector regex Prometheus's RE2 refuses (a repeat over 1000)",
               put(("teams", TEAM, "selector"), 'env=~"dev|x{1001}"'),
               f"{P}teams.{TEAM}.selector: not valid label matchers: invalid PromQL (the regular expression of env=~ "
               "repeats more than 1000 times, which Prometheus's regex engine (Go's RE2) refuses)"),
    stack_case("a selector on a reserved label", put(("teams", TEAM, "selector"), '__name__="up"'),
               f"{P}teams.{TEAM}.selector: label names starting with __ are reserved: __name__"),
    stack_case("a number in jsonData past a float64", put(("datasources", "loki", "jsonData"), {"maxLines": 10**400}),
               f"{P}datasources.loki.jsonData.maxLines: a number of 401 digits, past what a JSON reader holds"),
    # 7. coercions and noisy messages
    stack_case("orgId true", put(("orgId",), True), f"{P}orgId: Input should be a valid integer",
               "(a whole number, without quotes)"),
    stack_case("orgId 1.0", put(("orgId",), 1.0), f"{P}orgId: Input should be a valid integer"),
    stack_case("protect 1", put(("protect",), 1), f"{P}protect: Input should be a valid boolean"),
    stack_case("a half-megabyte value is not echoed whole", put(("notificationPolicy", "groupWait"), HALF_A_MB),
               f"{P}notificationPolicy.groupWait: not a duration", "… (524288 characters)"),
    stack_case("every problem of the file, not only the first",
               both(put(("orgId",), 0), put(("protect",), "sometimes"), put(("teams", TEAM, "selector"), "x")),
               "(3 problems)", f"{P}orgId:", f"{P}protect:", f"{P}teams.{TEAM}.selector:"),
    stack_case("twenty problems fit in 15 lines", put(("teams",), {f"Team{i}": {} for i in range(20)}),
               "(20 problems)", "… and 7 more problems"),
]


@pytest.mark.parametrize("case", STACK_CASES)
def test_a_malformed_stack_value_gives_one_clear_error_and_registers_nothing(case, base):
    values, secret_keys = base
    case.mutate(values)
    if case.plain:
        secret_keys.remove(case.plain)
    message, monitor = run_fails(values, secret_keys)
    assert_one_clear_error(message, STACK_FILE, *case.parts)
    for text in case.hidden:
        assert text not in message
    assert monitor.registrations == []


# ------------------------------------------------------------------------- what a message may show

@pytest.mark.parametrize("value,secret", [
    ("Bearer abc", True), ("basic\tdXNlcjpwYXNz", True), ("my PASSWORD", True), ("PassWd", True),
    ("\u017fecret", True), ("to\u212aen", True), ("API_KEY=1", True), ("ApiKey", True),  # ſ for s, the Kelvin sign for k
    ("glsa_abc", True), ("https://u:p@example.com", True), ("ops@example.com", True), ("a" * 32, True),
    ("bearer", False), ("5m", False), ("Customer Service", False), ("İ", False),
])
def test_a_value_is_secret_by_its_shape_whatever_its_case(value, secret):
    assert estate.model.could_be_secret(value) is secret


def _patterns(schema: Any) -> set[str]:
    """Every `pattern` in a JSON Schema."""
    if isinstance(schema, list):
        return set().union(*map(_patterns, schema))
    if not isinstance(schema, dict):
        return set()
    found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
    return found.union(*map(_patterns, schema.values()))


def test_every_pattern_a_file_must_match_is_explained_in_words_not_as_a_regex():
    from estate.stack import EmailAddress, Hostname, K8sName, Quantity, SmtpHost, StackConfig
    from estate.team import TeamSpec
    from pydantic import TypeAdapter

    # these check their own pattern and say what they take themselves (estate/stack.py, _matching)
    own_words = set().union(*(_patterns(TypeAdapter(t).json_schema())
                              for t in (EmailAddress, Hostname, K8sName, Quantity, SmtpHost)))
    patterns = _patterns(TeamSpec.model_json_schema()) | _patterns(StackConfig.model_json_schema())
    assert patterns - own_words - set(estate.model._PATTERN_HINTS) == set()


# The words as they were searched before they went through the fold: `(?i:...)` is the reference.
_WORDS_IGNORING_CASE = re.compile(r"(?i:bearer\s|basic\s|password|passwd|secret|token|apikey|api_key)")


_BEYOND_ASCII = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a"}  # what (?i) also takes for i, s and k


def _spelled_any_case(word: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from([c, c.upper(), *_BEYOND_ASCII.get(c, "")]) for c in word)).map("".join)


@given(st.lists(st.one_of(st.text(st.sampled_from("abeiknorstwy_ \t\u00a0\u00e9"), max_size=4),
                          st.sampled_from(["bearer", "basic", "password", "passwd", "secret", "token", "apikey",
                                           "api_key", "bearer ", "basic\t", "token"]).flatmap(_spelled_any_case)),
                max_size=5).map("".join))
def test_the_folded_words_find_what_ignoring_case_finds(text):
    assert bool(estate.model._SECRET_WORDS.search(estate.model._folded(text))) == bool(_WORDS_IGNORING_CASE.search(text))


def test_the_fold_holds_every_character_beyond_ascii_that_ignoring_case_takes_for_a_letter():
    every_character = "".join(map(chr, range(0x80, sys.maxunicode + 1)))
    beyond_ascii = set(re.findall(r"(?i)[a-z]", every_character))
    assert beyond_ascii == {chr(c) for c in estate.model._IGNORECASE_FOLD}


def test_a_token_is_refused_where_the_stack_deploys_grafana_and_logs_in_as_admin(prod_values, layout):
    values, secrets = prod_values
    values["grafanaAuth"] = "<secure grafana-platform:grafanaAuth>"
    message, monitor = run_fails(values, [*secrets, "grafanaAuth"])
    assert_one_clear_error(message, STACK_FILE,
                           f"{P}grafanaAuth: is not used when the kubernetes section deploys Grafana")
    assert monitor.registrations == []


# -------------------------------------------------------------------------------------- stack file route

def prod_file_for_one_team() -> dict:
    """The committed prod stack file as YAML data, deploying api-production only and managing an
    existing Grafana (no kubernetes section; its token is a missing secret the render fills)."""
    data = load_yaml(Layout.at(ROOT).stack_file("prod").read_text())
    config = data["config"]
    config[f"{P}teams"] = {TEAM: config[f"{P}teams"][TEAM]}
    config.pop(f"{P}kubernetes")
    return data


def prod_text() -> str:
    return dump_yaml(prod_file_for_one_team(), sort_keys=False)


def edited(*path: str, value: Any) -> Callable[[], str]:
    def text() -> str:
        data = prod_file_for_one_team()
        target = data["config"]
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
        return dump_yaml(data, sort_keys=False)
    return text


def with_kubernetes(key: str, value: Any) -> Callable[[], str]:
    """prod_text with the committed prod's kubernetes section back (Grafana deployed), `key` of it set to `value`."""
    def text() -> str:
        data = prod_file_for_one_team()
        kubernetes = load_yaml(Layout.at(ROOT).stack_file("prod").read_text())["config"][f"{P}kubernetes"]
        data["config"][f"{P}kubernetes"] = {**kubernetes, key: value}
        return dump_yaml(data, sort_keys=False)
    return text


def appended(line: str) -> Callable[[], str]:
    return lambda: prod_text() + line


def replaced(old: str, new: str) -> Callable[[], str]:
    def text() -> str:
        base = prod_text()
        assert old in base
        return base.replace(old, new, 1)
    return text


@dataclass
class FileCase:
    text: Callable[[], str | bytes]
    parts: tuple[str, ...]
    hidden: tuple[str, ...] = ()


def file_case(id_: str, text, *parts: str, hidden: tuple[str, ...] = ()):
    return pytest.param(FileCase(text, parts, hidden), id=id_)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


LAUGHS = "".join(["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"] + [
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)])
FILE_CASES = [
    file_case("an unclosed bracket", appended(f"  {P}orgId: [\n"), "not valid YAML"),
    file_case("a tab used for indentation", replaced(f"\n  {P}orgId", f"\n\t{P}orgId"),
              "not valid YAML: found a tab character that violates indentation"),
    file_case("config that is a list", lambda: "config:\n  - grafanaUrl\n", f"config: must be a mapping of {P}<key>: <value>"),
    file_case("a config key that is a number", appended("  1: 2\n"), 'the key 1 is read as a number, not as text; quote it ("1")'),
    file_case("a config key that is empty", appended('  "": 2\n'), f"config: an empty key; keys are names like {P}orgId"),
    file_case("a file that is a list", lambda: "- config\n", "must be a YAML mapping"),
    file_case("a file that is not UTF-8", lambda: prod_text().replace("acme-corp", "acmé-corp").encode("latin-1"),
              "not UTF-8 text; save the file as UTF-8"),
    file_case("a date where a duration goes", replaced("groupWait: 30s", "groupWait: 2026-11-01"),
              f"{P}notificationPolicy.groupWait: not a duration", "(got '2026-11-01')"),
    file_case("a secure value where plain text goes", edited(f"{P}grafanaUrl", value={"secure": "unset"}),
              f"{P}grafanaUrl: must be an http:// or https:// URL"),
    # a secure value is the ciphertext the Pulumi CLI writes: offline, any other became a placeholder too
    *[file_case(f"a secure value that is {what}", edited(f"{P}contactPoints", TEAM, "slack", "url", value={"secure": value}),
                f"{P}contactPoints.{TEAM}.slack.url: a secure value must be the ciphertext the Pulumi CLI writes "
                f"(text, not empty), not {what}; set it with: pulumi config set --secret --path "
                f"'{P}contactPoints.{TEAM}.slack.url' (value on stdin)")
      for what, value in [("a number", 5), ("blank text", ""), ("a list", ["a"]), ("a mapping", {"a": "b"}),
                          ("nothing", None)]],
    file_case("a Slack URL in clear", edited(f"{P}contactPoints", TEAM, "slack", "url",
                                             value="https://hooks.slack.com/services/T000/B000/XXXXLEAK"),
              "must be a secret, not plain text in the stack file; set it with: pulumi config set --stack {stack} "
              f"--secret --path '{P}contactPoints.{TEAM}.slack.url' (value on stdin)", hidden=("XXXXLEAK",)),
    file_case("a token pasted as a config key, twice", appended(f"  {P}glsa_in_clear_0123LEAK: 1\n" * 2),
              "key '(a key that looks like a secret)' is given twice", hidden=("LEAK",)),
    file_case("a token pasted as a config key of an unknown namespace", appended("  x:glsa_in_clear_0123LEAK: 1\n"),
              "config.(a key that looks like a secret): unknown namespace", hidden=("LEAK",)),
    file_case("a token pasted as a top-level key", lambda: prod_text() + "glsa_in_clear_0123LEAK: 1\n",
              "(a key that looks like a secret): unknown stack file key", hidden=("LEAK",)),
    file_case("the Grafana token in clear", edited(f"{P}grafanaAuth", value="glsa_in_clear_0123LEAK"),
              "pulumi config set --stack {stack} --secret --path 'grafana-platform:grafanaAuth'", hidden=("LEAK",)),
    file_case("the tresholds typo", edited(f"{P}teams", TEAM, "overrides", "HighErrorRate", value={"tresholds": 1}),
              f"{P}teams.{TEAM}.overrides.HighErrorRate.tresholds: unknown field (did you mean 'threshold'?)"),
    # 1. keys that silently win or vanish
    file_case("a bare teams beside the namespaced one", appended("  teams: {}\n"),
              f"config.teams: is given twice (also as '{P}teams'); Pulumi would keep one and drop the other"),
    file_case("a bare protect beside the namespaced one", appended("  protect: false\n"),
              f"config.protect: is given twice (also as '{P}protect')"),
    file_case("a namespaced key given twice", appended(f"  {P}teams: {{}}\n"),
              f"key '{P}teams' is given twice (first at line"),
    file_case("a misspelled namespace", appended("  grafana-platfrom:protect: true\n"),
              "config.grafana-platfrom:protect: unknown namespace (did you mean 'grafana-platform'?); allowed: "
              "grafana-platform, kubernetes, pulumi; a key in an unknown namespace is read by no one"),
    file_case("the namespace in capitals", appended("  Grafana-Platform:orgId: 2\n"),
              "key 'Grafana-Platform:orgId' is given twice (first at line"),
    file_case("a key of this project that does not exist", appended(f"  {P}protected: true\n"),
              f"config.{P}protected: unknown key (did you mean 'protect'?)"),
    file_case("a provider key that does not exist", appended("  kubernetes:contxt: prod\n"),
              "config.kubernetes:contxt: unknown kubernetes: key (did you mean 'context'?)"),
    file_case("a grafana: key (no resource uses the default Grafana provider)", appended("  grafana:url: https://x\n"),
              "config.grafana:url: configures Pulumi's default Grafana provider, which no resource here uses", P + "grafanaUrl"),
    file_case("a token under grafana:auth, in clear and read by no one", appended("  grafana:auth: glsa_PLAINTOKEN123\n"),
              "config.grafana:auth: configures Pulumi's default Grafana provider", hidden=("PLAINTOKEN",)),
    file_case("the default Kubernetes provider disabled where the stack deploys Grafana",
              lambda: with_kubernetes("replicas", 2)() + "  pulumi:disable-default-providers: ['*']\n",
              "config.pulumi:disable-default-providers: disables the default Kubernetes provider"),
    file_case("an unknown stack file key", lambda: "secretprovider: passphrase\n" + prod_text(),
              "secretprovider: unknown stack file key; allowed: config, encryptedkey, encryptionsalt, environment, "
              "secretsprovider"),
    file_case("a contact point given twice", replaced("  grafana-platform:contactPoints:\n",
                                                      "  grafana-platform:contactPoints:\n    platform-ops: {}\n"),
              "key 'platform-ops' is given twice (first at line"),
    file_case("keys equal once case is folded", replaced("      slack:\n", "      Slack: {}\n      slack:\n"),
              "key 'slack' is given twice (first at line", "as 'Slack'"),
    file_case("keys equal once Unicode is normalized", replaced("      slack:\n", "      ｓｌａｃｋ: {}\n      slack:\n"),
              "key 'slack' is given twice", "as 'ｓｌａｃｋ'"),
    file_case("a key with a zero-width space", replaced("      slack:\n", "      \u200bslack: {}\n      slack:\n"),
              "holds control or invisible characters"),
    file_case("a merge key", replaced("  grafana-platform:contactPoints:\n",
                                      "  grafana-platform:contactPoints:\n    <<: {x: 1}\n"),
              "merge keys (<<) are not allowed; write the keys out"),
    # 6. tags, aliases, nesting, size
    file_case("a !!binary value", replaced("groupWait: 30s", "groupWait: !!binary MzBz"),
              "the tag !!binary is not allowed"),
    file_case("a !!set", replaced("groupWait: 30s", "groupWait: !!set {a, b}"), "the tag !!set is not allowed"),
    file_case("a !!timestamp", replaced("groupWait: 30s", "groupWait: !!timestamp 2026-11-01"),
              "the tag !!timestamp is not allowed"),
    file_case("a !!python tag", replaced("groupWait: 30s", "groupWait: !!python/object/apply:os.system [id]"),
              "the tag !!python/object/apply:os.system is not allowed"),
    file_case("a local tag", replaced("groupWait: 30s", "groupWait: !duration 30s"), "the tag !duration is not allowed"),
    file_case("a recursive alias", appended(f"  {P}muteTimings: &m {{quiet: *m}}\n"),
              "the alias *m refers to a collection that contains it (a recursive alias)"),
    file_case("a billion laughs", lambda: prod_text() + f"  {P}muteTimings:\n" + LAUGHS.replace("  l", "    l"),
              "more than 100000 values once aliases are expanded"),
    file_case("lists nested thousands deep", appended(f"  {P}muteTimings: {nested(5000)}\n"),
              "nested more than 32 levels deep"),
    file_case("a file of 2 MiB", appended("# " + "x" * (2 << 20) + "\n"), "larger than 1024 KiB"),
    file_case("a number of 5,000 digits", replaced(f"{P}protect: true", f"{P}protect: {'9' * 5000}"),
              "a number of 5000 digits; no value here has more than 4300 (quote it if it is text)"),
    # the Pulumi SDK sends numbers as floats: one of 310 digits failed it mid-registration, with a traceback
    file_case("replicas of 310 digits", with_kubernetes("replicas", int("9" * 310)),
              f"{P}kubernetes.replicas: Input should be less than or equal to 2147483647"),
    file_case("replicas past Kubernetes' int32", with_kubernetes("replicas", 99999999999),
              f"{P}kubernetes.replicas: Input should be less than or equal to 2147483647"),
    file_case("a .nan in jsonData", edited(f"{P}datasources", "prometheus", "jsonData",
                                           value={"timeInterval": "15s", "x": float("nan")}),
              f"{P}datasources.prometheus.jsonData.x: NaN is no JSON number"),
    # 7. what YAML readers disagree on
    file_case("yes for a boolean", replaced(f"{P}protect: true", f"{P}protect: yes"),
              "`yes` is read differently by YAML readers (YAML 1.1 reads it as a boolean or a number); write "
              "true/false or a plain decimal number, or quote it"),
    file_case("an octal-looking number", replaced(f"{P}orgId: 1", f"{P}orgId: 012"), "`012` is read differently"),
    file_case("several problems of one file at once",
              lambda: prod_text().replace(f"{P}protect: true", f"{P}protect: on") + "  teams: {}\n  foo:bar: 1\n",
              "`on` is read differently"),
]


@pytest.fixture
def stack_named(layout):
    """Writes the private project's stacks/Pulumi.malformed-<n>.yaml."""
    written: list[Path] = []

    def write_stack(content: str | bytes) -> str:
        name = f"malformed-{len(written)}"
        path = layout.stack_file(name)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        written.append(path)
        return name

    return write_stack


def render_fails(layout: Layout, stack: str, tmp_path: Path, capsys, monkeypatch, *parts: str) -> str:
    """`python -m tools.render` in-process: exit 1, one message, nothing registered, nothing written."""
    monitor = RecordingMonitor()
    real = tools.mocks.run_program  # which tools.render imports when it runs the program
    monkeypatch.setattr(tools.mocks, "run_program", lambda *a, **kw: real(*a, **{**kw, "monitor": monitor}))
    out = tmp_path / "out"
    assert tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert monitor.registrations == []
    assert not out.exists()
    return captured.err


@pytest.mark.parametrize("case", FILE_CASES)
def test_a_malformed_stack_file_exits_1_with_one_message_and_no_traceback(case, stack_named, layout, tmp_path,
                                                                          capsys, monkeypatch):
    stack = stack_named(case.text())
    err = render_fails(layout, stack, tmp_path, capsys, monkeypatch)
    assert_one_clear_error(err, f"stacks/Pulumi.{stack}.yaml", *(p.replace("{stack}", stack) for p in case.parts))
    for text in case.hidden:
        assert text not in err


def test_documented_provider_and_pulumi_keys_are_accepted(stack_named, layout, tmp_path):
    stack = stack_named(prod_text() + "  kubernetes:context: prod\n"
                        "  pulumi:disable-default-providers: ['grafana']\nencryptionsalt: v1:c2FsdA==:x\n")
    assert tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(tmp_path / "out")]) == 0


def test_the_provider_keys_allowed_are_the_sdks_own():
    """The Kubernetes provider keys allowed are the installed SDK's provider arguments, camelCased."""
    import inspect

    import pulumi_kubernetes
    from pydantic.alias_generators import to_camel

    from estate.config import OTHER_NAMESPACES
    names = [n for n in inspect.signature(pulumi_kubernetes.ProviderArgs.__init__).parameters if n != "__self__"]
    assert sorted(k.lower() for k in OTHER_NAMESPACES["kubernetes"]) == sorted(to_camel(n).lower() for n in names)
    assert "grafana" not in OTHER_NAMESPACES  # no resource uses the default Grafana provider (estate.config)


def test_19_00_unquoted_is_the_string_pulumi_reads(stack_named, layout, tmp_path):
    """YAML 1.1 reads 19:00 as 1140 (sexagesimal); Pulumi, and this reader, read the text "19:00"."""
    stack = stack_named(prod_text() + f"  {P}muteTimings:\n    evenings:\n      times: [{{start: 19:00, end: 24:00}}]\n")
    tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(tmp_path / "out")])
    timing = next(r for r in json.loads((tmp_path / "out" / "resources.json").read_text())
                  if r["type"] == T.MUTE_TIMING)
    assert timing["inputs"]["intervals"][0]["times"] == [{"start": "19:00", "end": "24:00"}]


OPTIONS_GIVEN_TWICE = [
    ("render", ["--stack", "dev", "--stack", "prod", "--out", "x"], "--stack"),
    ("render", ["--stack=dev", "--out", "x", "--ou", "y"], "--out"),  # an abbreviation is the same option
    ("promtool", ["--stack", "dev", "--stack", "prod"], "--stack"),
    ("secrets", ["list", "--stack", "dev", "--stack", "prod"], "--stack"),
    ("diff", ["--ref", "HEAD", "--ref", "HEAD~1"], "--ref"),
    ("adopt", ["pull", "--url", "https://a", "--url", "https://b", "--folder", "f", "--stack", "dev"], "--url"),
    ("synthetic", ["--out", "x", "--minutes", "10", "--minutes", "20"], "--minutes"),
    ("synthetic", ["--out", "x", "--end", "1714564800", "--end", "2024-05-01T12:00:00Z"], "--end"),
    ("benchmark", ["--teams", "5", "--teams", "100"], "--teams"),
]


@pytest.mark.parametrize("tool, argv, option", OPTIONS_GIVEN_TWICE,
                         ids=[f"{tool} {' '.join(argv)}" for tool, argv, _ in OPTIONS_GIVEN_TWICE])
def test_an_option_given_twice_is_refused_rather_than_the_first_vanishing(tool, argv, option, capsys, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a tool might write lands in the project
    module = __import__(f"tools.{tool}", fromlist=["main"])
    with pytest.raises(SystemExit) as ended:
        module.main(argv)
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: argument {option}: given twice; give it once")
    assert list(tmp_path.iterdir()) == []


LIBRARIES = sorted(p.stem for p in (ROOT / "tools").glob("[!_]*.py") if "def main(" not in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("module", LIBRARIES)
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # run again as __main__, as -m runs it
def test_a_tools_module_that_is_no_command_says_so_rather_than_end_at_exit_0(module):
    with pytest.raises(SystemExit) as ended:
        runpy.run_module(f"tools.{module}", run_name="__main__")
    assert str(ended.value.code).startswith(f"python -m tools.{module}: not a command; ")


COMMANDS = sorted(p.stem for p in (ROOT / "tools").glob("[!_]*.py") if "def main(" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_runs_its_main_through_tools_command(module):
    source = (ROOT / "tools" / f"{module}.py").read_text(encoding="utf-8")
    ending = source[source.rindex('if __name__ == "__main__":'):]
    assert ending.endswith(("    command(main)\n", "    command(run, interrupted=INTERRUPTED)\n")), ending


def test_every_command_runs_under_python_OO_which_leaves_its_docstring_out():
    """-OO (PYTHONOPTIMIZE=2) strips docstrings: a description taken from __doc__ was an AttributeError.
    One process asks each command for its --help."""
    script = ("import importlib, sys\n"
              "for name in sys.argv[1:]:\n"
              "    try:\n"
              "        importlib.import_module(f'tools.{name}').main(['--help'])\n"
              "    except SystemExit as e:\n"
              "        assert e.code == 0, name\n")
    result = subprocess.run([sys.executable, "-OO", "-c", script, *COMMANDS], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("usage: python -m tools.") == len(COMMANDS)


def test_output_its_reader_closed_ends_a_command_quietly_and_another_broken_pipe_is_its_error(capsys):
    reader_gone = subprocess.Popen([sys.executable, "-c", "from tools import command\n"
                                    "command(lambda: print('x' * 1_000_000) or 0)"],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader_gone.stdout.close()  # as `| head` closes it
    assert (reader_gone.wait(timeout=60), reader_gone.stderr.read()) == (141, b"")

    def feeds_a_process_that_ended() -> int:
        read, write = os.pipe()
        os.close(read)
        try:
            os.write(write, b"secret")
        finally:
            os.close(write)
        return 0
    with pytest.raises(SystemExit) as ended:
        command(feeds_a_process_that_ended)
    assert ended.value.code == 1 and capsys.readouterr().err == "error: Broken pipe\n"


def test_a_tool_started_with_its_output_closed_does_its_work_without_a_traceback(tmp_path):
    """`>&-`: Python then has no sys.stdout; what the render prints goes nowhere, and its files are written."""
    done = subprocess.run([sys.executable, "-m", "tools.render", "--stack", "dev", "--out", str(tmp_path / "out")],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 0 and done.stderr == ""
    assert (tmp_path / "out" / "resources.json").exists()


def test_what_a_tool_prints_is_utf_8_whatever_the_locale(dev_render, capsys):
    import tools.diff

    prod = committed("prod").folder  # rendered once per session
    assert tools.diff.main([str(dev_render), str(prod)]) == 0
    expected = capsys.readouterr().out
    assert "→" in expected  # what an ASCII locale could not encode
    done = subprocess.run([sys.executable, "-m", "tools.diff", str(dev_render), str(prod)], cwd=ROOT,
                          capture_output=True, timeout=120,
                          env={**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"})
    assert (done.returncode, done.stderr, done.stdout.decode("utf-8")) == (0, b"", expected)


def test_ctrl_c_in_a_command_is_one_line_and_status_130(capsys):
    def interrupted() -> int:
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as ended:
        command(interrupted)
    assert ended.value.code == 130 and capsys.readouterr().err == "error: interrupted\n"
    with pytest.raises(SystemExit) as ended:
        command(lambda: 3)
    assert ended.value.code == 3


TOO_LONG = "/tmp/" + "a" * 5000  # longer than a file name may be (ENAMETOOLONG)


@pytest.mark.parametrize("module, argv", [
    ("render", ["--stack", "dev", "--root", TOO_LONG, "--out", "{tmp}/out"]),
    ("render", ["--stack", "a" * 5000, "--out", "{tmp}/out"]),
    ("promtool", ["--stack", "a" * 5000]),
    ("secrets", ["--stack", "a" * 5000, "list"]),
    ("synthetic", ["--data", TOO_LONG, "--minutes", "1"]),
    ("alertmanager", [TOO_LONG]),
    ("diff", [TOO_LONG, TOO_LONG]),
    ("lint", [TOO_LONG]),
    ("diff", ["--ref", "a" * 5000]),
    ("diff", ["--ref", "HEAD", "--stack", "a" * 5000]),
], ids=["render --root", "render --stack", "promtool --stack", "secrets --stack", "synthetic --data", "alertmanager",
        "diff", "lint", "diff --ref", "diff --stack"])
def test_a_name_too_long_for_the_file_system_is_one_message_from_every_tool(module, argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a tool might write lands in the project
    main = __import__(f"tools.{module}", fromlist=["main"]).main
    with pytest.raises(SystemExit) as ended:
        command(lambda: main([a.replace("{tmp}", str(tmp_path)) for a in argv]))
    err = capsys.readouterr().err
    assert ended.value.code in (1, 2) and err.startswith("error: ") and err.count("error") == 1, err
    assert len(err.splitlines()) <= 2 and max(map(len, err.splitlines())) <= 400, err  # the message's bound
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module, argv, message", [
    ("render", ["--stack", "dev", "--out", "{deep}/file"], "is a file, not a folder"),
    ("render", ["--stack", "dev", "--out", "{deep}"], "holds files that are not an earlier render"),
    ("promtool", ["--stack", "dev", "--out", "{deep}"], "holds files that are not an earlier render"),
    ("synthetic", ["--data", "{deep}/file", "--minutes", "1"], "is a file, not a folder"),
    ("alertmanager", ["{deep}"], "not a render folder (no resources.json)"),
], ids=["render --out a file", "render --out a folder", "promtool --out", "synthetic --data", "alertmanager"])
def test_a_long_path_that_exists_is_shortened_in_the_tools_message(module, argv, message, tmp_path, capsys):
    deep = tmp_path.joinpath(*["d" * 200] * 3)  # 600 characters and more: a path may be 4,096
    deep.mkdir(parents=True)
    (deep / "file").write_text("x")
    main = __import__(f"tools.{module}", fromlist=["main"]).main
    with pytest.raises(SystemExit) as ended:
        command(lambda: main([a.replace("{deep}", str(deep)) for a in argv]))
    err = capsys.readouterr().err
    assert ended.value.code in (1, 2) and message in err and "Traceback" not in err, err
    assert max(map(len, err.splitlines())) <= 400 and "…" in err, err  # the path's start and end, not all of it
    assert sorted(p.name for p in deep.iterdir()) == ["file"]


def test_the_program_run_by_hand_without_the_engine_says_how_it_is_run():
    done = subprocess.run([sys.executable, "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("grafana-platform is a Pulumi program: `pulumi preview --stack <stack>` runs it"), \
        done.stderr


@pytest.mark.parametrize("case", [p for p in FILE_CASES if p.id in (
    "an unclosed bracket", "a namespaced key given twice", "a Slack URL in clear", "a billion laughs")])
def test_the_render_cli_exits_1_without_a_traceback_and_writes_nothing(case, stack_named, layout, tmp_path):
    stack = stack_named(case.text())
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tools.render", "--root", str(layout.root), "--stack", stack,
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert_one_clear_error(result.stderr, f"stacks/Pulumi.{stack}.yaml",
                           *(p.replace("{stack}", stack) for p in case.parts))
    assert not out.exists()


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


def team_text(edit: Callable[[str], str]) -> Callable[[], str]:
    return lambda: edit((ROOT / "teams" / TEAM / "team.yaml").read_text())


SCOPED_PANEL = {"type": "timeseries", "title": "Up", "targets": [{"expr": "up{%(selector)s}"}]}
DEEP_JSON = "[" * 100_000 + "]" * 100_000
TEAM_CASES = [
    team_case("a YAML syntax error in team.yaml", "title: API\nalerts: [\n",
              "line 3, column 1: not valid YAML: did not find expected node content"),
    team_case("a team.yaml that is a list", "- title: API\n", "must be a YAML mapping"),
    team_case("status codes as unquoted keys (numbers, which the model would refuse in its own words)",
              team_text(lambda t: t.replace('status: {"200": 1, "404": 0.05, "500": 0.02}', "status: {200: 1, 404: 0.05}")),
              'the key 200 is read as a number, not as text; quote it ("200")',
              'the key 404 is read as a number, not as text; quote it ("404")'),
    team_case("a label's values that are neither a list nor a mapping of weights",
              team_text(lambda t: t.replace('status: {"200": 1, "404": 0.05, "500": 0.02}', "status: 5")),
              "metrics.1.values.status: Input should be a valid list, or a valid dictionary (got 5)"),
    team_case("a label's weight that is text (only the mapping's error, not the list's)",
              team_text(lambda t: t.replace('status: {"200": 1, "404": 0.05, "500": 0.02}', 'status: {"200": "a"}')),
              "metrics.1.values.status.200: Input should be a valid number (a number, without quotes) (got 'a')"),
    team_case("an alert named in kebab case", alert("HighErrorRate", "alert", "high-error-rate"),
              "alerts.1.alert: an alert's name is letters and digits, starting with a capital letter "
              "(e.g. HighErrorRate)"),
    team_case("a variable named with a dash", put(("variables",), {"cost-per-call": 1}),
              "variables.cost-per-call: a variable name is letters, digits and '_', not starting with a digit"),
    team_case("a metric named with a dash", lambda team: team["metrics"][0].update(name="http-requests"),
              "metrics.0.name: a metric name is letters, digits, '_' and ':', not starting with a digit"),
    team_case("a counter's rate that is infinite (no history could be written of it)",
              lambda team: next(m for m in team["metrics"] if m.get("rate")).update(rate=float("inf")),
              ".rate: Input should be a finite number", "(got inf)"),
    team_case("a label value's share of the traffic that is infinite",
              lambda team: next(m["values"]["status"] for m in team["metrics"]
                                if isinstance((m.get("values") or {}).get("status"), dict)).update({"404": float("inf")}),
              ".values.status.404: Input should be a finite number"),
    team_case("a histogram's bucket that is NaN",
              lambda team: next(m for m in team["metrics"] if m["type"] == "histogram").update(buckets=[float("nan")]),
              ".buckets.0: Input should be a finite number"),
    team_case("a label Grafana sets on every alert (the rule's name would replace it)",
              alert("HighErrorRate", "labels", {"alertname": "Other"}),
              "alerts.1: labels ['alertname'] are set by Grafana on every alert (the rule's name, its folder's title)"),
    team_case("a label Grafana sets to the folder's title", alert("HighErrorRate", "labels", {"grafana_folder": "X"}),
              "alerts.1: labels ['grafana_folder'] are set by Grafana on every alert"),
    team_case("a placeholder in a label (only summary and description are filled)",
              alert("HighErrorRate", "labels", {"limit": "%(threshold)s"}),
              "alerts.1: labels ['limit'] hold a %(...)s placeholder, which no one fills in a label"),
    team_case("an expression named in capitals", put(("expressions",), {"ErrorRate": "sum(up{%(selector)s})"}),
              "expressions.ErrorRate: a source's or expression's name is lowercase letters, digits and '_'"),
    team_case("an explicit key left empty", "title: API\n? \n: x\n", "line 2, column 2: a key is missing before the ':'"),
    team_case("a key that is null, a boolean or a list", "title: API\n~: x\ntrue: y\n? [a]\n: z\n",
              'line 2, column 1: the key ~ is read as null, not as text; quote it ("~")',
              'line 3, column 1: the key true is read as a boolean, not as text; quote it ("true")',
              "line 4, column 3: a key must be text, not a list or a mapping"),
    team_case("an empty team.yaml", "", "title: is required", "metrics: is required"),
    team_case("a team without metrics", put(("metrics",), []), "metrics: List should have at least 1 item"),
    team_case("a metric described twice (the second would replace the first)",
              lambda team: team["metrics"].append({**team["metrics"][0], "help": "again"}),
              "metrics.", "metric 'up' is described twice; describe it once"),
    team_case("a histogram's series described as a metric of its own",
              lambda team: team["metrics"].append({"name": "http_request_duration_seconds_count", "type": "counter",
                                                   "help": "requests timed"}),
              "'http_request_duration_seconds_count' is a series of both 'http_request_duration_seconds' (histogram) "
              "and 'http_request_duration_seconds_count' (counter); a series belongs to one metric"),
    team_case("an alert quantity cut short", alert("APIInstanceDown", "quantity", "up{%(selector)s} =="),
              "alerts.APIInstanceDown.quantity: invalid PromQL (", 'up{job="api-production", env="prod"} =='),
    team_case("an alert with unbalanced parentheses",
              alert("ErrorSpike", "quantity", "sum(rate(http_requests_5xx_total{%(selector)s}[1m])"),
              "alerts.ErrorSpike.quantity: invalid PromQL ("),
    team_case("an alert nested 10,000 deep (the Rust parser would crash the process)",
              alert("APIInstanceDown", "quantity", "(" * 10_000 + "up{%(selector)s}" + ")" * 10_000),
              "alerts.APIInstanceDown.quantity: invalid PromQL (brackets nested more than 64 deep)"),
    team_case("an alert of 5,000 operators (the Rust parser would crash the process)",
              alert("APIInstanceDown", "quantity", "up{%(selector)s} + " * 5_000 + "up{%(selector)s}"),
              "alerts.APIInstanceDown.quantity: invalid PromQL (more than 500 operators; split the query)"),
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
    team_case("tresholds in an alert", alert("HighErrorRate", "tresholds", 0.1),
              "alerts.1.tresholds: unknown field (did you mean 'threshold'?); allowed: alert, comparison, description, for,"),
    team_case("a severity that does not exist", alert("HighErrorRate", "severity", "page"),
              "alerts.1.severity: Input should be 'critical', 'warning' or 'info' (got 'page')"),
    team_case("a label the platform sets", alert("HighErrorRate", "labels", {"team": "x"}),
              "alerts.1: labels ['team'] are set by the platform; use the severity field"),
    team_case("a label value that is a number", alert("HighErrorRate", "labels", {"tier": 1}),
              "alerts.1.labels.tier: Input should be a valid string (got 1)"),
    team_case("an alert entry that is only a name", put(("alerts", 0), "APIInstanceDown"),
              "alerts.0: Input should be a mapping with the keys alert, comparison, ", "(got 'APIInstanceDown')"),
    team_case("an alert's for in words", alert("APIInstanceDown", "for", "5 min"),
              "alerts.0.for: not a duration: write a number and a unit", "(got '5 min')"),
    team_case("an evaluation interval Grafana refuses", put(("alert_interval",), "15s"),
              "alert_interval: must be a multiple of 10s, e.g. 1m (got '15s')"),
    team_case("two alerts with one name", lambda t: t["alerts"].append(dict(t["alerts"][0])),
              "alerts: duplicate alert names: APIInstanceDown; each alert needs its own name"),
    team_case("an alert name whose generated uid is over 40 characters",
              alert("APIInstanceDown", "alert", "APIInstanceDownForMoreThanItShouldBeAllowed"),
              "alerts.APIInstanceDownForMoreThanItShouldBeAllowed.uid: generated uid "
              "'api-production-api-instance-down-for-more-than-it-should-be-allowed' is over 40 characters; "
              "set a shorter uid"),
    team_case("an explicit alert uid of 41 characters", alert("APIInstanceDown", "uid", "a" * 41),
              "alerts.0.uid: String should have at most 40 characters"),
    team_case("a folder uid of 41 characters", put(("folderUid",), "f" * 41),
              "folderUid: String should have at most 40 characters"),
    # 1. keys in team.yaml
    team_case("a key given twice in team.yaml", "title: A\ntitle: B\n", "key 'title' is given twice (first at line 1)"),
    team_case("a key given twice in another spelling", team_text(lambda t: "Title: Other\n" + t),
              "key 'title' is given twice (first at line 1 as 'Title')"),
    # 4. names that escape
    team_case("an imported dashboard uid with a slash", imports({"file": "copy.json", "uid": "../../x"}),
              "imports.0.uid: a uid may use only letters, digits, '-' and '_' (got '../../x')",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    team_case("an imported dashboard uid with a space", imports({"file": "copy.json", "uid": "my board"}),
              "imports.0.uid: a uid may use only letters, digits, '-' and '_'",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    team_case("an imported dashboard uid in Greek", imports({"file": "copy.json", "uid": "πίνακας"}),
              "imports.0.uid: a uid may use only letters, digits, '-' and '_'",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    team_case("an imported file outside the team folder", imports({"file": "../../../Pulumi.yaml", "uid": "imp"}),
              f"imports.0.file: must be a file inside teams/{TEAM}/"),
    team_case("a declared dashboard uid that escapes", put(("dashboards",), ["../x"]),
              "dashboards.0: a uid may use only letters, digits, '-' and '_'"),
    # 5. values that neuter an alert
    team_case("a NaN threshold", alert("HighErrorRate", "threshold", float("nan")),
              "alerts.1.threshold: Input should be a finite number"),
    team_case("an infinite threshold", alert("HighErrorRate", "threshold", float("inf")),
              "alerts.1.threshold: Input should be a finite number"),
    team_case("a boolean threshold", alert("HighErrorRate", "threshold", True), "alerts.1.threshold: Input should be a valid number"),
    team_case("a NaN variable", put(("variables",), {"budget": float("nan")}), "variables.budget: Input should be a finite number"),
    team_case("a duration past Go's range", alert("HighErrorRate", "for", "99999999999999999999y"),
              "alerts.1.for: longer than Prometheus and Grafana accept"),
    team_case("an unclosed {{ in a description", alert("HighErrorRate", "description", "rate is {{ $value | humanize"),
              "alerts.1.description: not a template Prometheus and Grafana accept: '{{' at character 9 is never closed"),
    team_case("an if without end in a summary", alert("HighErrorRate", "summary", "{{ if $labels.x }}high"),
              "alerts.1.summary: not a template Prometheus and Grafana accept: '{{ if }}' has no '{{ end }}'"),
    team_case("a reserved label name", alert("HighErrorRate", "labels", {"__name__": "x"}),
              "alerts.1.labels.__name__", "label names starting with __ are reserved"),
    team_case("a placeholder no one fills", alert("HighErrorRate", "description", "over %(thresold)s"),
              "alerts.1.description: unknown placeholder %(thresold)s; known: %(threshold)s"),
    team_case("a placeholder half written", alert("HighErrorRate", "description", "over %(threshold"),
              "alerts.1.description: a '%(' that is no placeholder"),
    team_case("an evaluation interval that is not whole seconds", put(("alert_interval",), "1m500ms"),
              "alert_interval: must be a multiple of 10s"),
    team_case("a blank folder title", put(("folder",), "   "), "folder: must not be blank"),
    team_case("a title with a line break", put(("title",), "API\nProduction"),
              "title: must be one line of text without control characters (it holds U+000A)"),
    team_case("a folder title that reads backwards (U+202E)", put(("folder",), "API \u202enoitcudorP"),
              "folder: must be one line of text without control characters (it holds U+202E)"),
    team_case("a folder title with a trailing space (Grafana trims it: a change at every preview)",
              put(("folder",), "API Production "),
              "folder: begins or ends with a space, which Grafana trims from a title it stores"),
    team_case("a folder title longer than Grafana's folder.title holds", put(("folder",), "F" * 190),
              "folder: 190 characters; Grafana holds at most 189 (folder.title)"),
    team_case("an alert name longer than Grafana's rule store takes", alert("HighErrorRate", "alert", "A" * 191),
              "alerts.1.alert: 191 characters; Grafana holds at most 190 (alert_rule.title)"),
    team_case("a rule group name of 96 characters but 192 bytes", put(("alert_group",), "\u00e9" * 96),
              "alert_group: 192 bytes; Grafana holds at most 190 (alert_rule.rule_group)"),
    team_case("a selector that is PromQL", put(("selector",), 'job="a"} or up{job="b"'),
              "selector: not valid label matchers: write label matchers only"),
    # 6. blow-ups in team files and imported JSON
    team_case("team.yaml nested thousands deep", f"title: {nested(5000)}\n", "nested more than 32 levels deep"),
    team_case("a !!python tag in team.yaml", "title: !!python/name:os.system\n", "the tag !!python/name:os.system"),
    team_case("imported JSON nested 100,000 deep", imports({"file": "deep.json", "uid": "imp"}),
              "nested more than 64 levels deep", file=f"teams/{TEAM}/deep.json", files={"deep.json": DEEP_JSON}),
    team_case("imported JSON with NaN", imports({"file": "nan.json", "uid": "imp"}),
              "not valid JSON: NaN is not a JSON number", file=f"teams/{TEAM}/nan.json",
              files={"nan.json": '{"title": "x", "panels": [], "refresh": NaN}'}),
    team_case("imported JSON with a key given twice", imports({"file": "twice.json", "uid": "imp"}),
              "not valid JSON here: the key 'panels' is given twice in one object; keep one",
              file=f"teams/{TEAM}/twice.json",
              files={"twice.json": '{"title": "x", "panels": [{"type": "text"}], "panels": []}'}),
    team_case("imported JSON with a number of 5,000 digits", imports({"file": "long.json", "uid": "imp"}),
              "not valid JSON here: a number of more than 4300 digits", file=f"teams/{TEAM}/long.json",
              files={"long.json": '{"title": "x", "panels": [], "version": ' + "9" * 5000 + "}"}),
    team_case("imported tags that are one text, not a list (Grafana would get a tag per letter)",
              imports({"file": "tags.json", "uid": "imp"}), "dashboard imp.tags: must be a list of texts (got 'prod')",
              file=f"teams/{TEAM}/tags.json", files={"tags.json": '{"title": "x", "panels": [], "tags": "prod"}'}),
    team_case("an imported dashboard that is not valid JSON", imports({"file": "broken.json", "uid": "imp"}),
              "not valid JSON at line 1, column 27: Expecting value",
              file=f"teams/{TEAM}/broken.json", files={"broken.json": '{"title": "x", "panels": [}'}),
    team_case("an imported JSON that is not a dashboard", imports({"file": "other.json", "uid": "imp"}),
              "not a Grafana dashboard: needs a title and a panels list",
              file=f"teams/{TEAM}/other.json", files={"other.json": '{"apiVersion": 1, "datasources": []}'}),
    team_case("an imported dashboard with a panel without type", imports({"file": "notype.json", "uid": "imp"}),
              "every panel needs a type (or a libraryPanel reference)",
              file=f"teams/{TEAM}/notype.json", files={"notype.json": '{"title": "x", "panels": [{"title": "p"}]}'}),
    team_case("an imported dashboard whose targets are not a list", imports({"file": "targets.json", "uid": "imp"}),
              "dashboard 'x': not a dashboard model Grafana accepts", "panels and targets must be lists of objects",
              file=f"teams/{TEAM}/targets.json",
              files={"targets.json": '{"title": "x", "panels": [{"type": "timeseries", "targets": "up"}]}'}),
    team_case("a legacy graph panel whose yaxes is a string", imports({"file": "graph.json", "uid": "imp"}),
              "panels['g']: not a panel model Grafana accepts",
              file=f"teams/{TEAM}/graph.json", files={"graph.json": json.dumps({"title": "G", "panels": [
                  {"type": "graph", "title": "g", "yaxes": "short", "fieldConfig": [], "targets": [{"expr": "up"}]}]})}),
    team_case("an imported dashboard file that is missing", imports({"file": "dashboards/gone.json", "uid": "imp"}),
              "imports.0.file: cannot read 'dashboards/gone.json' (No such file or directory); "
              "give a JSON file's path relative to teams/api-production/"),
    # An export's queries get the team's selector on import; one naming another job never shows data.
    team_case("an imported dashboard querying another team's job", imports({"file": "unscoped.json", "uid": "imp"}),
              "panels['p'].targets.A.expr: `up` selects job=\"billing\" but the team's selector is job=\"api-production\"",
              file=f"teams/{TEAM}/unscoped.json",
              files={"unscoped.json": '{"title": "x", "panels": [{"type": "stat", "title": "p", '
                                      '"targets": [{"expr": "up{job=\\"billing\\"}"}]}]}'}),
    team_case("an imported dashboard uid of 41 characters", imports({"file": "copy.json", "uid": "d" * 41}),
              "imports.0.uid: String should have at most 40 characters",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    # 7. blame the right file, report every problem
    team_case("two alerts with one uid: team.yaml's problem",
              both(alert("APIInstanceDown", "uid", "api-x"), alert("ErrorSpike", "uid", "api-x")),
              "alert rule 'api-x': used by both api-production (alerts.APIInstanceDown) and "
              "api-production (alerts.ErrorSpike); uids must be unique"),
    team_case("a folder uid that is a dashboard's uid: team.yaml's problem", put(("folderUid",), "api-production-overview"),
              "folder/dashboard 'api-production-overview': used by both api-production (folder) and "
              "api-production (dashboard 'API Production Overview'); uids must be unique"),
    team_case("an imported dashboard reusing a built dashboard's uid: team.yaml's problem",
              imports({"file": "copy.json", "uid": "api-production-overview"}),
              "folder/dashboard 'api-production-overview': used by both api-production (dashboard 'API Production "
              "Overview') and api-production (dashboard 'Copy'); uids must be unique",
              files={"copy.json": json.dumps({"title": "Copy", "panels": [SCOPED_PANEL]})}),
    team_case("an imported dashboard whose annotation queries another job, where Grafana 10 keeps it (target.expr)",
              imports({"file": "anno.json", "uid": "anno"}),
              "annotations['deploys'].target.expr: `build_info` selects job=\"billing\" but the team's selector is "
              "job=\"api-production\"", file=f"teams/{TEAM}/anno.json",
              files={"anno.json": json.dumps({"title": "Anno", "panels": [SCOPED_PANEL], "annotations": {"list": [
                  {"name": "deploys", "datasource": {"type": "prometheus", "uid": "p"},
                   "target": {"expr": 'changes(build_info{job="billing"}[5m]) > 0', "refId": "Anno"}}]}})}),
    team_case("an imported dashboard reusing a built dashboard's title: team.yaml's problem",
              imports({"file": "same.json", "uid": "same"}),
              "teams.api-production: two dashboards titled 'API Production Overview' in one folder",
              files={"same.json": json.dumps({"title": "API Production Overview", "panels": [SCOPED_PANEL]})}),
    team_case("every broken rule of the file, not only the first",
              both(alert("APIInstanceDown", "quantity", "up{%(selector)s} =="),
                   alert("ErrorSpike", "quantity", "sum(rate(http_requests_5xx_total{%(selector)s}[1m])")),
              "(2 problems)", "alerts.APIInstanceDown.quantity: invalid PromQL", "alerts.ErrorSpike.quantity: invalid PromQL"),
]


def write_team(teams_dir: Path, case: TeamCase) -> None:
    folder = teams_dir / TEAM
    for name, text in case.files.items():
        (folder / name).write_text(text)
    if isinstance(case.mutate, str):
        (folder / "team.yaml").write_text(case.mutate)
    elif getattr(case.mutate, "__name__", "") == "<lambda>" and case.mutate.__code__.co_argcount == 0:
        (folder / "team.yaml").write_text(case.mutate())
    else:
        team = load_yaml((folder / "team.yaml").read_text())
        case.mutate(team)
        (folder / "team.yaml").write_text(dump_yaml(team, sort_keys=False, allow_unicode=True))


@pytest.mark.parametrize("case", TEAM_CASES)
def test_a_malformed_team_file_gives_one_clear_error_and_registers_nothing(case, base, layout):
    write_team(layout.teams, case)
    message, monitor = run_fails(*base)
    assert_one_clear_error(message, case.file, *case.parts)
    assert monitor.registrations == []


def test_a_dashboard_whose_json_the_database_could_not_hold_is_one_error(base, layout, monkeypatch):
    monkeypatch.setattr(estate.resolve, "DASHBOARD_JSON_MAX", 2_000)  # the same check as at 16 MiB, on a small board
    message, monitor = run_fails(*base)
    assert_one_clear_error(message, CODE_FILE, "dashboard api-production-overview: ",
                           " bytes of JSON; Grafana's MySQL database holds at most 2,000 (dashboard.data, MEDIUMTEXT)")
    assert monitor.registrations == []


def test_names_as_long_as_grafanas_database_holds_reach_grafana_whole(base, layout):
    values, secret_keys = base
    folder = layout.team_dir(TEAM)
    team = load_yaml((folder / "team.yaml").read_text())
    team["folder"] = "F" * 189
    team["alert_group"] = "\u00e9" * 95  # 190 bytes
    # with a uid of its own: the one made of its name would be longer than 40
    team["alerts"].append({**team["alerts"][0], "alert": "A" * 190, "uid": "api-production-long"})
    (folder / "team.yaml").write_text(dump_yaml(team, sort_keys=False, allow_unicode=True))
    (folder / "dashboards.py").write_text(
        BUILD + "    return [board('api-production-overview', 'D' * 189, tags=('t' * 50,))]\n")
    values["teams"][TEAM]["grafanaTeam"]["name"] = "T" * 190
    values["datasources"]["loki"]["name"] = "L" * 190

    run = run_values(values, secret_keys)
    assert [r.inputs["title"] for r in run.of_type(T.FOLDER)] == ["F" * 189]
    (group,) = run.of_type(T.RULE_GROUP)
    assert group.inputs["name"] == "\u00e9" * 95 and "A" * 190 in [rule["name"] for rule in group.inputs["rules"]]
    (board,) = [json.loads(r.inputs["configJson"]) for r in run.of_type(T.DASHBOARD)]
    assert board["title"] == "D" * 189 and "t" * 50 in board["tags"]
    assert [r.inputs["name"] for r in run.of_type(T.OSS_TEAM)] == ["T" * 190]
    assert "L" * 190 in [r.inputs["name"] for r in run.of_type(T.DATASOURCE)]


@pytest.mark.parametrize("name, shown", [("team.yaml", TEAM_FILE), ("dashboards.py", CODE_FILE),
                                         ("notifications.tmpl", f"teams/{TEAM}/notifications.tmpl")],
                         ids=["team.yaml", "dashboards.py", "notifications.tmpl"])
def test_a_team_file_that_is_a_symlink_to_dev_zero_is_refused_at_once(base, layout, name, shown):
    path = layout.team_dir(TEAM) / name
    path.unlink(missing_ok=True)  # a team may have no notifications.tmpl: a link where one would be
    path.symlink_to("/dev/zero")
    message, monitor = run_fails(*base)
    assert_one_clear_error(message, shown, "not a regular file (a folder, device, FIFO or socket)")
    assert monitor.registrations == []


def test_a_notification_template_that_is_not_utf8_is_one_error(base, layout):
    (layout.team_dir(TEAM) / "notifications.tmpl").write_bytes(b'\xff{{ define "api-production.title" }}x{{ end }}')
    message, monitor = run_fails(*base)
    assert_one_clear_error(message, f"teams/{TEAM}/notifications.tmpl", "byte 0: not UTF-8 text; save the file as UTF-8")
    assert monitor.registrations == []


def test_a_team_folder_copied_without_renaming_its_uids_and_folder_is_the_stacks_problem(base, layout):
    shutil.copytree(layout.team_dir(TEAM), layout.teams / "zz-malformed-twin")
    values, secret_keys = base
    values["teams"]["zz-malformed-twin"] = {}
    message, monitor = run_fails(values, secret_keys)
    assert_one_clear_error(
        message, STACK_FILE,
        "folder/dashboard 'api-production-overview': used by both api-production (dashboard 'API Production Overview') "
        "and zz-malformed-twin (dashboard 'API Production Overview'); uids must be unique",
        "folder title 'API Production': used by both api-production and zz-malformed-twin; folder titles must be unique")
    assert monitor.registrations == []


# -------------------------------------------------------------------------- team code route (class 2)

@dataclass
class CodeCase:
    source: str | None  # dashboards.py's text; None removes the file
    file: str
    parts: tuple[str, ...]


def code_case(id_: str, source: str | None, *parts: str, file: str = CODE_FILE):
    return pytest.param(CodeCase(source, file, parts), id=id_)


BUILD = "from dashboards import board\n\n\ndef dashboards(team):\n"
CODE_CASES = [
    code_case("dashboards.py renamed away", None,
              f"dashboards: declares api-production-overview, which {CODE_FILE} builds; that file is missing",
              file=TEAM_FILE),
    code_case("dashboards() returns nothing", BUILD + "    return []\n",
              "dashboards(): did not build api-production-overview, which team.yaml declares (it built: nothing)"),
    code_case("team code writing its own answer with a NaN, then ending its process",
              "import os\n\n\ndef dashboards(team):\n"
              "    os.write(3, b'{\"ok\": [{\"uid\": \"api-production-overview\", \"title\": \"A\", \"x\": NaN}]}')\n"
              "    os.abort()\n",
              "its process wrote an answer that is not the JSON of its dashboards"),
    code_case("dashboards() returns one dashboard twice (blamed on the code, not team.yaml)",
              "from dashboards import board\n\n\ndef dashboards(team):\n"
              "    built = board('api-production-overview', 'API Production Overview')\n    return [built, built]\n",
              "dashboards(): built 'api-production-overview' more than once: return each dashboard once"),
    code_case("a dashboard team.yaml does not declare",
              BUILD + "    return [board('api-production-overview', 'A'), board('api-production-extra', 'B')]\n",
              "dashboards(): built 'api-production-extra', which team.yaml does not declare"),
    code_case("a uid that climbs out of the render", BUILD + "    return [board('../../x', 'A')]\n",
              "dashboard 'A'.uid: a uid is 1 to 40 letters, digits, '-' or '_' (Grafana's rule) (got '../../x')"),
    code_case("a uid with spaces", BUILD + "    return [board('my board', 'A')]\n", "(got 'my board')"),
    code_case("a dashboard link a browser would run",
              BUILD + "    from grafana_foundation_sdk.builders.dashboard import DashboardLink\n"
                      "    link = DashboardLink('x').url(' JavaScript:alert(document.cookie)')\n"
                      "    return [board('api-production-overview', 'A').link(link)]\n",
              "dashboard api-production-overview: links[0].url: a javascript: URL, which Grafana would show as a "
              "clickable link"),
    code_case("a dashboard link whose constant variable a browser would run",
              BUILD + "    from grafana_foundation_sdk.builders.dashboard import ConstantVariable, DashboardLink\n"
                      "    built = board('api-production-overview', 'A').with_variable(\n"
                      "        ConstantVariable('u').value('javascript:alert(document.cookie)'))\n"
                      "    return [built.link(DashboardLink('Runbook').url('${u}'))]\n",
              "dashboard api-production-overview: links[0].url: a javascript: URL"),
    code_case("a panel link a browser would run",
              BUILD + "    from grafana_foundation_sdk.builders.dashboard import DashboardLink\n"
                      "    from grafana_foundation_sdk.builders.stat import Panel\n"
                      "    panel = Panel().title('p').links([DashboardLink('x').url('data:text/html,<script>1</script>')])\n"
                      "    return [board('api-production-overview', 'A').with_panel(panel)]\n",
              "dashboard api-production-overview: panels[0].links[0].url: a data: URL"),
    code_case("a blank dashboard title", BUILD + "    return [board('api-production-overview', ' ')]\n",
              "dashboard api-production-overview.title: a dashboard needs a title (Grafana refuses one without)"),
    code_case("a dashboard title with a line break", BUILD + "    return [board('api-production-overview', 'A\\nB')]\n",
              "dashboard api-production-overview.title: must be one line of text without control characters "
              "(it holds U+000A)"),
    code_case("a dashboard title with a leading space", BUILD + "    return [board('api-production-overview', ' A')]\n",
              "dashboard api-production-overview.title: begins or ends with a space, which Grafana trims"),
    code_case("a dashboard title longer than Grafana's dashboard.title holds",
              BUILD + "    return [board('api-production-overview', 'D' * 190)]\n",
              "dashboard api-production-overview.title: a title of 190 characters; Grafana holds at most 189 "
              "(dashboard.title)"),
    code_case("a tag longer than Grafana's dashboard_tag.term holds",
              BUILD + "    return [board('api-production-overview', 'A', tags=('t' * 51,))]\n",
              "dashboard api-production-overview.tags: a tag of 51 characters; Grafana holds at most 50 "
              "(dashboard_tag.term)"),
    code_case("a tag with a line break", BUILD + "    return [board('api-production-overview', 'A', tags=('a\\nb',))]\n",
              "dashboard api-production-overview.tags: a tag must be one line of text without control characters "
              "(it holds U+000A)"),
    code_case("sys.exit(0)", "import sys\n\n\ndef dashboards(team):\n    sys.exit(0)\n",
              "line 5, dashboards(): SystemExit: called sys.exit(0)"),
    code_case("sys.exit at import", "import sys\nsys.exit(0)\n", "line 2, dashboards(): SystemExit: called sys.exit(0)"),
    code_case("os._exit(0)", "import os\n\n\ndef dashboards(team):\n    os._exit(0)\n",
              "line 5, dashboards(): SystemExit: called os._exit(0)"),
    code_case("KeyboardInterrupt", "def dashboards(team):\n    raise KeyboardInterrupt\n",
              "line 2, dashboards(): KeyboardInterrupt: raised KeyboardInterrupt"),
    code_case("an exception", "def dashboards(team):\n    return [team.missing]\n",
              "line 2, dashboards(): AttributeError: 'TeamView' object has no attribute 'missing'"),
    code_case("a syntax error", "def dashboards(team):\n    return [\n", "line 2, dashboards(): SyntaxError: '[' was never closed"),
    code_case("no dashboards function", "def boards(team):\n    return []\n", "dashboards(): defines no function dashboards(team)"),
    code_case("None instead of a list", "def dashboards(team):\n    return None\n",
              "dashboards(): dashboards() returned NoneType, not a list of dashboards"),
    code_case("numbers instead of dashboards", "def dashboards(team):\n    return [1]\n",
              "dashboards(): dashboards()[0] is a int, not a dashboard"),
    code_case("a builder whose build() gives no dashboard",
              "class Fake:\n    def build(self):\n        return {'uid': 'api-production-overview'}\n\n\n"
              "def dashboards(team):\n    return [Fake()]\n",
              "dashboards(): TypeError: build() gave a dict, not a dashboard (dashboards.board(...))"),
    code_case("a NaN threshold in a panel (JSON has no NaN)",
              "from dashboards import SELECTOR, board, query, stat_panel, thresholds\n\n\ndef dashboards(team):\n"
              "    panel = stat_panel('x', 'short', query('up{' + SELECTOR + '}'), steps=thresholds('green', float('nan'), 'red'))\n"
              "    return [board('api-production-overview', 'A').with_panel(panel)]\n",
              "dashboards(): ValueError: Out of range float values are not JSON compliant"),
    code_case("an endless loop", "def dashboards(team):\n    while True:\n        pass\n",
              "line 2, dashboards(): did not return within 0.25 s (an endless loop?); it was stopped"),
    code_case("an endless loop that swallows every interruption",
              # the interruption lands in the inner loop, inside the try: swallowed, so the worker asks
              # faulthandler for its stack and kills it (the line named is 4 or 5, wherever the loop was)
              "def dashboards(team):\n    while True:\n        try:\n            while True:\n                pass\n"
              "        except BaseException:\n            pass\n",
              "dashboards(): did not return within 0.25 s (an endless loop?); it was stopped"),
    code_case("its descriptors closed, then an endless loop (the worker waits on the process itself)",
              "import os\n\n\ndef dashboards(team):\n    for fd in (1, 2, 3):\n        os.close(fd)\n"
              "    while True:\n        pass\n",
              "dashboards(): its process exited with status 0 before dashboards() returned"),
    code_case("a dashboard query nested 10,000 deep (the Rust parser would crash the process)",
              "from dashboards import SELECTOR, board, query, stat_panel\n\n\ndef dashboards(team):\n"
              "    deep = '(' * 10_000 + 'up{' + SELECTOR + '}' + ')' * 10_000\n"
              "    return [board('api-production-overview', 'A').with_panel(stat_panel('x', 'short', query(deep)))]\n",
              "invalid PromQL (brackets nested more than 64 deep)"),
    code_case("a process started", "import subprocess\n\n\ndef dashboards(team):\n    subprocess.run(['true'])\n",
              "line 5, dashboards(): PermissionError: team code may not subprocess.Popen"),
    code_case("a file written", "def dashboards(team):\n    open('/tmp/team-code-was-here', 'w')\n",
              "line 2, dashboards(): PermissionError: team code may not write files"),
    code_case("memory exhausted", "def dashboards(team):\n    return [bytearray(8 << 30)]\n",
              "line 2, dashboards(): MemoryError"),
    code_case("a credentials file read", "import os\n\n\ndef dashboards(team):\n"
              "    open(os.path.expanduser('~/.pulumi/credentials.json')).read()\n",
              "line 5, dashboards(): PermissionError: team code may read only the project and the Python "
              "installation, not"),
    code_case("another process's environment read", "def dashboards(team):\n    open('/proc/1/environ', 'rb').read()\n",
              "line 2, dashboards(): PermissionError: team code may read only the project and the Python "
              "installation, not /proc/1/environ"),
    code_case("C called through ctypes", "import ctypes\n\n\ndef dashboards(team):\n    ctypes.CDLL(None).getpid()\n",
              "line 5, dashboards(): PermissionError: team code may not ctypes.dlopen"),
    # a file's mode, owner and times: no Landlock right covers them, the audit hook refuses them
    code_case("a project file's mode changed", "import os\n\n\ndef dashboards(team):\n    os.chmod(__file__, 0o777)\n",
              "line 5, dashboards(): PermissionError: team code may not os.chmod"),
    code_case("a project file's mode changed through a descriptor opened for reading",
              "import os\n\n\ndef dashboards(team):\n    os.fchmod(os.open(__file__, os.O_RDONLY), 0o777)\n",
              "line 5, dashboards(): PermissionError: team code may not os.chmod"),
    code_case("the mode of a descriptor the child inherited (/dev/null) set",
              "import os\n\n\ndef dashboards(team):\n    os.fchmod(0, 0o666)\n",  # its own mode: nothing changes
              "line 5, dashboards(): PermissionError: team code may not os.chmod"),
    code_case("a project file's times set", "import os\n\n\ndef dashboards(team):\n    os.utime(__file__, (0, 0))\n",
              "line 5, dashboards(): PermissionError: team code may not os.utime"),
    code_case("a project file's owner set", "import os\n\n\ndef dashboards(team):\n"
              "    os.chown(__file__, os.getuid(), os.getgid())\n",
              "line 5, dashboards(): PermissionError: team code may not os.chown"),
    code_case("a project file removed", "import os\n\n\ndef dashboards(team):\n    os.remove(__file__)\n",
              "line 5, dashboards(): PermissionError: team code may not os.remove"),
    code_case("a project file renamed", "import os\n\n\ndef dashboards(team):\n    os.replace(__file__, __file__ + '~')\n",
              "line 5, dashboards(): PermissionError: team code may not os.rename"),
    code_case("a project file emptied", "import os\n\n\ndef dashboards(team):\n    os.truncate(__file__, 0)\n",
              "line 5, dashboards(): PermissionError: team code may not os.truncate"),
    code_case("a folder made", "import os\n\n\ndef dashboards(team):\n    os.mkdir('x')\n",
              "line 5, dashboards(): PermissionError: team code may not os.mkdir"),
    code_case("a link made", "import os\n\n\ndef dashboards(team):\n    os.symlink('/etc/passwd', 'x')\n",
              "line 5, dashboards(): PermissionError: team code may not os.symlink"),
    code_case("a link's owner set", "import os\n\n\ndef dashboards(team):\n    os.lchown(__file__, os.getuid(), os.getgid())\n",
              "line 5, dashboards(): PermissionError: team code may not os.chown"),
    code_case("an answer nested 200,000 deep, written past the worker",
              "import os\n\n\ndef dashboards(team):\n    os.write(3, b'{\"ok\": [' + b'[' * 200_000 + b']' * 200_000 + b']}')\n"
              "    raise SystemExit(0)\n",
              "dashboards(): its process wrote an answer that is not the JSON of its dashboards (not JSON, or nested too deep)"),
    code_case("an answer that is not JSON, written past the worker",
              "import os\n\n\ndef dashboards(team):\n    os.write(3, b'\\xff not json')\n    return []\n",
              "dashboards(): its process wrote an answer that is not the JSON of its dashboards"),
]


@pytest.mark.parametrize("case", CODE_CASES)
def test_team_code_that_fails_or_escapes_is_one_error_naming_its_file_and_line(case, base, layout, monkeypatch):
    # The endless loops run until the limit: a short one (the team's dashboards() takes about 1 ms)
    monkeypatch.setattr(estate.team_code, "TIME_LIMIT", 0.25)
    module = layout.team_dir(TEAM) / "dashboards.py"
    if case.source is None:
        module.unlink()
    else:
        module.write_text(case.source)
    message, monitor = run_fails(*base)
    assert_one_clear_error(message, case.file, *case.parts)
    assert monitor.registrations == []
    assert not Path("/tmp/team-code-was-here").exists()


# ------------------------------------------------------------------------------ environment route (6, 7)

@pytest.mark.parametrize("variable, value, part", [
    ("PULUMI_CONFIG", "{not json", "the PULUMI_CONFIG environment variable: invalid configuration"),
    ("PULUMI_CONFIG", '["a list"]', "not a JSON object; the Pulumi CLI sets it"),
    ("PULUMI_CONFIG", '{"grafana-platform:orgId": 1}', "every value must be text, as the Pulumi CLI writes it"),
    ("PULUMI_CONFIG_SECRET_KEYS", "{oops", "the PULUMI_CONFIG_SECRET_KEYS environment variable"),
    ("PULUMI_CONFIG", "[" * 100_000 + "]" * 100_000, "not a JSON object; the Pulumi CLI sets it"),
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams": "[" * 100_000 + "]" * 100_000}),
     "grafana-platform:teams: nested more than 32 levels deep"),
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams": "{\"a\": " * 40 + "1" + "}" * 40}),
     "grafana-platform:teams: nested more than 32 levels deep"),
    # JSON readers keep a key's last value: the first would vanish at exit 0
    ("PULUMI_CONFIG", '{"grafana-platform:orgId": "1", "grafana-platform:orgId": "2"}',
     "the PULUMI_CONFIG environment variable: invalid configuration (1 problem); nothing was deployed:\n"
     "  not valid JSON here: the key 'grafana-platform:orgId' is given twice in one object; keep one"),
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams": '{"voicebot": {"selector": "job=\\"gone\\""}, "voicebot": {}}'}),
     "grafana-platform:teams: not valid JSON here: the key 'voicebot' is given twice in one object; keep one"),
    # a key one cannot see whole: the zero-width space after it is shown
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams\u200b": "{}"}),
     "grafana-platform:teams\\u200b: holds control or invisible characters; retype it"),
    # a number Python will not read: the value was taken as text, and refused for being no mapping
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams": '{"api-production": {"x": ' + "9" * 5000 + "}}"}),
     "grafana-platform:teams: holds a number of more than 4300 digits, which Python will not read"),
    # one name in two spellings, which the stack file's reader refuses too: which one a JSON reader kept is its own
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:muteTimings": '{"nights": {}, "Nights": {}}'}),
     "grafana-platform:muteTimings: not valid JSON here: the key 'Nights' is given twice in one object (also as "
     "'nights'); keep one"),
    # a secret's keys are part of it, and so are the names beside one: not shown
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:grafanaAuth": '{"PLANTED": 1, "PLANTED": 2}'}),
     "grafana-platform:grafanaAuth: a key is given twice in one object of this value; keep one"),
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:contactPoints": '{"PLANTED": {}, "PLANTED": {}}'}),
     "grafana-platform:contactPoints: a key is given twice in one object of this value; keep one"),
    # a lone surrogate, which no UTF-8 encoder takes: the SDK's failed mid-registration, in thousands of lines
    ("PULUMI_CONFIG", '{"grafana-platform:runbookBaseUrl": "https://r.example.com/\\ud800"}',
     "the PULUMI_CONFIG environment variable: invalid configuration (1 problem); nothing was deployed:\n"
     "  the text at grafana-platform:runbookBaseUrl holds a lone surrogate"),
    ("PULUMI_CONFIG", '{"grafana-platform:x\\udfff": "1"}', "the text at grafana-platform:x\\udfff holds a lone surrogate"),
    ("PULUMI_CONFIG", '{"grafana-platform:runbookBaseUrl": "https://r.example.com/\udcff"}',  # the byte 0xff
     "the text at grafana-platform:runbookBaseUrl holds a lone surrogate"),
    ("PULUMI_CONFIG", json.dumps({"grafana-platform:teams": '{"api": {"selector": "\\ud800"}}'}),
     "grafana-platform:teams: the text at api.selector holds a lone surrogate"),
], ids=["not JSON", "not an object", "values that are not text", "secret keys not JSON", "nested 100,000 deep",
        "a value nested 100,000 deep", "a value nested deeper than a stack file may be", "a key given twice",
        "a team given twice in a value", "an invisible character in a key", "a number of 5,000 digits in a value", "a name in two spellings in a value", "a key given twice in a secret value",
        "a key given twice beside secrets", "a lone surrogate", "a lone surrogate in a key",
        "a byte that is no UTF-8", "a lone surrogate in a value's JSON"])
def test_an_unreadable_engine_environment_is_one_error_that_shows_none_of_it(variable, value, part, monkeypatch):
    from tools.mocks import run_program

    monkeypatch.setenv("PULUMI_CONFIG", '{"grafana-platform:grafanaAuth": "glsa_PLANTED_in_env"}')
    monkeypatch.setenv(variable, value)
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_program("prod", {}, set(), monitor)  # nothing set in-process: the program reads the environment
    message = str(error.value)
    assert part in message and "Traceback" not in message and "PLANTED" not in message
    assert len(message.splitlines()) <= 15
    assert monitor.registrations == []


@pytest.mark.parametrize("key, value, part", [
    ("runbookBaseUrl", "https://r.example.com/" + "x" * (1 << 20), "grafana-platform:runbookBaseUrl: larger than 1024 KiB"),
    ("datasources", json.dumps({"prometheus": {"jsonData": {"x": [0] * 100_001}}}),
     "grafana-platform:datasources: more than 100000 values"),
], ids=["a value of over 1 MiB", "a value of over 100,000 values"])
def test_config_set_in_process_is_bounded_as_a_stack_file_is(key, value, part, prod_values):
    """An Automation API inline program sets config in-process, past the environment's size limit."""
    from tools.mocks import run_program

    values, secret_keys = prod_values
    config = {f"{P}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_program("prod", {**config, f"{P}{key}": value}, {f"{P}{k}" for k in secret_keys}, monitor)
    assert part in str(error.value) and len(str(error.value).splitlines()) <= 15
    assert monitor.registrations == []


@pytest.mark.parametrize("extra, part", [
    ({"grafana-platfrom:protect": "true"}, "grafana-platfrom:protect: unknown namespace (did you mean 'grafana-platform'?)"),
    ({"grafana:auth": "glsa_PLANTED_token"}, "grafana:auth: configures Pulumi's default Grafana provider"),
    ({"kubernetes:contxt": "kind"}, "kubernetes:contxt: unknown kubernetes: key (did you mean 'context'?)"),
    ({"protect": "true"}, "protect: a key without its namespace; the Pulumi CLI writes grafana-platform:<key>"),
    ({"kubernetes:context": "a", "Kubernetes:context": "b"},
     "kubernetes:context: is given twice (also as 'Kubernetes:context'); keep one"),
    ({"pulumi:disable-default-providers": '["*"]'}, "pulumi:disable-default-providers: disables the default "
                                                    "Kubernetes provider"),
], ids=["a misspelt namespace", "the default Grafana provider's", "a misspelt Kubernetes key", "no namespace",
        "a key spelt twice", "the Kubernetes provider disabled under a Grafana it deploys"])
def test_a_key_only_the_engine_hands_over_that_no_one_would_read_is_refused_not_dropped(extra, part, monkeypatch):
    """An ESC environment's pulumiConfig reaches the program in PULUMI_CONFIG alone, past the stack file's rules."""
    from tools.mocks import run_program

    config, secret_keys = estate.config.config_from_file("prod", PROJECT_LAYOUT)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**config, **extra}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(sorted(secret_keys)))
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_program("prod", {}, set(), monitor)
    message = str(error.value)
    assert message.startswith("the PULUMI_CONFIG environment variable: invalid configuration ("), message
    assert part in message and "PLANTED" not in message and len(message.splitlines()) <= 15
    assert monitor.registrations == []


def test_no_time_zone_database_is_said_to_be_the_systems_problem_not_an_unknown_zone(base):
    """PYTHONTZPATH=/nonexistent, without the tzdata package: no zone is known, Europe/Paris neither."""
    import zoneinfo

    values, secret_keys = base
    values["muteTimings"] = {"nights": {"times": [{"start": "00:00", "end": "06:00"}], "location": "Europe/Paris"}}
    caches = (estate.stack._known_time_zone, estate.stack._time_zones)
    try:
        zoneinfo.reset_tzpath(to=["/nonexistent"])
        for cache in caches:
            cache.cache_clear()
        if zoneinfo.available_timezones():  # the tzdata package is installed: there is a database
            pytest.skip("the tzdata package is installed")
        message, monitor = run_fails(values, secret_keys)
    finally:
        zoneinfo.reset_tzpath()
        for cache in caches:
            cache.cache_clear()
    assert_one_clear_error(message, STACK_FILE, f"{P}muteTimings.nights.location: cannot be checked: this system "
                                                "has no time zone database (none under /nonexistent, no tzdata package)")
    assert monitor.registrations == []


def test_the_engine_route_reads_config_and_secret_keys_from_the_environment(base, monkeypatch):
    """A real run: the language host passes PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS; the keys
    it marks secret count as secure."""
    from tools.mocks import run_program

    values, secret_keys = base
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{P}{k}": v if isinstance(v, str) else json.dumps(v)
                                                    for k, v in values.items()}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"{P}{k}" for k in secret_keys]))
    run = run_program("unit-test", {}, set(), layout=tests.conftest.LAYOUT)
    assert run.of_type(T.CONTACT_POINT)


def test_the_offline_render_never_merges_an_ambient_pulumi_config(tmp_path, monkeypatch, capsys):
    assert tools.render.main(["--stack", "dev", "--out", str(tmp_path / "plain")]) == 0
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{P}protect": "true", f"{P}teams": "{}", f"{P}orgId": "7"}))
    assert tools.render.main(["--stack", "dev", "--out", str(tmp_path / "ambient")]) == 0
    assert "PULUMI_CONFIG in the environment is ignored" in capsys.readouterr().err
    for name in ("resources.json", "exports.json"):
        assert (tmp_path / "plain" / name).read_text() == (tmp_path / "ambient" / name).read_text()


def test_the_interpreters_environment_changes_nothing_the_render_writes_or_says(tmp_path):
    """In another process, with each of these set at once:
    - PYTHONWARNINGS=error: every warning an exception (or, where Python cannot raise one, a line on
      stderr). The provider SDK's deprecation notices for resources no component declares are not
      the user's to fix, and the team-code process is ended before the interpreter would warn;
    - an ASCII locale (C, without Python's UTF-8 coercion): text the teams write in French is still
      written as UTF-8, the same bytes;
    - another PYTHONHASHSEED: set and dict order of strings changes, and nothing written may follow it."""
    seed = "0" if os.environ.get("PYTHONHASHSEED") not in (None, "0") else "1"  # not this process's seed
    result = subprocess.run([sys.executable, "-m", "tools.render", "--stack", "prod", "--out", str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONWARNINGS": "error", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0",
                                 "PYTHONUTF8": "0", "PYTHONHASHSEED": seed})
    assert (result.returncode, result.stderr) == (0, "")
    assert files(tmp_path / "out") == files(tools.render.committed("prod").folder)


# ------------------------------------------------------------------------------- command line route (4)

# What the test runner itself writes into the project folder, meanwhile too (the hypothesis
# database, by a fuzz test in the other xdist worker)
RUNNER_FILES = ("__pycache__", ".hypothesis", ".pytest_cache")


def project_files() -> dict[Path, int]:
    """The project folder's entries but the test runner's, with their modification times."""
    return {p: p.stat().st_mtime_ns for p in ROOT.glob("*") if p.name not in RUNNER_FILES}


@pytest.mark.parametrize("argv, part", [
    (["--stack", "dev", "--out", "teams"], "error: --out teams: is inside the project's teams/ folder"),
    (["--stack", "dev", "--out", "stacks"], "error: --out stacks: is inside the project's stacks/ folder"),
    (["--stack", "dev", "--out", "README.md"], "error: --out README.md: is a file, not a folder"),
    (["--stack", "dev", "--out", "docs"], "error: --out docs: holds files that are not an earlier render"),
    (["--stack", "../../etc/passwd", "--out", "{tmp}/out"], "error: --stack: invalid configuration"),
    (["--stack", "nope", "--out", "{tmp}/out"], "error: stacks/Pulumi.nope.yaml: invalid configuration"),
    (["--stack", "dev", "--root", "{tmp}/nowhere", "--out", "{tmp}/out"],
     "error: --root {tmp}/nowhere: no Pulumi.yaml there; give the project's folder"),
    (["--stack", "dev", "--root", "{tmp}/bare", "--out", "{tmp}/out"],
     "error: stacks/Pulumi.dev.yaml: invalid configuration (1 problem); nothing was deployed:\n"
     "  no such stack; available: none (no stacks/Pulumi.<stack>.yaml)\n"),
], ids=["--out teams", "--out stacks", "--out a file", "--out a folder of other files", "--stack a path",
        "--stack unknown", "--root not a project", "--root a project without stacks"])
def test_the_render_refuses_an_out_or_stack_that_escapes_in_one_line_and_writes_nothing(argv, part, tmp_path, capsys,
                                                                                        monkeypatch):
    # the command's main in-process, run from the project folder as the command is; what the
    # process adds around it (exit status, no traceback) test_a_bad_stack_exits_non_zero_... shows
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "Pulumi.yaml").write_text("name: grafana-platform\nruntime: python\n")
    before = project_files()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    part = part.replace("{tmp}", str(tmp_path))
    monkeypatch.chdir(ROOT)
    assert tools.render.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(part), captured.err
    assert len(captured.err.splitlines()) <= 15
    assert project_files() == before
    assert not (tmp_path / "out").exists()


def test_the_render_replaces_an_earlier_render_and_nothing_else(tmp_path):
    out = tmp_path / "render"
    assert tools.render.main(["--stack", "dev", "--out", str(out)]) == 0
    assert (out / MARKER).is_file()
    (out / "dashboards" / "stale.json").write_text("{}")
    assert tools.render.main(["--stack", "dev", "--out", str(out)]) == 0
    assert not (out / "dashboards" / "stale.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]  # no staging folder beside it


# The other tools' command lines: render folders they read, numbers they take

@pytest.fixture(scope="module")
def dev_render(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dev-render") / "dev"
    write(run_values(*stack_values("dev"), stack="dev"), out)
    return out


def _edited(resources: list[dict]) -> list[dict]:
    tree = next(r for r in resources if r["type"] == T.NOTIFICATION_POLICY)
    tree["inputs"] = {"policies": "not a list"}
    return resources


READERS_OF_RENDERS = ("diff", "lint", "alertmanager")


@pytest.mark.parametrize("tool, text, part", [
    *((tool, text, part) for tool in READERS_OF_RENDERS for text, part in (
        ("not json", "resources.json: not a render's resources (Expecting value"),
        ('{"type": 1}', "resources.json: not a render's resources (a list of type, name, parent and inputs)"),
        ('[{"type": 1, "name": "x", "parent": "", "inputs": {}}]', "not a render's resources (a list of type, name"),
        (DEEP_JSON, "resources.json: not a render's resources (nested deeper than a JSON reader goes)"),
        ('[{"type": "t", "name": "x", "parent": "", "inputs": {"v": NaN}}]',
         "resources.json: not a render's resources (not valid JSON: NaN is not a JSON number)"))),
    # a value of another shape inside: what reads the policy tree says so (the diff only shows it changed)
    ("lint", _edited, "a render folder is not as python -m tools.render writes it"),
    ("alertmanager", _edited, "a render folder is not as python -m tools.render writes it"),
], ids=[*(f"{tool}: {case}" for tool in READERS_OF_RENDERS
          for case in ("not JSON", "not a list", "a type that is no text", "nested past any reader", "a NaN")),
        "lint: a policy tree of another shape", "alertmanager: a policy tree of another shape"])
def test_a_render_folder_edited_by_hand_is_one_line_from_each_tool_that_reads_one(tool, text, part, dev_render,
                                                                                  tmp_path, capsys):
    import tools.alertmanager
    import tools.diff
    import tools.lint

    folder = tmp_path / "render"
    shutil.copytree(dev_render, folder)
    resources = folder / "resources.json"
    resources.write_text(text if isinstance(text, str) else json.dumps(text(json.loads(resources.read_text()))))
    main, argv = {"diff": (tools.diff.main, [str(dev_render), str(folder)]), "lint": (tools.lint.main, [str(folder)]),
                  "alertmanager": (tools.alertmanager.main, [str(folder)])}[tool]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and part in err and len(err.splitlines()) == 1, err
    assert not (folder / "alertmanager.yml").exists()


def test_the_alertmanager_config_is_not_written_when_no_amtool_could_check_it(dev_render, tmp_path, capsys,
                                                                              monkeypatch):
    import tools.alertmanager

    folder = tmp_path / "render"
    shutil.copytree(dev_render, folder)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert tools.alertmanager.main([str(folder)]) == 1
    assert capsys.readouterr().err.startswith("error: amtool is not installed (not found on PATH)")
    assert not (folder / tools.alertmanager.CONFIG_FILE).exists()


def test_the_alertmanager_config_is_never_written_through_a_link_in_the_render_folder(dev_render, tmp_path, capsys):
    import tools.alertmanager

    folder = tmp_path / "render"
    shutil.copytree(dev_render, folder)
    precious = tmp_path / "Pulumi.prod.yaml"
    precious.write_text("config: {}\n")
    (folder / tools.alertmanager.CONFIG_FILE).symlink_to(precious)
    assert tools.alertmanager.main([str(folder)]) == 2
    assert capsys.readouterr().err == (f"error: {folder / tools.alertmanager.CONFIG_FILE}: is a link or no regular "
                                       "file; remove it, the tool writes its own\n")
    assert precious.read_text() == "config: {}\n"


# (tools.diff and tools.alertmanager refuse a folder whose resources.json is no regular file before
# reading it: "not a render folder (no resources.json)", exit 2)
@pytest.mark.parametrize("tool, name, what", [
    ("lint", "resources.json", "resources"), ("lint", "dashboards/api-production-overview.json", "dashboard"),
    ("diff", "alerts.json", "alerts")])
def test_a_render_file_that_is_no_regular_file_is_one_line_not_a_read_without_end(tool, name, what, dev_render,
                                                                                  tmp_path, capsys):
    """A FIFO with no writer: opened, it is waited for without end (a link to /dev/zero is read until the
    memory is gone)."""
    import tools.diff
    import tools.lint

    folder = tmp_path / "render"
    shutil.copytree(dev_render, folder)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    main, argv = {"diff": (tools.diff.main, [str(dev_render), str(folder)]),
                  "lint": (tools.lint.main, [str(folder)])}[tool]

    with ends_within(20, f"{tool} reading {name}"):
        assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {shown_path(folder / name)}: not a render's {what} (not a regular file (a folder, device, FIFO or "
        "socket); give the file itself, or a link to one); write the folder with python -m tools.render\n")


@pytest.mark.parametrize("argv, part", [
    (["--minutes", "-5"], "argument --minutes: -5 is not within 1 to 1440"),
    (["--minutes", "99999999"], "argument --minutes: 99999999 is not within 1 to 1440"),
    (["--step", "0"], "argument --step: 0 is not within 1 to 3600"),
    (["--step", "x"], "argument --step: 'x' is not a whole number"),
], ids=["negative minutes", "minutes past a day", "a step of 0", "a step that is no number"])
def test_synthetic_history_takes_only_a_length_and_step_it_can_make(argv, part, tmp_path, capsys):
    from tools.synthetic import main

    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "history.om")])
    assert exit_.value.code == 2 and part in capsys.readouterr().err
    assert not (tmp_path / "history.om").exists()


SYNTHETIC_TIMES = "give RFC 3339 with its offset (2024-05-01T12:00:00Z) or Unix seconds (1714564800)"


@pytest.mark.parametrize("argv, message", [
    (["--end", "2024-05-01T12:00:00"], f"'2024-05-01T12:00:00' is not a time: {SYNTHETIC_TIMES}"),  # the machine's zone
    (["--end", "2024-05-01"], f"'2024-05-01' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "2024-05-01 12:00:00Z"], f"'2024-05-01 12:00:00Z' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "2024-02-30T12:00:00Z"], f"'2024-02-30T12:00:00Z' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "2024-05-01T24:00:00Z"], f"'2024-05-01T24:00:00Z' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "2024-05-01T12:00:00+24:00"], f"'2024-05-01T12:00:00+24:00' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "now"], f"'now' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "1.7e9"], f"'1.7e9' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", ""], f"'' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "9" * 5000], f"'{'9' * 40}' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "2024-05-01T12:00:00+00:99"], f"'2024-05-01T12:00:00+00:99' is not a time: {SYNTHETIC_TIMES}"),
    (["--end", "-60"], "'-60' is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"),
    (["--end", "-0.5"], "'-0.5' is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"),
    (["--end", "1969-12-31T23:59:59Z"], "'1969-12-31T23:59:59Z' is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"),
    (["--end", "9999-12-31T23:59:59-01:00"],
     "'9999-12-31T23:59:59-01:00' is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"),
    (["--end", "253402300800"], "'253402300800' is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"),
    (["--end", "600", "--minutes", "20"],
     "20 min of history before 600 would begin before 1970; give a later --end or fewer --minutes"),
], ids=["no offset", "a date alone", "a space for the T", "no such day", "no such hour", "an offset of a day", "a word",
        "an exponent", "empty", "5,000 digits", "an offset of 99 minutes", "negative", "half a second before 1970",
        "before 1970", "past 9999 by its offset", "past 9999",
        "a history beginning before 1970"])
def test_synthetic_history_takes_only_an_end_it_can_read_in_one_line_exit_2(argv, message, tmp_path, capsys):
    from tools.synthetic import main

    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--minutes", "1", "--out", str(tmp_path / "history.om")] if "--minutes" not in argv
             else [*argv, "--out", str(tmp_path / "history.om")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == f"python -m tools.synthetic: error: argument --end: {message}"
    assert list(tmp_path.iterdir()) == []


def test_synthetic_history_writes_over_nothing_that_is_not_a_history_and_leaves_nothing_when_promtool_fails(
        tmp_path, capsys, monkeypatch):
    from tools import synthetic

    precious = tmp_path / "Pulumi.yaml"
    precious.write_text("name: grafana-platform\n")
    assert synthetic.main(["--out", str(precious), "--minutes", "1", "--end", "1714564800"]) == 1
    assert precious.read_text() == "name: grafana-platform\n"
    assert "holds something other than an OpenMetrics history" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert synthetic.main(["--data", str(tmp_path), "--minutes", "1", "--end", "1714564800"]) == 1
    assert "holds something other than a TSDB" in capsys.readouterr().err
    failing = tmp_path / "promtool"
    failing.write_text("#!/bin/sh\necho 'write: no space left on device' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(synthetic, "binary", lambda name: str(failing))
    assert synthetic.main(["--data", str(tmp_path / "tsdb"), "--minutes", "1", "--end", "1714564800"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no space left on device" in err and "Traceback" not in err
    assert not (tmp_path / "tsdb").exists()


def test_synthetic_history_with_an_end_is_the_same_bytes_whatever_the_clock_says(tmp_path, capsys, monkeypatch):
    """Written at clocks an hour apart, in RFC 3339 and in Unix seconds: the same bytes, ending at the
    latest multiple of --step not after --end (2024-05-01T12:00:07Z = 1714564807)."""
    from types import SimpleNamespace

    from tools import synthetic

    def history(name: str, now: int, *end: str) -> bytes:
        monkeypatch.setattr(synthetic, "time", SimpleNamespace(time=lambda: now))  # the tool's clock alone
        out = tmp_path / name
        assert synthetic.main(["--out", str(out), "--minutes", "2", *end]) == 0
        return out.read_bytes()

    first = history("first.om", 1_800_000_000, "--end", "2024-05-01T12:00:07Z")
    second = history("second.om", 1_800_003_600, "--end", "1714564807")
    assert first == second
    assert synthetic.end_time("2024-05-01T14:00:07.9+02:00") == 1714564807  # a third spelling of the same time
    assert {int(line.rsplit(b" ", 1)[1]) for line in first.splitlines() if not line.startswith(b"#")} == set(
        range(1714564800 - 120, 1714564800 + 1, 15))
    assert capsys.readouterr().out.splitlines()[0].endswith(f"ending 1714564800: {tmp_path / 'first.om'}")
    assert history("now.om", 1_800_000_000) != history("an-hour-later.om", 1_800_003_600)  # without --end: the clock's


@pytest.mark.parametrize("step, minutes", [(15, 120), (7, 120), (45, 41), (3600, 120), (1, 1)])
def test_a_synthetic_history_ends_at_its_end_whatever_the_step_and_never_goes_back_in_time(step, minutes):
    from tools.synthetic import FINE_MINUTES, sample_times

    end = 1714564800 // step * step
    times = sample_times(end, minutes, step)
    assert times[-1] == end and times[0] >= end - minutes * 60
    assert times == sorted(set(times))
    fine = [t for t in times if t >= end - min(minutes, FINE_MINUTES) * 60]
    assert {b - a for a, b in zip(fine, fine[1:])} <= {step}


@pytest.mark.parametrize("argv, part", [
    (["--out", "teams/history.om"], "error: --out teams/history.om: is inside the project's teams/ folder"),
    (["--data", "stacks/tsdb"], "error: --data stacks/tsdb: is inside the project's stacks/ folder"),
], ids=["--out inside teams", "--data inside stacks"])
def test_synthetic_history_is_never_written_into_what_the_program_reads(argv, part, capsys, monkeypatch):
    from tools.synthetic import main

    monkeypatch.chdir(ROOT)
    before = sorted(p.relative_to(ROOT) for folder in ("teams", "stacks") for p in (ROOT / folder).rglob("*"))
    assert main(argv) == 1
    assert capsys.readouterr().err == f"{part}; give a path outside it\n"
    assert sorted(p.relative_to(ROOT) for folder in ("teams", "stacks") for p in (ROOT / folder).rglob("*")) == before


def test_synthetic_history_backfills_only_a_folder_with_promtool_on_path(tmp_path, capsys, monkeypatch):
    from tools.synthetic import main

    (tmp_path / "a-file").write_text("mine")
    assert main(["--data", str(tmp_path / "a-file"), "--minutes", "1"]) == 1
    assert capsys.readouterr().err == (f"error: --data {tmp_path / 'a-file'}: is a file, not a folder; give the TSDB "
                                       "folder to backfill\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert main(["--data", str(tmp_path / "tsdb"), "--minutes", "1"]) == 1
    assert capsys.readouterr().err.startswith("error: promtool is not installed (not found on PATH): run `bash "
                                              "scripts/setup`")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("out, part", [
    ("teams", "error: --out teams: is inside the project's teams/ folder; give a folder outside it"),
    ("{tmp}", "error: --out {tmp}: holds files that are not an earlier render"),
], ids=["inside teams", "a folder of other files"])
def test_promtool_refuses_an_out_the_render_refuses_in_one_line_and_writes_nothing(out, part, tmp_path, capsys,
                                                                                   monkeypatch):
    from tools import promtool

    monkeypatch.chdir(ROOT)
    (tmp_path / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(ROOT) for p in (ROOT / "teams").rglob("*"))
    assert promtool.main(["--stack", "dev", "--out", out.format(tmp=tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(part.format(tmp=tmp_path)) and len(err.splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert sorted(p.relative_to(ROOT) for p in (ROOT / "teams").rglob("*")) == before


# ------------------------------------------------------------------------------ secrets never leak (3)

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
    values["contactPoints"]["zz-webhook"] = {"webhook": {"url": "https://x"}}
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


SNOOPING_TEAM_CODE = '''
import gc, json, os
from dashboards import board


def _everything():
    found = [json.dumps(dict(os.environ))]
    for pid in ("self", str(os.getppid())):
        try:
            found.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError as e:
            found.append(type(e).__name__)
    try:  # the program process, two levels up: the worker's parent
        parent = [l for l in open(f"/proc/{os.getppid()}/status") if l.startswith("PPid:")][0].split()[1]
        found.append(open(f"/proc/{parent}/environ", "rb").read().decode(errors="replace"))
    except OSError as e:
        found.append(type(e).__name__)
    found += [repr(o)[:2000] for o in gc.get_objects() if isinstance(o, dict) and len(o) < 50][:20000]
    return "\\n".join(found)


def dashboards(team):
    return [board("api-production-overview", "Snoop", description=_everything()[:5_000_000])]
'''


def test_known_secrets_never_reach_the_render_the_exports_the_logs_or_team_code(base, layout, tmp_path, capfd, caplog,
                                                                                monkeypatch):
    """Every secret the program is fed (token, datasource passwords, each contact point endpoint),
    also through PULUMI_CONFIG as in a real run, stays secret; team code that looks for them in its
    environment, its parents' /proc and its memory finds none."""
    caplog.set_level(logging.DEBUG)
    values, secret_keys = base
    planted = plant_secrets(values)
    assert len(planted) >= 8
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{P}{k}": v if isinstance(v, str) else json.dumps(v)
                                                    for k, v in values.items()}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"{P}{k}" for k in secret_keys]))
    (layout.team_dir(TEAM) / "dashboards.py").write_text(SNOOPING_TEAM_CODE)

    from tools.mocks import run_program
    run = run_program("unit-test", {}, set(), layout=layout)
    write(run, tmp_path / "render")
    print(summary("unit-test", run))

    rendered = {str(p.relative_to(tmp_path)): p.read_text() for p in (tmp_path / "render").rglob("*") if p.is_file()}
    captured = capfd.readouterr()
    places = {
        **rendered,
        "recorded inputs": json.dumps([r.as_json() for r in run.registrations]),
        "stack exports": json.dumps(run.exports, default=str),
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    for where, text in places.items():
        assert PLANTED not in text, f"part of a secret leaked into {where}"
    # Not vacuous: the snooping ran and the secrets were sent, masked.
    snoop = json.loads(rendered["render/dashboards/api-production-overview.json"])["description"]
    assert "PATH" in snoop and "PermissionError" in snoop  # its own environment; no /proc of the program
    assert run.one(T.PROVIDER, "grafana").inputs["auth"] == "[secret]"
    assert run.one(T.DATASOURCE, "prometheus").inputs["secureJsonDataEncoded"] == "[secret]"
    assert run.one(T.CONTACT_POINT, "zz-webhook").inputs["webhooks"] == "[secret]"  # each list whole
    assert run.one(T.CONTACT_POINT, TEAM).inputs["slacks"] == "[secret]"


def test_a_secure_value_on_a_field_that_is_no_secret_is_masked_wherever_it_lands(stack_named, layout, tmp_path):
    """`recipient: {secure: ...}` is no secret field: its value still never appears in the render."""
    text = prod_text().replace('recipient: \'#api-production-alerts\'', "recipient: {secure: unset}")
    assert "secure: unset" in text
    stack = stack_named(text)
    assert tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(tmp_path / "out")]) == 0
    resources = json.loads((tmp_path / "out" / "resources.json").read_text())
    slack = next(r for r in resources if r["type"] == T.CONTACT_POINT and r["name"] == TEAM)["inputs"]["slacks"]
    assert slack == "[secret]"  # the integration list is one secret (and would be for the recipient alone)
    assert "<secure" not in (tmp_path / "out" / "resources.json").read_text()


@pytest.mark.parametrize("old, new, resource, field", [
    ("name: Loki (prod)", "name: {secure: unset}", (T.DATASOURCE, "loki"), "name"),
    ("timeInterval: 15s", "timeInterval: {secure: unset}", (T.DATASOURCE, "prometheus"),
     "jsonDataEncoded"),
], ids=["a datasource name", "a value inside jsonData"])
def test_a_secure_value_on_any_plain_field_becomes_a_secret_input(old, new, resource, field, stack_named, layout,
                                                                   tmp_path):
    text = prod_text()
    assert old in text
    stack = stack_named(text.replace(old, new))
    assert tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(tmp_path / "out")]) == 0
    resources = json.loads((tmp_path / "out" / "resources.json").read_text())
    found = next(r for r in resources if (r["type"], r["name"]) == resource)
    assert found["inputs"][field] == "[secret]"


# `secure:` values on fields that are no secret fields, as the engine hands them over decrypted: a check
# that quotes the value (a URL's "got ...") shows it in no form, as it is, repr'd or cut.
SECURE_ECHOES = [
    pytest.param(("grafanaUrl",), "grafana.PLANTEDurl\tx", id="a tab, repr'd as \\t"),
    pytest.param(("grafanaUrl",), "grafana.PLANTEDurl\nx", id="a line break"),
    pytest.param(("grafanaUrl",), "grafana.PLANTED\u200burl", id="a zero-width space"),
    pytest.param(("grafanaUrl",), "grafana.PLANTED\\url", id="a backslash, repr'd doubled"),
    pytest.param(("grafanaUrl",), "grafana.PLANTED" + "x" * 486, id="501 characters, cut after 60"),
    pytest.param(("grafanaUrl",), "grafana.PLANTED\t" + "x" * 485, id="501 characters with a tab"),
    pytest.param(("datasources", "loki", "url"), "loki-PLANTED\x07", id="a datasource URL with a bell"),
]


def engine_run_with_secure(path: tuple, value: str, stack_named, layout, monkeypatch,
                           **plain: str) -> tuple[str, RecordingMonitor]:
    """A real run of the one-team prod stack whose stack file holds `secure:` at `path` (unless it is a
    secret field, secure already), the engine handing over `value` there decrypted (and `plain`, the
    other keys it marks secret), as PULUMI_CONFIG: the stack's name and the monitor to run it with."""
    data = prod_file_for_one_team()
    if path[0] != "contactPoints":
        put((f"{P}{path[0]}", *path[1:]), {"secure": "v1:z"})(data["config"])
    stack = stack_named(dump_yaml(data, sort_keys=False))
    config, secret_keys = estate.config.config_from_file(stack, layout)
    values = {**estate.config.project_values(config), **plain}
    put(path, value)(values)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{P}{k}": v if isinstance(v, str) else json.dumps(v)
                                                    for k, v in values.items()}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(sorted({*secret_keys, *(f"{P}{k}" for k in plain)})))
    return stack, RecordingMonitor()


@pytest.mark.parametrize("path, value", SECURE_ECHOES)
def test_a_secure_value_a_check_would_quote_is_masked_in_every_form_in_a_real_run(path, value, stack_named, layout,
                                                                                 monkeypatch):
    stack, monitor = engine_run_with_secure(path, value, stack_named, layout, monkeypatch)
    with pytest.raises(ConfigError) as error:
        tools.mocks.run_program(stack, {}, set(), monitor, layout)
    message = str(error.value)
    assert_one_clear_error(message, f"stacks/Pulumi.{stack}.yaml", f"{P}{'.'.join(path)}: must be an http:// or "
                                                                   "https:// URL without spaces (got '[secret]')")
    assert "PLANTED" not in message
    assert monitor.registrations == []


@pytest.mark.parametrize("path, value", [
    pytest.param(("datasources", "prometheus", "jsonData", "timeInterval"), '15s"PLANTED', id="a quote in jsonData"),
    pytest.param(("datasources", "prometheus", "jsonData", "timeInterval"), "15s-PLANTED-é", id="non-ASCII in jsonData"),
    pytest.param(("teams", TEAM, "selector"), 'tenant="PLANTED-tenant"', id="a team's selector, in every query"),
    pytest.param(("datasources", "prometheus", "name"), 'Prom "PLANTED"', id="a datasource name with quotes"),
])
def test_a_secure_value_that_an_input_holds_json_encoded_is_masked_there_in_a_real_run(path, value, stack_named,
                                                                                         layout, monkeypatch):
    """A dashboard's JSON, a rule's query model and jsonDataEncoded hold the value escaped (`\\"`, `\\u00e9`):
    each is a secret input all the same."""
    stack, monitor = engine_run_with_secure(path, value, stack_named, layout, monkeypatch, grafanaAuth="glsa_token")
    tools.mocks.run_program(stack, {}, set(), monitor, layout)
    assert monitor.registrations and "PLANTED" not in json.dumps([r.inputs for r in monitor.registrations])


@pytest.mark.parametrize("path, value, part", [
    pytest.param(("teams", TEAM, "selector"), 'tenant=~"PLANTED(x"', "selector: not valid label matchers",
                 id="a secure selector the parser refuses"),
    pytest.param(("teams", TEAM, "selector"), "PLANTEDbare", "selector: not valid label matchers",
                 id="a secure selector that is no matcher"),
    pytest.param(("grafanaUrl",), "https://[PLANTED-host]/", "grafanaUrl: must be an http:// or https:// URL",
                 id="a secure URL whose brackets hold no IPv6 address"),
    pytest.param(("contactPoints", "platform-ops", "slack", "url"), "https://[PLANTED-host]/services/x",
                 "slack.url: must be a https:// URL", id="a secret webhook whose brackets hold no IPv6 address"),
])
def test_a_check_that_refuses_a_secure_value_quotes_none_of_it(path, value, part, stack_named, layout, monkeypatch):
    """The parser's or urlsplit's own words would quote part of the value (`illegal regex for PLANTED(x`,
    `'PLANTED-host' does not appear to be an IPv4 or IPv6 address`): a real run's message has none."""
    stack, monitor = engine_run_with_secure(path, value, stack_named, layout, monkeypatch)
    with pytest.raises(ConfigError) as error:
        tools.mocks.run_program(stack, {}, set(), monitor, layout)
    message = str(error.value)
    assert part in message and "PLANTED" not in message, message
    assert monitor.registrations == []


@pytest.mark.parametrize("path, value", SECURE_ECHOES)
def test_a_message_worded_without_knowing_a_secure_value_is_masked_in_every_form_it_quotes_it_in(path, value):
    """ConfigError.hiding, the second line: a message worded where no one knew the value was secure."""
    error = ConfigError(STACK_FILE, [("x", f"bad{estate.model.got(value)}"), ("y", f"bad: {estate.model.shown(value)}"),
                                     ("z", f"bad: {value}")])
    assert "PLANTED" not in str(error.hiding([value]))


def test_a_secure_value_a_check_would_quote_is_masked_in_the_message(stack_named, layout, tmp_path, capsys,
                                                                     monkeypatch):
    stack = stack_named(prod_text() + f"  {P}muteTimings:\n    quiet:\n      weekdays: [sunday]\n"
                                      "      location: {secure: unset}\n")
    err = render_fails(layout, stack, tmp_path, capsys, monkeypatch)
    assert_one_clear_error(err, f"stacks/Pulumi.{stack}.yaml", f"{P}muteTimings.quiet.location: unknown time zone "
                                                               "'[secret]'")


def test_the_catalog_covers_every_class_with_at_least_90_cases():
    assert len(STACK_CASES) + len(FILE_CASES) + len(TEAM_CASES) + len(CODE_CASES) >= 90
