"""Run each team's promtool unit tests (teams/<slug>/alerts_test.yaml) against a stack's rendered rules.

    python -m tools.promtool --stack prod [--team voicebot] [--out DIR]

A team writes its tests once, in promtool's own format, with placeholders this runner fills in
per stack (docs/alert-tests.md):

    %(selector)s            the team's selector in this stack:   job="voicebot", env="prod"
    %(selector_labels)s     the same as YAML flow-map entries:   job: "voicebot", env: "prod"
    %(threshold:Alert)s     the alert's threshold in this stack: 0.3
    %(for:Alert)s           the alert's `for` in this stack:     15m
    %(for:Alert+3m)s        ... plus/minus durations:            18m
    %(runbook_base)s        the stack's runbookBaseUrl:          https://runbooks.acme-corp.com/prod
    %(stack)s               the stack's name

The values come from the team's team.yaml and the stack file (threshold and `for` overrides,
selector extension), read through the project's own models, not from the render: the rendered
rules are what promtool tests, so a render that lost an override fails the tests.
The filled-in file goes to DIR/alert-tests/<team>.yaml with `rule_files: [../rules/<team>.yaml]`,
next to the rules `python -m tools.render` wrote, and `promtool test rules` runs on it.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml

from components.estate import TEAMS_DIR, load_team_spec
from components.promql import number
from components.model import duration_seconds
from components.stack_config import PROJECT, TeamSettings, stack_file
from tools.mocks import config_from_file

TEST_FILE = "alerts_test.yaml"
SETUP_HINT = "run `bash scripts/setup` (it installs Debian's prometheus package, which brings promtool)"
PLACEHOLDER = re.compile(r"%\(([^()]+)\)s")
_TERM = re.compile(r"([+-])(\d+(?:ms|[ywdhms])(?:\d+(?:ms|[ywdhms]))*)")


class PromtoolMissing(RuntimeError):
    pass


class PlaceholderError(ValueError):
    pass


def promtool() -> str:
    """The promtool executable; PromtoolMissing (with the set-up command to run) when there is none."""
    path = shutil.which("promtool")
    if not path:
        raise PromtoolMissing(f"promtool is not installed (not found on PATH): {SETUP_HINT}")
    return path


def tests_path(team: str) -> Path:
    return TEAMS_DIR / team / TEST_FILE


# ---------------------------------------------------------------------------------------------
# What the placeholders stand for in one stack
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """The values a team's test file may refer to, in one stack."""

    stack: str
    team: str
    selector: str
    labels: tuple[tuple[str, str], ...]   # the selector's equality matchers, in order
    thresholds: dict[str, float]
    fors: dict[str, str]
    runbook_base: str

    def value(self, key: str) -> str:
        if key == "selector":
            return self.selector
        if key == "selector_labels":
            return ", ".join(f"{name}: {json.dumps(value)}" for name, value in self.labels)
        if key == "runbook_base":
            return self.runbook_base
        if key == "stack":
            return self.stack
        kind, _, rest = key.partition(":")
        if kind == "threshold" and rest:
            if rest not in self.thresholds:
                raise PlaceholderError(f"%({key})s: team {self.team} has no alert '{rest}' with a threshold; "
                                       f"alerts with one: {', '.join(sorted(self.thresholds)) or 'none'}")
            return number(self.thresholds[rest])
        if kind == "for" and rest:
            match = re.fullmatch(r"([A-Za-z0-9]+)((?:[+-][0-9a-z]+)*)", rest)
            if not match or "".join(m.group(0) for m in _TERM.finditer(match.group(2))) != match.group(2):
                raise PlaceholderError(f"%({key})s: write for:<Alert>, optionally followed by +<duration> or -<duration>")
            alert, terms = match.groups()
            if alert not in self.fors:
                raise PlaceholderError(f"%({key})s: team {self.team} has no alert '{alert}'; "
                                       f"its alerts: {', '.join(sorted(self.fors))}")
            seconds = duration_seconds(self.fors[alert])
            for sign, duration in _TERM.findall(terms):
                seconds += duration_seconds(duration) * (1 if sign == "+" else -1)
            if seconds < 0:
                raise PlaceholderError(f"%({key})s: negative in stack {self.stack} ({self.fors[alert]} {terms})")
            return format_duration(seconds)
        raise PlaceholderError(
            f"%({key})s: unknown placeholder; allowed: %(selector)s, %(selector_labels)s, %(threshold:<Alert>)s, "
            "%(for:<Alert>[+-<duration>...])s, %(runbook_base)s, %(stack)s")


