"""The dashboard-building library every team uses: panels, finalization per stack, JSON import."""
from components.promql import number  # PromQL number literals, e.g. prices in queries

from .panels import (
    bargauge_panel, barchart_panel, board, gauge_panel, histogram_panel, piechart_panel, query, row,
    stat_panel, table_panel, threshold_line, thresholds, timeseries_panel,
)

__all__ = [
    "bargauge_panel", "barchart_panel", "board", "gauge_panel", "histogram_panel", "number", "piechart_panel",
    "query", "row", "stat_panel", "table_panel", "threshold_line", "thresholds", "timeseries_panel",
]
