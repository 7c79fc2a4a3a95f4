"""Alert texts in Grafana's template dialect: $value becomes $values.A.Value, everything else stays;
what the platform cannot translate is refused at load, naming team.yaml and the alert."""
import json
import re

import pytest

from components.types import ResourceType as T
from estate import PROJECT_LAYOUT
from estate.grafana_templates import FUNCTIONS, PRINTF, TemplateError, check, to_grafana, tokenize
from tests.conftest import STACKS, dump_yaml, load_yaml, run_fails, run_values, stack_values
from tools.render import write

# Every construct the teams write (teams/*/team.yaml), as Prometheus runs it -> as Grafana must get it.
TRANSLATED = [
    ("{{ $value | humanize }} 5xx/s", "{{ $values.A.Value | humanize }} 5xx/s"),
    ("uses {{ $value | humanize1024 }}B", "uses {{ $values.A.Value | humanize1024 }}B"),
    ("p95 is {{ $value | humanizeDuration }}", "p95 is {{ $values.A.Value | humanizeDuration }}"),
    ("{{ $value | humanizePercentage }} of requests", "{{ $values.A.Value | humanizePercentage }} of requests"),
    ('{{ printf "%.2f" $value }} USD', '{{ printf "%.2f" $values.A.Value }} USD'),
    ('{{ printf "%.0f" $value }} violation(s)', '{{ printf "%.0f" $values.A.Value }} violation(s)'),
    ("Instance {{ $labels.instance }} is down", "Instance {{ $labels.instance }} is down"),
    ("{{ $labels.method }} {{ $labels.endpoint }} at {{ $value }}",
     "{{ $labels.method }} {{ $labels.endpoint }} at {{ $values.A.Value }}"),
    # the same in the other spellings text/template allows
    ("{{ humanize $value }}", "{{ humanize $values.A.Value }}"),
    ("{{ .Value | humanize }}", "{{ $values.A.Value | humanize }}"),
    ("{{ .Labels.instance }}", "{{ .Labels.instance }}"),
    ('{{ $value | printf "%.3g" }}', '{{ $values.A.Value | printf "%.3g" }}'),
    ('{{ printf "%s at %.1f" $labels.instance $value }}', '{{ printf "%s at %.1f" $labels.instance $values.A.Value }}'),
    ("{{ humanizePercentage (humanize $value) }}", "{{ humanizePercentage (humanize $values.A.Value) }}"),
    ("{{ $labels.job | toUpper }}", "{{ $labels.job | toUpper }}"),
    ("{{- $value | humanize -}}", "{{- $values.A.Value | humanize -}}"),
    ("{{$value|humanize}}", "{{$values.A.Value|humanize}}"),
    ("a\n{{ $value }}\nb", "a\n{{ $values.A.Value }}\nb"),
    # $value outside an action is plain text, as in Go
    ("costs $value and .Value", "costs $value and .Value"),
    ("no template at all, 100% plain", "no template at all, 100% plain"),
    ("", ""),
]

REFUSED = [
    ("{{ if gt $value 0.5 }}high{{ end }}", "uses 'if', which is not supported"),
    ("{{ range $labels }}x{{ end }}", "uses 'range', which is not supported"),
    ('{{ template "x" . }}', "uses 'template', which is not supported"),
    ("{{ $labels }}", "write $labels.<name>"),
    ("{{ $values.A.Value }}", "$values is Grafana's dialect; team.yaml is written in Prometheus'"),
    ("{{ $externalLabels.cluster }}", "the variable '$externalLabels.cluster', which is not supported"),
    ("{{ .ExternalURL }}", "the field '.ExternalURL', which is not supported"),
    ("{{ $value.A }}", "the variable '$value.A', which is not supported"),
    ('{{ query "up" | first | value }}', "the function 'query', which is not supported"),
    ("{{ humanizeTimestamp $value }}", "the function 'humanizeTimestamp', which is not supported"),
    ("{{ $x := $value }}{{ $x }}", "a variable declaration"),
    ("{{/* note */}}", "a comment"),
    ("{{ humanize $value $value }}", "humanize takes 1 argument, got 2"),
    ("{{ $value | humanize | humanize1024 $value }}", "humanize1024 takes 1 argument, got 2"),
    ("{{ printf $value }}", "printf needs a format string first"),
    ('{{ printf "%.2f %.2f" $value }}', "the printf format has 2 verb(s) for 1 value(s)"),
    ('{{ printf "%d" $value }}', "printf verb '%d' does not print $value"),
    ('{{ printf "%s" $value }}', "printf verb '%s' does not print $value"),
    ('{{ printf "%.2f" $labels.instance }}', "printf verb '%.2f' does not print $labels.instance"),
    ('{{ printf "%*d" 3 $value }}', "'*' width or precision is not supported"),
    ("{{ $value humanize }}", "'humanize' after a value; a function comes first"),
    ("{{ $value | $labels.x }}", "only a function can follow '|'"),
    ("{{ humanize (toUpper $value }}", "'(' is not closed"),
    ("{{ }}", "empty action"),
    ("{{ $value", "unclosed action"),
]


@pytest.mark.parametrize("prometheus, grafana", TRANSLATED)
def test_prometheus_texts_become_grafana_texts_with_the_query_value(prometheus, grafana):
    assert to_grafana(prometheus) == grafana


@pytest.mark.parametrize("template, reason", REFUSED)
def test_what_both_dialects_do_not_run_alike_is_refused_with_the_reason(template, reason):
    with pytest.raises(TemplateError, match=re.escape(reason)):
        to_grafana(template)
    with pytest.raises(TemplateError):
        check(template)


