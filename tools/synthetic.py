"""Synthetic history for every team's metric contract, as OpenMetrics text for promtool's backfill.

    python -m tools.synthetic --out history.om      # then: promtool tsdb create-blocks-from openmetrics history.om DIR
    python -m tools.synthetic --data DIR            # backfilled, for: prometheus --storage.tsdb.path=DIR

For each stack and team: every series the contract allows, with the stack's selector labels
(`job`, `env`, ...) and two `instance`s. Counters grow monotonically at plausible rates;
gauges stay in plausible ranges (0/1 health gauges dip to 0 once, 20 minutes before the end,
so "last failure" queries find one); histograms have cumulative `_bucket{le}` series up to
`+Inf` (= `_count`) and `_sum`. Label values: the ones the team's queries filter on (equality
matchers and regex alternations such as `status="completed"`, `type=~"cache_hit|api_call"`),
otherwise sensible defaults (`status` of HTTP metrics: 200, 404, 500). Everything is
deterministic (seeded per series) so two runs write the same bytes for the same end time.
"""
from __future__ import annotations

import argparse
import itertools
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import promql_parser as pp
import yaml

from estate import promql
from estate.team import Metric
from dashboards.finalize import panels
from dashboards.importer import interpolate
from tools.lint import Contract, read_render, rendered_stacks, selector_name, team_contracts, walk
from tools.prometheus_server import binary

STEP_SECONDS = 15  # the stacks' Prometheus datasources say timeInterval: 15s
HISTORY_MINUTES = 120
FINE_MINUTES = 40  # the last 40 minutes at STEP_SECONDS, older history every COARSE_SECONDS
COARSE_SECONDS = 60
INSTANCES = 2
DIP_START, DIP_END = 20 * 60, 17 * 60  # seconds before the end: health gauges read 0 in between

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LONG_SECONDS_BUCKETS = (10, 30, 60, 120, 300, 600, 1800)
SCORE_BUCKETS = (300, 400, 500, 600, 700, 800, 900)

LABEL_DEFAULTS = {
    "method": ("GET", "POST"),
    "endpoint": ("/api/v1/items", "/health"),
    "model": ("model-a", "model-b"),
    "version": ("v1", "v2"),
    "stage": ("production", "staging"),
    "operation": ("read", "write"),
    "state": ("ESTABLISHED", "TIME_WAIT"),
    "check": ("database", "storage"),
    "partition": ("0", "1"),
    "topic": ("scoring-requests", "scoring-results"),
    "bucket": ("models", "datasets"),
    "feature": ("income", "debt_ratio"),
    "regulation": ("GDPR", "KYC"),
    "risk_level": ("low", "medium", "high"),
    "user_type": ("customer", "prospect"),
    "sentiment": ("positive", "neutral", "negative"),
    "problem_type": ("internet", "mobile", "other"),
    "severity": ("low", "high"),
    "task": ("understanding", "answer"),
    "source": ("cache", "elevenlabs"),
}
HTTP_STATUS = ("200", "404", "500")
STATUS_WEIGHTS = {"200": 1.0, "404": 0.05, "500": 0.02}


@dataclass
class TeamSource:
    """One team in one stack: its contract (with the stack's selector) and its rendered queries."""

    stack: str
    contract: Contract
    exprs: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Label values
# --------------------------------------------------------------------------------------------

# `a|b.c|d`: literal alternatives (a dot only inside a word, as in `v1.2`: `5..` is a pattern).
_LITERAL = r"[\w:/@ -]+(?:\.[\w:/@ -]+)*"
_ALTERNATION = re.compile(rf"^{_LITERAL}(?:\|{_LITERAL})*$")


def selector_labels(selector: str) -> dict[str, str]:
    """The labels a series needs to match `selector` (equality, or a regex's first alternative)."""
    labels = {}
    for name, op, value in sorted(promql.matchers(selector)):
        if op == str(pp.MatchOp.Equal):
            labels[name] = value
        elif op == str(pp.MatchOp.Re) and _ALTERNATION.match(value):
            labels[name] = value.split("|")[0]
    return labels


