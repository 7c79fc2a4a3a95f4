"""Shared test helpers: run the real program under recording mocks with a stack's config."""
from __future__ import annotations

import contextlib
import copy
import functools
import gc
import json
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dashboards.importer import from_export
from estate import PROJECT, PROJECT_LAYOUT, Layout
from estate.config import config_from_file, project_values
from estate.files import SAFE_DUMPER, SAFE_LOADER, read_json
from tools.catalog import STACKS
from tools.mocks import RecordingMonitor, Run, run_program


def stack_values(stack: str) -> tuple[dict[str, Any], list[str]]:
    """A committed stack's config as decoded values (key without namespace) and its secret keys: a copy
    of its own to each caller, of the file read once (no test changes the project's own files)."""
    return copy.deepcopy(_committed_values(stack))


@functools.cache
def _committed_values(stack: str) -> tuple[dict[str, Any], list[str]]:
    config, secret_keys = config_from_file(stack, PROJECT_LAYOUT)
    values = {}
    for key, raw in config.items():
        try:
            values[key.split(":", 1)[1]] = json.loads(raw)
        except ValueError:
            values[key.split(":", 1)[1]] = raw
    return values, sorted(k.split(":", 1)[1] for k in secret_keys)


def load_yaml(text: str) -> Any:
    """YAML that the tests read as data (rendered files, committed ones, what a test wrote): PyYAML's safe
    reading with libyaml's parser, ten times faster than its pure-Python one. What the program reads
    goes through its own reader (estate/files.py), whose refusals the tests prove."""
    return yaml.load(text, Loader=SAFE_LOADER)


def dump_yaml(data: Any, **options: Any) -> str:
    """`data` as YAML text (a stack or team file a test writes), by libyaml's emitter: yaml.safe_dump's options."""
    return yaml.dump(data, Dumper=SAFE_DUMPER, **options)


class StillWaiting(BaseException):
    """Raised by `ends_within`'s alarm in code that went on waiting (a BaseException: no tool catches it)."""


@contextlib.contextmanager
def ends_within(seconds: int, what: str):
    """Fail, rather than hang the suite, when the block has not ended after `seconds` (a FIFO opened
    for reading, with no writer, is waited for without end)."""
    def still_waiting(signum, frame):
        raise StillWaiting(f"{what}: still waiting after {seconds} s")
    previous = signal.signal(signal.SIGALRM, still_waiting)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# How pydantic names a type in an error's path (a union's member, a constrained field): never for a person.
PYDANTIC_TYPE_NAMES = re.compile(r"function-(after|before|wrap|plain)\[|constrained-(str|float|int)|literal\[|instance of [A-Z]")


def teams_of(stack: str) -> list[str]:
    """The teams a committed stack deploys, read from its file alone: cheap enough to parametrize
    tests with at collection, where nothing is rendered (a render problem fails tests, not collection)."""
    return sorted(project_values(config_from_file(stack, PROJECT_LAYOUT)[0]).get("teams") or {})


STACK_TEAMS = [(stack, team) for stack in STACKS for team in teams_of(stack)]


