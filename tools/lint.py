"""Dashboard lint, in the spirit of grafana/dashboard-linter, on rendered dashboards.

    python -m tools.lint render/prod [render/dev ...]   # folders written by `python -m tools.render`
    python -m tools.lint                                 # render every stack (temporary folder), lint all

Rules (each finding names its rule, dashboard uid and panel):
  panel-title          every panel except rows has a title
  panel-unit           every data panel has a unit (fieldConfig.defaults.unit)
  panel-datasource     every data panel and each of its targets use the templated `${datasource}`
  template-datasource  the dashboard defines the `datasource` variable (type datasource, Prometheus)
  rate-interval        rate()/irate()/increase() windows are `$__rate_interval` or explicit
                       (`[5m]`); `$__range` only in instant queries (a total over the time range)
  counter-aggregation  counters (contract type counter, histogram/summary _bucket/_sum/_count, or
                       names ending _total/_count/_sum/_bucket) go through rate()/irate()/increase()
                       before any aggregation (sum, avg, max, topk, histogram_quantile, ...;
                       count and group, which ignore values, are allowed, as is aggregating
                       what resets(), changes(), timestamp() or absent() make of a counter)
  selector             every metric selector carries every matcher of the team's selector (of its
                       source's, for a metric the contract says an exporter exports)
  metric-contract      every metric and label a query names is in the team's metric contract
  promql               every query parses (Grafana macros substituted)
  legacy-panel         no Angular-era `graph`, `singlestat` or `table-old` panels
  uid                  a uid of 1 to 40 characters, unique across the stack's dashboards
  gridpos              top-level panels (rows included) lie inside the 24-column grid and do not
                       overlap; panels inside collapsed rows are not placed, so not compared
  gridpos-gap          each line of top-level panels fills the 24 columns with panels of one height,
                       so no empty cell is left beside or below a panel

And on the notification policy tree (tools/routing.py; docs/routing.md):
  route-never-matches  a route whose matchers contradict (with those above it), or that no alert
                       rule of the stack reaches
  route-shadowed       a route an earlier sibling without `continue` takes every alert from
  contact-point-unreached  a contact point no route sends to

Panels that show no query data (text, news, dashboard and alert lists) need only a title.
Exit status: 0 without findings, 1 with findings, 2 when a folder cannot be read.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterable

import promql_parser as pp

from dashboards.finalize import DATASOURCE_VARIABLE
from dashboards.finalize import panels as all_panels
from estate import ConfigError
from syntax import promql
from estate.contract import COUNTER_SUFFIXES, Contract, contracts
from estate.model import UID_MAX
from syntax.promql import selector_name, walk
from tools.render import (SHAPE_ERRORS, committed, not_as_written, read_render, read_resources,
                          rendered_stacks)
from tools import command, first_line, os_error_text, routing

DATASOURCE_REFS = {"${%s}" % DATASOURCE_VARIABLE, "$%s" % DATASOURCE_VARIABLE}
NO_DATA_PANELS = {"text", "news", "dashlist", "alertlist", "annolist", "welcome"}
LEGACY_PANELS = {"graph", "singlestat", "table-old"}
RATE_FUNCS = {"rate", "irate", "increase"}
VALUE_BLIND_AGGREGATIONS = {"count", "group"}
# Functions after which a counter's cumulative value no longer matters (it may then be aggregated).
COUNTER_SAFE_FUNCS = RATE_FUNCS | {"resets", "changes", "absent", "absent_over_time", "count_over_time",
                                   "present_over_time", "timestamp"}
GRID_COLUMNS = 24


# --------------------------------------------------------------------------------------------
# PromQL helpers
# --------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")
# Duration macros become unmistakable windows, so a window in the parsed tree says which macro
# (or which explicit duration) the query was written with.
_SENTINELS = {
    macro: timedelta(days=7, milliseconds=i + 1)
    for i, macro in enumerate(sorted(promql.MACROS)) if _DURATION.match(promql.MACROS[macro])
}
_BY_SENTINEL = {v: k for k, v in _SENTINELS.items()}
_MARKED = {**promql.MACROS, **{m: f"{int(w / timedelta(milliseconds=1))}ms" for m, w in _SENTINELS.items()}}


def parse_marked(expr: str) -> pp.Expr:
    """Parse with duration macros as sentinel windows (see `window_macro`); ValueError if invalid.

    The error gives the parser's reason only: a finding shows the query itself.
    """
    try:
        return promql.parse(expr, values=_MARKED, variables=True)
    except ValueError as e:
        raise ValueError(str(e).removesuffix(f": {expr}")) from None


def window_macro(window: timedelta) -> str | None:
    """`$__rate_interval` when a window parsed by `parse_marked` was written so; None if explicit."""
    macro = _BY_SENTINEL.get(window)
    return macro.replace("${", "$").replace("}", "") if macro else None


# --------------------------------------------------------------------------------------------
# The lint
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    rule: str
    dashboard: str
    panel: str
    message: str
    where: str = ""  # e.g. "prod/api-production"

    def __str__(self) -> str:
        at = f"{self.where}: " if self.where else ""
        panel = f" panel '{self.panel}'" if self.panel else ""
        return f"{at}{self.dashboard}{panel}: [{self.rule}] {self.message}"


def _is_templated(ref: object) -> bool:
    if isinstance(ref, dict):
        return ref.get("uid") in DATASOURCE_REFS
    return ref in DATASOURCE_REFS


def lint_dashboard(board: dict, contract: Contract | None = None, where: str = "") -> list[Finding]:
    """Findings for one dashboard; `contract` enables the selector and metric-contract rules."""
    uid = str(board.get("uid") or "")
    name = uid or f"<no uid: {board.get('title')!r}>"
    findings: list[Finding] = []

    def add(rule: str, panel: str, message: str) -> None:
        findings.append(Finding(rule, name, panel, message, where))

    if not uid or len(uid) > UID_MAX:
        add("uid", "", f"uid must be 1 to {UID_MAX} characters (got {len(uid)}: '{uid}')")

    variables = (board.get("templating") or {}).get("list") or []
    ds = [v for v in variables if v.get("name") == DATASOURCE_VARIABLE]
    if not ds:
        add("template-datasource", "", f"no `{DATASOURCE_VARIABLE}` template variable")
    elif ds[0].get("type") != "datasource" or ds[0].get("query") != "prometheus":
        add("template-datasource", "", f"the `{DATASOURCE_VARIABLE}` variable must be of type datasource "
            f"with query prometheus (got type {ds[0].get('type')!r}, query {ds[0].get('query')!r})")

    for panel in all_panels(board):
        kind = panel.get("type")
        if kind == "row":
            continue
        title = str(panel.get("title") or "").strip()
        label = title or f"#{panel.get('id')} ({kind})"
        if not title:
            add("panel-title", label, "panel has no title")
        if kind in LEGACY_PANELS:
            add("legacy-panel", label, f"legacy Angular `{kind}` panel: use timeseries, stat or table")
        if kind in NO_DATA_PANELS:
            continue
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            add("panel-unit", label, "no unit (fieldConfig.defaults.unit)")
        if not _is_templated(panel.get("datasource")):
            add("panel-datasource", label, f"panel datasource is {panel.get('datasource')!r}, "
                f"not the templated ${{{DATASOURCE_VARIABLE}}}")
        for target in panel.get("targets") or []:
            ref = target.get("refId", "?")
            if not _is_templated(target.get("datasource")):
                add("panel-datasource", label, f"target {ref} datasource is {target.get('datasource')!r}, "
                    f"not the templated ${{{DATASOURCE_VARIABLE}}}")
            expr = target.get("expr")
            if expr:
                for rule, message in lint_query(expr, contract, instant=bool(target.get("instant"))):
                    add(rule, label, f"target {ref}: {message}; query: {expr}")
    findings += [Finding("gridpos", name, p, m, where) for p, m in gridpos_problems(board)]
    findings += [Finding("gridpos-gap", name, p, m, where) for p, m in gap_problems(board)]
    return findings


def lint_query(expr: str, contract: Contract | None, *, instant: bool = False) -> list[tuple[str, str]]:
    """(rule, message) for each problem of one query."""
    try:
        root = parse_marked(expr)
    except ValueError as e:
        return [("promql", str(e))]
    problems: list[tuple[str, str]] = []
    for node, ancestors in walk(root):
        if isinstance(node, pp.Call) and node.func.name in RATE_FUNCS and node.args:
            arg = node.args[0]
            window = getattr(arg, "range", None)
            macro = window_macro(window) if window is not None else None
            if macro is None or macro == "$__rate_interval":
                continue
            if macro in ("$__range", "$__range_s", "$__range_ms") and instant:
                continue
            why = "allowed only in instant queries" if macro.startswith("$__range") else "not allowed"
            problems.append(("rate-interval", f"{node.func.name}() over [{macro}] ({why}): "
                             "use [$__rate_interval] or an explicit window"))
        elif isinstance(node, pp.VectorSelector):
            name = selector_name(node)
            if not name or not (contract.is_counter(name) if contract else name.endswith(COUNTER_SUFFIXES)):
                continue
            for ancestor in reversed(ancestors):
                if isinstance(ancestor, pp.Call) and ancestor.func.name in COUNTER_SAFE_FUNCS:
                    break
                aggregating = (isinstance(ancestor, pp.AggregateExpr) and str(ancestor.op) not in VALUE_BLIND_AGGREGATIONS) \
                    or (isinstance(ancestor, pp.Call) and ancestor.func.name == "histogram_quantile")
                if aggregating:
                    op = str(ancestor.op) if isinstance(ancestor, pp.AggregateExpr) else ancestor.func.name
                    problems.append(("counter-aggregation", f"counter '{name}' goes into {op}() without "
                                     "rate()/irate()/increase() first"))
                    break
    if contract is not None:
        missing = promql.metrics_without(expr, contract.required_for, variables=True)
        if missing:
            needed = sorted({contract.selector_of(contract.series[m][0]) if m in contract.series else contract.selector
                             for m in missing})
            problems.append(("selector", f"metrics {missing} lack their selector "
                                         f"{' / '.join('{' + n + '}' for n in needed)} (the team's, or their source's)"))
        problems += [("metric-contract", p) for p in contract.problems(expr)]
    return problems


def gridpos_problems(board: dict) -> list[tuple[str, str]]:
    """(panel, message) for top-level panels outside the grid or overlapping one another."""
    placed = []
    problems = []
    for panel in board.get("panels") or []:
        label = str(panel.get("title") or f"#{panel.get('id')} ({panel.get('type')})")
        pos = panel.get("gridPos") or {}
        try:
            x, y, w, h = (int(pos[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            problems.append((label, f"no complete gridPos (x, y, w, h): {pos!r}"))
            continue
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > GRID_COLUMNS:
            problems.append((label, f"gridPos {pos} is outside the {GRID_COLUMNS}-column grid"))
        for other, (ox, oy, ow, oh) in placed:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append((label, f"gridPos {pos} overlaps panel '{other}' "
                                 f"{ {'h': oh, 'w': ow, 'x': ox, 'y': oy} }"))
        placed.append((label, (x, y, w, h)))
    return problems


def gap_problems(board: dict) -> list[tuple[str, str]]:
    """(panel, message) for each line of top-level panels that leaves empty cells in the grid."""
    lines: dict[int, list[tuple[str, dict]]] = {}
    for panel in board.get("panels") or []:
        pos = panel.get("gridPos") or {}
        if panel.get("type") == "row" or not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            continue  # rows span the grid; an incomplete gridPos is the gridpos rule's finding
        lines.setdefault(pos["y"], []).append((str(panel.get("title") or f"#{panel.get('id')}"), pos))
    problems = []
    for y, placed in sorted(lines.items()):
        width, heights = sum(pos["w"] for _, pos in placed), {pos["h"] for _, pos in placed}
        if width != GRID_COLUMNS or len(heights) > 1:
            sizes = ", ".join(f"'{title}' {pos['w']}x{pos['h']}" for title, pos in placed)
            problems.append((placed[0][0], f"the line at y={y} ({sizes}) leaves cells empty: its panels should "
                                           f"fill the {GRID_COLUMNS} columns with one height"))
    return problems


def lint_dashboards(boards: Iterable[tuple[dict, Contract | None, str]]) -> list[Finding]:
    """Lint the dashboards of one stack, (board, contract, where) each; uids must be unique."""
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    for board, contract, where in boards:
        findings += lint_dashboard(board, contract, where)
        uid = str(board.get("uid") or "")
        if uid and uid in seen:
            findings.append(Finding("uid", uid, "", f"uid also used by another dashboard ({seen[uid]})", where))
        seen.setdefault(uid, where or board.get("title", ""))
    return findings


# --------------------------------------------------------------------------------------------
# Render folders
# --------------------------------------------------------------------------------------------

def contracts_of(stack: str) -> dict[str, Contract]:
    """Each team of a committed stack: its metric contract with its selector in that stack (the estate's own loader)."""
    return contracts(committed(stack).run.estate)


def lint_render(folder: Path, contracts: dict[str, Contract] | None = None) -> tuple[list[Finding], int]:
    """Lint every dashboard of one render folder against its stack's team contracts: (findings, dashboards linted)."""
    stack, boards = read_render(folder)
    contracts = contracts_of(stack) if contracts is None else contracts
    findings = [Finding("metric-contract", b.uid, "", f"team '{b.team}' is not in stack {stack}", f"{stack}/{b.team}")
                for b in boards if b.team not in contracts]
    findings += lint_dashboards((b.board, contracts.get(b.team), f"{stack}/{b.team}") for b in boards)
    findings += [Finding(f.rule, f"notification policy {f.route}", "", f.message, stack)
                 for f in routing.stack_findings(read_resources(folder))]
    return findings, len(boards)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lint", description=first_line(__doc__))
    parser.add_argument("folders", nargs="*", type=Path,
                        help="render folders (python -m tools.render --out DIR); none: render every stack")
    args = parser.parse_args(argv)
    try:
        folders = args.folders or list(rendered_stacks().values())
        findings: list[Finding] = []
        count = 0
        for folder in folders:
            found, linted = lint_render(folder)
            findings += found
            count += linted
    except OSError as e:
        print(f"error: {os_error_text(e)}", file=sys.stderr)
        return 2
    except (ValueError, ConfigError) as e:  # NotARender is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SHAPE_ERRORS as e:
        print(f"error: {not_as_written(e)}", file=sys.stderr)
        return 2
    for f in findings:
        print(f)
    print(f"{count} dashboards in {len(folders)} render folder(s): {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    command(main)