def test_tokens_give_back_the_template_exactly():
    text = 'a {{- $value | printf "%.2f" -}} b {{ .Labels.x }}\n{{humanize (humanize $value)}}'
    assert "".join(t.text for t in tokenize(text)) == text


def team_actions() -> set[str]:
    """Every action {{ ... }} in every team's alert texts."""
    actions = set()
    for path in PROJECT_LAYOUT.teams.glob("*/team.yaml"):
        for alert in load_yaml(path.read_text())["alerts"]:
            texts = [alert["summary"], alert["description"], *alert.get("labels", {}).values()]
            actions |= {m for text in texts for m in re.findall(r"\{\{.*?\}\}", text, re.S)}
    return actions


def test_every_function_the_teams_use_is_supported_and_in_the_table():
    used = {word for action in team_actions() for word in re.findall(r"\b[a-zA-Z][a-zA-Z0-9]*\b", action)
            if not action.startswith(("{{ $labels.", "{{ .Labels."))} - {"value", "labels"}
    assert used <= {*FUNCTIONS, PRINTF}, f"teams use {used - {*FUNCTIONS, PRINTF}}"
    tested = " ".join(p for p, _ in TRANSLATED)
    assert all(name in tested for name in used), used


def test_every_construct_the_teams_use_has_a_case_in_the_table():
    normalized = {re.sub(r"\$labels\.\w+", "$labels.x", a) for a in team_actions()}
    tested = {re.sub(r"\$labels\.\w+", "$labels.x", a) for p, _ in TRANSLATED for a in re.findall(r"\{\{.*?\}\}", p)}
    assert normalized <= tested, normalized - tested


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_rules_carry_no_prometheus_value_and_the_rule_files_keep_it(rendered, stack, tmp_path):
    run = rendered(stack)
    write(run, tmp_path)
    grafana_texts = [text for group in run.of_type(T.RULE_GROUP) for rule in group.inputs["rules"]
                     for text in [*rule["annotations"].values(), *rule.get("labels", {}).values()]]
    assert not [t for t in grafana_texts if "$value " in t or "$value}" in t or ".Value " in t.replace("A.Value", "")]
    assert any("$values.A.Value" in t for t in grafana_texts)
    files = {p.stem: load_yaml(p.read_text()) for p in (tmp_path / "rules").glob("*.yaml")}
    for team in run.estate.teams:
        file_rules = files[team.slug]["groups"][0]["rules"]
        assert [r["annotations"] for r in file_rules] == [r.annotations for r in team.rules]
        assert not any("$values" in text for r in file_rules for text in r["annotations"].values())


def test_the_grafana_rule_and_the_rule_file_differ_only_in_the_value_variable(rendered, tmp_path):
    run = rendered("prod")
    write(run, tmp_path)
    file_rule = next(r for r in load_yaml((tmp_path / "rules" / "api-production.yaml").read_text())
                     ["groups"][0]["rules"] if r["alert"] == "HighErrorRate")
    grafana_rule = next(r for r in run.one(T.RULE_GROUP, "api-production").inputs["rules"]
                        if r["name"] == "HighErrorRate")
    assert file_rule["annotations"]["description"] == (
        "5xx responses are {{ $value | humanizePercentage }} of all requests (threshold 0.05)")
    assert grafana_rule["annotations"]["description"] == (
        "5xx responses are {{ $values.A.Value | humanizePercentage }} of all requests (threshold 0.05)")
    assert {k: v for k, v in grafana_rule["annotations"].items() if k != "description"} == {
        k: v for k, v in file_rule["annotations"].items() if k != "description"}
    assert json.loads(grafana_rule["datas"][0]["model"])["expr"] == file_rule["expr"]
    assert grafana_rule["labels"] == file_rule["labels"]


def test_an_alert_text_grafana_cannot_run_as_tested_stops_the_load_naming_team_yaml_and_the_alert(scratch):
    path = scratch.team_dir("api-production") / "team.yaml"
    spec = load_yaml(path.read_text())
    alert = next(a for a in spec["alerts"] if a["alert"] == "HighErrorRate")
    alert["description"] = "{{ if gt $value 0.5 }}very {{ end }}high"
    alert.setdefault("labels", {})["tier"] = "{{ $values.A.Value }}"
    path.write_text(dump_yaml(spec, sort_keys=False))
    values, secrets = stack_values("dev")
    values["teams"] = {"api-production": values["teams"]["api-production"]}
    message, monitor = run_fails(values, secrets, layout=scratch)
    assert message.startswith("teams/api-production/team.yaml: invalid configuration (2 problems)")
    assert "alerts.HighErrorRate.description: {{ if gt $value 0.5 }} uses 'if', which is not supported" in message
    assert "alerts.HighErrorRate.labels.tier: {{ $values.A.Value }}: $values is Grafana's dialect" in message
    assert "docs/grafana-semantics.md" in message
    assert monitor.registrations == []


def test_a_supported_text_in_a_scratch_team_reaches_grafana_translated(scratch):
    path = scratch.team_dir("api-production") / "team.yaml"
    spec = load_yaml(path.read_text())
    alert = next(a for a in spec["alerts"] if a["alert"] == "HighErrorRate")
    alert["summary"] = "{{ .Labels.instance | toUpper }} at {{ .Value | humanizePercentage }}"
    path.write_text(dump_yaml(spec, sort_keys=False))
    values, secrets = stack_values("dev")
    values["teams"] = {"api-production": values["teams"]["api-production"]}
    run = run_values(values, secrets, layout=scratch)
    rule = next(r for r in run.one(T.RULE_GROUP, "api-production").inputs["rules"] if r["name"] == "HighErrorRate")
    assert rule["annotations"]["summary"] == "{{ .Labels.instance | toUpper }} at {{ $values.A.Value | humanizePercentage }}"
