"""Property: random damage to a valid stack file, team file or team code gives success or one
ConfigError, never a traceback, a hang or a write.

- Values (one to three mutations per example): delete a key or list item, change a value's type,
  insert an unknown key, replace a string with garbage; run through the real program under mocks.
- Structure (the YAML text itself): duplicate keys in any spelling (case, NFKC, bare beside
  namespaced), namespaces misspelled, tags, anchors and aliases (recursive ones too), nesting
  hundreds deep, odd Unicode (zero-width, bidi, combining, escaped control characters); run
  through `python -m tools.render` in-process: exit 0, or exit 1 with one message and nothing written.
- Team code: dashboards.py built from statements that return odd shapes, raise anything (SystemExit
  and KeyboardInterrupt too), exit the process, cancel the time limit and loop, flood the output;
  the estate is either complete (every declared dashboard) or one error naming a team file.
A ConfigError must come before any resource is registered.
"""
from __future__ import annotations

import copy
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tests.conftest
from estate.model import ConfigError
from estate import PROJECT_ROOT as ROOT
from tests.conftest import PYDANTIC_TYPE_NAMES, dump_yaml, load_yaml, run_values, scratch_layout, stack_values
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
        assert "Traceback" not in message and not PYDANTIC_TYPE_NAMES.search(message), message
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
TEAM_SPEC = load_yaml((ROOT / "teams" / TEAM / "team.yaml").read_text())


def test_the_unmutated_files_deploy(private_teams):
    (private_teams / TEAM / "team.yaml").write_text(dump_yaml(TEAM_SPEC, sort_keys=False, allow_unicode=True))
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
    (private_teams / TEAM / "team.yaml").write_text(dump_yaml(spec, sort_keys=False, allow_unicode=True))
    event(outcome(copy.deepcopy(PROD), list(PROD_SECRETS)))


# ------------------------------------------------------------------------------------- structure

P = "grafana-platform:"
TAGS = ["!!binary", "!!set", "!!timestamp", "!!python/object:os.system", "!x", "!!str", "!!int", "!!float", "!!map",
        "!!omap", "!"]
ODD = ["\u200b", "\u200f", "\u202e", "\u0301", "\ufeff", "ｘ", "\u00a0", "\\0", "\\x07", "\\ud800", "\\U0001F600"]
LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>[^:#\s][^:#]*?):(?P<rest>( .*)?)$")


def keyed_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if LINE.match(line)]


