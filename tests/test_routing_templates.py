"""Notification templates rendered by Alertmanager's engine: `amtool template render` on example alerts.

Every stack's deployed template groups (the MessageTemplate resources) are rendered with amtool
for each team on a firing, a resolved and a mixed notification, through the entry points contact
points name (`notification.slack.title` ...), and checked for what a responder needs: alert name,
severity, team, summary, description, value, runbook, dashboard, rule and (firing) silence links.

Grafana's alert data has fields Alertmanager's lacks (.Values, .SilenceURL, .PanelURL,
.DashboardURL; grafana/alerting templates.ExtendedAlert): templates/grafana.tmpl alone reads them,
and amtool renders with tests/fixtures/notification-templates/alertmanager.tmpl redefining those
few names from annotations the example alerts carry (docs/routing.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.types import ResourceType as T
from estate import notifications as nt
from tests.conftest import STACKS, run_fails, scratch_layout
from tests.test_routing import require_amtool
from tools import alertmanager as am
from tools.mocks import Run

SHIM = Path(__file__).parent / "fixtures" / "notification-templates" / "alertmanager.tmpl"
CASES = ("firing", "resolved", "mixed")
VALUE = "0.0712"


def rules_of(run: Run, team: str) -> list[dict]:
    return run.one(T.RULE_GROUP, team).inputs["rules"]


def example_alert(run: Run, team: str, rule: dict, status: str) -> dict:
    grafana_url = run.exports["grafanaUrl"].rstrip("/")
    return {
        "status": status,
        "labels": {**rule["labels"], "alertname": rule["name"], "grafana_folder": run.one(T.FOLDER, team).inputs["title"]},
        "annotations": {**rule["annotations"], "example_value": VALUE,
                        "example_silence_url": f"{grafana_url}/alerting/silence/new?matcher=alertname%3D{rule['name']}"},
        "startsAt": "2026-11-23T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T10:20:00Z",
        "generatorURL": f"{grafana_url}/alerting/grafana/{rule['uid']}/view",
        "fingerprint": "0123456789abcdef",
    }


def example_data(run: Run, team: str, case: str) -> tuple[dict, list[dict]]:
    """A notification (template.Data) for one team, and the alerts it holds."""
    rules = sorted(rules_of(run, team), key=lambda r: r["labels"]["severity"])  # critical first
    if case == "mixed":
        alerts = [example_alert(run, team, rules[0], "firing"), example_alert(run, team, rules[-1], "resolved")]
    else:
        alerts = [example_alert(run, team, rules[0], case)]
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    data = {"receiver": team, "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
            "alerts": alerts, "groupLabels": {k: common[k] for k in ("grafana_folder", "alertname") if k in common},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": run.exports["grafanaUrl"]}
    return data, alerts


@pytest.fixture(scope="session")
def rendered_messages(rendered, tmp_path_factory):
    """Every entry point rendered by amtool for every (stack, team, case): {(stack, team, case, entry): output}."""
    require_amtool()
    root = tmp_path_factory.mktemp("templates")
    requests, keys, globs = [], [], {}
    for stack in STACKS:
        run = rendered(stack)
        folder = root / stack
        folder.mkdir()
        for template in run.of_type(T.MESSAGE_TEMPLATE):
            (folder / f"{template.name}.tmpl").write_text(template.inputs["template"])
        globs[stack] = [str(folder / "*.tmpl"), str(SHIM)]  # the shim is parsed last: its definitions win
        for team in (r.name for r in run.of_type(T.TEAM)):
            for case in CASES:
                data_file = folder / f"{team}-{case}.json"
                data_file.write_text(json.dumps(example_data(run, team, case)[0]))
                for entry in nt.ENTRIES:
                    keys.append((stack, team, case, entry))
                    requests.append((stack, nt.message(entry), data_file))
    results = {}
    for stack in STACKS:
        mine = [(key, (text, data)) for key, (s, text, data) in zip(keys, requests) if s == stack]
        for (key, _), result in zip(mine, am.render_templates(globs[stack], [r for _, r in mine])):
            results[key] = result
    return results


MESSAGES = [(stack, team, case) for stack in STACKS for team in
            ("api-production", "chatbot-sav", "customer-service", "mlops-scoring", "voicebot") for case in CASES]


@pytest.mark.parametrize("stack,team,case", MESSAGES, ids=[f"{s}-{t}-{c}" for s, t, c in MESSAGES])
def test_every_message_names_the_alert_and_links_what_a_responder_needs(stack, team, case, rendered, rendered_messages):
    run = rendered(stack)
    data, alerts = example_data(run, team, case)
    out = {entry: rendered_messages[stack, team, case, entry] for entry in nt.ENTRIES}
    failed = {entry: text for entry, (code, text) in out.items() if code}
    assert not failed, f"amtool template render failed: {failed}"
    titles = [out["slack.title"][1], out["email.subject"][1]]
    status = "[FIRING:1]" if data["status"] == "firing" else "[RESOLVED]"
    for title in titles:
        assert title.startswith(status) and f"team {team}" in title, title
        if case != "mixed":
            assert alerts[0]["labels"]["alertname"] in title and alerts[0]["labels"]["severity"] in title, title
    dashboard = f"{run.exports['grafanaUrl'].rstrip('/')}/d/{run.exports['teams'][team]['dashboardUids'][0]}"
    for entry in ("slack.text", "email.message"):
        body = out[entry][1]
        for alert in alerts:
            wanted = [alert["labels"]["alertname"], alert["labels"]["severity"], f"team {team}",
                      alert["annotations"]["summary"], alert["annotations"]["description"],
                      alert["annotations"]["runbook_url"], dashboard, alert["generatorURL"], f"Value: {VALUE}"]
            missing = [w for w in wanted if w not in body]
            assert not missing, f"{entry} lacks {missing}:\n{body}"
            silence = alert["annotations"]["example_silence_url"]
            assert (silence in body) == (alert["status"] == "firing"), f"{entry}: silence link only while firing"
        assert ("resolved" in body) == (case != "firing"), body
        assert ("Customers asking the support chatbot" in body) == (team == "chatbot-sav" and case != "resolved"), body


def test_amtool_alone_cannot_read_grafanas_fields_so_the_shim_stands_in(rendered, tmp_path):
    require_amtool()
    run = rendered("prod")
    platform = tmp_path / "platform.tmpl"
    platform.write_text(run.one(T.MESSAGE_TEMPLATE, "platform").inputs["template"])
    data = tmp_path / "data.json"
    data.write_text(json.dumps(example_data(run, "voicebot", "firing")[0]))
    [(code, out)] = am.render_templates([platform], [(nt.message("slack.text"), data)])
    assert code != 0 and "can't evaluate field Values in type template.Alert" in out


def test_contact_points_send_the_platform_messages_once_the_templates_exist(rendered):
    from estate import PROJECT_LAYOUT
    from estate.config import config_from_file
    from tests.test_platform import RawRecordingMonitor
    from tools.mocks import run_program

    run = rendered("prod")
    contact = run.one(T.CONTACT_POINT, "api-production")
    monitor = RawRecordingMonitor()  # each integration list is one secret (contact_points.py): read what is sent
    run_program("prod", *config_from_file("prod", PROJECT_LAYOUT), monitor)
    raw = monitor.raw[(T.CONTACT_POINT, "api-production")]
    slack, email = raw["slacks"]["value"][0], raw["emails"]["value"][0]
    assert slack["title"] == '{{ template "notification.slack.title" . }}'
    assert slack["text"] == '{{ template "notification.slack.text" . }}'
    assert email["subject"] == '{{ template "notification.email.subject" . }}'
    assert email["message"] == '{{ template "notification.email.message" . }}'
    assert {f"{T.MESSAGE_TEMPLATE}::platform", f"{T.MESSAGE_TEMPLATE}::team-chatbot-sav"} <= set(contact.dependencies)
    assert sorted(r.name for r in run.of_type(T.MESSAGE_TEMPLATE)) == ["platform", "team-chatbot-sav"]


def test_only_teams_with_overrides_get_their_own_entry_point(rendered):
    platform = rendered("prod").one(T.MESSAGE_TEMPLATE, "platform").inputs["template"]
    assert ('{{ define "notification.slack.text" }}{{ if eq .CommonLabels.team "chatbot-sav" }}'
            '{{ template "chatbot-sav.slack.text" . }}{{ else }}{{ template "platform.slack.text" . }}{{ end }}{{ end }}'
            ) in platform
    assert '{{ define "notification.slack.title" }}{{ template "platform.slack.title" . }}{{ end }}' in platform


@pytest.mark.parametrize("text,problem", [
    ('{{ define "platform.slack.text" }}mine{{ end }}',
     'define "platform.slack.text": a team\'s templates are named voicebot.<name>'),
    ('{{ define "voicebot.helper" }}x{{ end }}', "defines none of voicebot.slack.title"),
    ('{{ define "voicebot.slack.title" }}x{{ end }}{{ block "platform.title" . }}PWNED{{ end }}',
     'line 1, define "platform.title": a team\'s templates are named voicebot.<name>'),
    ('{{ define "voicebot.slack.title" }}x{{ end }}\n{{ define `platform.title` }}PWNED{{ end }}',
     'line 2, define "platform.title": a team\'s templates are named voicebot.<name>'),
    ('{{/* {{ define "voicebot.slack.title" }} */}}', "defines none of voicebot.slack.title"),
    ('{{ define "voicebot.slack.title" }}{{ template "voicebot.nope" . }}{{ end }}',
     'line 1, template "voicebot.nope": no such template'),
    ('{{ define "voicebot.slack.title" }}{{ template "notification.slack.title" . }}{{ end }}',
     'template "notification.slack.title": no such template'),  # it calls this one: an endless loop
    ('{{ define "voicebot.slack.title" }}\n{{ if }}{{ end }}{{ end }}', "line 2: {{if}} needs a value"),
    ('{{ define "voicebot.slack.title" }}{{ .Status }}', "line 1: {{define}} has no {{end}}"),
    ('{{ define "voicebot.slack.title" }}{{ .Status {{ end }}', "line 1: unexpected"),
    ('{{ define "voicebot.slack.title" }}x{{ end }}\n\n{{ .Status', "line 3: '{{' has no '}}'"),
], ids=["a define outside the team's names", "no entry point", "a block redefining the platform's",
        "a raw-string define", "an entry point only in a comment", "a template no one defines",
        "a call of the entry point itself", "an if without a value", "a define without end", "an action in an action",
        "an unclosed action"])
def test_a_team_template_that_would_change_others_or_nothing_is_refused(prod_values, tmp_path, text, problem):
    layout = scratch_layout(tmp_path, tuple(prod_values[0]["teams"]))
    (layout.team_dir("voicebot") / nt.TEAM_FILE).write_text(text)
    message, monitor = run_fails(*prod_values, layout=layout)
    assert problem in message and message.startswith("teams/voicebot/notifications.tmpl")
    assert monitor.registrations == []


# --- the team file is parsed as Grafana parses it: each verdict is amtool's too (Go's text/template) ------

GO_TEMPLATES = [  # (what, template group, refused by Go's parser)
    ("range with index and element", '{{ define "t.a" }}{{ range $i, $e := .Alerts }}{{ $i }}{{ $e.Labels.x }}{{ end }}'
     '{{ end }}', False),
    ("if, else if, else", '{{ define "t.a" }}{{ if eq .Status "firing" }}f{{ else if .Status }}r{{ else }}?{{ end }}'
     '{{ end }}', False),
    ("with and else", '{{ define "t.a" }}{{ with .CommonLabels.team }}{{ . }}{{ else }}none{{ end }}{{ end }}', False),
    ("a variable declared, then assigned in a block", '{{ define "t.a" }}{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}'
     '{{ $x }}{{ end }}', False),
    ("break and continue in a range", '{{ define "t.a" }}{{ range .Alerts }}{{ if .Labels }}{{ break }}{{ end }}'
     '{{ continue }}{{ end }}{{ end }}', False),
    ("comments with trim markers, printf, parentheses", '{{- /* a\ncomment */ -}}{{ define "t.a" }}'
     '{{ printf "%.2f" 1.5 }}{{ (len .Alerts) }}{{ end }}', False),
    ("a pipeline of functions", '{{ define "t.a" }}{{ .Alerts.Firing | len | printf "%d" }}{{ end }}', False),
    ("raw strings and character constants", '{{ define `t.a` }}{{ \'x\' }}{{ "a\\"b" }}{{ `raw` }}{{ end }}', False),
    ("a block and a template", '{{ define "t.a" }}{{ block "t.b" . }}b{{ end }}{{ template "t.b" . }}{{ end }}', False),
    ("a field of a parenthesized pipeline", '{{ define "t.a" }}{{ (index .Alerts 0).Labels.alertname }}{{ end }}', False),
    ("Alertmanager's functions", '{{ define "t.a" }}{{ join ", " (stringSlice "a" "b") | toUpper }}'
     '{{ reReplaceAll "a" "b" .Status | title }}{{ end }}', False),
    ("a range's else", '{{ define "t.a" }}{{ range $e := .Alerts }}{{ $e }}{{ else }}none{{ end }}{{ end }}', False),
    ("text outside any define", 'hello {{ .Status }}\n{{ define "t.a" }}a{{ end }}', False),
    ("an if without a value", '{{ if }}{{ end }}', True),
    ("a define without end", '{{ define "t.a" }}x', True),
    ("an end with nothing open", '{{ end }}', True),
    ("an else in a define", '{{ define "t.a" }}{{ else }}{{ end }}', True),
    ("a second else", '{{ if .X }}a{{ else }}b{{ else }}c{{ end }}', True),
    ("an else if in a range", '{{ range .X }}a{{ else if .Y }}b{{ end }}{{ end }}', True),
    ("an else with (Go 1.23 and later only)", '{{ with .X }}a{{ else with .Y }}b{{ end }}', True),
    ("a define inside an if", '{{ if .X }}{{ define "t.a" }}x{{ end }}{{ end }}', True),
    ("a function no one defines", '{{ define "t.a" }}{{ nosuch . }}{{ end }}', True),
    ("a variable no one declared", '{{ define "t.a" }}{{ $nope }}{{ end }}', True),
    ("a variable used past its if", '{{ define "t.a" }}{{ if $x := 1 }}{{ end }}{{ $x }}{{ end }}', True),
    ("a variable used past its define", '{{ define "t.a" }}{{ $x := 1 }}{{ end }}{{ $x }}', True),
    ("a break outside a range", '{{ define "t.a" }}{{ if .X }}{{ break }}{{ end }}{{ end }}', True),
    ("a comment after a space", '{{ /* c */ }}', True),
    ("a comment sharing its action", '{{/* c */ .X }}', True),
    ("two arguments with no space", '{{ define "t.a" }}{{ printf "a""b" }}{{ end }}', True),
    ("a literal after a pipe", '{{ define "t.a" }}{{ .X | "s" }}{{ end }}', True),
    ("a field of a literal", '{{ define "t.a" }}{{ "s".Y }}{{ end }}', True),
    ("one name defined twice", '{{ define "t.a" }}a{{ end }}{{ define "t.a" }}b{{ end }}', True),
    ("a define named by no string", '{{ define t.a }}x{{ end }}', True),
    ("a parenthesis not closed", '{{ define "t.a" }}{{ (.X }}{{ end }}', True),
    ("a parenthesis closing nothing", '{{ define "t.a" }}{{ .X ) }}{{ end }}', True),
    ("an empty action", '{{ define "t.a" }}{{ }}{{ end }}', True),
    ("an unclosed action", '{{ define "t.a" }}{{ .X', True),
]


@pytest.mark.parametrize("text,refused", [c[1:] for c in GO_TEMPLATES], ids=[c[0] for c in GO_TEMPLATES])
def test_a_template_group_is_refused_exactly_when_gos_parser_refuses_it(text, refused, tmp_path):
    require_amtool()
    try:
        nt.parse(text)
        ours = None
    except nt.TemplateError as e:
        ours = str(e)
    assert (ours is not None) == refused, ours
    group = tmp_path / "group.tmpl"
    group.write_text(text)
    (tmp_path / "data.json").write_text("{}")
    [(code, output)] = am.render_templates([group], [("ok", tmp_path / "data.json")])
    assert (code != 0) == refused, output  # amtool parses the group before it renders the text


def test_the_platforms_templates_and_each_stacks_generated_group_parse_as_go_parses_them(rendered):
    assert {"platform.title", "platform.slack.text", "grafana.values"} <= nt.platform_defines()
    for stack in STACKS:
        for template in rendered(stack).of_type(T.MESSAGE_TEMPLATE):
            nt.parse(template.inputs["template"])  # raises what Go's parser would refuse


def test_the_functions_of_amtools_alertmanager_are_among_grafanas(tmp_path):
    """amtool (Alertmanager 0.25) knows fewer functions than Grafana (trimSpace, date, tz, toJson came
    later; gomplate's namespaces are Grafana's alone): each of those it knows, the checker allows."""
    require_amtool()
    amtools = ["toUpper", "toLower", "title", "join", "match", "safeHtml", "reReplaceAll", "stringSlice",
               "printf", "len", "index", "eq"]
    group = tmp_path / "group.tmpl"
    group.write_text("".join(f'{{{{ define "t.{name}" }}}}{{{{ {name} }}}}{{{{ end }}}}' for name in amtools))
    (tmp_path / "data.json").write_text("{}")
    assert am.render_templates([group], [("ok", tmp_path / "data.json")]) == [(0, "ok")]
    assert set(amtools) <= nt.FUNCTIONS
    nt.parse(group.read_text())
