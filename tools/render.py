"""Offline render: run the real program for one stack under Pulumi mocks and write what it declares.

    python -m tools.render --stack prod --out render/prod

Needs no Pulumi CLI, no Grafana and no secrets: `secure:` values become masked placeholders.
Writes DIR/resources.json, DIR/exports.json, DIR/dashboards/<uid>.json, DIR/rules/<team>.yaml
(for promtool) and DIR/alerts.json (each alert's meaning as the estate resolved it: quantity,
comparison, threshold, for, unit, no data; tools.diff reads thresholds from it).
"""
from __future__ import annotations

if __name__ == "__main__":  # as a command: the team-code process starts while the modules below load
    from estate import team_code

    team_code.prepare()

import argparse
import atexit
import functools
import gc
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import yaml

from components.types import ResourceType
from dashboards.finalize import sorted_json  # json.dumps(sort_keys=True, indent=2)'s bytes, faster
from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Estate, Layout, Team
from estate.config import config_from_file, stack_file
from estate.files import SAFE_DUMPER, read_text, strict_json
from estate.resolve import begin_load
from tools import command, first_line, not_a_project, once, shown_path

if TYPE_CHECKING:
    from tools.mocks import Run


def render(stack: str, layout: Layout = PROJECT_LAYOUT, then: Callable[[Estate], None] | None = None) -> Run:
    """Run the program for `stack` on its stack file alone: the config set in-process, so an
    ambient PULUMI_CONFIG is never merged in (program.engine_config reads one source).

    The program's load begins before the Pulumi SDK is imported (`begin_load`), so the team code
    runs while the SDK loads; the program finishes that load (same stack, config and files) and
    calls `then` with the estate before it registers anything."""
    stack_file(stack, layout)
    config, secret_keys = config_from_file(stack, layout)
    begin_load(stack, config, secret_keys, layout, then)
    from tools.mocks import run_program

    return run_program(stack, config, secret_keys, layout=layout)


def rule_expr(rule: dict) -> str:
    """The PromQL expression of a recorded Grafana alert rule: its query step A."""
    return json.loads(next(d for d in rule["datas"] if d["refId"] == "A")["model"])["expr"]


def rules_file(team: Team) -> dict:
    """The Prometheus rule file (for promtool) of a team's rules as the estate resolved them: one group.

    Read from the estate, not from the recorded Grafana rule group: the Grafana rule carries the
    texts in Grafana's template dialect ($values.A.Value), the rule file keeps Prometheus' ($value),
    the dialect promtool tests (estate/grafana_templates.py). The expression, `for`, labels and
    group are the same ones the Grafana rule group is built from (components/alert_rules.py).
    """
    rules = [{
        "alert": rule.alert,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": dict(sorted(rule.labels.items())),
        "annotations": dict(sorted(rule.annotations.items())),
    } for rule in team.rules]
    return {"groups": [{"name": team.slug, "interval": f"{team.interval_seconds}s", "rules": rules}]}


class _RuleFileDumper(yaml.SafeDumper):
    """Multi-line expressions stay readable as YAML block scalars, as people write rule files."""


class _FastRuleFileDumper(SAFE_DUMPER):
    """libyaml's emitter where PyYAML has it."""


def _text(text: str) -> yaml.ScalarNode:
    return yaml.ScalarNode("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_RuleFileDumper.add_representer(str, lambda dumper, text: _text(text))


class _PyYAMLWritesIt(Exception):
    """A rule file libyaml's emitter would not write as PyYAML's does."""


def _fast_node(data) -> yaml.Node:
    """The node PyYAML's representer makes of a rule file (text, mappings, lists; no object twice, so no
    alias), without its generic machinery; _PyYAMLWritesIt for anything else."""
    if type(data) is str:
        if not _libyaml_writes_the_same(data):
            raise _PyYAMLWritesIt
        return _text(data)
    if type(data) is dict:
        return yaml.MappingNode("tag:yaml.org,2002:map", [(_fast_node(k), _fast_node(v)) for k, v in data.items()],
                                flow_style=False)
    if type(data) is list:
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [_fast_node(v) for v in data], flow_style=False)
    raise _PyYAMLWritesIt