def queried_values(contract: Contract, exprs: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """(metric, label) -> the values queries select with `=` or a plain regex alternation."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    skip = contract.selector_labels | {"__name__"}
    for expr in exprs:
        try:
            root = promql.parse(expr)
        except ValueError:
            continue  # the query tests report it
        for node, _ in walk(root):
            if not isinstance(node, pp.VectorSelector):
                continue
            series = selector_name(node)
            if not series or series not in contract.series:
                continue
            metric = contract.series[series][0].name
            for m in node.matchers.matchers:
                if m.name in skip:
                    continue
                if m.op == pp.MatchOp.Equal:
                    values[(metric, m.name)].add(m.value)
                elif m.op == pp.MatchOp.Re and _ALTERNATION.match(m.value):
                    values[(metric, m.name)].update(m.value.split("|"))
    return values


def label_values(metric: Metric, label: str, queried: dict[tuple[str, str], set[str]]) -> list[str]:
    wanted = set(queried.get((metric.name, label), ()))
    if label == "status" and metric.name.startswith("http_") or label == "code":
        return sorted(wanted | set(HTTP_STATUS))
    if label in LABEL_DEFAULTS:
        return sorted(wanted | set(LABEL_DEFAULTS[label]))
    if len(wanted) == 1:
        wanted.add("other")  # a ratio `x{l="v"} / x` should not always read 100 %
    return sorted(wanted) or [f"{label}-a", f"{label}-b"]


# --------------------------------------------------------------------------------------------
# Value models
# --------------------------------------------------------------------------------------------

def _rng(key: str) -> random.Random:
    return random.Random(zlib.crc32(key.encode()))


def counter_rate(name: str) -> float:
    """A plausible per-second rate for one counter series."""
    n = name.lower()
    table = [
        ("cpu_seconds", 0.15), ("violation", 0.002), ("error", 0.02), ("calls_total", 0.01),
        ("tickets", 0.003), ("sentiment", 0.01), ("characters", 20.0), ("tokens", 15.0),
        ("audio_seconds", 1.2), ("elevenlabs_requests", 0.05), ("disk_operations", 40.0),
        ("created", 0.01), ("logins", 0.2), ("uploads", 0.05), ("chat_requests", 0.5),
        ("ai_model_calls", 0.5), ("scoring_requests", 2.0), ("requests", 5.0),
    ]
    return next((rate for key, rate in table if key in n), 1.0)


def histogram_shape(name: str) -> tuple[tuple[float, ...], float, float, float]:
    """(bucket bounds, median, log-sigma, observations per second) for a histogram."""
    n = name.lower()
    if "score" in n and "seconds" not in n:
        return SCORE_BUCKETS, 650.0, 0.12, 1.5
    if "call_duration" in n:
        return LONG_SECONDS_BUCKETS, 180.0, 0.6, 0.01
    table = [
        ("prediction", 0.05, 0.5, 2.0), ("db_operation", 0.008, 0.7, 10.0), ("upload", 1.5, 0.6, 0.05),
        ("chat_response", 1.2, 0.5, 0.5), ("llm", 0.6, 0.5, 0.1), ("stt", 0.3, 0.4, 0.1),
        ("tts", 0.2, 0.8, 0.1), ("http_request", 0.12, 0.8, 5.0),
    ]
    median, sigma, rate = next(((m, s, r) for key, m, s, r in table if key in n), (0.1, 0.8, 1.0))
    return SECONDS_BUCKETS, median, sigma, rate


def is_health_gauge(name: str) -> bool:
    return name == "up" or name.endswith(("_status", "_available", "_in_sync", "_up", "_healthy"))


def gauge_model(name: str, rng: random.Random) -> tuple[float, float, bool]:
    """(level, relative amplitude, integer) of a gauge."""
    n = name.lower()
    table = [
        ("limit_bytes", 2 * 1024 ** 3, 0.0, True), ("_bytes", 300e6, 0.15, True),
        ("accuracy", 0.91, 0.02, False), ("drift", 0.08, 0.3, False), ("importance", 0.1 + rng.random() * 0.3, 0.05, False),
        ("active_users", 120, 0.3, True), ("users", 5400, 0.01, True), ("clients", 800, 0.01, True),
        ("connections", 25, 0.4, True), ("active", 4, 0.6, True), ("in_progress", 6, 0.6, True),
    ]
    return next(((lv, amp, integer) for key, lv, amp, integer in table if key in n), (10.0, 0.3, False))


def _number(value: float) -> str:
    value = round(float(value), 4)
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------------------------

def _label_text(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))


def _series_sets(source: TeamSource, metric: Metric, queried) -> list[tuple[dict[str, str], bool]]:
    """Every label set of `metric`, and whether it is the one whose health dips (last instance, first set)."""
    base = selector_labels(source.contract.selector)
    job = base.get("job", source.contract.team)
    choices = [[(label, v) for v in label_values(metric, label, queried)]
               for label in metric.labels if label not in base and label not in ("instance", "le")]
    sets = []
    for i in range(INSTANCES):
        for n, combo in enumerate(itertools.product(*choices)):
            sets.append(({**base, "instance": f"{job}-{i + 1}:8000", **dict(combo)}, i == INSTANCES - 1 and n == 0))
    return sets


def _weight(labels: dict[str, str], metric: Metric) -> float:
    """How much of a counter's traffic one series has: HTTP errors are rarer than successes."""
    return STATUS_WEIGHTS.get(labels.get("status"), 1.0) if "status" in metric.labels else 1.0


def sample_times(end: int, minutes: int = HISTORY_MINUTES, step: int = STEP_SECONDS) -> list[int]:
    """Every `step` seconds over the last FINE_MINUTES, every COARSE_SECONDS before (half the samples)."""
    fine_start = end - min(minutes, FINE_MINUTES) * 60
    coarse = range(end - minutes * 60, fine_start, max(step, COARSE_SECONDS))
    return [*coarse, *range(fine_start, end + 1, step)]


def families(sources: Iterable[TeamSource], end: int, minutes: int = HISTORY_MINUTES,
             step: int = STEP_SECONDS) -> dict[str, tuple[str, str, list[str]]]:
    """OpenMetrics families: name -> (type, help, sample lines), every series `minutes` up to `end`."""
    times = sample_times(end, minutes, step)
    out: dict[str, tuple[str, str, list[str]]] = {}

    def family(name: str, kind: str, help_: str) -> list[str]:
        if name not in out:
            out[name] = (kind, help_, [])
        return out[name][2]

    for source in sources:
        queried = queried_values(source.contract, source.exprs)
        for metric in source.contract.metrics.values():
            for labels, dips in _series_sets(source, metric, queried):
                key = f"{source.stack}/{metric.name}/{_label_text(labels)}"
                rng = _rng(key)
                if metric.type == "counter":
                    name = metric.name[:-len("_total")] if metric.name.endswith("_total") else metric.name
                    lines = family(name, "counter" if metric.name.endswith("_total") else "unknown", metric.help)
                    _counter(lines, metric.name, labels, times, counter_rate(metric.name) * _weight(labels, metric), rng)
                elif metric.type in ("histogram", "summary"):
                    lines = family(metric.name, metric.type, metric.help)
                    extra = {float(v) for v in queried.get((metric.name, "le"), ()) if _is_number(v)}
                    _histogram(lines, metric, labels, times, rng, extra)
                else:  # gauge, info (exposed as a gauge that is always 1)
                    lines = family(metric.name, "gauge", metric.help)
                    _gauge(lines, metric, labels, times, end, rng, dips)
    return out


def _counter(lines: list[str], name: str, labels: dict, times: list[int], rate: float, rng: random.Random) -> None:
    text = _label_text(labels)
    value = float(int(rate * 3600 * (1 + rng.random())))  # the process has been up for a while
    previous = times[0]
    for t in times:
        value += rate * (t - previous) * (0.5 + rng.random())
        previous = t
        lines.append(f"{name}{{{text}}} {_number(value)} {t}")


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1 + math.erf((math.log(x) - math.log(median)) / (sigma * math.sqrt(2))))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _histogram(lines: list[str], metric: Metric, labels: dict, times: list[int], rng: random.Random,
               extra_bounds: set[float]) -> None:
    bounds, median, sigma, rate = histogram_shape(metric.name)
    bounds = tuple(sorted(set(bounds) | extra_bounds))  # `le="0.3"` in a query: a bucket at 0.3
    median *= 0.8 + 0.4 * rng.random()
    mean = median * math.exp(sigma ** 2 / 2)
    fractions = [_lognormal_cdf(b, median, sigma) for b in bounds]
    count = float(int(rate * 3600 * (1 + rng.random())))
    cumulative = [count * f for f in fractions]
    total = count * mean
    text = _label_text(labels)
    sep = "," if text else ""
    name = metric.name
    previous = times[0]
    for t in times:
        n = rate * (t - previous) * (0.5 + rng.random())
        previous = t
        count += n
        total += n * mean * (0.8 + 0.4 * rng.random())
        if metric.type == "histogram":
            for i, b in enumerate(bounds):
                cumulative[i] += n * fractions[i]
                lines.append(f'{name}_bucket{{{text}{sep}le="{_number(b)}"}} {_number(cumulative[i])} {t}')
            lines.append(f'{name}_bucket{{{text}{sep}le="+Inf"}} {_number(count)} {t}')
        else:
            for q, z in (("0.5", 0.0), ("0.9", 1.2816), ("0.99", 2.3263)):
                lines.append(f'{name}{{{text}{sep}quantile="{q}"}} {_number(median * math.exp(z * sigma))} {t}')
        lines.append(f"{name}_sum{{{text}}} {_number(total)} {t}")
        lines.append(f"{name}_count{{{text}}} {_number(count)} {t}")


