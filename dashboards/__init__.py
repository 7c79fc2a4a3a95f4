"""The dashboard-building library every team uses: panels, finalization per stack, JSON import."""
from syntax.promql import number  # PromQL number literals, e.g. prices in queries

from syntax.template import source_selector  # %(selector:<source>)s: a source's selector in queries

from .alerts import alert_line, alert_query, alert_thresholds
from .panels import (
    SELECTOR, bargauge_panel, barchart_panel, board, gauge_panel, histogram_panel, organize, piechart_panel,
    quantile, query, row, stat_panel, table_panel, threshold_line, thresholds, timeseries_panel,
)

__all__ = [
    "SELECTOR", "alert_line", "alert_query", "alert_thresholds", "bargauge_panel", "barchart_panel", "board",
    "gauge_panel", "histogram_panel", "number", "organize", "piechart_panel", "quantile", "query", "row",
    "source_selector", "stat_panel", "table_panel", "threshold_line", "thresholds", "timeseries_panel",
]
