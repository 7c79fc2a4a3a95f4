"""Shared test helpers: run the real program under recording mocks with a stack's config."""
from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from components.stack_config import PROJECT, stack_file
from tools.catalog import STACKS  # noqa: F401  (re-exported for the tests)
from tools.mocks import RecordingMonitor, Run, config_from_file, run_program


def stack_values(stack: str) -> tuple[dict[str, Any], list[str]]:
    """A committed stack's config as decoded values (key without namespace) and its secret keys."""
    config, secret_keys = config_from_file(stack_file(stack))
    values = {}
    for key, raw in config.items():
        try:
            values[key.split(":", 1)[1]] = json.loads(raw)
        except ValueError:
            values[key.split(":", 1)[1]] = raw
    return values, [k.split(":", 1)[1] for k in secret_keys]


def run_values(values: dict[str, Any], secret_keys: list[str], monitor: RecordingMonitor | None = None,
               stack: str = "unit-test") -> Run:
    """Run the program with hand-edited config; `unit-test` has no stack file, so secrecy comes from secret_keys."""
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    return run_program(stack, config, [f"{PROJECT}:{k}" for k in secret_keys], monitor)


def run_fails(values: dict[str, Any], secret_keys: list[str]) -> tuple[str, RecordingMonitor]:
    """Run a config that must fail: the ConfigError's message, and what was registered meanwhile."""
    from components.model import ConfigError

    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_values(values, secret_keys, monitor)
    return str(error.value), monitor


def existing_grafana(values: dict[str, Any], secret_keys: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A stack's config managing an existing Grafana: no kubernetes section, a secret grafanaAuth token."""
    values.pop("kubernetes", None)
    values.setdefault("grafanaAuth", f"<secure {PROJECT}:grafanaAuth>")
    return values, [*(k for k in secret_keys if k not in ("kubernetes", "grafanaAuth")), "grafanaAuth"]


@pytest.fixture
def prod_values() -> tuple[dict[str, Any], list[str]]:
    return copy.deepcopy(stack_values("prod"))


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], Run]:
    """The committed stacks, each run once per test session (the program is deterministic)."""
    from tools.render import render

    cache: dict[str, Run] = {}
    return lambda stack: cache.setdefault(stack, render(stack))
