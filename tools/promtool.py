"""Run each team's promtool unit tests (teams/<slug>/alerts_test.yaml) against a stack's rendered rules.

    python -m tools.promtool --stack prod [--team voicebot] [--out DIR]

A team writes its tests once, in promtool's own format, with placeholders this runner fills in
per stack (docs/alert-tests.md):

    %(selector)s            the team's selector in this stack:   job="voicebot", env="prod"
    %(selector_labels)s     the same as YAML flow-map entries:   job: "voicebot", env: "prod"
    %(selector:kafka)s      a source's selector (team.yaml `sources`, an exporter's job), and
    %(selector_labels:kafka)s  the same as YAML flow-map entries
    %(threshold:Alert)s     the alert's threshold in this stack: 0.3
    %(for:Alert)s           the alert's `for` in this stack:     15m
    %(for:Alert+3m)s        ... plus/minus durations:            18m
    %(runbook_base)s        the stack's runbookBaseUrl:          https://runbooks.acme-corp.com/prod
    %(stack)s               the stack's name

The values come from the stack's estate as the program's own loader resolves it (estate/resolve.py:
each team's rules with the stack file's threshold and `for` overrides, and its selector extension),
not from the render: the rendered rules are what promtool tests, so a render that lost an override
fails the tests. Placeholders are filled by the project's one substitution (syntax/template.py).
The filled-in file goes to DIR/alert-tests/<team>.yaml with `rule_files: [../rules/<team>.yaml]`,
next to the rules `python -m tools.render` wrote, and `promtool test rules` runs on its parts, each
against the rules of the alerts its groups name (split_by_alerts): the same verdicts, less work.
With --out, DIR gets the render and the filled-in tests only once the run has written all of them
(tests that fail included): a run interrupted or failed before leaves DIR as it was.
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

import promql_parser as pp
import yaml

from estate import PROJECT_LAYOUT, Rule
from estate.files import SAFE_DUMPER, SAFE_LOADER, load_yaml, read_text
from syntax import promql, template
from estate.model import ConfigError, duration_seconds
from estate.stack import TeamSettings
from tools.mocks import Run
from tools.prometheus_server import PrometheusMissing, binary, go_env
from tools import command, first_line, once, os_error_text, shown_path
from tools.render import OutError, _Staging, committed, rules_file_text, write

TEST_FILE = "alerts_test.yaml"
_DURATION = r"[0-9]+(?:ms|[ywdhms])(?:[0-9]+(?:ms|[ywdhms]))*"  # 1h, 1h30m
_FOR = re.compile(rf"([A-Za-z0-9]+)((?:[+-]{_DURATION})*)")  # for:<Alert>[+-<duration>...]
_TERM = re.compile(rf"([+-])({_DURATION})")


class PlaceholderError(ValueError):
    pass


def tests_path(team: str) -> Path:
    return PROJECT_LAYOUT.team_dir(team) / TEST_FILE


# ---------------------------------------------------------------------------------------------
# What the placeholders stand for in one stack
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """The values a team's test file may refer to, in one stack."""

    stack: str
    team: str
    selector: str
    sources: dict[str, str]               # the team's sources' selectors in this stack
    rules: dict[str, Rule]                # the team's rules in this stack, overrides applied
    runbook_base: str

    def _selector(self, key: str) -> str:
        kind, _, source = key.partition(":")
        if not source:
            return self.selector
        if source not in self.sources:
            raise PlaceholderError(f"%({key})s: team {self.team} has no source '{source}'; "
                                   f"its sources: {', '.join(sorted(self.sources)) or 'none'}")
        return self.sources[source]

    def labels(self, key: str = "selector") -> tuple[tuple[str, str], ...]:
        """A selector's matchers as label values (series in promtool tests need values: equality only)."""
        selector = self._selector(key)
        labels = []
        for m in promql.matchers(selector):
            if m.op != "=":
                raise PlaceholderError(f"stack {self.stack}, team {self.team}: selector `{selector}` has a matcher on "
                                       f"{m.name} that is not an equality; series in promtool tests need label values")
            labels.append((m.name, m.value))
        return tuple(labels)

    def value(self, key: str) -> str:
        kind = key.partition(":")[0]
        if kind == "selector":
            return self._selector(key)
        if kind == "selector_labels":
            return ", ".join(f"{name}: {json.dumps(value)}" for name, value in self.labels(key.replace("_labels", "")))
        if key == "runbook_base":
            return self.runbook_base
        if key == "stack":
            return self.stack
        kind, _, rest = key.partition(":")
        if kind == "threshold" and rest:
            thresholds = {name: r.threshold for name, r in self.rules.items() if r.threshold is not None}
            if rest not in thresholds:
                raise PlaceholderError(f"%({key})s: team {self.team} has no alert '{rest}' with a threshold; "
                                       f"alerts with one: {', '.join(sorted(thresholds)) or 'none'}")
            return promql.number(thresholds[rest])
        if kind == "for" and rest:
            match = _FOR.fullmatch(rest)
            if not match:
                raise PlaceholderError(f"%({key})s: write for:<Alert>, optionally followed by +<duration> or -<duration>")
            alert, terms = match.groups()
            if alert not in self.rules:
                raise PlaceholderError(f"%({key})s: team {self.team} has no alert '{alert}'; "
                                       f"its alerts: {', '.join(sorted(self.rules))}")
            for_ = self.rules[alert].for_
            seconds = duration_seconds(for_)
            for sign, duration in _TERM.findall(terms):
                seconds += duration_seconds(duration) * (1 if sign == "+" else -1)
            if seconds < 0:
                raise PlaceholderError(f"%({key})s: negative in stack {self.stack} ({for_} {terms})")
            return format_duration(seconds)
        raise PlaceholderError(
            f"%({key})s: unknown placeholder; allowed: %(selector)s, %(selector_labels)s, %(selector:<source>)s, "
            "%(selector_labels:<source>)s, %(threshold:<Alert>)s, "
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


def stack_teams(stack: str) -> dict[str, TeamSettings]:
    """The teams a committed stack deploys, with their settings (selector, overrides)."""
    return {t.slug: t.settings for t in committed(stack).run.estate.teams}


def context(stack: str, team: str) -> Context:
    estate = committed(stack).run.estate
    resolved = {t.slug: t for t in estate.teams}[team]  # selector extended, overrides applied
    ctx = Context(stack=stack, team=team, selector=resolved.selector, sources=dict(resolved.sources),
                  rules={r.alert: r for r in resolved.rules}, runbook_base=estate.config.runbook_base_url.rstrip("/"))
    ctx.labels()  # the team's own selector must give label values, whatever the file uses
    return ctx


def substitute(text: str, ctx: Context) -> str:
    """Fill every %(...)s placeholder; other `%` (e.g. printf "%.2f" in annotations) stay as they are.

    Comment lines are left alone, so comments may show placeholders.
    """
    problems = []

    def value(name: str, number: int) -> str | None:
        try:
            return ctx.value(name)
        except PlaceholderError as e:
            problems.append(f"line {number}: {e}")
            return None  # kept as written; the problems stop the run

    lines = [line if line.lstrip().startswith("#")
             else template.fill(line, lambda name: value(name, number), keep_unknown=True)
             for number, line in enumerate(text.splitlines(keepends=True), start=1)]
    if problems:
        raise PlaceholderError("; ".join(problems))
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# Preparing and running
# ---------------------------------------------------------------------------------------------

def prepare(stack: str, team: str, render_dir: Path) -> Path:
    """Write the team's tests for `stack` into render_dir/alert-tests/<team>.yaml, for render_dir/rules/<team>.yaml."""
    source = tests_path(team)
    where = PROJECT_LAYOUT.relative(source)
    rules = render_dir / "rules" / f"{team}.yaml"
    if not rules.exists():
        raise FileNotFoundError(f"{rules}: no rendered rules for team {team} in stack {stack}")
    if not source.exists():
        raise FileNotFoundError(f"{where}: missing; every team with alerts needs promtool tests (docs/alert-tests.md)")
    try:
        # the program's own reader: a key given twice would otherwise keep only its last case
        doc = load_yaml(substitute(read_text(source, where), context(stack, team)), where)
    except PlaceholderError as e:
        raise PlaceholderError(f"{where} (stack {stack}): {e}") from None
    except ConfigError as e:  # its lines are the file's: a placeholder is filled in on its own line
        raise PlaceholderError(f"{where} (stack {stack}): "
                               + "; ".join(f"{at}: {problem}" if at else problem for at, problem in e.problems)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise PlaceholderError(f"{where}: expected a promtool test file with a `tests:` list")
    doc = {"rule_files": [f"../rules/{team}.yaml"], **{k: v for k, v in doc.items() if k != "rule_files"}}
    out = render_dir / "alert-tests" / f"{team}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dump(doc), encoding="utf-8")
    return out


def check_rules(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), "check", "rules", *map(str, paths)], capture_output=True, text=True,
                          timeout=120, env=go_env())


