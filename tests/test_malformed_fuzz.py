"""Property: random damage to a valid stack or team file gives success or one ConfigError, never a traceback.

Mutations (one to three per example): delete a key or list item, change a value's type, insert an
unknown key, replace a string with garbage. The program runs for real under recording mocks; a
ConfigError must come before any resource is registered.
"""
from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tests.conftest
from estate.model import ConfigError
from estate import PROJECT_ROOT as ROOT
from tests.conftest import run_values, scratch_layout, stack_values
from tools.mocks import RecordingMonitor

TEAM = "api-production"

OTHER_TYPES = [None, 0, -1, 2.5, True, "", "x", [], {}, ["a"], {"a": 1}, "1m", "%(selector)s"]
UNKNOWN_KEYS = ["tresholds", "zzUnknown", "isdefault", "Selector", "for_", "uid ", ""]
GARBAGE = st.one_of(
    st.sampled_from(["", " ", "{", "}", "(", "%(selector)s", "%(threshold)s", "${x}", "$__rate_interval",
                     "5 minutes", "-1s", "null", "1e999", "é", "\t", "a" * 41, "up{", "=~", "\"", "'"]),
    st.text(max_size=20),
)

FUZZ = settings(max_examples=int(os.environ.get('FUZZ_EXAMPLES', 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def paths(node: Any, at: tuple = ()) -> list[tuple]:
    """Every path below `node`, parents before children."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*at, key))
            found += paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*at, index))
            found += paths(value, (*at, index))
    return found


def get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated(draw, original: dict) -> tuple[dict, list[str]]:
    """A copy of `original` with 1-3 random mutations, and what was done (shown when a case fails)."""
    doc = copy.deepcopy(original)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        every = paths(doc)
        kind = draw(st.sampled_from(["delete", "retype", "unknown key", "garbage"]))
        if kind == "unknown key":
            dicts = [()] + [p for p in every if isinstance(get(doc, p), dict)]
            where = draw(st.sampled_from(dicts))
            key = draw(st.one_of(st.sampled_from(UNKNOWN_KEYS), st.text(max_size=10)))
            get(doc, where)[key] = copy.deepcopy(draw(st.sampled_from(OTHER_TYPES)))
            done.append(f"insert {where}.{key!r}")
            continue
        if not every:
            continue
        if kind == "garbage":
            strings = [p for p in every if isinstance(get(doc, p), str)]
            if not strings:
                continue
            where = draw(st.sampled_from(strings))
            get(doc, where[:-1])[where[-1]] = value = draw(GARBAGE)
            done.append(f"garbage {where} = {value!r}")
            continue
        where = draw(st.sampled_from(every))
        parent = get(doc, where[:-1])
        if kind == "delete":
            del parent[where[-1]]
            done.append(f"delete {where}")
        else:
            current = parent[where[-1]]
            choices = [v for v in OTHER_TYPES if type(v) is not type(current)]
            parent[where[-1]] = value = copy.deepcopy(draw(st.sampled_from(choices)))
            done.append(f"retype {where} = {value!r}")
    return doc, done


def outcome(values: dict, secret_keys: list[str]) -> str:
    """`ok`, or `error` for a ConfigError raised before any registration; anything else propagates."""
    monitor = RecordingMonitor()
    try:
        run_values(values, secret_keys, monitor)
    except ConfigError as e:
        message = str(e)
        assert message.count("invalid configuration") == 1, message
        assert "Traceback" not in message
        assert monitor.registrations == [], message
        return "error"
    return "ok"


@pytest.fixture(scope="module")
def private_teams():
    """teams/api-production copied to a temporary folder the program reads instead of teams/."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        layout = scratch_layout(Path(tmp) / "project", (TEAM,))
        patch.setattr(tests.conftest, "LAYOUT", layout)
        yield layout.teams


def prod_for_one_team() -> tuple[dict, list[str]]:
    values, secret_keys = stack_values("prod")
    values["teams"] = {TEAM: values["teams"][TEAM]}
    return values, secret_keys


PROD, PROD_SECRETS = prod_for_one_team()
TEAM_SPEC = yaml.safe_load((ROOT / "teams" / TEAM / "team.yaml").read_text())


def test_the_unmutated_files_deploy(private_teams):
    (private_teams / TEAM / "team.yaml").write_text(yaml.safe_dump(TEAM_SPEC, sort_keys=False, allow_unicode=True))
    assert outcome(copy.deepcopy(PROD), list(PROD_SECRETS)) == "ok"


@FUZZ
@given(case=mutated(PROD))
def test_a_mutated_stack_gives_success_or_one_config_error(private_teams, case):
    values, _ = case
    event(outcome(values, list(PROD_SECRETS)))


@FUZZ
@given(case=mutated(TEAM_SPEC))
def test_a_mutated_team_file_gives_success_or_one_config_error(private_teams, case):
    spec, _ = case
    (private_teams / TEAM / "team.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    event(outcome(copy.deepcopy(PROD), list(PROD_SECRETS)))