def _gauge(lines: list[str], metric: Metric, labels: dict, times: list[int], end: int, rng: random.Random,
           dips: bool) -> None:
    text = _label_text(labels)
    name = metric.name
    if metric.type == "info":
        lines.extend(f"{name}{{{text}}} 1 {t}" for t in times)
        return
    if is_health_gauge(name):
        # One series per metric, stack and team reads 0 for a few minutes: a failure to find.
        for t in times:
            down = dips and end - DIP_START <= t < end - DIP_END
            lines.append(f"{name}{{{text}}} {0 if down else 1} {t}")
        return
    level, amplitude, integer = gauge_model(name, rng)
    phase = rng.random() * 2 * math.pi
    for t in times:
        value = level * (1 + amplitude * (0.6 * math.sin(t / 1800 + phase) + 0.4 * (rng.random() * 2 - 1)))
        value = max(value, 0.0)
        lines.append(f"{name}{{{text}}} {_number(round(value) if integer else value)} {t}")


def openmetrics(sources: Iterable[TeamSource], end: int, minutes: int = HISTORY_MINUTES,
                step: int = STEP_SECONDS) -> str:
    """The whole history as one OpenMetrics exposition (families contiguous, `# EOF` last)."""
    parts = []
    for name, (kind, help_, lines) in sorted(families(sources, end, minutes, step).items()):
        parts.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n")
        parts.append("\n".join(lines))
        parts.append("\n")
    parts.append("# EOF\n")
    return "".join(parts)