def start_tests(path: Path) -> subprocess.Popen:
    """`promtool test rules` on a filled-in test file's parts (split_by_alerts), started in the
    background (read it with .communicate()): one process, one verdict."""
    parts = split_by_alerts(path)
    return subprocess.Popen([binary("promtool"), "test", "rules", *(str(p.relative_to(path.parent)) for p in parts)],
                            cwd=path.parent, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=go_env())


MAX_PARTS = 100  # the five teams' files make 5 to 10 parts

# What lets one alert rule see another's result: a recorded series, or the ALERTS and
# ALERTS_FOR_STATE series alerts write, read by an expression or by a template's `query`.
_ALERT_SERIES = re.compile(r"\bALERTS(?:_FOR_STATE)?\b")


def split_by_alerts(path: Path) -> list[Path]:
    """A filled-in test file as the parts promtool gives the same verdicts on, with less work.

    promtool evaluates every rule of the rule file at every step of every test group, whatever the
    group asserts: mlops-scoring's 6-hour SLO group evaluated its 7 other alerts 360 times, and its
    guard fired 7 alerts at each step (2.3 s of CPU a stack for the team's file, 0.9 s split).
    When no rule can see another's result (no recording rule, no rule that mentions ALERTS or
    ALERTS_FOR_STATE) and no group queries the rules' output itself (`promql_expr_test`), an alert's
    state at each step is the same with or without the other rules (and the file sets no
    `group_eval_order`, which names rule groups a part may not have). Then the groups that name the
    same alerts make one part, <team>/<n>.yaml, run against <team>/<n>.rules.yaml: those alerts'
    rules only, in their own rule groups with the groups' settings. Otherwise the file is its one part.
    """
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    (rule_file,) = doc["rule_files"]
    rules = yaml.load((path.parent / rule_file).read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    every = [rule for group in rules.get("groups") or [] for rule in group.get("rules") or []]
    folder = path.parent / path.stem
    shutil.rmtree(folder, ignore_errors=True)  # the parts of an earlier run into the same folder
    named = [_named_alerts(group) for group in doc["tests"]]
    if (any("alert" not in rule or _ALERT_SERIES.search(json.dumps(rule)) for rule in every) or None in named
            or "group_eval_order" in doc):  # it names the rule groups, which a part may not have
        return [path]
    by_alerts: dict[frozenset[str], list[dict]] = {}
    for alerts, group in zip(named, doc["tests"]):
        by_alerts.setdefault(alerts, []).append(group)
    if not 1 <= len(by_alerts) <= MAX_PARTS:  # none: promtool says so; thousands (1 MiB holds them): not as files
        return [path]
    folder.mkdir()
    parts = []
    for number, (alerts, groups) in enumerate(by_alerts.items(), start=1):
        part_rules = {"groups": [{**group, "rules": kept} for group in rules.get("groups") or []
                                 if (kept := [rule for rule in group.get("rules") or [] if rule["alert"] in alerts])]}
        (folder / f"{number}.rules.yaml").write_text(rules_file_text(part_rules), encoding="utf-8")
        part = folder / f"{number}.yaml"
        part.write_text(_dump({**doc, "rule_files": [f"{number}.rules.yaml"], "tests": groups}), encoding="utf-8")
        parts.append(part)
    return parts


def each_output_once(output: str) -> str:
    """promtool's report on a file's parts with what several parts said alike (a broken
    evaluation_interval fails every part in the same words) shown once, naming those parts."""
    before, *reports = re.split(r"^Unit Testing: +(.*)\n", output, flags=re.MULTILINE)
    parts: dict[str, list[str]] = {}  # what a part said -> the parts that said it, in promtool's order
    for part, said in zip(reports[::2], reports[1::2]):
        parts.setdefault(said, []).append(part)
    return before + "".join(f"Unit Testing:  {', '.join(names)}{f' ({len(names)} parts)' if len(names) > 1 else ''}"
                            f"\n{said}" for said, names in parts.items())


def _named_alerts(group: object) -> frozenset[str] | None:
    """The alerts a test group asserts; None where it queries the rules' output itself
    (`promql_expr_test`) or is not shaped as promtool reads it (promtool then says what is wrong)."""
    if not isinstance(group, dict) or group.get("promql_expr_test"):
        return None
    cases = group.get("alert_rule_test") or []
    if not isinstance(cases, list) or not all(isinstance(c, dict) and isinstance(c.get("alertname"), str) for c in cases):
        return None
    return frozenset(c["alertname"] for c in cases)


def _dump(doc: dict) -> str:
    return yaml.dump(doc, Dumper=SAFE_DUMPER, sort_keys=False, width=120, allow_unicode=True)


# ---------------------------------------------------------------------------------------------
# Coverage: every alert fires at its time and stays silent or resolves
# ---------------------------------------------------------------------------------------------

# One item of promtool's series notation (`values: '1 _x3 0+10x5 stale'`): `_` or `_xN` (N missing
# samples), `stale`, a number, or `a+bxN` / `a-bxN` / `axN` (N + 1 samples); as promql/parser's lexer
# reads a series description: decimal numbers (`5.`, `.5`, `1e3`; no hex there), and Inf or NaN alone
# (`Infx3` is one identifier to it, which it refuses).
_DECIMAL = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_SERIES_ITEM = re.compile(rf"(?P<missing>_)(?:x(?P<missing_times>[0-9]+))?|(?P<stale>stale)"
                          rf"|[+-]?(?:[iI][nN][fF]|[nN][aA][nN])"
                          rf"|[+-]?{_DECIMAL}(?:[+-]{_DECIMAL})?(?:x(?P<times>[0-9]+))?")


def _extent(values: object) -> tuple[int, int | None] | None:
    """A series' `values` as promtool expands them: (its slots, the slot of its last sample, None when it
    has none); None when the notation is not readable here (promtool then says its own words)."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):  # `values: 1`: Go's YAML reads "1"
        values = str(values)
    slot, last = 0, None
    for item in (values if isinstance(values, str) else "").split():  # promtool reads none as no samples
        match = _SERIES_ITEM.fullmatch(item)
        if match is None:
            return None
        if match["missing"]:
            slot += int(match["missing_times"] or 1)
        elif match["stale"]:  # the series ends here; its last sample stays the one before
            slot += 1
        else:
            slot += int(match["times"]) + 1 if match["times"] else 1
            last = slot - 1
    return slot, last


def input_ends(group: dict, interval: int) -> list[tuple[str | None, float | None]]:
    """(metric name, seconds from the test's start to its last sample) of each input series of a test
    group: None for a series with no sample, inf where the notation is not readable here (promtool then
    says its own words)."""
    ends = []
    for series in group.get("input_series") or []:
        extent = _extent(series.get("values") if isinstance(series, dict) else None)
        metric = _series_metric(series.get("series")) if isinstance(series, dict) else None
        ends.append((metric, float("inf") if extent is None else None if extent[1] is None else extent[1] * interval))
    return ends


def _series_metric(series: object) -> str | None:
    """The metric name of an input series as promtool's notation writes it: `up{job="a"}`, `{__name__="up"}`."""
    text = str(series).strip()
    if name := re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        return name.group()
    quoted = re.search(r"__name__\s*=\s*\"([^\"]*)\"", text)
    return quoted.group(1) if quoted else None


def alert_metrics(rules: dict) -> dict[str, frozenset[str] | None]:
    """Each alert's metric names (of every rule of that name; a recording rule's name stands for the
    metrics of its expression); None where an expression names none that can be read (a regex on
    __name__, an expression that does not parse): then every series counts."""
    def names(expr: object) -> set[str | None]:
        try:
            return {promql.selector_name(n) for n, _ in promql.walk(promql.parse(str(expr)))
                    if isinstance(n, pp.VectorSelector)}
        except ValueError:
            return {None}

    rules_of = [r for g in rules.get("groups", []) for r in g.get("rules", [])]
    recorded = {r["record"]: names(r.get("expr", "")) for r in rules_of if "record" in r}
    found: dict[str, frozenset[str] | None] = {}
    for rule in (r for r in rules_of if "alert" in r):
        named, todo = set(), list(names(rule.get("expr", "")))
        while todo:
            name = todo.pop()
            if name in recorded and name not in named:
                todo += recorded[name]
            named.add(name)
        known = found.get(rule["alert"], frozenset())
        found[rule["alert"]] = None if None in named or known is None else known | named
    return found


MAX_SAMPLES = 100_000  # of one input series: promtool holds them all (`1x99999999999` took every GiB there was)


def size_problems(tests: dict) -> list[str]:
    """The input series of a filled-in test file that expand to more than MAX_SAMPLES samples: promtool
    is not started on such a file."""
    problems = []
    for number, group in enumerate(tests.get("tests") or [], start=1):
        for series in (group.get("input_series") or []) if isinstance(group, dict) else []:
            extent = _extent(series.get("values") if isinstance(series, dict) else None)
            if extent is not None and extent[0] > MAX_SAMPLES:
                name = str(series.get("series", "?"))[:80]
                problems.append(f"test group {number} ({str(group.get('name', 'unnamed'))[:80]}): series {name} "
                                f"expands to more than {MAX_SAMPLES:,} samples; a test needs a few hundred")
    return problems


def coverage_problems(tests: dict, rules: dict) -> list[str]:
    """What a filled-in test file misses for the alerts of a rendered rule file.

    Each alert needs, in one test group, a case where it fires at time F and a case where it is not
    firing one evaluation interval before F (so the `for` is respected); and a case where it is not
    firing, either later than a firing case of the same group (it resolved) or in a group where it
    never fires, at an eval_time past its `for` plus one interval (it stayed silent). A case that is
    not firing counts only while the group's input of the alert's metrics still has samples: past
    their last sample, the alert is silent for want of data, which proves nothing of its condition.
    """
    interval = duration_seconds(str(tests.get("evaluation_interval", "1m")))
    fors = {r["alert"]: duration_seconds(str(r.get("for", "0s")))
            for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    metrics = alert_metrics(rules)
    fires_on_time, silent = set(), set()
    problems, tested = [], set()
    for number, group in enumerate(tests.get("tests") or [], start=1):
        # a case promtool cannot read is named here, and promtool says its own words on the file
        if not isinstance(group, dict) or not isinstance(group.get("alert_rule_test") or [], list):
            problems.append(f"test group {number}: not a promtool test group (a mapping whose alert_rule_test "
                            "is a list of cases)")
            continue
        ends = input_ends(group, duration_seconds(str(group.get("interval") or tests.get("evaluation_interval", "1m"))))
        cases: dict[str, list[tuple[int, bool]]] = {}
        for index, case in enumerate(group.get("alert_rule_test") or [], start=1):
            if not (isinstance(case, dict) and isinstance(case.get("alertname"), str) and "eval_time" in case):
                problems.append(f"test group {number} ({str(group.get('name', 'unnamed'))[:80]}), case {index}: "
                                "a case gives alertname and eval_time")
                continue
            tested.add(case["alertname"])
            cases.setdefault(case["alertname"], []).append(
                (duration_seconds(str(case["eval_time"])), bool(case.get("exp_alerts"))))
        for alert, seen in cases.items():
            firing = [t for t, fires in seen if fires]
            quiet = [t for t, fires in seen if not fires]
            if any(f - interval in quiet for f in firing):
                fires_on_time.add(alert)
            own = metrics.get(alert)  # another series running on proves nothing of the alert
            end = max((e for m, e in ends if e is not None and (own is None or m in own)), default=None)
            quiet = [t for t in quiet if end is not None and t <= end]
            if any(q > f for q in quiet for f in firing) or (
                    not firing and any(q >= fors.get(alert, 0) + interval for q in quiet)):
                silent.add(alert)
    problems += [f"{name}: tested, but no such alert in the rules (a typo passes `exp_alerts: []` silently)"
                 for name in sorted(tested - set(fors))]
    for alert in fors:
        if alert not in fires_on_time:
            problems.append(f"{alert}: no case where it fires at eval_time F with a case not firing at F - "
                            f"{format_duration(interval)} in the same test")
        if alert not in silent:
            problems.append(f"{alert}: no case where it stays silent (after its for) or resolves while "
                            "its test's input still has samples")
    return problems


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.promtool", description=first_line(__doc__))
    parser.add_argument("--stack", required=True, action=once())
    parser.add_argument("--team", action="append", help="only these teams (repeatable); default: every team of the stack")
    parser.add_argument("--out", action=once(), type=Path,
                        help="render and write the filled-in tests here (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    try:
        binary("promtool")
        rendered = committed(args.stack).run  # the one render context() reads too
    except (PrometheusMissing, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    teams = sorted(t.slug for t in rendered.estate.teams)
    unknown = [team for team in args.team or () if team not in teams]  # a name, never a path (`../x`)
    if unknown:
        print(f"error: --team {unknown[0][:60]}: no such team in stack {args.stack}; its teams: {', '.join(teams)}",
              file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix=f"promtool-{args.stack}-") as tmp:
            work = Path(tmp) / "render"
            if not args.out:
                return _check(args.stack, args.team, rendered, work)
            # The run writes aside and --out gets the render with its tests in one commit: written into
            # --out as it went, an interrupted run left a render whose alert-tests/ were half there.
            with _Staging(args.out) as staging:  # refuses an --out before anything runs (check_out)
                status = _check(args.stack, args.team, rendered, work, kept=args.out)
                if (tests := work / "alert-tests").is_dir():  # none when no team's file could be filled in
                    shutil.move(tests, staging.staging_folder() / "alert-tests")
                staging.commit(rendered)
            return status
    except OutError as e:  # refused before anything is written (tools.render.check_out)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # what reads the report went away (`| head`): command() says nothing, as it should
        raise
    except OSError as e:
        left = f"; --out {shown_path(args.out)} is left as it was" if args.out else ""
        print(f"error: cannot write the render or the tests ({os_error_text(e)}){left}", file=sys.stderr)
        return 1


def _check(stack: str, teams: list[str] | None, rendered: Run, out: Path, kept: Path | None = None) -> int:
    """Write the render into `out`, check its rules and run the teams' tests; 1 if anything failed.

    Each team's line names the filled-in test file as it will be in `kept` (the --out the run's
    files then go to), its source file when they are not kept.
    """
    write(rendered, out)
    # each team once: `--team x --team x` would start two promtools on the parts one of them rewrites
    teams = list(dict.fromkeys(teams)) if teams else sorted(p.stem for p in (out / "rules").glob("*.yaml"))
    failed = False
    checked = check_rules(sorted((out / "rules").glob("*.yaml")))
    print(checked.stdout + checked.stderr, end="")
    failed |= checked.returncode != 0
    # (team, its filled-in file or why it could not be filled in, coverage problems, its promtool)
    started: list[tuple[str, Path | str, list[str], subprocess.Popen | None]] = []
    try:
        for team in teams:  # every team's promtool starts at once; the lines come in the teams' order
            try:
                path = prepare(stack, team, out)
            except (FileNotFoundError, PlaceholderError) as e:
                started.append((team, str(e), [], None))
                continue
            tests = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
            if too_large := size_problems(tests):
                started.append((team, f"{PROJECT_LAYOUT.relative(tests_path(team))}: {too_large[0]}", [], None))
                continue
            problems = coverage_problems(
                tests, yaml.load((out / "rules" / f"{team}.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER))
            started.append((team, path, problems, start_tests(path)))
        for team, path, problems, process in started:
            if process is None:
                print(f"FAILED {stack}/{team}: {path}")
                failed = True
                continue
            output, _ = process.communicate(timeout=120)
            ok = process.returncode == 0 and not problems
            shown = kept / path.relative_to(out) if kept else PROJECT_LAYOUT.relative(tests_path(team))
            print(f"{'ok    ' if ok else 'FAILED'} {stack}/{team}: {shown}")
            if process.returncode != 0:
                print(each_output_once(output))
            for problem in problems:
                print(f"  coverage: {problem}")
            failed |= not ok
    finally:
        for *_, process in started:  # never left running: a timeout, Ctrl-C
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    command(main)
