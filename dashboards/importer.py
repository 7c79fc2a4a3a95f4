"""Dashboards exported from Grafana 7 to 12, imported as they come.

`import_dashboard` takes an exported dashboard model and gives it to one stack's team:

- every metric selector of every Prometheus query (panel targets, query variables, annotation
  queries) gets the team's selector, by a rewrite that keeps the query's text, Grafana macros
  and `$variables` exactly (syntax/promql_rewrite.py);
- legacy Angular panels become the panels Grafana itself migrates them to, following Grafana's
  own migrations (grafana/grafana, public/app/plugins/panel/{timeseries,stat,table,piechart}/
  migrations): `graph` -> timeseries (bargauge for `xaxis.mode: series`, histogram for
  `histogram`), `singlestat` -> stat (gauge when it drew a gauge), `table-old` (and the pre-7
  `table` with `styles`) -> table, `grafana-piechart-panel` -> piechart; units, decimals,
  min/max, thresholds, value mappings, legends, series overrides and alias colours carried over;
- legacy `rows` (schemaVersion < 16) become row panels on the grid, library panels are inlined
  from the export's `__elements`;
- every Prometheus datasource reference (a name, `${DS_PROMETHEUS}`, `$datasource`, an object,
  null for the default, inside a mixed panel) is rebound to the stack's `${datasource}` variable;
  templating, links, annotations and everything else are kept.

What cannot be carried over is never dropped silently. What would change what a panel shows
(a query on a non-Prometheus datasource, a query the selector cannot be given faithfully, a
library panel not in the file) is an ImportProblems error naming the panel, and so is a link
(the dashboard's, a panel's, a data link) whose URL is no http(s) URL, relative path or Grafana
variable (`javascript:`, `data:`, `vbscript:`: Grafana shows it as a clickable link), named by
its JSON path in the export (finalize.link_problems, which the program also applies to the
dashboards team code builds); what only changes how it looks is a note in `Imported.notes`, one
line per panel (printed by `python -m tools.adopt`).
"""
from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .finalize import DATASOURCE_VARIABLE, annotation_queries, annotations, link_problems, panels, ref_ids
from syntax.promql_rewrite import (
    LABEL_NAMES_MATCH, LABEL_VALUES, METRICS, QUERY_RESULT, VARIABLE, RewriteError, scope, scope_variable_query,
)

PROMETHEUS_REF = {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VARIABLE}
BUILT_IN = {"-- Grafana --": "grafana", "grafana": "grafana", "-- Mixed --": "mixed", "-- Dashboard --": "dashboard",
            "__expr__": "expression", "-100": "expression"}
# Prometheus-compatible datasource plugins whose queries are PromQL.
PROMQL_PLUGINS = {"prometheus"}
LEGACY = {"graph", "singlestat", "grafana-singlestat-panel", "table-old", "grafana-piechart-panel"}
DATA_FREE_PANELS = {"text", "news", "dashlist", "alertlist", "annolist", "welcome", "row", "gettingstarted"}
GRID_CELL_HEIGHT, GRID_CELL_MARGIN = 30, 8  # Grafana's grid: a row of height h is h*30 + (h-1)*8 px
# Legend and `valueName` statistics of the Angular panels, as Grafana's reducers name them.
REDUCERS = {"avg": "mean", "current": "lastNotNull", "total": "sum", "min": "min", "max": "max", "first": "first",
            "last": "last", "count": "count", "delta": "delta", "diff": "diff", "range": "range", "median": "median",
            "last_time": "lastNotNull"}


@dataclass(frozen=True)
class Imported:
    board: dict
    notes: tuple[str, ...]  # what was converted with a cosmetic loss, one line per panel