def rules_file_text(data: dict) -> str:
    """A rule file's YAML, byte for byte what PyYAML's own dumper writes (yaml.dump with _RuleFileDumper).

    libyaml's emitter writes the same bytes for printable text of the Basic Multilingual Plane that
    does not end with a newline; other text (control or invisible characters, non-ASCII spaces,
    NEL / line and paragraph separators, characters past U+FFFF such as emoji, a trailing newline)
    it escapes, folds or ends differently, so such files go through PyYAML's own dumper
    (tests/test_render.py holds both to the same bytes on generated rule files)."""
    try:
        return yaml.serialize(_fast_node(data), Dumper=_FastRuleFileDumper, width=120, allow_unicode=True)
    except _PyYAMLWritesIt:
        return yaml.dump(data, Dumper=_RuleFileDumper, sort_keys=False, width=120, allow_unicode=True)


def _libyaml_writes_the_same(text: str) -> bool:
    return text.replace("\n", "").isprintable() and not text.endswith("\n") and (not text or max(text) <= "\uffff")


MARKER = ".grafana-platform-render"  # marks a folder as a render this tool may replace
STAGING = ".staging-"  # a render being written; one a killed render left is replaced as its render would be
# The estates whose files a forked copy writes while the program registers (write_estate_aside). For
# fewer teams the copy costs what it saves: in paired runs of the command, 0.70 s either way at 5
# teams, 0.05-0.18 s saved at 25, 0.12 s at 100, 0.5 s at 500; and forking a larger process than
# the command's (a test session's, 400 MB) costs more, 0.1 s a render.
ASIDE_MIN_TEAMS = 20
INTERRUPTED = "a render that had not finished leaves --out as it was"
_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a uid or team slug: never a path


class OutError(Exception):
    """An --out the render must not write to; the message is one line."""


def check_out(out: Path, layout: Layout = PROJECT_LAYOUT) -> None:
    """Refuse an `out` that is a file, or a folder holding anything but an earlier render or the
    staging folders of a killed one (the project's teams/ or stacks/, a home folder), or a folder
    inside the project's stacks/ or teams/."""
    target = out.resolve()
    if target.exists() and not target.is_dir():
        raise OutError(f"--out {shown_path(out)}: is a file, not a folder; give a new or empty folder, or an earlier render's")
    if folder := input_folder(target, layout):
        raise OutError(f"--out {shown_path(out)}: is inside the project's {folder}/ folder; give a folder outside it, "
                       "e.g. render/<stack>")
    if target.is_dir() and not (target / MARKER).is_file() and not all(_staging_left(p) for p in target.iterdir()):
        raise OutError(f"--out {shown_path(out)}: holds files that are not an earlier render (no {MARKER}); give a new or "
                       "empty folder, or an earlier render's")


def input_folder(path: Path, layout: Layout = PROJECT_LAYOUT) -> str | None:
    """`stacks` or `teams` when `path` is the project's folder of that name or inside it: the
    program reads every file there, and no tool writes into it."""
    target = path.resolve()
    for folder in (layout.stacks, layout.teams):
        if target == folder.resolve() or target.is_relative_to(folder.resolve()):
            return folder.name
    return None


def _staging_left(path: Path) -> bool:
    """A staging folder a render left when it was killed (SIGTERM, SIGKILL) before it could remove it."""
    return path.name.startswith(STAGING) and path.is_dir() and not path.is_symlink()


def write(run: Run, out: Path) -> None:
    """Write the render into `out`, and only there, replacing an earlier render once everything is written.

    `out` must be new, empty or an earlier render (check_out). Everything is written into a staging
    folder inside `out` first; only then are the earlier render's files replaced by the new ones.
    On any failure the staging folder is removed and `out` is left as it was.
    """
    with _Staging(out) as staging:
        staging.commit(run)


def write_estate(estate: Estate, folder: Path) -> None:
    """The files the estate alone decides: each dashboard's JSON, each team's rule file, alerts.json."""
    (folder / ALERTS).write_text(sorted_json(alerts(estate), ensure_ascii=True) + "\n", encoding="utf-8")
    (folder / "dashboards").mkdir()
    (folder / "rules").mkdir()
    for team in estate.teams:
        for board in team.dashboards:
            (folder / "dashboards" / f"{_file_name(board.uid)}.json").write_text(board.config_json, encoding="utf-8")
        (folder / "rules" / f"{_file_name(team.slug)}.yaml").write_text(rules_file_text(rules_file(team)),
                                                                         encoding="utf-8")


