"""The error-budget row a team's SLOs add to its dashboard: per SLO, the SLI, the budget left, the burn rate.

The queries are the alerts' own (estate.slo), so the panels show what the burn-rate alerts compare.
The SLI and the budget are instant queries over the SLO's whole window (one evaluation, not one per
point of a 30-day range).
"""
from __future__ import annotations

from dashboards.finalize import to_dict
from dashboards.panels import board, query, row, stat_panel, threshold_line, thresholds, timeseries_panel

from . import slo as slos_
from .model import ConfigError
from .slo import PAGE, Slo

ROW_TITLE = "Error budget"
BUDGET_LOW = 0.25  # orange below a quarter of the budget left: time to slow down risky changes


def sli_panel(slo: Slo):
    return stat_panel(
        f"{slo.description}: SLI", "percentunit", query(slos_.good_ratio(slo, slo.window), instant=True),
        w=6, h=6, steps=thresholds("red", slo.objective, "green"),
        description=f"Good events over all events in the last {slo.window}; the objective is "
                    f"{slo.objective:.2%} (green from there).").decimals(2)


def budget_panel(slo: Slo):
    return stat_panel(
        f"{slo.description}: error budget left", "percentunit", query(slos_.budget_remaining(slo), instant=True),
        w=6, h=6, steps=thresholds("red", 0, "orange", BUDGET_LOW, "green"),
        description=f"The share of the {slo.window} error budget ({1 - slo.objective:.2%} of events) not spent "
                    "yet: 100 % with no error, 0 % when the objective is just met, negative when it is missed.",
    ).decimals(1)


def burn_rate_panel(slo: Slo):
    lowest_page = min(float(p.factor) for p in PAGE)
    return threshold_line(timeseries_panel(
        f"{slo.description}: burn rate", "short",
        *(query(slos_.burn_rate(slo, p.long), p.long) for p in PAGE),
        w=12, h=6, min=0, steps=thresholds("green", 1, "orange", lowest_page, "red"),
        description="How many times faster than the objective allows the budget burns (1: exactly on "
                    f"budget). {slo.name}FastBurn pages at 14.4 over 1h and 5m or 6 over 6h and 30m; "
                    f"{slo.name}SlowBurn opens a ticket at 3 over 1d and 2h or 1 over 3d and 6h."))


def error_budget_panels(slos: list[Slo]) -> list[dict]:
    """The row and its panels as dashboard JSON, laid out from y = 0."""
    part = board("error-budget", ROW_TITLE).with_row(row(ROW_TITLE))
    for slo in slos:
        part = part.with_panel(sli_panel(slo)).with_panel(budget_panel(slo)).with_panel(burn_rate_panel(slo))
    return to_dict(part)["panels"]


def with_error_budget_row(dashboard: dict, slos: list[Slo]) -> dict:
    """`dashboard` with the error-budget row of `slos` below everything it already shows."""
    if not slos:
        return dashboard
    panels = list(dashboard.get("panels") or [])
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels if "gridPos" in p), default=0)
    added = error_budget_panels(slos)
    for panel in added:
        panel["gridPos"]["y"] += bottom
    return {**dashboard, "panels": panels + added}


def with_error_budget_rows(sources: list[tuple[str, dict]], slos: list[Slo], team_file: str) -> list[tuple[str, dict]]:
    """A team's dashboards (source file, JSON) with each SLO's panels on the dashboard it names (default: the first)."""
    if not slos:
        return sources
    uids = [board.get("uid") for _, board in sources]
    problems = [(f"slos.{i}.dashboard", f"unknown dashboard '{s.dashboard}'; the team's: {', '.join(map(str, uids)) or 'none'}")
                for i, s in enumerate(slos) if s.dashboard is not None and s.dashboard not in uids]
    if not sources:
        problems.append(("slos", "the error-budget row needs a dashboard: the team has none"))
    if problems:
        raise ConfigError(team_file, problems)
    return [(source, with_error_budget_row(board, [s for s in slos if (s.dashboard or uids[0]) == board.get("uid")]))
            for source, board in sources]
