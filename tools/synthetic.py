"""Synthetic history for every team's metric contract, as OpenMetrics text for promtool's backfill.

    python -m tools.synthetic --out history.om      # then: promtool tsdb create-blocks-from openmetrics history.om DIR
    python -m tools.synthetic --data DIR            # backfilled, for: prometheus --storage.tsdb.path=DIR
    python -m tools.synthetic --out history.om --end 2024-05-01T12:00:00Z   # the same bytes on every run

For each stack and team: every series the contract allows, with the stack's selector labels
(`job`, `env`, ...) and two `instance`s. What the series look like comes from the contract itself
(teams/<slug>/team.yaml, per metric): `values` (label values, as a map with each value's share
of a counter's traffic), `rate` (a counter's increase per second, a histogram's observations
per second), `range` (where a gauge's values or most of a histogram's observations lie; a gauge
with range [0, 1] is a 0/1 flag) and `buckets` (a histogram's bounds). Nothing here knows a team:
without hints a counter grows 1/s, a gauge stays near 10, a histogram uses the Prometheus
clients' default buckets. Counters grow monotonically; 0/1 flags dip to 0 once, 20 minutes
before the end, so "last failure" queries find one; histograms have cumulative `_bucket{le}`
series up to `+Inf` (= `_count`) and `_sum`. Label values the team's queries filter on
(`status="completed"`, `type=~"cache_hit|api_call"`) are added. Everything is deterministic
(seeded per series) so two runs write the same bytes for the same end time: the history ends now
unless `--end` says when (RFC 3339 or Unix seconds, as Prometheus reads a time); either way its
last sample is at the latest multiple of `--step` seconds not after it.
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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

import promql_parser as pp
import yaml

from dashboards.finalize import panels
from syntax import promql
from estate.contract import Contract, contracts
from estate.files import SAFE_LOADER  # libyaml: the render wrote these files
from estate.team import Metric
from dashboards.importer import interpolate
from tools import command, first_line, once, shown_path, whole_number, write_whole
from tools.prometheus_server import PrometheusMissing, binary, go_env
from tools.render import committed, input_folder, read_render, rendered_stacks

STEP_SECONDS = 15  # the stacks' Prometheus datasources say timeInterval: 15s
HISTORY_MINUTES = 120
FINE_MINUTES = 40  # the last 40 minutes at STEP_SECONDS, older history every COARSE_SECONDS
COARSE_SECONDS = 60
INSTANCES = 2
DIP_START, DIP_END = 20 * 60, 17 * 60  # seconds before the end: 0/1 flags read 0 in between

# Without hints in the contract: the Prometheus client libraries' default histogram buckets
# (prometheus_client DEFAULT_BUCKETS), one observation or increment per second, gauges near 10.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DEFAULT_RATE = 1.0
DEFAULT_GAUGE_RANGE = (7.0, 13.0)
DEFAULT_OBSERVATIONS = (0.02, 0.5)
Z95 = 1.645  # a range [low, high] of observations is read as their 5th and 95th percentiles
FLAG = (0.0, 1.0)


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
    for m in sorted(promql.matchers(selector)):
        if m.op == "=":
            labels[m.name] = m.value
        elif m.op == "=~" and _ALTERNATION.match(m.value):
            labels[m.name] = m.value.split("|")[0]
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
        for node, _ in promql.walk(root):
            if not isinstance(node, pp.VectorSelector):
                continue
            series = promql.selector_name(node)
            if not series or series not in contract.series:
                continue
            metric = contract.series[series][0].name
            for m in promql.selector_matchers(node):
                if m.name in skip:
                    continue
                if m.op == "=":
                    values[(metric, m.name)].add(m.value)
                elif m.op == "=~" and _ALTERNATION.match(m.value):
                    values[(metric, m.name)].update(m.value.split("|"))
    return values


def label_values(metric: Metric, label: str, queried: dict[tuple[str, str], set[str]]) -> list[str]:
    wanted = set(queried.get((metric.name, label), ()))
    if label in metric.values:
        return sorted(wanted | set(metric.values[label]))
    if len(wanted) == 1:
        wanted.add("other")  # a ratio `x{l="v"} / x` should not always read 100 %
    return sorted(wanted) or [f"{label}-a", f"{label}-b"]


# --------------------------------------------------------------------------------------------
# Value models, from the contract's hints
# --------------------------------------------------------------------------------------------

def _rng(key: str) -> random.Random:
    return random.Random(zlib.crc32(key.encode()))


def histogram_shape(metric: Metric) -> tuple[tuple[float, ...], float, float, float]:
    """(bucket bounds, median, log-sigma, observations per second) of a histogram or summary."""
    low, high = metric.range or DEFAULT_OBSERVATIONS
    median = math.sqrt(low * high)
    sigma = max(math.log(high / low) / (2 * Z95), 0.01)
    return tuple(metric.buckets or DEFAULT_BUCKETS), median, sigma, metric.rate or DEFAULT_RATE


def is_flag(metric: Metric) -> bool:
    """A 0/1 gauge (up, a health check): 1, with one dip to 0."""
    return metric.type == "gauge" and metric.range is not None and tuple(metric.range) == FLAG


def gauge_model(metric: Metric) -> tuple[float, float, bool]:
    """(level, relative amplitude, integer) of a gauge: it stays within its range."""
    low, high = metric.range or DEFAULT_GAUGE_RANGE
    level = (low + high) / 2
    amplitude = (high - low) / (high + low) if high + low else 0.0
    return level, amplitude, float(low).is_integer() and float(high).is_integer() and metric.range is not None


def _weight(labels: dict[str, str], metric: Metric) -> float:
    """How much of a counter's traffic one series has: the contract's share of each label value."""
    weight = 1.0
    for label, values in metric.values.items():
        if isinstance(values, dict) and label in labels:
            weight *= values.get(labels[label], 1.0)
    return weight


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
    base = selector_labels(source.contract.selector_of(metric))  # an exporter's metric: its source's job
    job = base.get("job", source.contract.team)
    choices = [[(label, v) for v in label_values(metric, label, queried)]
               for label in metric.labels if label not in base and label not in ("instance", "le")]
    sets = []
    for i in range(INSTANCES):
        for n, combo in enumerate(itertools.product(*choices)):
            sets.append(({**base, "instance": f"{job}-{i + 1}:8000", **dict(combo)}, i == INSTANCES - 1 and n == 0))
    return sets


def sample_times(end: int, minutes: int = HISTORY_MINUTES, step: int = STEP_SECONDS) -> list[int]:
    """Every `step` seconds over the last FINE_MINUTES, every COARSE_SECONDS before (half the samples).
    The fine samples are counted back from `end`, so the last is at `end` whatever `step` divides."""
    fine_start = end - min(minutes, FINE_MINUTES) * 60
    coarse = range(end - minutes * 60, fine_start, max(step, COARSE_SECONDS))
    return [*coarse, *reversed(range(end, fine_start - 1, -step))]


def families(sources: Iterable[TeamSource], end: int, minutes: int = HISTORY_MINUTES,
             step: int = STEP_SECONDS) -> dict[str, tuple[str, str, list[str]]]:
    """OpenMetrics families: name -> (type, help, sample lines), every series `minutes` up to `end`."""
    times = sample_times(end, minutes, step)
    out: dict[str, tuple[str, str, list[str]]] = {}

    def family(name: str, kind: str, help_: str) -> list[str]:
        if name not in out:
            out[name] = (kind, help_, [])
        return out[name][2]

    written: set[str] = set()
    for source in sources:
        queried = queried_values(source.contract, source.exprs)
        for metric in source.contract.metrics.values():
            for labels, dips in _series_sets(source, metric, queried):
                key = f"{source.stack}/{metric.name}/{_label_text(labels)}"
                if key in written:  # an exporter's series that two teams' contracts both name
                    continue
                written.add(key)
                rng = _rng(key)
                if metric.type == "counter":
                    name = metric.name[:-len("_total")] if metric.name.endswith("_total") else metric.name
                    lines = family(name, "counter" if metric.name.endswith("_total") else "unknown", metric.help)
                    _counter(lines, metric.name, labels, times, (metric.rate or DEFAULT_RATE) * _weight(labels, metric), rng)
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
    bounds, median, sigma, rate = histogram_shape(metric)
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
    # the series' names and labels, written once: most of the history's lines are these buckets
    buckets = [f'{name}_bucket{{{text}{sep}le="{_number(b)}"}} ' for b in bounds]
    infinity = f'{name}_bucket{{{text}{sep}le="+Inf"}} '
    quantiles = [(f'{name}{{{text}{sep}quantile="{q}"}} ', _number(median * math.exp(z * sigma)))
                 for q, z in (("0.5", 0.0), ("0.9", 1.2816), ("0.99", 2.3263))]
    sum_, count_ = f"{name}_sum{{{text}}} ", f"{name}_count{{{text}}} "
    histogram = metric.type == "histogram"
    previous = times[0]
    for t in times:
        n = rate * (t - previous) * (0.5 + rng.random())
        previous = t
        count += n
        total += n * mean * (0.8 + 0.4 * rng.random())
        at = f" {t}"
        if histogram:
            for i, series in enumerate(buckets):
                cumulative[i] += n * fractions[i]
                lines.append(series + _number(cumulative[i]) + at)
            lines.append(infinity + _number(count) + at)
        else:
            lines.extend(series + value + at for series, value in quantiles)
        lines.append(sum_ + _number(total) + at)
        lines.append(count_ + _number(count) + at)


def _gauge(lines: list[str], metric: Metric, labels: dict, times: list[int], end: int, rng: random.Random,
           dips: bool) -> None:
    text = _label_text(labels)
    name = metric.name
    if metric.type == "info":
        lines.extend(f"{name}{{{text}}} 1 {t}" for t in times)
        return
    if is_flag(metric):
        # One series per metric, stack and team reads 0 for a few minutes: a failure to find.
        for t in times:
            down = dips and end - DIP_START <= t < end - DIP_END
            lines.append(f"{name}{{{text}}} {0 if down else 1} {t}")
        return
    level, amplitude, integer = gauge_model(metric)
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
    made = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".backfill-", dir=data_dir.parent))
    running: list[tuple[subprocess.Popen, Path, Path]] = []
    done = False
    try:
        for i, text in enumerate(texts):
            source, out = work / f"{i}.om", work / f"blocks-{i}"
            source.write_text(text, encoding="utf-8")
            running.append((subprocess.Popen(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(out)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=go_env()), source, out))
        failures = []
        for process, source, _ in running:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append(f"{source.name}: exit {process.returncode}: {output.strip()[-300:]}")
        if failures:
            raise RuntimeError("promtool tsdb create-blocks-from openmetrics failed:\n" + "\n".join(failures))
        for _, _, out in running:  # every block, once every promtool succeeded: a whole history or none
            for block in out.iterdir():
                if block.is_dir():
                    block.rename(data_dir / block.name)
        done = True
    finally:
        for process, _, _ in running:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)
        if made and not done:
            shutil.rmtree(data_dir, ignore_errors=True)


_TSDB_NAME = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}|wal|chunks_head|lock|queries\.active")  # ULID blocks and the rest


def _not_a_history(out: Path | None, data: Path | None) -> str | None:
    """Why the target is not this tool's to write: a file that holds something other than a history
    (`--out Pulumi.yaml` would have replaced it), a folder holding something other than a TSDB."""
    if out is not None and out.is_file():
        with open(out, "rb") as f:
            start = f.read(7)
        if start and start not in (b"# HELP ", b"# TYPE "):
            return "holds something other than an OpenMetrics history; give a new file or an earlier history"
    if data is not None and data.is_dir() and any(not _TSDB_NAME.fullmatch(p.name) for p in data.iterdir()):
        return "holds something other than a TSDB; give a new folder, an empty one or an earlier --data"
    return None


def sources_for(stack: str, render_dir: Path) -> list[TeamSource]:
    """Each team of a rendered stack, with the queries of its dashboards and rules."""
    team_contracts = contracts(committed(stack).run.estate)
    exprs: dict[str, list[str]] = defaultdict(list)
    for board in read_render(render_dir)[1]:
        for panel in panels(board.board):
            exprs[board.team] += [interpolate(t["expr"], board.board) for t in panel.get("targets") or [] if t.get("expr")]
    for rules in sorted((render_dir / "rules").glob("*.yaml")):
        for group in (yaml.load(rules.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}).get("groups") or []:
            exprs[rules.stem] += [r["expr"] for r in group.get("rules") or [] if r.get("expr")]
    return [TeamSource(stack, contract, exprs.get(slug, [])) for slug, contract in sorted(team_contracts.items())]


MAX_MINUTES = 24 * 60  # a day: the history is held in memory as text (120 minutes: 140 MB for the four stacks)
LATEST_END = 253402300799  # 9999-12-31T23:59:59Z: the last time RFC 3339 writes
TIMES = "a time: give RFC 3339 with its offset (2024-05-01T12:00:00Z) or Unix seconds (1714564800)"
_UNIX_SECONDS = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_RFC_3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
                       r"(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))")  # RFC 3339's time-numoffset


def end_time(text: str) -> int:
    """An argparse `type`: when the history ends, in whole Unix seconds (a fraction is dropped), from
    RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`; an offset is needed, or the
    time would depend on the machine's zone) or Unix seconds (`1714564800`, `1714564800.5`). Anything
    else is argparse's one-line refusal (exit 2)."""
    try:
        if _UNIX_SECONDS.fullmatch(text):
            seconds = math.floor(float(text)) if "." in text else int(text)  # -0.5 is before 1970, not 0
        elif m := _RFC_3339.fullmatch(text):
            sign, hours, minutes = m.group(7, 8, 9)  # none for Z
            offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0)) * (-1 if sign == "-" else 1)
            seconds = int(datetime(*map(int, m.group(1, 2, 3, 4, 5, 6)), tzinfo=timezone(offset)).timestamp())
        else:
            raise ValueError
    except (ValueError, OverflowError):  # no such day or hour, an offset of a day or more, 5,000 digits
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not {TIMES}") from None
    if not 0 <= seconds <= LATEST_END:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not within 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.synthetic", description=first_line(__doc__))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", action=once(), type=Path, help="OpenMetrics file to write (every stack)")
    where.add_argument("--data", action=once(), type=Path,
                       help="TSDB folder to backfill, for prometheus --storage.tsdb.path")
    parser.add_argument("--minutes", action=once(), type=whole_number(1, MAX_MINUTES), default=HISTORY_MINUTES,
                        help=f"history length, 1 to {MAX_MINUTES} (default {HISTORY_MINUTES})")
    parser.add_argument("--step", action=once(), type=whole_number(1, 3600), default=STEP_SECONDS,
                        help=f"seconds between samples, 1 to 3600 (default {STEP_SECONDS})")
    parser.add_argument("--end", action=once(), type=end_time,
                        help="when the history ends, RFC 3339 (2024-05-01T12:00:00Z) or Unix seconds (default: now); "
                             "the same --end writes the same bytes")
    args = parser.parse_args(argv)
    end = (int(time.time()) if args.end is None else args.end) // args.step * args.step
    if end < args.minutes * 60:
        parser.error(f"argument --end: {args.minutes} min of history before {end} would begin before 1970; give a "
                     "later --end or fewer --minutes")
    option, path = ("--out", args.out) if args.out else ("--data", args.data)
    if args.data and args.data.exists() and not args.data.is_dir():
        print(f"error: --data {shown_path(args.data)}: is a file, not a folder; give the TSDB folder to backfill", file=sys.stderr)
        return 1
    if inside := input_folder(path):
        print(f"error: {option} {shown_path(path)}: is inside the project's {inside}/ folder; give a path outside it",
              file=sys.stderr)
        return 1
    if problem := _not_a_history(args.out, args.data):
        print(f"error: {option} {shown_path(path)}: {problem}", file=sys.stderr)
        return 1
    try:
        promtool = binary("promtool") if args.data else None  # known missing before every stack is rendered
    except PrometheusMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    per_stack = {stack: sources_for(stack, folder) for stack, folder in rendered_stacks().items()}
    if args.out:
        text = openmetrics([s for sources in per_stack.values() for s in sources], end, args.minutes, args.step)
        try:  # a history whole or none, and an earlier one kept when this one cannot be written (a full disk)
            write_whole(args.out, text)
        except OSError as e:
            print(f"error: --out {shown_path(args.out)}: cannot write it ({e.strerror or e})", file=sys.stderr)
            return 1
        print(f"{series_count(text)} series, {args.minutes} min, ending {end}: {args.out}")
    else:
        try:
            backfill((openmetrics(sources, end, args.minutes, args.step) for sources in per_stack.values()),
                     args.data, promtool)
        except OSError as e:  # a folder it may not write, a full disk
            print(f"error: --data {shown_path(args.data)}: cannot backfill the history there ({e.strerror or e})", file=sys.stderr)
            return 1
        except RuntimeError as e:  # promtool refused (its own words, a full disk among them): its first line
            print(f"error: --data {shown_path(args.data)}: {str(e).splitlines()[-1][:300]}", file=sys.stderr)
            return 1
        print(f"{', '.join(per_stack)}: {args.minutes} min ending {end} backfilled into {args.data}")
    return 0


if __name__ == "__main__":
    command(main)
