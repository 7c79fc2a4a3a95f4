"""The error-budget row SLOs add to a team's dashboard: per SLO, the SLI, the budget left, the burn rate.

Built by the team-code worker's own process (never a team's, so no team code can change them) from
what the estate resolved for each SLO (estate/slo_dashboard.py): the queries are the burn-rate
alerts' own (estate/slo.py), so the panels show what the alerts compare. The SLI and the budget are
instant queries over the SLO's whole window (one evaluation, not one per point of a 30-day range).
"""
from __future__ import annotations

from dataclasses import dataclass

from .panels import board, query, row, stat_panel, threshold_line, thresholds, timeseries_panel, to_dict

ROW_TITLE = "Error budget"
BUDGET_LOW = 0.25  # orange below a quarter of the budget left: time to slow down risky changes


@dataclass(frozen=True)
class ErrorBudget:
    """One SLO as its panels show it (plain values: the worker never loads the estate's models)."""

    name: str
    description: str
    objective: float
    window: str
    sli: str  # PromQL: good events over all events in the window
    budget_left: str  # PromQL: the share of the window's error budget not spent yet
    burn_rates: list[list[str]]  # [PromQL, its window] for each paging window, shortest first
    lowest_page: float  # the lowest burn rate that pages


def sli_panel(slo: ErrorBudget):
    return stat_panel(
        f"{slo.description}: SLI", "percentunit", query(slo.sli, instant=True),
        w=6, h=6, steps=thresholds("red", slo.objective, "green"),
        description=f"Good events over all events in the last {slo.window}; the objective is "
                    f"{slo.objective:.2%} (green from there).").decimals(2)


def budget_panel(slo: ErrorBudget):
    return stat_panel(
        f"{slo.description}: error budget left", "percentunit", query(slo.budget_left, instant=True),
        w=6, h=6, steps=thresholds("red", 0, "orange", BUDGET_LOW, "green"),
        description=f"The share of the {slo.window} error budget ({1 - slo.objective:.2%} of events) not spent "
                    "yet: 100 % with no error, 0 % when the objective is just met, negative when it is missed.",
    ).decimals(1)


def burn_rate_panel(slo: ErrorBudget):
    return threshold_line(timeseries_panel(
        f"{slo.description}: burn rate", "short",
        *(query(expr, window) for expr, window in slo.burn_rates),
        w=12, h=6, min=0, steps=thresholds("green", 1, "orange", slo.lowest_page, "red"),
        description="How many times faster than the objective allows the budget burns (1: exactly on "
                    f"budget). {slo.name}FastBurn pages at 14.4 over 1h and 5m or 6 over 6h and 30m; "
                    f"{slo.name}SlowBurn opens a ticket at 3 over 1d and 2h or 1 over 3d and 6h."))


def error_budget_panels(slos: list[ErrorBudget]) -> list[dict]:
    """The row and its panels as dashboard JSON, laid out from y = 0."""
    part = board("error-budget", ROW_TITLE).with_row(row(ROW_TITLE))
    for slo in slos:
        part = part.with_panel(sli_panel(slo)).with_panel(budget_panel(slo)).with_panel(burn_rate_panel(slo))
    return to_dict(part)["panels"]