class ImportProblems(ValueError):
    """What in a dashboard would change meaning on import: (where, what) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{w}: {m}" for w, m in problems))
        self.problems = problems


def from_export(board: object) -> dict:
    """The dashboard in exported JSON data (the program reads it with estate.files.read_json, which
    bounds its size and depth); ValueError saying what is wrong with it."""
    if isinstance(board, dict) and isinstance(board.get("dashboard"), dict):
        board = board["dashboard"]  # the API's export wraps the model in {"dashboard": ..., "meta": ...}
    if not isinstance(board, dict) or not board.get("title") or not (
            isinstance(board.get("panels"), list) or isinstance(board.get("rows"), list)):
        raise ValueError("not a Grafana dashboard: needs a title and a panels list")
    rows = [r.get("panels") if isinstance(r, dict) else None for r in board.get("rows") or []]
    for panel in [*panels(board), *(p for row in rows if isinstance(row, list) for p in row)]:
        if not isinstance(panel, dict) or "type" not in panel and not isinstance(panel.get("libraryPanel"), dict):
            raise ValueError("every panel needs a type (or a libraryPanel reference)")
        if "panels" in panel and not isinstance(panel["panels"], list):  # a row's: panels() would pass it over
            raise ValueError(f"panel '{str(panel.get('title'))[:80]}': its panels must be a list of panels")
    return board


@dataclass
class _Import:
    board: dict
    selector: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # `${DS_PROMETHEUS}` -> the plugin the export's `__inputs` says it stands for.
        self.inputs = {i["name"]: i.get("pluginId") for i in _items(self.board.get("__inputs"))
                       if i.get("type") == "datasource" and isinstance(i.get("name"), str)}
        self.ds_variables = {v["name"]: v.get("query") for v in _variables(self.board)
                             if v.get("type") == "datasource" and isinstance(v.get("name"), str)}
        required = [r.get("id") for r in _items(self.board.get("__requires"))
                    if r.get("type") == "datasource" and isinstance(r.get("id"), str)]
        self.other_plugins = sorted(set(required) - PROMQL_PLUGINS)

    def guarded(self, where: str, what: str, step, *args) -> None:
        """Run one conversion step; a value of the wrong shape is a problem naming where, not a traceback."""
        try:
            step(*args)
        except SHAPE_ERRORS as e:
            self.problem(where, f"not {what} Grafana accepts ({type(e).__name__}: {e})")

    def problem(self, where: str, what: str) -> None:
        self.problems.append((where, what))

    def note(self, where: str, what: str) -> None:
        self.notes.append(f"{where}: {what}")

    # ---------------------------------------------------------------- datasources

    def kind(self, ref: Any) -> str:
        """What a datasource reference points at: a plugin id, `default`, `named`, or a built-in."""
        if ref is None:
            return "default"
        if isinstance(ref, dict):  # {"type": "datasource", "uid": "-- Mixed --"}: the uid names the built-ins
            if ref.get("uid") in BUILT_IN:
                return BUILT_IN[ref["uid"]]
            if ref.get("type"):
                return BUILT_IN.get(ref["type"], ref["type"])
            ref = ref.get("uid")
            if ref is None:
                return "default"
        if not isinstance(ref, str):
            return "unknown"
        if ref in BUILT_IN:
            return BUILT_IN[ref]
        if ref.startswith("${") and ref.endswith("}") and ref[2:-1] in self.inputs:
            return self.inputs[ref[2:-1]] or "unknown"  # `${DS_PROMETHEUS-PROD}`: input names may hold a '-'
        if m := VARIABLE.fullmatch(ref):
            name = next(g for g in m.groups() if g)
            if name in self.inputs:
                return self.inputs[name] or "unknown"
            if name in self.ds_variables or name == DATASOURCE_VARIABLE:
                return self.ds_variables.get(name) or "prometheus"
            return "unknown"
        return "named"

    def not_prometheus(self, ref: Any) -> str | None:
        """Why `ref` is not (or may not be) a Prometheus datasource; None when it is one."""
        kind = self.kind(ref)
        if kind in PROMQL_PLUGINS or kind == "default":
            return None
        if kind == "named":
            if self.other_plugins:  # by name alone it could be any of them
                return (f"datasource {_describe(ref)} is given by name and the dashboard also uses "
                        f"{', '.join(self.other_plugins)}: say which with an object {{\"type\": ..., \"uid\": ...}}")
            return None  # a dashboard that requires no other datasource: its named datasource is Prometheus
        return f"a {kind} datasource ({_describe(ref)})"

    # ---------------------------------------------------------------- queries

    def scoped(self, expr: str, where: str) -> str:
        try:
            return scope(expr, self.selector)
        except RewriteError as e:
            self.problem(where, str(e))
            return expr

    def target(self, target: dict, panel_ref: Any, where: str) -> None:
        # A mixed panel's targets name their own datasource; otherwise the panel's applies.
        ref = target.get("datasource") if panel_ref is None or self.kind(panel_ref) == "mixed" else panel_ref
        if self.kind(ref) == "mixed":
            ref = None
        why = self.not_prometheus(ref)
        if why:
            self.problem(where, f"queries {why}; only Prometheus queries can be imported (the stack's datasource "
                         "variable is Prometheus): remove the query or the panel")
            return
        target["datasource"] = dict(PROMETHEUS_REF)
        if isinstance(target.get("expr"), str) and target["expr"].strip():
            target["expr"] = self.scoped(target["expr"], f"{where}.expr")

    # ---------------------------------------------------------------- the whole dashboard

    def run(self) -> dict:
        board = self.board
        self.problems += link_problems(board)  # first: its paths are those of the export, before any conversion
        unsafe = len(self.problems)
        if board.get("rows"):
            self.guarded("rows", "a legacy rows list", self.rows_to_panels)
        board.pop("rows", None)  # grafonnet writes `"rows": []` beside its panels
        self.guarded("panels", "a panels list", self.inline_library_panels)
        if len(self.problems) > unsafe:  # the panels are not where the steps below look for them
            return board
        for panel in list(panels(board)):
            label = f"panels['{panel.get('title') or '#' + str(panel.get('id'))}']" if isinstance(panel, dict) else "panels"
            self.guarded(label, "a panel model", self.panel, panel)
        self.guarded("templating.list", "a templating list", self.templating)
        self.guarded("annotations.list", "an annotations list", self.annotations)
        return board

    def panel(self, panel: dict) -> None:
        kind = panel.get("type")
        label = f"panels['{panel.get('title') or '#' + str(panel.get('id'))}']"
        if kind == "row":
            return
        if kind in LEGACY:
            panel.pop("pluginVersion", None)  # the Angular plugin's version: the new panel's migrations must not run
        if kind == "graph":
            _graph(panel, self, label)
        elif kind in ("singlestat", "grafana-singlestat-panel"):
            _singlestat(panel, self, label)
        elif kind == "table-old" or kind == "table" and "styles" in panel:
            _table_old(panel, self, label)
        elif kind == "grafana-piechart-panel":
            _piechart(panel, self, label)
        if panel.get("alert"):
            self.note(label, f"legacy panel alert '{panel['alert'].get('name', '')}' dropped: Grafana 11+ runs only "
                      "Grafana-managed alert rules (the folder's rules, see `tools.adopt pull`)")
            panel.pop("alert")
        panel.pop("scopedVars", None)  # repeat clones Grafana writes back; it makes them again
        ref = panel.get("datasource")
        targets = panel.get("targets")
        if isinstance(targets, list):
            for ref_id, target in zip(ref_ids(targets), targets):  # as finalize names them
                if isinstance(target, dict):
                    self.target(target, ref, f"{label}.targets.{ref_id}")
        if kind not in DATA_FREE_PANELS or targets:
            panel["datasource"] = dict(PROMETHEUS_REF)

    def templating(self) -> None:
        for variable in _variables(self.board):
            where = f"templating['{variable.get('name')}']"
            kind = variable.get("type")
            if kind in ("query", "adhoc"):
                why = self.not_prometheus(variable.get("datasource"))
                if why:
                    self.problem(where, f"a {kind} variable on {why}; only Prometheus variables can be imported")
                    continue
                variable["datasource"] = dict(PROMETHEUS_REF)
            if kind != "query":
                continue
            query = variable.get("query")
            text = query.get("query") if isinstance(query, dict) else query
            if not isinstance(text, str) or not text.strip():
                continue
            try:
                scoped, why = scope_variable_query(text.strip(), self.selector)
            except RewriteError as e:
                self.problem(f"{where}.query", str(e))
                continue
            if why:
                self.note(where, why)
            if isinstance(query, dict):
                query["query"] = scoped
            else:
                variable["query"] = scoped
            if isinstance(variable.get("definition"), str) and variable["definition"].strip():
                variable["definition"] = scoped

    def annotations(self) -> None:
        # finalize.annotations passes over other shapes; here each is a problem: Grafana reads no
        # annotation from them, so their queries would vanish unchecked
        section = self.board.get("annotations")
        listed = section.get("list") if isinstance(section, dict) else None
        if section is not None and not isinstance(section, dict):
            self.problem("annotations", f"not an object holding a list of annotations (got {_json_kind(section)})")
        elif listed is not None and not isinstance(listed, list):
            self.problem("annotations.list", f"not a list of annotations (got {_json_kind(listed)})")
        for index, annotation in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(annotation, dict):
                self.problem(f"annotations.list[{index}]", f"not an annotation object (got {_json_kind(annotation)})")
                continue
            if self.kind(annotation.get("datasource")) == "grafana":
                continue
            where = f"annotations['{annotation.get('name', index)}']"
            why = self.not_prometheus(annotation.get("datasource"))
            if why:  # an annotation only marks the graphs: kept as it is, on its own datasource
                self.note(where, f"kept on {why}, which the stack does not manage")
                continue
            annotation["datasource"] = dict(PROMETHEUS_REF)
            for holder, at in annotation_queries(annotation):
                holder["expr"] = self.scoped(holder["expr"], f"{where}.{at}")

    def rows_to_panels(self) -> None:
        """Grafana < 5 `rows` as row panels on the 24-column grid (Grafana's own schema 16 upgrade),
        below any panels the dashboard has already."""
        rows = self.board.pop("rows")
        placed: list[dict] = list(self.board.get("panels") or [])
        y = max((int((p.get("gridPos") or {}).get("y", 0)) + int((p.get("gridPos") or {}).get("h", 0))
                 for p in placed if isinstance(p, dict)), default=0)
        show_rows = len(rows) > 1 or any(r.get("showTitle") for r in rows)
        for row in rows:
            height = _row_height(row.get("height"))
            row_panel = None
            if show_rows:
                row_panel = {"type": "row", "title": row.get("title") or "", "collapsed": bool(row.get("collapse")),
                             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
                if row.get("repeat"):
                    row_panel["repeat"] = row["repeat"]
                placed.append(row_panel)
                y += 1
            collapsed = bool(row_panel and row_panel["collapsed"])
            start, x, line = y, 0, 0
            for panel in row.get("panels") or []:
                width = max(1, min(24, round(float(panel.pop("span", 4) or 4) * 2)))
                if x + width > 24:
                    x, y, line = 0, y + line, 0
                panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
                panel.pop("height", None)
                x += width
                line = max(line, height)
                (row_panel["panels"] if collapsed else placed).append(panel)
            y = start if collapsed else y + line  # a collapsed row takes its title line only
        self.board["panels"] = placed
        self.board["schemaVersion"] = max(int(self.board.get("schemaVersion") or 0), 16)

    def inline_library_panels(self) -> None:
        elements = self.board.get("__elements") or {}
        for container in [self.board, *(p for p in self.board.get("panels") or [] if p.get("type") == "row")]:
            items = container.get("panels") or []
            for i, panel in enumerate(items):
                ref = panel.get("libraryPanel")
                if not isinstance(ref, dict):
                    continue
                label = f"panels['{panel.get('title') or ref.get('name')}']"
                element = elements.get(ref.get("uid")) if isinstance(elements, dict) else None
                model = (element or {}).get("model")
                if not isinstance(model, dict):
                    self.problem(label, f"library panel '{ref.get('name')}' ({ref.get('uid')}) is not in the file: "
                                 "export with 'Export for sharing externally' (or `tools.adopt pull`), which includes it")
                    continue
                inlined = {**copy.deepcopy(model), "gridPos": panel.get("gridPos", model.get("gridPos")),
                           "id": panel.get("id", model.get("id"))}
                inlined.pop("libraryPanel", None)
                items[i] = inlined
                self.note(label, f"library panel '{ref.get('name')}' inlined: later edits of the library panel no "
                          "longer reach this dashboard")


def import_dashboard(board: dict, selector: str) -> Imported:
    """`board` (an exported dashboard model) scoped to `selector` and converted; ImportProblems if it cannot be."""
    work = _Import(copy.deepcopy(board), selector)
    result = work.run()
    if work.problems:
        raise ImportProblems(work.problems)
    return Imported(result, tuple(work.notes))


SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def _items(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _variables(board: dict) -> list[dict]:
    templating = board.get("templating")
    return _items(templating.get("list")) if isinstance(templating, dict) else []


def _json_kind(value: Any) -> str:
    """What a JSON value is, as a message names it: `a list`, `a number`..."""
    kinds = ((type(None), "null"), (bool, "true or false"), (dict, "an object"), (list, "a list"), (str, "a text"),
             ((int, float), "a number"))
    return next((kind for types, kind in kinds if isinstance(value, types)), type(value).__name__)


def _describe(ref: Any) -> str:
    return json.dumps(ref, sort_keys=True) if not isinstance(ref, str) else f"'{ref}'"


def _row_height(height: Any) -> int:
    try:
        pixels = float(str(height).removesuffix("px")) if height is not None else 250.0
    except ValueError:
        pixels = 250.0
    return max(1, math.ceil(pixels / (GRID_CELL_HEIGHT + GRID_CELL_MARGIN)))


# --------------------------------------------------------------------------------------------
# Legacy panels. Each converter consumes the Angular options it carries over; what is left with a
# value that says something is reported.
# --------------------------------------------------------------------------------------------

class _Old(dict):
    """The Angular options a converter took off a panel; remembers which ones it read."""

    def __init__(self, items: dict):
        super().__init__(items)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def _take(panel: dict, *keys: str) -> _Old:
    return _Old({k: panel.pop(k) for k in keys if k in panel})


# Options of the Angular panels that say nothing when left at these values (or empty).
_SAYS_NOTHING = {"renderer": "flot", "dashLength": 10, "spaceLength": 10, "pointradius": 5, "editable": True,
                 "error": False, "isNew": True, "x-axis": True, "y-axis": True, "valueFontSize": "80%",
                 "prefixFontSize": "50%", "postfixFontSize": "50%", "mappingType": 1, "fontSize": "100%",
                 "strokeWidth": 1, "scroll": True, "showHeader": True, "nullPointMode": "connected"}
_ALWAYS_DROPPED = {"span", "minSpan", "height", "$$hashKey", "isNew", "editable", "error", "options", "mappingTypes",
                   "grid", "zindex", "y_formats", "colorPrefix", "colorPostfix", "cacheTimeout", "breakPoint",
                   "pageSize"}


def _report_unread(old: _Old, work: "_Import", where: str, kind: str) -> None:
    """A note for every option the converter did not carry over and that said something."""
    lost = [f"{key}={json.dumps(value, sort_keys=True)}" for key, value in sorted(old.items())
            if key not in old.read and key not in _ALWAYS_DROPPED
            and value not in (None, False, "", [], {}) and _SAYS_NOTHING.get(key, object()) != value]
    if lost:
        work.note(where, f"{kind} options not carried over: {', '.join(lost)}")


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _defaults(panel: dict) -> dict:
    config = panel.setdefault("fieldConfig", {})
    config.setdefault("overrides", [])
    return config.setdefault("defaults", {})


def _fixed_colour(alias: str, colour: str, regex: bool = False) -> dict:
    return {"matcher": {"id": "byRegexp" if regex else "byName", "options": alias},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}


def _thresholds(levels: str | list, colours: list) -> dict | None:
    """`"50,80"` and three colours -> steps base/50/80 (Grafana: one more colour than thresholds)."""
    values = [v.strip() for v in levels.split(",")] if isinstance(levels, str) else list(levels or [])
    values = [_number(v) for v in values if str(v).strip() != ""]
    if not colours or None in values:
        return None
    steps = [{"color": colours[0], "value": None}]
    steps += [{"color": colour, "value": value} for colour, value in zip(colours[1:], values)]
    return {"mode": "absolute", "steps": steps}


def _value_mappings(old: dict) -> list[dict]:
    """Angular `valueMaps`/`rangeMaps` (mappingType 1/2) as Grafana 8+ value mappings."""
    mappings: list[dict] = []
    kind = old.get("mappingType", 1)
    value_maps, range_maps = old.get("valueMaps") or [], old.get("rangeMaps") or []  # only one kind is in use
    values: dict[str, dict] = {}
    for index, m in enumerate(value_maps if kind != 2 else []):
        if not isinstance(m, dict) or m.get("op", "=") != "=" or "value" not in m:
            continue
        if str(m["value"]) == "null":
            mappings.append({"type": "special", "options": {"match": "null", "result": {"text": m.get("text", ""), "index": index}}})
        else:
            values[str(m["value"])] = {"text": m.get("text", ""), "index": index}
    if values:
        mappings.insert(0, {"type": "value", "options": values})
    for index, m in enumerate(range_maps if kind != 1 else []):
        if isinstance(m, dict):
            mappings.append({"type": "range", "options": {"from": _number(m.get("from")), "to": _number(m.get("to")),
                                                          "result": {"text": m.get("text", ""), "index": index}}})
    return mappings


def _legend(old: dict | None, options: dict) -> None:
    legend = {"displayMode": "list", "showLegend": True, "placement": "bottom", "calcs": []}
    if isinstance(old, dict):
        if old.get("show") is False:
            legend["showLegend"] = False
        elif old.get("alignAsTable"):
            legend["displayMode"] = "table"
        if old.get("rightSide"):
            legend["placement"] = "right"
        if old.get("values"):
            legend["calcs"] = [REDUCERS[k] for k in ("min", "max", "avg", "current", "total") if old.get(k)]
        if old.get("sideWidth"):
            legend["width"] = old["sideWidth"]
    options["legend"] = legend


def _axis(axis: dict | None) -> dict:
    """One Angular y-axis as field config (unit, decimals, min, max, label, log scale, placement)."""
    if not isinstance(axis, dict):
        return {}
    custom: dict[str, Any] = {"axisPlacement": "auto" if axis.get("show", True) else "hidden"}
    if axis.get("label"):
        custom["axisLabel"] = axis["label"]
    if axis.get("logBase") in (2, 10):
        custom["scaleDistribution"] = {"type": "log", "log": axis["logBase"]}
    config = {"unit": axis.get("format"), "decimals": _number(axis.get("decimals")),
              "min": _number(axis.get("min")), "max": _number(axis.get("max")), "custom": custom}
    return {k: v for k, v in config.items() if v is not None}


_SERIES_OVERRIDE_KEYS = {"alias", "$$hashKey", "yaxis", "fill", "fillBelowTo", "fillGradient", "points", "bars",
                         "lines", "linewidth", "pointradius", "dashes", "dashLength", "spaceLength", "stack", "color",
                         "transform", "legend", "hideTooltip"}
_GRAPH_KEYS = ("aliasColors", "bars", "dashLength", "dashes", "fill", "fillGradient", "hiddenSeries", "legend", "lines",
               "linewidth", "nullPointMode", "percentage", "pointradius", "points", "renderer", "seriesOverrides",
               "spaceLength", "stack", "steppedLine", "thresholds", "timeRegions", "tooltip", "xaxis", "yaxes",
               "yaxis", "decimals", "options", "grid", "x-axis", "y-axis", "y_formats", "leftYAxisLabel",
               "rightYAxisLabel", "zindex", "editable", "error", "isNew", "span", "minSpan")


def _graph(panel: dict, work: _Import, where: str) -> None:
    old = _take(panel, *_GRAPH_KEYS)
    xaxis = old.get("xaxis") or {}
    if xaxis.get("mode") == "series":
        _graph_series_to_bargauge(panel, old, work, where)
        _report_unread(old, work, where, "graph")
        return
    if xaxis.get("mode") == "histogram":
        panel["type"] = "histogram"
        defaults = _defaults(panel)
        defaults.update({k: v for k, v in _axis((old.get("yaxes") or [None])[0]).items() if k != "custom"})
        options = {}
        _legend(old.get("legend"), options)
        panel["options"] = {"legend": options["legend"], "bucketCount": xaxis.get("buckets") or 30}
        work.note(where, "graph in histogram mode became a histogram panel: bucket sizes are Grafana's own")
        _report_unread(old, work, where, "graph")
        return
    panel["type"] = "timeseries"
    yaxes = old.get("yaxes") or []
    defaults = _defaults(panel)
    y1 = _axis(yaxes[0] if yaxes else None)
    for key, value in y1.items():
        if key == "custom":
            defaults.setdefault("custom", {}).update(value)
        else:
            defaults.setdefault(key, value)
    if "decimals" not in defaults and _number(old.get("decimals")) is not None:
        defaults["decimals"] = _number(old["decimals"])
    custom = defaults.setdefault("custom", {})
    custom["drawStyle"] = "bars" if old.get("bars") else "line" if old.get("lines", True) else "points"
    radius, dash, space = old.get("pointradius"), old.get("dashLength", 10), old.get("spaceLength", 10)
    if old.get("points"):
        custom["showPoints"] = "always"
        if _number(radius) is not None:
            custom["pointSize"] = 2 + radius * 2
    elif custom["drawStyle"] != "points":
        custom["showPoints"] = "never"
    custom["lineWidth"] = old.get("linewidth", 1)
    if old.get("dashes"):
        custom["lineStyle"] = {"fill": "dash", "dash": [dash, space]}
    fill_below = any(isinstance(o, dict) and o.get("fillBelowTo") for o in old.get("seriesOverrides") or [])
    custom["fillOpacity"] = 35 if fill_below else (_number(old.get("fill", 1)) or 0) * 10
    if _number(old.get("fillGradient")):
        custom["gradientMode"] = "opacity"
        custom["fillOpacity"] = old["fillGradient"] * 10
    if custom["drawStyle"] == "bars":
        custom["fillOpacity"] = 100
    custom["spanNulls"] = old.get("nullPointMode") == "connected"
    if old.get("nullPointMode") == "null as zero":
        work.note(where, "nullPointMode 'null as zero' has no timeseries equivalent: gaps stay gaps")
    if old.get("steppedLine"):
        custom["lineInterpolation"] = "stepAfter"
    if old.get("stack"):
        custom["stacking"] = {"mode": "percent" if old.get("percentage") else "normal", "group": "A"}
    options = panel.setdefault("options", {})
    _legend(old.get("legend"), options)
    legend = old.get("legend") or {}
    tooltip = old.get("tooltip") or {}
    options["tooltip"] = {"mode": "multi" if tooltip.get("shared") else "single",
                          "sort": {1: "asc", 2: "desc"}.get(tooltip.get("sort"), "none") if tooltip.get("shared") else "none"}
    overrides = panel["fieldConfig"]["overrides"]
    for alias, colour in sorted((old.get("aliasColors") or {}).items()):
        if colour:
            overrides.append(_fixed_colour(alias, colour))
    for override in old.get("seriesOverrides") or []:
        rule = _series_override(override, yaxes, y1, work, where)
        if rule:
            overrides.append(rule)
    steps = _graph_thresholds(old.get("thresholds") or [])
    if steps:
        defaults["thresholds"] = steps[0]
        custom["thresholdsStyle"] = {"mode": steps[1]}
    if xaxis.get("show") is False:
        overrides.append({"matcher": {"id": "byType", "options": "time"},
                          "properties": [{"id": "custom.axisPlacement", "value": "hidden"}]})
    lost = []
    if legend.get("sort"):
        lost.append(f"legend sorted by {legend['sort']}")
    if legend.get("hideEmpty") or legend.get("hideZero"):
        lost.append("legend hiding empty/zero series")
    if (old.get("yaxis") or {}).get("align"):
        lost.append("aligned y-axes")
    if any(t.get("yaxis") == "right" for t in old.get("thresholds") or [] if isinstance(t, dict)):
        lost.append("thresholds on the right axis (drawn on the left)")
    if old.get("timeRegions"):
        lost.append(f"{len(old['timeRegions'])} time region(s) (use annotations)")
    if old.get("percentage") and not old.get("stack"):
        lost.append("percentage without stacking")
    if lost:
        work.note(where, "graph options with no timeseries equivalent dropped: " + "; ".join(lost))
    _report_unread(old, work, where, "graph")


def _series_override(override: Any, yaxes: list, y1: dict, work: _Import, where: str) -> dict | None:
    if not isinstance(override, dict) or not override.get("alias"):
        return None
    alias = override["alias"]
    regex = bool(re.fullmatch(r"([/~@;%#'])(.*?)\1([gimsuy]*)", alias))
    props: list[dict] = []
    for key, value in override.items():
        if key == "yaxis" and value == 2:
            y2 = _axis(yaxes[1] if len(yaxes) > 1 else None)
            props += [{"id": k, "value": v} for k, v in y2.items() if k != "custom" and v != y1.get(k)]
            props += [{"id": f"custom.{k}", "value": v} for k, v in (y2.get("custom") or {}).items()
                      if v != (y1.get("custom") or {}).get(k)]
            if not any(p["id"] == "custom.axisPlacement" for p in props):
                props.append({"id": "custom.axisPlacement", "value": "right"})
        elif key == "fill":
            props.append({"id": "custom.fillOpacity", "value": value * 10})
        elif key == "fillBelowTo":
            props.append({"id": "custom.fillBelowTo", "value": value})
        elif key == "fillGradient" and value:
            props += [{"id": "custom.gradientMode", "value": "opacity"}, {"id": "custom.fillOpacity", "value": value * 10}]
        elif key == "points":
            props.append({"id": "custom.showPoints", "value": "always" if value else "never"})
        elif key == "bars":
            props += [{"id": "custom.drawStyle", "value": "bars"}, {"id": "custom.fillOpacity", "value": 100}] if value \
                else [{"id": "custom.drawStyle", "value": "line"}]
        elif key == "lines" and value is False:
            props.append({"id": "custom.lineWidth", "value": 0})
        elif key == "linewidth":
            props.append({"id": "custom.lineWidth", "value": value})
        elif key == "pointradius":
            props.append({"id": "custom.pointSize", "value": 2 + value * 2})
        elif key == "dashes" and value:
            props.append({"id": "custom.lineStyle", "value": {
                "fill": "dash", "dash": [override.get("dashLength", 10), override.get("spaceLength", 10)]}})
        elif key == "stack":
            props.append({"id": "custom.stacking", "value": {"mode": "normal", "group": str(value)}})
        elif key == "color":
            props.append({"id": "color", "value": {"mode": "fixed", "fixedColor": value}})
        elif key == "transform":
            props.append({"id": "custom.transform", "value": "negative-Y" if value == "negative-Y" else "constant"})
        elif key in ("legend", "hideTooltip") and (value is False if key == "legend" else value):
            hide = next((p for p in props if p["id"] == "custom.hideFrom"), None)
            if hide is None:
                hide = {"id": "custom.hideFrom", "value": {"legend": False, "tooltip": False, "viz": False}}
                props.append(hide)
            hide["value"]["legend" if key == "legend" else "tooltip"] = True
    dropped = sorted(set(override) - _SERIES_OVERRIDE_KEYS)
    if dropped:
        work.note(where, f"series override '{alias}': {', '.join(dropped)} not carried over")
    return {"matcher": {"id": "byRegexp" if regex else "byName", "options": alias}, "properties": props} if props else None


def _graph_thresholds(thresholds: list) -> tuple[dict, str] | None:
    rules = sorted((t for t in thresholds if isinstance(t, dict) and _number(t.get("value")) is not None),
                   key=lambda t: _number(t["value"]))
    if not rules:
        return None

    def colour(t: dict) -> str:
        return {"critical": "red", "warning": "orange"}.get(t.get("colorMode"), None) or \
            (t.get("fillColor") or t.get("lineColor") or "red")

    steps: list[dict] = []
    for i, t in enumerate(rules):
        following = rules[i + 1] if i + 1 < len(rules) else None
        if t.get("op") == "gt":
            steps.append({"color": colour(t), "value": _number(t["value"])})
        elif t.get("op") == "lt":
            if not steps:
                steps.append({"color": colour(t), "value": None})
            after = colour(following) if following and following.get("op") == "lt" else "transparent"
            steps.append({"color": after, "value": _number(t["value"])})
    if steps and steps[0]["value"] is not None:
        steps.insert(0, {"color": "transparent", "value": None})
    area = any(t.get("fill") for t in rules)
    line = any(t.get("line") for t in rules)
    mode = "line+area" if area and line else "area" if area else "line"
    return {"mode": "absolute", "steps": steps}, mode


def _graph_series_to_bargauge(panel: dict, old: _Old, work: _Import, where: str) -> None:
    # One bar per series: how lines are drawn, the legend and the tooltip have nothing to apply to.
    for key in ("bars", "lines", "fill", "linewidth", "points", "pointradius", "nullPointMode", "tooltip", "yaxis",
                "legend", "stack", "steppedLine", "dashes", "seriesOverrides", "thresholds", "timeRegions"):
        old.get(key)
    panel["type"] = "bargauge"
    defaults = _defaults(panel)
    defaults.update({k: v for k, v in _axis((old.get("yaxes") or [None])[0]).items() if k != "custom"})
    defaults["color"] = {"mode": "palette-classic"}
    values = (old.get("xaxis") or {}).get("values") or ["total"]
    panel["options"] = {"orientation": "auto", "displayMode": "basic",
                        "reduceOptions": {"values": False, "calcs": [REDUCERS.get(v, v) for v in values]}}
    for alias, colour in sorted((old.get("aliasColors") or {}).items()):
        if colour:
            panel["fieldConfig"]["overrides"].append(_fixed_colour(alias, colour))
    work.note(where, "graph in series mode became a bar gauge (one bar per series), as Grafana migrates it")


_SINGLESTAT_KEYS = ("format", "decimals", "thresholds", "colors", "colorBackground", "colorValue", "colorPrefix",
                    "colorPostfix", "valueName", "valueMaps", "rangeMaps", "mappingType", "mappingTypes", "nullText",
                    "nullPointMode", "sparkline", "gauge", "prefix", "postfix", "prefixFontSize", "postfixFontSize",
                    "valueFontSize", "tableColumn", "maxDataPoints_", "cacheTimeout_", "editable", "error", "isNew",
                    "span", "minSpan", "links_", "interval_", "options", "strokeWidth")


def _singlestat(panel: dict, work: _Import, where: str) -> None:
    old = _take(panel, *_SINGLESTAT_KEYS)
    gauge = old.get("gauge") or {}
    sparkline, colour_background, colour_value = old.get("sparkline") or {}, old.get("colorBackground"), old.get("colorValue")
    panel["type"] = "gauge" if gauge.get("show") else "stat"
    defaults = _defaults(panel)
    if old.get("format") and old["format"] != "none":
        defaults.setdefault("unit", old["format"])
    elif "unit" not in defaults:
        defaults["unit"] = "none"
    if _number(old.get("decimals")) is not None:
        defaults["decimals"] = _number(old["decimals"])
    if old.get("nullText"):
        defaults["noValue"] = old["nullText"]
    steps = _thresholds(old.get("thresholds") or "", old.get("colors") or []) if old.get("thresholds") else None
    if steps:
        defaults["thresholds"] = steps
        defaults["color"] = {"mode": "thresholds"}
    mappings = _value_mappings(old)
    if mappings:
        defaults["mappings"] = mappings
    if gauge.get("show"):
        if _number(gauge.get("minValue")) is not None:
            defaults["min"] = _number(gauge["minValue"])
        if _number(gauge.get("maxValue")) is not None:
            defaults["max"] = _number(gauge["maxValue"])
    value_name = old.get("valueName", "avg")
    calcs = [REDUCERS.get(value_name, "mean")]
    options: dict[str, Any] = {"reduceOptions": {"calcs": calcs, "values": False}, "orientation": "horizontal"}
    if old.get("tableColumn"):
        options["reduceOptions"]["fields"] = f"/^{old['tableColumn']}$/"
    if panel["type"] == "stat":
        options["graphMode"] = "area" if sparkline.get("show") else "none"
        options["colorMode"] = "background" if colour_background else "value" if colour_value else "none"
        options["textMode"] = "name" if value_name == "name" else "auto"
        options["justifyMode"] = "auto"
    else:
        options["showThresholdLabels"] = bool(gauge.get("thresholdLabels"))
        options["showThresholdMarkers"] = gauge.get("thresholdMarkers", True)
    panel["options"] = options
    lost = []
    if old.get("prefix") or old.get("postfix"):
        lost.append(f"prefix/postfix text {old.get('prefix', '')!r}/{old.get('postfix', '')!r} (use a custom unit)")
    if value_name not in REDUCERS and value_name != "name":
        lost.append(f"valueName '{value_name}' (shows the mean)")
    if old.get("valueFontSize") not in (None, "80%"):
        lost.append(f"valueFontSize {old['valueFontSize']}")
    if lost:
        work.note(where, "singlestat options with no stat equivalent dropped: " + "; ".join(lost))
    _report_unread(old, work, where, "singlestat")


_TABLE_OLD_KEYS = ("styles", "transform", "columns", "sort", "fontSize", "pageSize", "scroll", "showHeader",
                   "editable", "error", "isNew", "span", "minSpan", "options")
_COLUMNS = {"avg": "mean", "min": "min", "max": "max", "total": "sum", "current": "lastNotNull", "count": "count"}
_TRANSFORMS = {"timeseries_to_rows": "seriesToRows", "timeseries_to_columns": "seriesToColumns",
               "timeseries_aggregations": "reduce", "table": "merge"}
_COLOUR_MODES = {"cell": "color-background", "row": "color-background", "value": "color-text"}


def _table_style(style: dict) -> tuple[list[dict], list[str]]:
    props: list[dict] = []
    lost: list[str] = []
    if style.get("alias"):
        props.append({"id": "displayName", "value": style["alias"]})
    if style.get("unit") and style.get("type") not in ("date", "string", "hidden"):
        props.append({"id": "unit", "value": style["unit"]})
    if _number(style.get("decimals")) is not None:
        props.append({"id": "decimals", "value": _number(style["decimals"])})
    if style.get("type") == "date":
        props.append({"id": "unit", "value": f"time: {style.get('dateFormat') or 'YYYY-MM-DD HH:mm:ss'}"})
    if style.get("type") == "hidden":
        props.append({"id": "custom.hideFrom.viz", "value": True})
    if style.get("link"):
        props.append({"id": "links", "value": [{"title": style.get("linkTooltip") or "", "url": style.get("linkUrl") or "",
                                               "targetBlank": bool(style.get("linkTargetBlank"))}]})
    if style.get("colorMode") in _COLOUR_MODES:
        props.append({"id": "custom.cellOptions", "value": {"type": _COLOUR_MODES[style["colorMode"]]}})
        if style["colorMode"] == "row":
            lost.append(f"style '{style.get('pattern')}' colours the whole row (now the cell)")
    if style.get("align") and style["align"] != "auto":
        props.append({"id": "custom.align", "value": style["align"]})
    steps = _thresholds(style.get("thresholds") or [], style.get("colors") or [])
    if steps:
        props.append({"id": "thresholds", "value": steps})
    mappings = _value_mappings(style)
    if mappings:
        props.append({"id": "mappings", "value": mappings})
    return props, lost


def _table_old(panel: dict, work: _Import, where: str) -> None:
    old = _take(panel, *_TABLE_OLD_KEYS)
    panel["type"] = "table"
    config = panel.setdefault("fieldConfig", {})
    defaults = config.setdefault("defaults", {})
    overrides = config.setdefault("overrides", [])
    lost: list[str] = []
    for style in old.get("styles") or []:
        if not isinstance(style, dict):
            continue
        props, style_lost = _table_style(style)
        lost += style_lost
        if style.get("pattern") == "/.*/":
            for prop in props:
                key = prop["id"]
                if key.startswith("custom."):
                    _set_path(defaults.setdefault("custom", {}), key.removeprefix("custom."), prop["value"])
                else:
                    defaults.setdefault(key, prop["value"])
        elif props:
            regex = bool(re.fullmatch(r"/.*/", style.get("pattern") or ""))
            overrides.append({"matcher": {"id": "byRegexp" if regex else "byName", "options": style.get("pattern")},
                              "properties": props})
    defaults.setdefault("unit", "short")
    transform = old.get("transform")
    transformations = panel.setdefault("transformations", [])
    if transform in _TRANSFORMS:
        options: dict[str, Any] = {"reducers": []}
        if transform == "timeseries_aggregations":
            options = {"includeTimeField": False,
                       "reducers": [_COLUMNS.get(c.get("value"), c.get("value")) for c in old.get("columns") or []
                                    if isinstance(c, dict)]}
        transformations.append({"id": _TRANSFORMS[transform], "options": options})
    elif transform:
        lost.append(f"transform '{transform}'")
    sort = old.get("sort") or {}
    if sort.get("col") is not None:
        lost.append(f"sort by column {sort['col']} (click a header to sort)")
    panel["options"] = {"showHeader": old.get("showHeader", True), "cellHeight": "sm"}
    if lost:
        work.note(where, "table-old options with no table equivalent dropped: " + "; ".join(lost))
    _report_unread(old, work, where, "table-old")


def _set_path(target: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


_PIECHART_KEYS = ("aliasColors", "format", "decimals", "valueName", "legendType", "pieType", "legend", "breakPoint",
                  "combine", "fontSize", "strokeWidth", "cacheTimeout", "nullPointMode", "maxDataPoints_",
                  "editable", "error", "isNew", "span", "minSpan", "options")


def _piechart(panel: dict, work: _Import, where: str) -> None:
    old = _take(panel, *_PIECHART_KEYS)
    panel["type"] = "piechart"
    defaults = _defaults(panel)
    defaults["unit"] = old.get("format") or defaults.get("unit") or "short"
    defaults["decimals"] = _number(old.get("decimals")) or 0  # the plugin's default was 0, piechart's is 1
    for alias, colour in sorted((old.get("aliasColors") or {}).items()):
        if colour:
            panel["fieldConfig"]["overrides"].append(_fixed_colour(alias, colour))
    legend_old = old.get("legend") or {}
    legend = {"displayMode": "table", "showLegend": legend_old.get("show", True) is not False,
              "placement": "bottom" if old.get("legendType") == "Under graph" else "right", "values": [], "calcs": []}
    if legend_old.get("values"):
        legend["values"].append("value")
    if legend_old.get("percentage"):
        legend["values"].append("percent")
    options: dict[str, Any] = {"legend": legend, "pieType": "donut" if old.get("pieType") == "donut" else "pie",
                               "reduceOptions": {"calcs": [REDUCERS.get(old.get("valueName") or "current", "lastNotNull")],
                                                 "values": False},
                               "tooltip": {"mode": "single", "sort": "none"}}
    if old.get("legendType") == "On graph":
        legend["showLegend"] = False
        options["displayLabels"] = ["name"] + [v for v in legend["values"]]
    panel["options"] = options
    combine = old.get("combine") or {}
    if _number(combine.get("threshold")):
        work.note(where, f"pie chart options with no piechart equivalent dropped: combining slices under "
                  f"{combine['threshold']} into '{combine.get('label') or 'Others'}'")
    _report_unread(old, work, where, "grafana-piechart-panel")


def queries(board: dict) -> list[str]:
    """Every PromQL an imported dashboard runs: its panels' targets, its annotations' and its query
    variables' (label_values as a series selector)."""
    exprs = [target["expr"] for panel in panels(board) for target in panel.get("targets") or []
             if isinstance(target, dict) and isinstance(target.get("expr"), str) and target["expr"].strip()]
    exprs += [holder["expr"] for annotation in annotations(board) for holder, _ in annotation_queries(annotation)]
    return exprs + variable_exprs(board)


def variable_exprs(board: dict) -> list[str]:
    """PromQL the query variables of an imported dashboard run (label_values as a series selector)."""
    out = []
    for variable in (board.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = (query.get("query") if isinstance(query, dict) else query) or ""
        text = text.strip()
        if not text or METRICS.match(text):
            continue
        if m := LABEL_VALUES.match(text):
            if m.group(1):
                out.append(f"count by ({m.group(2)}) ({m.group(1)})" if not m.group(2).startswith("$") else m.group(1))
        elif m := LABEL_NAMES_MATCH.match(text):
            out.append(m.group(1))
        elif m := QUERY_RESULT.match(text):
            out.append(m.group(1))
        elif not text.startswith("label_names("):
            out.append(text)
    return out


def variable_values(board: dict) -> dict[str, tuple[str, str]]:
    """Each template variable of a dashboard as Grafana would fill it in with its defaults:
    (value in a regex matcher, value elsewhere); "All" is the variable's allValue or `.*`."""
    values = {}
    for v in (board.get("templating") or {}).get("list") or []:
        name, kind = v.get("name"), v.get("type")
        if not name or kind in ("datasource", "adhoc"):
            continue
        current = (v.get("current") or {}).get("value")
        current = current if isinstance(current, list) else [current] if current not in (None, "") else []
        concrete = [c for c in current if c != "$__all"]
        options = [o.get("value") for o in v.get("options") or [] if isinstance(o, dict) and o.get("value") != "$__all"]
        query = v.get("query") if isinstance(v.get("query"), str) else ""
        if kind in ("custom", "interval") and not options:
            options = [o.strip() for o in query.split(",") if o.strip()]
        if kind in ("textbox", "constant"):
            options = [query] if query else options
        single = (concrete or options or [f"{name}-value"])[0]
        if kind == "interval" and str(single).startswith("$__auto"):
            single = "1m"
        everything = not concrete and v.get("includeAll") or "$__all" in current
        regex = (v.get("allValue") or ".*") if everything else "|".join(map(str, concrete)) if len(concrete) > 1 else str(single)
        values[name] = (regex, str(single))
    return values


def interpolate(expr: str, board: dict) -> str:
    """`expr` with the dashboard's template variables filled in as Grafana would with their defaults
    (macros such as `$__rate_interval` are left for syntax.promql.substitute_macros)."""
    values = variable_values(board)

    def fill(m: re.Match) -> str:
        name = next(g for g in (m.group(1), m.group(2), m.group(4)) if g)
        if name not in values:
            return m.group(0)
        regex, single = values[name]
        before = expr[:m.start()].rstrip()
        return regex if before.endswith(('=~"', '!~"')) else single
    return VARIABLE.sub(fill, expr)