@st.composite
def damaged_text(draw, original: str) -> tuple[str, list[str]]:
    """`original` YAML text with 1-3 structural mutations, and what was done."""
    lines = original.split("\n")
    done = []
    for _ in range(draw(st.integers(1, 3))):
        candidates = [i for i, line in enumerate(lines) if LINE.match(line)]
        i = draw(st.sampled_from(candidates))
        m = LINE.match(lines[i])
        indent, dash, key, rest = m["indent"], m["dash"] or "", m["key"], m["rest"] or ""
        kind = draw(st.sampled_from(["duplicate", "respell", "namespace", "tag", "alias", "nest", "unicode"]))
        if kind == "duplicate":  # the same key again, in its own spelling or another
            spelling = draw(st.sampled_from([key, key.upper(), key.title(), key.replace(P, ""),
                                             "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key)]))
            lines.insert(i + 1, f"{indent}{' ' * len(dash)}{spelling}: 1")
        elif kind == "respell":
            lines[i] = f"{indent}{dash}{draw(st.sampled_from([key.upper(), key + 's', key[:-1] or 'x']))}:{rest}"
        elif kind == "namespace" and ":" in key:
            namespace = draw(st.sampled_from(["grafana-platfrom", "Grafana-Platform", "grafana", "kubernetes",
                                              "pulumi", "", "x"]))
            lines[i] = f"{indent}{dash}{namespace}{':' if namespace else ''}{key.split(':', 1)[1]}:{rest}"
        elif kind == "tag" and rest.strip():
            lines[i] = f"{indent}{dash}{key}: {draw(st.sampled_from(TAGS))} {rest.strip()}"
        elif kind == "alias" and rest.strip():
            name = draw(st.sampled_from(["a", "b"]))
            target = draw(st.sampled_from(candidates))
            lines[i] = f"{indent}{dash}{key}: &{name} {rest.strip()}"
            t = LINE.match(lines[target])
            recursive = draw(st.booleans())
            value = f"&{name} [*{name}]" if recursive else f"*{name}"
            lines[target] = f"{t['indent']}{t['dash'] or ''}{t['key']}: {value}"
        elif kind == "nest" and rest.strip():
            depth = draw(st.integers(1, 400))
            lines[i] = f"{indent}{dash}{key}: {'[' * depth}{rest.strip()}{']' * depth}"
        elif kind == "unicode":
            odd = draw(st.sampled_from(ODD))
            where = draw(st.integers(0, len(key)))
            lines[i] = f'{indent}{dash}"{key[:where]}{odd}{key[where:]}":{rest}'
        else:
            continue
        done.append(f"{kind} line {i + 1}")
    return "\n".join(lines), done


def render_outcome(layout, stack: str, out: Path) -> str:
    """`ok` or `error`; an error is one short message, exit 1, and nothing written."""
    import contextlib
    import io

    import tools.render

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = tools.render.main(["--root", str(layout.root), "--stack", stack, "--out", str(out)])
    if code == 0:
        return "ok"
    message = err.getvalue()
    assert code == 1 and message.startswith("error: "), message
    assert message.count("invalid configuration") == 1 and "Traceback" not in message, message
    assert len(message.splitlines()) <= 15 and not PYDANTIC_TYPE_NAMES.search(message), message
    assert not out.exists(), message
    return "error"


@pytest.fixture(scope="module")
def structure_project():
    with tempfile.TemporaryDirectory() as tmp:
        yield scratch_layout(Path(tmp) / "project", (TEAM,)), Path(tmp)


def one_team_stack_text() -> str:
    data = load_yaml((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    data["config"][f"{P}teams"] = {TEAM: data["config"][f"{P}teams"][TEAM]}
    return dump_yaml(data, sort_keys=False)


STACK_TEXT = one_team_stack_text()
TEAM_TEXT = (ROOT / "teams" / TEAM / "team.yaml").read_text()


def test_the_undamaged_texts_render(structure_project):
    layout, tmp = structure_project
    layout.stack_file("fuzz").write_text(STACK_TEXT)
    assert render_outcome(layout, "fuzz", tmp / "undamaged") == "ok"


@FUZZ
@given(case=damaged_text(STACK_TEXT))
def test_a_structurally_damaged_stack_file_renders_or_gives_one_error(structure_project, case):
    layout, tmp = structure_project
    text, _ = case
    layout.stack_file("fuzz").write_text(text)
    (layout.team_dir(TEAM) / "team.yaml").write_text(TEAM_TEXT)
    out = Path(tempfile.mkdtemp(dir=tmp)) / "out"
    event(render_outcome(layout, "fuzz", out))


@FUZZ
@given(case=damaged_text(TEAM_TEXT))
def test_a_structurally_damaged_team_file_renders_or_gives_one_error(structure_project, case):
    layout, tmp = structure_project
    text, _ = case
    layout.stack_file("fuzz").write_text(STACK_TEXT)
    (layout.team_dir(TEAM) / "team.yaml").write_text(text)
    out = Path(tempfile.mkdtemp(dir=tmp)) / "out"
    event(render_outcome(layout, "fuzz", out))


# ------------------------------------------------------------------------------------- team code

DECLARED = "api-production-overview"
RETURNS = ["[]", "None", "[1]", "'x'", "{}", "[None]", f"[board({DECLARED!r}, 'A')]", f"[board({DECLARED!r}, 'A')] * 2",
           "[board('../x', 'A')]", "[board('a' * 41, 'A')]", "(board(%r, 'A'),)" % DECLARED, "iter([])",
           "[board('api-production-other', 'B')]", "[object()]"]
STATEMENTS = [
    "raise SystemExit(0)", "raise SystemExit('bye')", "raise KeyboardInterrupt", "raise GeneratorExit",
    "raise StopIteration", "raise MemoryError", "raise ValueError('x' * 100000)", "raise BaseException()",
    "import os; os._exit(0)", "import sys; sys.exit(3)", "import posix; posix._exit(0)",
    "print('x' * 200000)", "import sys; sys.stderr.write('y' * 200000)",
    "import os; os.environ.clear()", "import signal; signal.setitimer(signal.ITIMER_REAL, 0)",
    "import faulthandler, signal; faulthandler.unregister(signal.SIGUSR1)",
    "import signal; signal.signal(signal.SIGALRM, signal.SIG_IGN)",
    "def f(): return f()\n    f()", "import sys; sys.setrecursionlimit(10)",
    "import os; os.kill(os.getppid(), 9)", "import os; os.system('true')", "open('x.txt', 'w')",
    "import ctypes; ctypes.string_at(0)", "while True: pass", "pass", "pass", "pass",
]


@st.composite
def team_code(draw) -> str:
    body = draw(st.one_of(st.just([]), st.lists(st.sampled_from(STATEMENTS), max_size=3)))
    body.append(f"return {draw(st.one_of(st.just(RETURNS[6]), st.sampled_from(RETURNS)))}")
    at_import = draw(st.sampled_from(["", "", "", "import sys\nsys.exit(0)\n", "raise KeyboardInterrupt\n", "x = (\n"]))
    return ("from dashboards import board\n" + at_import + "\n\ndef dashboards(team):\n"
            + "".join(f"    {line}\n" for line in body))


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(source=team_code())
def test_team_code_gives_its_declared_dashboards_or_one_error_naming_a_team_file(private_teams, source, monkeypatch):
    import estate.team_code

    monkeypatch.setattr(estate.team_code, "TIME_LIMIT", 0.25)  # the loops run until it: a short one
    (private_teams / TEAM / "team.yaml").write_text(TEAM_TEXT)
    (private_teams / TEAM / "dashboards.py").write_text(source)
    monitor = RecordingMonitor()
    try:
        run = run_values(copy.deepcopy(PROD), list(PROD_SECRETS), monitor)
    except ConfigError as e:
        message = str(e)
        assert message.startswith((f"teams/{TEAM}/dashboards.py: ", f"teams/{TEAM}/team.yaml: ")), message
        assert message.count("invalid configuration") == 1 and "Traceback" not in message, message
        assert len(message.splitlines()) <= 15, message
        assert monitor.registrations == []
        event("error")
        return
    assert [d.uid for d in run.estate.teams[0].dashboards] == [DECLARED]
    event("ok")