class _Staging:
    """A render being written into a staging folder inside `out` (made when first written to), which
    replaces the earlier render's files only once everything is written (`commit`); leaving its
    `with` block by an exception leaves `out` as it was (`discard`). The estate's files can be
    written aside (`write_estate_aside`) while the program registers its resources."""

    def __init__(self, out: Path, layout: Layout = PROJECT_LAYOUT) -> None:
        check_out(out, layout)
        self.out = out
        self.created = not out.exists()
        self.folder: Path | None = None
        self.aside: tuple[int, int, Estate] | None = None  # the forked writer: its pid, its report's pipe, its estate
        # The program's thread writes aside; the command's thread discards (Ctrl-C reaches it while it
        # waits for the program, which goes on until the process ends): one at a time, and once
        # discarded nothing is written aside any more.
        self.lock = threading.Lock()
        self.discarded = False

    def __enter__(self) -> "_Staging":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.discard()

    def staging_folder(self) -> Path:
        """The folder the render is written into (a tool may add its own files there before `commit`)."""
        if self.folder is None:
            self.out.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=STAGING, dir=self.out))
        return self.folder

    def write_estate_aside(self, estate: Estate) -> None:
        """Write the estate's files from a forked copy of this process while this one goes on to
        register the resources: the SDK's work holds one core, and the writing (about 0.5 s of a
        500-team render) takes the other. The program's thread is the only one that runs until it
        registers: the command's own waits for it, holding no lock (a fork copies no other thread,
        and none of another thread's locks). Without fork (Windows), `commit` writes them."""
        with self.lock:
            if self.discarded:  # the command was interrupted while the program loaded
                raise OutError(f"--out {self.out}: the render was interrupted; nothing is written")
            if len(estate.teams) >= ASIDE_MIN_TEAMS:  # a smaller estate's files are written by commit
                self._fork_writer(estate)

    def _fork_writer(self, estate: Estate) -> None:
        folder = self.staging_folder()
        if not hasattr(os, "fork"):
            return
        report, report_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to be had: commit writes them
            os.close(report)
            os.close(report_end)
            return
        if pid == 0:  # the copy: write, report what failed, and end without the program's exit handlers
            failure = b""
            try:
                os.close(report)
                write_estate(estate, folder)
            except BaseException as e:  # noqa: BLE001  reported to the program, which raises it
                failure = json.dumps({"type": type(e).__name__, "message": str(e), "errno": getattr(e, "errno", None),
                                      "strerror": getattr(e, "strerror", None)}).encode()
            try:
                os.write(report_end, failure)  # read by commit (or ignored by discard, which kills this process)
            finally:
                os._exit(1 if failure else 0)
        os.close(report_end)
        self.aside = (pid, report, estate)

    def _wait_aside(self) -> Estate | None:
        """The estate whose files the forked writer wrote, once it ended; what failed there is raised here."""
        if self.aside is None:
            return None
        pid, report, estate = self.aside
        self.aside = None
        with os.fdopen(report, "rb") as pipe:
            failure = pipe.read()
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if failure:
            raised = json.loads(failure)
            if raised["type"] == "OutError":
                raise OutError(raised["message"])
            if raised["errno"] is not None:
                raise OSError(raised["errno"], raised["strerror"])
            raise RuntimeError(f"writing the render's files failed: {raised['type']}: {raised['message']}")
        if status != 0:
            raise OSError(f"the process writing the render's files ended with status {status}")
        return estate

    def commit(self, run: Run) -> None:
        """Write the rest (and the estate's files, unless written aside), then replace the earlier render."""
        staging = self.staging_folder()
        aside = self._wait_aside()
        if aside is None:
            write_estate(run.estate, staging)
        elif aside is not run.estate:  # the program loaded again, with other arguments
            raise RuntimeError("the render's files were written for another estate than the program's")
        registered = {r.name: r.inputs["configJson"] for r in run.of_type(ResourceType.DASHBOARD)}
        if registered != {b.uid: b.config_json for team in run.estate.teams for b in team.dashboards}:
            raise RuntimeError("the program registered other dashboards than its estate holds")
        registrations = sorted(run.registrations, key=lambda r: (r.type, r.name, r.parent))
        (staging / "resources.json").write_text(
            sorted_json([r.as_json() for r in registrations], ensure_ascii=True) + "\n", encoding="utf-8")
        (staging / "exports.json").write_text(sorted_json(run.exports, ensure_ascii=True) + "\n", encoding="utf-8")
        (staging / MARKER).write_text("written by python -m tools.render; the next render replaces this folder\n",
                                      encoding="utf-8")
        for old in self.out.iterdir():
            if old != staging:
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        for new in staging.iterdir():
            new.rename(self.out / new.name)
        staging.rmdir()

    def discard(self) -> None:
        """Remove what was written (the writer aside ended first), leaving `out` as it was; nothing is
        written aside after it."""
        with self.lock:
            self.discarded = True
            if self.aside is not None:
                pid, report, _ = self.aside
                self.aside = None
                os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still the writer's
                os.waitpid(pid, 0)
                os.close(report)
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                if self.created:
                    shutil.rmtree(self.out, ignore_errors=True)


