"""Panel helpers over grafana-foundation-sdk builders, shared by every team's dashboards.

Queries are written with `%(selector)s` (`SELECTOR`) where the team's label matchers go;
datasources, panel ids and the selector itself are filled in later, per stack, by
`dashboards.finalize`.
"""
from __future__ import annotations

import json
import warnings
from typing import Any

with warnings.catch_warnings():  # the SDK nudges towards dashboard v2, which Grafana 12 does not serve by default
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import (
        bargauge, barchart, common, dashboard, gauge, histogram, piechart, prometheus, stat, table, timeseries,
    )
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode, GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement, StackingMode, VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync, DataTransformerConfig, FieldColorModeId, GridPos, Threshold, ThresholdsMode,
)
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel
from grafana_foundation_sdk.models.piechart import PieChartType
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from syntax.template import SELECTOR


def board(uid: str, title: str, *, refresh: str = "30s", time_from: str = "now-6h",
          description: str = "", tags: tuple[str, ...] = ()) -> dashboard.Dashboard:
    """A dashboard; `finalize` adds the templated datasource, bound to each stack's Prometheus."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(list(tags))
        .refresh(refresh)
        .time(time_from, "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )


def row(title: str) -> dashboard.Row:
    return dashboard.Row(title)


def query(expr: str, legend: str | None = None, *, instant: bool = False, table_format: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if table_format:
        q = q.format(PromQueryFormat.TABLE)
    return q


def quantile(metric: str, q: str, by: str = "", window: str = "$__rate_interval") -> str:
    """`histogram_quantile` over a histogram's buckets, summed across instances (kept: `le`, `by`)."""
    grouping = ", ".join(filter(None, ("le", by)))
    return f"histogram_quantile({q}, sum by ({grouping}) (rate({metric}_bucket{{{SELECTOR}}}[{window}])))"


def thresholds(base: str, *steps: Any) -> dashboard.ThresholdsConfig:
    """`thresholds("green", 0.1, "orange", 0.3, "red")`, read as in Grafana's editor."""
    pairs = [Threshold(value=None, color=base)]
    pairs += [Threshold(value=_whole(steps[i]), color=steps[i + 1]) for i in range(0, len(steps), 2)]
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(pairs)


def _whole(value: float) -> float | int:
    # Grafana stores 2, not 2.0: keep whole numbers whole so the JSON matches what it sends back.
    return int(value) if float(value).is_integer() else value


# Without thresholds Grafana colours stat, gauge and bar gauge values red from 80: plain counts
# (users, requests) get one neutral colour instead.
NEUTRAL = "text"


def organize(exclude: tuple[str, ...] = (), rename: dict[str, str] | None = None,
             order: tuple[str, ...] = ()) -> DataTransformerConfig:
    """Hide, rename and order table columns."""
    options = {"excludeByName": {name: True for name in exclude}, "renameByName": rename or {}}
    if order:
        options["indexByName"] = {name: index for index, name in enumerate(order)}
    return DataTransformerConfig(id_val="organize", options=options)


def threshold_line(panel: Any) -> Any:
    """Draw a time series' thresholds as a dashed line (an alert's: dashboards.alerts.alert_line)."""
    return panel.thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))


def _common(panel: Any, title: str, unit: str, queries: tuple, w: int, h: int, description: str,
            steps: dashboard.ThresholdsConfig | None, min: float | None, max: float | None) -> Any:
    """What every panel takes: title, unit, size, thresholds, bounds and queries."""
    panel = panel.title(title).unit(unit).span(w).height(h)
    if description:
        panel = panel.description(description)
    if steps is not None:
        panel = panel.thresholds(steps)
    if min is not None:
        panel = panel.min(min)
    if max is not None:
        panel = panel.max(max)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def _legend(table_mode: bool) -> common.VizLegendOptions:
    legend = common.VizLegendOptions().show_legend(True).placement(LegendPlacement.BOTTOM)
    if table_mode:
        return legend.display_mode(LegendDisplayMode.TABLE).calcs(["mean", "max", "lastNotNull"])
    return legend.display_mode(LegendDisplayMode.LIST).calcs([])


def timeseries_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 12, h: int = 8,
                     description: str = "", steps: dashboard.ThresholdsConfig | None = None,
                     stacked: bool = False, legend_table: bool = False,
                     min: float | None = None, max: float | None = None) -> timeseries.Panel:
    panel = timeseries.Panel().line_width(1).fill_opacity(10).legend(_legend(legend_table))
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
    return _common(panel, title, unit, queries, w, h, description, steps, min, max)


