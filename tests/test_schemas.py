"""The editor schemas (schemas/*.schema.json, tools/schemas.py): current, named by every hand-edited file,
accepting every committed file, and refusing what the models refuse."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from estate import PROJECT, PROJECT_LAYOUT, ConfigError
from estate.config import config_from_file, load_stack_config
from estate.team import TeamSpec
from tools import schemas
from tests.conftest import dump_yaml, ends_within

FILES = schemas.edited_files()


def validator(schema_path: Path) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(schema_path.read_text()))


def schema_errors(schema_path: Path, data: Any) -> list[str]:
    """Each error as `path: message`, down to the alternative that failed (as an editor shows it at the key)."""
    def leaves(errors):
        for error in errors:
            yield from leaves(error.context) if error.context else [error]
    return [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in leaves(validator(schema_path).iter_errors(data))]


def as_an_editor_reads(path: Path) -> Any:
    """YAML 1.2, as the YAML language server (eemeli/yaml) and check-jsonschema (ruamel.yaml) read it: `1e9` is a
    number there (PyYAML, YAML 1.1, reads a string, which the models then convert)."""
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def test_the_committed_schemas_are_what_the_models_generate():
    assert schemas.stale() == [], "run `venv/bin/python -m tools.schemas`"


def test_the_check_mode_exits_1_on_a_stale_schema(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "team.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schemas, "TEAM_SCHEMA", stale)
    assert schemas.main(["--check"]) == 1
    assert "team.schema.json is out of date" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [["--check"], []])
def test_a_hand_edited_file_that_is_no_regular_file_is_one_error_not_a_read_without_end(mode, tmp_path, monkeypatch,
                                                                                         capsys):
    fifo = tmp_path / "team.yaml"
    os.mkfifo(fifo)  # a FIFO with no writer, opened, is waited for without end
    monkeypatch.setattr(schemas, "edited_files", lambda: [fifo])
    monkeypatch.setattr(schemas, "SCHEMAS", tmp_path / "schemas")  # what writing them would write
    monkeypatch.setattr(schemas, "rendered", lambda: {})
    with ends_within(20, "tools.schemas reading a FIFO"):
        assert schemas.main(mode) == 1
    assert capsys.readouterr().err.startswith(f"error: {fifo}: invalid configuration")


@pytest.mark.parametrize("schema_path", [schemas.TEAM_SCHEMA, schemas.STACK_SCHEMA], ids=lambda p: p.name)
def test_each_schema_is_valid_json_schema_draft_7(schema_path):
    schema = json.loads(schema_path.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"  # what the YAML language server supports
    jsonschema.Draft7Validator.check_schema(schema)
    assert "$defs" not in schema_path.read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda p: PROJECT_LAYOUT.relative(p))
def test_every_hand_edited_file_names_its_schema_on_its_first_line(path):
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == schemas.modeline(path)
    relative = first.removeprefix(schemas.MODELINE)
    assert (path.parent / relative).resolve() == schemas.schema_for(path).resolve()


@pytest.mark.parametrize("path", FILES, ids=lambda p: PROJECT_LAYOUT.relative(p))
def test_every_committed_file_validates_against_its_schema(path):
    assert schema_errors(schemas.schema_for(path), as_an_editor_reads(path)) == []


def test_check_jsonschema_accepts_every_committed_file():
    """The command-line validator (what a pre-commit hook or CI would run) on the committed files."""
    for schema_path in (schemas.TEAM_SCHEMA, schemas.STACK_SCHEMA):
        files = [str(p) for p in FILES if schemas.schema_for(p) == schema_path]
        result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema_path), *files],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_documented_spelling_is_suggested_and_the_python_name_only_accepted():
    team = json.loads(schemas.TEAM_SCHEMA.read_text())
    assert "doNotSuggest" not in team["properties"]["alertInterval"]
    assert team["properties"]["alert_interval"]["doNotSuggest"] is True
    both = {**as_an_editor_reads(FILES[0]), "alertInterval": "1m", "alert_interval": "1m"}
    assert schema_errors(schemas.TEAM_SCHEMA, both)
    with pytest.raises(ValidationError):
        TeamSpec.model_validate(both)


def test_a_secret_field_takes_a_secure_value_only():
    stack = json.loads(schemas.STACK_SCHEMA.read_text())
    password = stack["definitions"]["Kubernetes"]["properties"]["adminPassword"]
    assert password["allOf"] == [{"$ref": "#/definitions/Secure"}]
    assert "secret" not in json.dumps(stack["definitions"]["Kubernetes"]).replace("Secret", "")


# ------------------------------------------------------------------- what the models refuse, so does the schema

def set_at(data: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def drop_at(data: dict, path: tuple) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def team_case(change: Callable[[dict], None]) -> dict:
    data = as_an_editor_reads(PROJECT_LAYOUT.team_dir("api-production") / "team.yaml")
    change(data)
    return data


TEAM_MISTAKES = [
    # (what, change, where the schema points, what it says)
    ("a misspelt alert key", lambda d: set_at(d, ("alerts", 0, "summery"), "x"), "alerts.0", "'summery' was unexpected"),
    ("an unknown top-level key", lambda d: set_at(d, ("dashboard",), "x"), "", "'dashboard' was unexpected"),
    ("a for given as a number", lambda d: set_at(d, ("alerts", 0, "for"), 5), "alerts.0.for", "is not of type 'string'"),
    ("a duration without a unit", lambda d: set_at(d, ("alerts", 0, "for"), "5"), "alerts.0.for", "does not match"),
    ("an unknown severity", lambda d: set_at(d, ("alerts", 0, "severity"), "high"), "alerts.0.severity", "is not one of"),
    ("an unknown metric type", lambda d: set_at(d, ("metrics", 0, "type"), "counters"), "metrics.0.type", "is not one of"),
    ("a threshold as text", lambda d: set_at(d, ("alerts", 1, "threshold"), "5 %"), "alerts.1.threshold", "is not of type"),
    ("labels as a list", lambda d: set_at(d, ("metrics", 0, "labels"), "endpoint"), "metrics.0.labels", "is not of type"),
    ("no folder", lambda d: drop_at(d, ("folder",)), "", "'folder' is a required property"),
    ("a folder title longer than Grafana holds", lambda d: set_at(d, ("folder",), "F" * 190), "folder", "is too long"),
    ("no metrics", lambda d: set_at(d, ("metrics",), []), "metrics", "should be non-empty"),
]


@pytest.mark.parametrize("what, change, where, says", TEAM_MISTAKES, ids=[c[0] for c in TEAM_MISTAKES])
def test_the_team_schema_refuses_what_the_team_model_refuses(what, change, where, says):
    data = team_case(change)
    with pytest.raises(ValidationError):
        TeamSpec.model_validate(data)
    errors = schema_errors(schemas.TEAM_SCHEMA, data)
    assert any(e.startswith(f"{where}: ") and says in e for e in errors), errors


def stack_case(change: Callable[[dict], None]) -> dict:
    data = as_an_editor_reads(PROJECT_LAYOUT.stack_file("dev"))
    change(data["config"])
    return data


P = PROJECT
STACK_MISTAKES = [
    ("a misspelt key", lambda c: c.update({f"{P}:grafanaURL": c.pop(f"{P}:grafanaUrl")}),
     "config", f"'{P}:grafanaURL' does not match any of the regexes"),
    ("a misspelt team setting", lambda c: set_at(c, (f"{P}:teams", "voicebot", "selctor"), 'env="dev"'),
     f"config.{P}:teams.voicebot", "'selctor' was unexpected"),
    ("an orgId that is not a number", lambda c: set_at(c, (f"{P}:orgId",), "one"),
     f"config.{P}:orgId", "is not of type 'integer'"),
    ("a plain token", lambda c: set_at(c, (f"{P}:grafanaAuth",), "glsa_plain_token"),
     f"config.{P}:grafanaAuth", "is not of type 'object'"),
    ("a plain Slack URL", lambda c: set_at(c, (f"{P}:contactPoints", "platform-dev", "slack", "url"),
                                          "https://hooks.slack.com/services/T0/B0/x"),
     f"config.{P}:contactPoints.platform-dev.slack.url", "is not of type 'object'"),
    ("a duration as a number", lambda c: set_at(c, (f"{P}:notificationPolicy", "groupWait"), 30),
     f"config.{P}:notificationPolicy.groupWait", "is not of type 'string'"),
    ("an unknown severity receiver", lambda c: set_at(c, (f"{P}:teams", "voicebot", "routing"),
                                                      {"severityReceivers": {"page": "platform-dev"}}),
     f"config.{P}:teams.voicebot.routing.severityReceivers", "'page' is not one of"),
    ("a team slug in capitals", lambda c: set_at(c, (f"{P}:teams", "Voicebot"), {}),
     f"config.{P}:teams", "'Voicebot' does not match any of the regexes"),
    ("no prometheus datasource", lambda c: drop_at(c, (f"{P}:datasources", "prometheus")),
     f"config.{P}:datasources", "'prometheus' is a required property"),
    ("a weekday misspelt", lambda c: set_at(c, (f"{P}:muteTimings", "weekends", "weekdays"), ["saturday", "sundy"]),
     f"config.{P}:muteTimings.weekends.weekdays.1", "is not one of"),
]


@pytest.mark.parametrize("what, change, where, says", STACK_MISTAKES, ids=[c[0] for c in STACK_MISTAKES])
def test_the_stack_schema_refuses_what_the_stack_loader_refuses(scratch, what, change, where, says):
    data = stack_case(change)
    scratch.stack_file("dev").write_text(dump_yaml(data, sort_keys=False))
    with pytest.raises(ConfigError):
        load_stack_config("dev", *config_from_file("dev", scratch), scratch)
    errors = schema_errors(schemas.STACK_SCHEMA, data)
    assert any(e.startswith(f"{where}: ") and says in e for e in errors), errors


def test_the_stack_schema_flags_a_misspelt_namespace_the_program_would_ignore():
    """`grafna:url` reaches no provider and no model; only the schema can point at it."""
    data = stack_case(lambda c: set_at(c, ("grafna:url",), "https://grafana.dev.acme-corp.com"))
    assert any("'grafna:url' does not match any of the regexes" in e for e in schema_errors(schemas.STACK_SCHEMA, data))
    unread = stack_case(lambda c: set_at(c, ("grafana:url",), "https://grafana.dev.acme-corp.com"))  # estate.config
    assert any("'grafana:url' does not match any of the regexes" in e for e in schema_errors(schemas.STACK_SCHEMA, unread))
    ok = stack_case(lambda c: c.update({"kubernetes:context": "dev", "pulumi:disable-default-providers": ["grafana"]}))
    assert schema_errors(schemas.STACK_SCHEMA, ok) == []


def test_a_key_the_project_file_defaults_may_be_left_out_of_a_stack_file():
    data = stack_case(lambda c: [c.pop(f"{P}:orgId"), c.pop(f"{P}:protect")])
    assert schema_errors(schemas.STACK_SCHEMA, data) == []
    missing_url = stack_case(lambda c: c.pop(f"{P}:grafanaUrl"))
    assert any("grafanaUrl" in e for e in schema_errors(schemas.STACK_SCHEMA, missing_url))
