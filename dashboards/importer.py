"""Dashboards exported from Grafana as JSON: kept as they are, legacy `graph` panels made `timeseries`."""
from __future__ import annotations

import json
from pathlib import Path

from .finalize import panels

# Options of the legacy graph panel that timeseries does not read.
_GRAPH_ONLY = (
    "aliasColors", "bars", "dashLength", "dashes", "fill", "fillGradient", "hiddenSeries", "legend",
    "lines", "linewidth", "nullPointMode", "percentage", "pointradius", "points", "renderer",
    "seriesOverrides", "spaceLength", "stack", "steppedLine", "thresholds", "timeRegions", "tooltip",
    "xaxis", "yaxes", "yaxis",
)


def load_exported(path: Path) -> dict:
    """The dashboard in an exported JSON file; ValueError saying what is wrong with it."""
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    return from_export(board)


def from_export(board: object) -> dict:
    """The dashboard in exported JSON data (read by estate.files.read_json, which bounds size and
    depth); ValueError saying what is wrong with it."""
    if isinstance(board, dict) and isinstance(board.get("dashboard"), dict):
        board = board["dashboard"]  # the API's export wraps the model in {"dashboard": ..., "meta": ...}
    if not isinstance(board, dict) or not isinstance(board.get("panels"), list) or not board.get("title"):
        raise ValueError("not a Grafana dashboard: needs a title and a panels list")
    for panel in panels(board):
        if not isinstance(panel, dict) or "type" not in panel:
            raise ValueError("every panel needs a type")
        if panel["type"] == "graph":
            _graph_to_timeseries(panel)
    return board


def _graph_to_timeseries(panel: dict) -> None:
    axes = panel.get("yaxes") if isinstance(panel.get("yaxes"), list) else []  # exports hold odd shapes too
    unit = next((axis["format"] for axis in axes
                 if isinstance(axis, dict) and isinstance(axis.get("format"), str) and axis["format"]), None)
    for key in _GRAPH_ONLY:
        panel.pop(key, None)
    panel["type"] = "timeseries"
    field_config = panel.get("fieldConfig")
    if not isinstance(field_config, dict):
        field_config = panel["fieldConfig"] = {"defaults": {}, "overrides": []}
    defaults = field_config.get("defaults")
    if not isinstance(defaults, dict):
        defaults = field_config["defaults"] = {}
    if unit and "unit" not in defaults:
        defaults["unit"] = unit