def stat_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 6, h: int = 4,
               description: str = "", steps: dashboard.ThresholdsConfig | None = None,
               min: float | None = None, max: float | None = None) -> stat.Panel:
    panel = (stat.Panel().reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
             .color_scheme(dashboard.FieldColor().mode(FieldColorModeId.THRESHOLDS)))
    return _common(panel, title, unit, queries, w, h, description, steps or thresholds(NEUTRAL), min, max)


def gauge_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 6, h: int = 6,
                description: str = "", steps: dashboard.ThresholdsConfig | None = None,
                min: float | None = None, max: float | None = None) -> gauge.Panel:
    panel = gauge.Panel().reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    return _common(panel, title, unit, queries, w, h, description, steps or thresholds(NEUTRAL), min, max)


def bargauge_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 12, h: int = 8,
                   description: str = "", steps: dashboard.ThresholdsConfig | None = None,
                   min: float | None = None, max: float | None = None) -> bargauge.Panel:
    panel = (bargauge.Panel().display_mode(BarGaugeDisplayMode.GRADIENT)
             .orientation(VizOrientation.HORIZONTAL)
             .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"])))
    return _common(panel, title, unit, queries, w, h, description, steps or thresholds(NEUTRAL), min, max)


def table_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 12, h: int = 8,
                description: str = "", steps: dashboard.ThresholdsConfig | None = None) -> table.Panel:
    panel = table.Panel().with_transformation(DataTransformerConfig(id_val="merge", options={}))
    return _common(panel, title, unit, queries, w, h, description, steps, None, None)


def barchart_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 12, h: int = 8,
                   description: str = "", steps: dashboard.ThresholdsConfig | None = None) -> barchart.Panel:
    panel = (barchart.Panel().legend(_legend(False))
             .orientation(VizOrientation.HORIZONTAL)
             .with_transformation(DataTransformerConfig(id_val="reduce", options={"reducers": ["lastNotNull"]})))
    return _common(panel, title, unit, queries, w, h, description, steps, None, None)


def histogram_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 12, h: int = 8,
                    description: str = "") -> histogram.Panel:
    panel = histogram.Panel().legend(_legend(False))
    return _common(panel, title, unit, queries, w, h, description, None, None, None)


def piechart_panel(title: str, unit: str, *queries: prometheus.Dataquery, w: int = 8, h: int = 8,
                   description: str = "") -> piechart.Panel:
    panel = (piechart.Panel().pie_type(PieChartType.DONUT)
             .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
             .legend(piechart.PieChartLegendOptions().show_legend(True).display_mode(LegendDisplayMode.TABLE)
                     .placement(LegendPlacement.RIGHT).values(["value", "percent"])))
    return _common(panel, title, unit, queries, w, h, description, None, None, None)


def to_json(builder: Any) -> str:
    """A foundation-sdk dashboard builder as dashboard JSON, its panels laid out on the grid: encoded
    once, in the SDK's key order (canonical_json sorts them), and without NaN or infinities (a
    ValueError: JSON has none)."""
    board = builder.build()
    if not isinstance(board, DashboardModel):
        raise TypeError(f"build() gave a {type(board).__name__}, not a dashboard (dashboards.board(...))")
    _flow_layout(board.panels or [])
    return JSONEncoder(allow_nan=False).encode(board)


def to_dict(builder: Any) -> dict:
    """The same, as plain JSON data."""
    return json.loads(to_json(builder))


def _flow_layout(items: list, columns: int = 24) -> None:
    """Place panels left to right, wrapping before one would cross the grid's edge (the SDK's own
    layout lets it overflow); a row starts a new line and spans the width."""
    x = y = line_height = 0
    for panel in items:
        if panel.grid_pos is None:
            panel.grid_pos = GridPos(h=8, w=12, x=0, y=0)
        pos = panel.grid_pos
        if panel.type_val == "row" or x + pos.w > columns:
            x, y, line_height = 0, y + line_height, 0
        if panel.type_val == "row":
            pos.x, pos.y, pos.w, pos.h = 0, y, columns, 1
            y += 1
            continue
        pos.x, pos.y = x, y
        x += pos.w
        line_height = max(line_height, pos.h)