# The modules that take longest, longest first (about 9 s down to 1 s of one core). xdist hands the
# modules out in collection order (pytest.ini: --no-loadscope-reorder; by default it orders them by
# their number of tests), so the two workers start on these and end together on the short ones.
SLOWEST_FIRST = [f"tests/{name}.py" for name in (  # by their test time (--durations=0), largest first
    "test_malformed_inputs", "test_promtool", "test_render", "test_malformed_fuzz", "test_prometheus_queries",
    "test_team_code_worker", "test_diff", "test_adopt_pull", "test_secrets", "test_routing", "test_routing_templates",
    "test_kubernetes", "test_layering", "test_benchmark", "test_slo", "test_provider_normalization",
    "test_adopt_import", "e2e/test_parts", "test_schemas", "test_teams", "test_workflows", "test_policy")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


def pytest_configure(config: pytest.Config) -> None:
    # pytest collects garbage when a session ends (to report exceptions raised in finalizers): in a
    # worker that has run the program a few hundred times, a million objects, 1.5 s at the end of
    # the suite. Exceptions raised in finalizers meanwhile are still reported, test by test.
    try:
        from _pytest.unraisableexception import gc_collect_iterations_key  # pytest's own setting (for pytester)
    except ImportError:  # another pytest: it collects as it does
        return
    config.stash[gc_collect_iterations_key] = 0


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # As `python -m tools.render` ends: the interpreter's collections at exit would walk every object
    # the runs left (2.4 s in each worker) only to end the process.
    gc.freeze()


# The project folder runs read unless a test names another; a module may point it at a scratch copy.
LAYOUT = PROJECT_LAYOUT


# Runs of the project's own files, by their whole input: the program is deterministic, so tests that
# run the same config share one run (as they share `rendered`). Forgotten around every test that
# patches anything (see _runs_forget_what_a_patched_test_saw), and never kept for scratch layouts.
_RUNS: dict[tuple, Run] = {}


def run_values(values: dict[str, Any], secret_keys: list[str], monitor: RecordingMonitor | None = None,
               stack: str = "unit-test", layout: Layout | None = None) -> Run:
    """Run the program with hand-edited config; `unit-test` has no stack file, so secrecy comes from secret_keys."""
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    secrets = {f"{PROJECT}:{k}" for k in secret_keys}
    layout = layout or LAYOUT
    if monitor is not None or layout != PROJECT_LAYOUT:
        return run_program(stack, config, secrets, monitor, layout)
    key = (stack, json.dumps(config, sort_keys=True), tuple(sorted(secrets)),
           tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PULUMI"))))
    if key not in _RUNS:
        _RUNS[key] = run_program(stack, config, secrets, None, layout)
    return _RUNS[key]


@pytest.fixture(autouse=True)
def _runs_forget_what_a_patched_test_saw(request):
    patched = "monkeypatch" in request.fixturenames
    if patched:
        _RUNS.clear()
    yield
    if patched:
        _RUNS.clear()


def run_fails(values: dict[str, Any], secret_keys: list[str], layout: Layout | None = None) -> tuple[str, RecordingMonitor]:
    """Run a config that must fail: the ConfigError's message, and what was registered meanwhile."""
    from estate import ConfigError

    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as error:
        run_values(values, secret_keys, monitor, layout=layout)
    return str(error.value), monitor


def existing_grafana(values: dict[str, Any], secret_keys: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A stack's config managing an existing Grafana: no kubernetes section, a secret grafanaAuth token."""
    values.pop("kubernetes", None)
    values.setdefault("grafanaAuth", f"<secure {PROJECT}:grafanaAuth>")
    return values, [*(k for k in secret_keys if k not in ("kubernetes", "grafanaAuth")), "grafanaAuth"]


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a render folder, by its path inside it: two renders compare byte for byte."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def exported(path: Path) -> dict:
    """An exported dashboard file as the program reads it (estate.files.read_json) and unwraps it."""
    return from_export(read_json(path, path.name))

def scratch_layout(root: Path, teams: tuple[str, ...] = ("api-production",)) -> Layout:
    """A project folder under `root` for one test: Pulumi.yaml, an empty stacks/ and copies of `teams`."""
    layout = Layout.at(root)
    layout.stacks.mkdir(parents=True)
    shutil.copy(PROJECT_LAYOUT.project_file, layout.project_file)
    for team in teams:
        shutil.copytree(PROJECT_LAYOUT.team_dir(team), layout.team_dir(team), ignore=shutil.ignore_patterns("__pycache__"))
    return layout


@pytest.fixture
def scratch(tmp_path) -> Layout:
    """A private project folder (Pulumi.yaml, stacks/, teams/api-production) the test may change at will."""
    return scratch_layout(tmp_path / "project")


@pytest.fixture
def prod_values() -> tuple[dict[str, Any], list[str]]:
    return stack_values("prod")


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], Run]:
    """The committed stacks, each run once per test session (the program is deterministic)."""
    from tools.render import committed

    return lambda stack: committed(stack).run