def series_count(text: str) -> int:
    return len({line.rsplit(" ", 2)[0] for line in text.splitlines() if line and not line.startswith("#")})


def backfill(texts: Iterable[str], data_dir: Path, promtool: str) -> None:
    """Write each OpenMetrics text as TSDB blocks into `data_dir`, before a server opens it.

    One `promtool` (the executable, e.g. tools.prometheus_server.binary("promtool")) per text,
    each started as soon as its text is written (generation of the next text overlaps the previous
    conversion); each writes into its own folder, whose blocks then move into `data_dir` (blocks of
    different series may overlap in time: Prometheus merges them).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".backfill-", dir=data_dir.parent))
    running: list[tuple[subprocess.Popen, Path, Path]] = []
    try:
        for i, text in enumerate(texts):
            source, out = work / f"{i}.om", work / f"blocks-{i}"
            source.write_text(text)
            running.append((subprocess.Popen(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(out)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), source, out))
        failures = []
        for process, source, out in running:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append(f"{source.name}: exit {process.returncode}: {output[-2000:]}")
                continue
            for block in out.iterdir():
                if block.is_dir():
                    block.rename(data_dir / block.name)
        if failures:
            raise RuntimeError("promtool tsdb create-blocks-from openmetrics failed:\n" + "\n".join(failures))
    finally:
        for process, _, _ in running:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)


def sources_for(stack: str, render_dir: Path) -> list[TeamSource]:
    """Each team of a rendered stack, with the queries of its dashboards and rules."""
    contracts = team_contracts(stack)
    exprs: dict[str, list[str]] = defaultdict(list)
    for board in read_render(render_dir)[1]:
        for panel in panels(board.board):
            exprs[board.team] += [interpolate(t["expr"], board.board) for t in panel.get("targets") or [] if t.get("expr")]
    for rules in sorted((render_dir / "rules").glob("*.yaml")):
        for group in (yaml.safe_load(rules.read_text()) or {}).get("groups") or []:
            exprs[rules.stem] += [r["expr"] for r in group.get("rules") or [] if r.get("expr")]
    return [TeamSource(stack, contract, exprs.get(slug, [])) for slug, contract in sorted(contracts.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.synthetic", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="OpenMetrics file to write (every stack)")
    where.add_argument("--data", type=Path, help="TSDB folder to backfill, for prometheus --storage.tsdb.path")
    parser.add_argument("--minutes", type=int, default=HISTORY_MINUTES)
    parser.add_argument("--step", type=int, default=STEP_SECONDS)
    args = parser.parse_args(argv)
    end = int(time.time()) // args.step * args.step
    per_stack = {stack: sources_for(stack, folder) for stack, folder in rendered_stacks().items()}
    if args.out:
        text = openmetrics([s for sources in per_stack.values() for s in sources], end, args.minutes, args.step)
        args.out.write_text(text)
        print(f"{series_count(text)} series, {args.minutes} min, ending {end}: {args.out}")
    else:
        backfill((openmetrics(sources, end, args.minutes, args.step) for sources in per_stack.values()),
                 args.data, binary("promtool"))
        print(f"{', '.join(per_stack)}: {args.minutes} min ending {end} backfilled into {args.data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