def alerts(estate: Estate) -> dict:
    """Each team's alerts as the estate resolved them for the stack: what they watch and where they fire."""
    return {team.slug: {rule.alert: {"quantity": rule.quantity, "comparison": rule.comparison,
                                     "threshold": rule.threshold, "for": rule.for_, "unit": rule.unit,
                                     "noData": rule.no_data}
                        for rule in team.rules}
            for team in estate.teams}


def _file_name(name: str) -> str:
    if not _FILE_NAME.fullmatch(name):  # the estate refuses such uids; a render never writes outside --out
        raise OutError(f"refusing to write a file named {name[:60]!r}: not a uid")
    return name


def summary(stack: str, run: Run) -> str:
    by_type = Counter(r.type for r in run.registrations)
    lines = [f"stack {stack}: {len(run.registrations)} resources"]
    lines += [f"  {count:4d}  {type_}" for type_, count in sorted(by_type.items())]
    children = Counter()  # parent -> dashboards, or alert rules, under it: one pass, not one per team
    for r in run.registrations:
        if r.type == ResourceType.DASHBOARD:
            children[r.parent] += 1
        elif r.type == ResourceType.RULE_GROUP:
            children[r.parent] += len(r.inputs["rules"])
    for team in sorted(run.of_type(ResourceType.TEAM), key=lambda r: r.name):
        lines.append(f"  team {team.name}: {children[f'{ResourceType.TEAM_DASHBOARDS}::{team.name}']} dashboards, "
                     f"{children[f'{ResourceType.TEAM_ALERT_RULES}::{team.name}']} alert rules")  # 0: no alerts
    return "\n".join(lines)


# --- reading render folders ----------------------------------------------------------------------

ALERTS = "alerts.json"


@dataclass(frozen=True)
class RenderedDashboard:
    team: str
    uid: str
    board: dict


class NotARender(ValueError):
    """A folder the tools read as a render (`--out` of this command) that is not one, or not whole."""


# What a hand-edited resources.json raises deeper in a tool that reads it (a value of another shape)
SHAPE_ERRORS = (KeyError, TypeError, AttributeError)


def not_as_written(e: Exception) -> str:
    """The one line a tool says for a SHAPE_ERRORS it met reading a render folder."""
    return (f"a render folder is not as python -m tools.render writes it ({type(e).__name__}: {e}); "
            "render it again")


# The most a file of a render folder may hold when a tool reads it back: resources.json of 1,000
# teams is about 55 MB. A regular file only: a link to /dev/zero would be read until memory ran out.
RENDER_FILE_MAX_BYTES = 256 << 20


def _render_json(path: Path, what: str) -> object:
    """The JSON data of one file of a render folder; NotARender, in one line, for anything else."""
    try:  # the program's strict reader: a hand-edited file may hold NaN, a key twice, or nest past any reader
        return strict_json(read_text(path, str(path), RENDER_FILE_MAX_BYTES))
    except ConfigError as e:
        problem = e.problems[0][1] if e.problems else str(e)
    except ValueError as e:
        problem = str(e)
    except RecursionError:
        problem = "nested deeper than a JSON reader goes"
    raise NotARender(f"{shown_path(path)}: not a render's {what} ({problem}); write the folder with python -m "
                     "tools.render")


