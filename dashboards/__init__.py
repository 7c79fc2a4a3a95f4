"""The dashboard-building library every team uses: panels, finalization per stack, JSON import.

Team code imports the panels from here (`from dashboards import board, query`). They are loaded when
first used (PEP 562): the program itself only finalizes and imports JSON (`dashboards.finalize`,
`dashboards.importer`) and never loads grafana-foundation-sdk; the team-code worker does, once.
"""
import importlib

_FROM = {
    "number": "syntax.promql",  # PromQL number literals, e.g. prices in queries
    "source_selector": "syntax.template",  # %(selector:<source>)s: a source's selector in queries
    **dict.fromkeys(("alert_line", "alert_query", "alert_thresholds"), "dashboards.alerts"),
    **dict.fromkeys((
        "SELECTOR", "bargauge_panel", "barchart_panel", "board", "gauge_panel", "histogram_panel", "organize",
        "piechart_panel", "quantile", "query", "row", "stat_panel", "table_panel", "threshold_line", "thresholds",
        "timeseries_panel"), "dashboards.panels"),
}

__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name in _FROM:
        value = getattr(importlib.import_module(_FROM[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