def format_duration(seconds: int) -> str:
    """330 -> `5m30s`, 0 -> `0s`: a Prometheus duration."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def _stack_config(stack: str) -> dict[str, str]:
    config, _ = config_from_file(stack_file(stack))  # Pulumi.yaml defaults + the stack file, no secrets
    return config


def _teams(config: dict[str, str]) -> dict[str, TeamSettings]:
    raw = json.loads(config.get(f"{PROJECT}:teams", "{}"))
    return {slug: TeamSettings.model_validate(settings or {}) for slug, settings in raw.items()}


def stack_teams(stack: str) -> dict[str, TeamSettings]:
    """The teams a committed stack deploys, with their settings (selector, overrides)."""
    return _teams(_stack_config(stack))


def context(stack: str, team: str) -> Context:
    config = _stack_config(stack)
    settings = _teams(config)[team]
    spec = load_team_spec(team)
    selector = ", ".join(s for s in (spec.selector, settings.selector) if s.strip())
    labels = []
    for m in promql_parser.parse("{" + selector + "}").matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            raise PlaceholderError(f"stack {stack}, team {team}: selector `{selector}` has a matcher on {m.name} that is "
                                   "not an equality; series in promtool tests need label values")
        labels.append((m.name, m.value))
    thresholds, fors = {}, {}
    for rule in spec.alerts:
        override = settings.overrides.get(rule.alert)
        threshold = override.threshold if override and override.threshold is not None else rule.threshold
        if threshold is not None:
            thresholds[rule.alert] = threshold
        fors[rule.alert] = override.for_ if override and override.for_ else rule.for_
    base = config.get(f"{PROJECT}:runbookBaseUrl", "")
    return Context(stack=stack, team=team, selector=selector, labels=tuple(labels), thresholds=thresholds,
                   fors=fors, runbook_base=base.rstrip("/"))


def substitute(template: str, ctx: Context) -> str:
    """Fill every %(...)s placeholder; other `%` (e.g. printf "%.2f" in annotations) stay as they are.

    Comment lines are left alone, so comments may show placeholders.
    """
    problems = []

    def fill(match: re.Match, number: int) -> str:
        try:
            return ctx.value(match.group(1))
        except PlaceholderError as e:
            problems.append(f"line {number}: {e}")
            return match.group(0)

    lines = [line if line.lstrip().startswith("#") else PLACEHOLDER.sub(lambda m: fill(m, number), line)
             for number, line in enumerate(template.splitlines(keepends=True), start=1)]
    if problems:
        raise PlaceholderError("; ".join(problems))
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# Preparing and running
# ---------------------------------------------------------------------------------------------

def prepare(stack: str, team: str, render_dir: Path) -> Path:
    """Write the team's tests for `stack` into render_dir/alert-tests/<team>.yaml, for render_dir/rules/<team>.yaml."""
    source = tests_path(team)
    where = source.relative_to(TEAMS_DIR.parent)
    rules = render_dir / "rules" / f"{team}.yaml"
    if not rules.exists():
        raise FileNotFoundError(f"{rules}: no rendered rules for team {team} in stack {stack}")
    if not source.exists():
        raise FileNotFoundError(f"{where}: missing; every team with alerts needs promtool tests (docs/alert-tests.md)")
    try:
        doc = yaml.safe_load(substitute(source.read_text(), context(stack, team)))
    except PlaceholderError as e:
        raise PlaceholderError(f"{where} (stack {stack}): {e}") from None
    except yaml.YAMLError as e:
        raise PlaceholderError(f"{where} (stack {stack}): not valid YAML once filled in: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise PlaceholderError(f"{where}: expected a promtool test file with a `tests:` list")
    doc = {"rule_files": [f"../rules/{team}.yaml"], **{k: v for k, v in doc.items() if k != "rule_files"}}
    out = render_dir / "alert-tests" / f"{team}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True))
    return out


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def check_rules(paths: list[Path]) -> subprocess.CompletedProcess:
    return run("check", "rules", *paths)


def start_tests(path: Path) -> subprocess.Popen:
    """`promtool test rules` on a filled-in test file, started in the background (read it with .communicate())."""
    return subprocess.Popen([promtool(), "test", "rules", path.name], cwd=path.parent, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run_tests(path: Path) -> subprocess.CompletedProcess:
    return run("test", "rules", path.name, cwd=path.parent)


# ---------------------------------------------------------------------------------------------
# Coverage: every alert fires at its time and stays silent or resolves
# ---------------------------------------------------------------------------------------------

def coverage_problems(tests: dict, rules: dict) -> list[str]:
    """What a filled-in test file misses for the alerts of a rendered rule file.

    Each alert needs, in one test group, a case where it fires at time F and a case where it is not
    firing one evaluation interval before F (so the `for` is respected); and a case where it is not
    firing, either later than a firing case of the same group (it resolved) or in a group where it
    never fires, at an eval_time past its `for` plus one interval (it stayed silent).
    """
    interval = duration_seconds(str(tests.get("evaluation_interval", "1m")))
    fors = {r["alert"]: duration_seconds(str(r.get("for", "0s")))
            for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    fires_on_time, silent = set(), set()
    for group in tests.get("tests", []):
        cases: dict[str, list[tuple[int, bool]]] = {}
        for case in group.get("alert_rule_test") or []:
            cases.setdefault(case["alertname"], []).append(
                (duration_seconds(str(case["eval_time"])), bool(case.get("exp_alerts"))))
        for alert, seen in cases.items():
            firing = [t for t, fires in seen if fires]
            quiet = [t for t, fires in seen if not fires]
            if any(f - interval in quiet for f in firing):
                fires_on_time.add(alert)
            if any(q > f for q in quiet for f in firing) or (
                    not firing and any(q >= fors.get(alert, 0) + interval for q in quiet)):
                silent.add(alert)
    problems = [f"{name}: tested, but no such alert in the rules (a typo passes `exp_alerts: []` silently)"
                for name in sorted({c["alertname"] for g in tests.get("tests", []) for c in g.get("alert_rule_test") or []}
                                   - set(fors))]
    for alert in fors:
        if alert not in fires_on_time:
            problems.append(f"{alert}: no case where it fires at eval_time F with a case not firing at F - "
                            f"{format_duration(interval)} in the same test")
        if alert not in silent:
            problems.append(f"{alert}: no case where it stays silent (after its for) or resolves")
    return problems


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.promtool", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--team", action="append", help="only these teams (repeatable); default: every team of the stack")
    parser.add_argument("--out", type=Path, help="render and write the filled-in tests here (default: a temporary folder)")
    args = parser.parse_args(argv)
    from components.model import ConfigError
    from tools.render import render, write

    try:
        promtool()
        run_ = render(args.stack)
    except (PromtoolMissing, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = args.out or Path(tempfile.mkdtemp(prefix=f"promtool-{args.stack}-"))
    write(run_, out)
    teams = args.team or sorted(p.stem for p in (out / "rules").glob("*.yaml"))
    failed = False
    checked = check_rules(sorted((out / "rules").glob("*.yaml")))
    print(checked.stdout + checked.stderr, end="")
    failed |= checked.returncode != 0
    for team in teams:
        try:
            path = prepare(args.stack, team, out)
        except (FileNotFoundError, PlaceholderError) as e:
            print(f"FAILED {args.stack}/{team}: {e}")
            failed = True
            continue
        problems = coverage_problems(yaml.safe_load(path.read_text()),
                                     yaml.safe_load((out / "rules" / f"{team}.yaml").read_text()))
        result = run_tests(path)
        ok = result.returncode == 0 and not problems
        print(f"{'ok    ' if ok else 'FAILED'} {args.stack}/{team}: {path}")
        if result.returncode != 0:
            print(result.stdout + result.stderr)
        for problem in problems:
            print(f"  coverage: {problem}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