def read_resources(folder: Path) -> list[dict]:
    """A render folder's resources.json: each registration's type, name, parent, inputs and protect."""
    path = folder / "resources.json"
    resources = _render_json(path, "resources")
    if not isinstance(resources, list) or not all(
            isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("type", "name", "parent"))
            and isinstance(r.get("inputs"), dict) for r in resources):
        raise NotARender(f"{shown_path(path)}: not a render's resources (a list of type, name, parent and inputs); "
                         "write the folder with python -m tools.render")
    return resources


def read_render(folder: Path) -> tuple[str, list[RenderedDashboard]]:
    """The stack a render folder was written for, and its dashboards with their owning team."""
    resources = read_resources(folder)
    stack_prefix = f"pulumi:pulumi:Stack::{PROJECT}-"
    stack = next((r["parent"][len(stack_prefix):] for r in resources if r["parent"].startswith(stack_prefix)), None)
    if stack is None:
        raise ValueError(f"{folder}/resources.json: no stack resource to tell which stack this is")
    boards = []
    for r in resources:
        if r["type"] == ResourceType.DASHBOARD:
            team = r["parent"].rsplit("::", 1)[-1]
            board = _render_json(folder / "dashboards" / f"{r['name']}.json", "dashboard")
            boards.append(RenderedDashboard(team, r["name"], board))
    return stack, sorted(boards, key=lambda b: (b.team, b.uid))


def read_alerts(folder: Path) -> dict | None:
    """A render folder's alerts.json (team -> alert -> meaning); None for a render written without one."""
    path = folder / ALERTS
    return _render_json(path, "alerts") if os.path.lexists(path) else None


@dataclass(frozen=True)
class Committed:
    """A committed stack as rendered once in this process: the run (with its estate) and its folder."""

    run: Run
    folder: Path


@functools.lru_cache(maxsize=None)
def committed(stack: str) -> Committed:
    """The committed stack `stack`, rendered once per process into a temporary folder (the tools and
    the tests of one process share it: the program is deterministic)."""
    root = _scratch_root()
    run = render(stack)
    write(run, root / stack)
    return Committed(run, root / stack)


@functools.lru_cache(maxsize=None)
def _scratch_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="grafana-platform-render-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def rendered_stacks() -> dict[str, Path]:
    """Every committed stack rendered once per process: {stack: folder}."""
    return {stack: committed(stack).folder for stack in PROJECT_LAYOUT.stack_names()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=first_line(__doc__))
    parser.add_argument("--stack", required=True, action=once(), help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, action=once(), type=Path, help="folder to write the render into")
    parser.add_argument("--root", action=once(), type=Path, default=PROJECT_LAYOUT.root,
                        help="project folder holding Pulumi.yaml, stacks/ and teams/ (default: this checkout)")
    args = parser.parse_args(argv)
    layout = Layout.at(args.root)
    if problem := not_a_project(args.root, layout.project_file):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        with _Staging(args.out, layout) as staging:  # before the run: a refused --out costs nothing, writes nothing
            if "PULUMI_CONFIG" in os.environ:
                print("note: PULUMI_CONFIG in the environment is ignored; the render reads "
                      f"stacks/Pulumi.{args.stack}.yaml alone", file=sys.stderr)
            run = render(args.stack, layout, then=staging.write_estate_aside)
            staging.commit(run)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: --out {shown_path(args.out)}: cannot write the render ({e.strerror or e})", file=sys.stderr)
        return 1
    print(summary(args.stack, run))
    return 0


if __name__ == "__main__":
    def run() -> int:
        status = main()  # on Ctrl-C, main removed what it had written; the program's thread ends with us
        # Everything is written and closed. The interpreter's last full collection would walk the run's
        # millions of objects only to end the process (0.7 s at 500 teams); the collector leaves them alone.
        gc.freeze()
        return status

    command(run, interrupted=INTERRUPTED)
