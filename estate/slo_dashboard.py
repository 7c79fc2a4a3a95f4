"""Where a team's SLOs put their error-budget row: below everything on the dashboard each names
(default: the team's first).

The rows themselves are built by the team-code worker's own process (dashboards/error_budget.py),
which holds the panel library, so the program never loads it: this module says what each SLO's
panels show, and every row one of the team's dashboards could get. Which one it gets is known once
the team's code has answered (the first dashboard is the code's), so each possible row is asked for
while the code runs: one row in the usual case, all SLOs on the first dashboard.
"""
from __future__ import annotations

from . import slo as slos_
from .model import ConfigError
from .slo import PAGE, Slo


def error_budget(slo: Slo) -> dict:
    """What the SLO's panels show, as dashboards.error_budget.ErrorBudget's fields."""
    return {"name": slo.name, "description": slo.description, "objective": slo.objective, "window": slo.window,
            "sli": slos_.good_ratio(slo, slo.window), "budget_left": slos_.budget_remaining(slo),
            "burn_rates": [[slos_.burn_rate(slo, p.long), p.long] for p in PAGE],
            "lowest_page": min(float(p.factor) for p in PAGE)}


def possible_rows(slos: list[Slo]) -> list[tuple[int, ...]]:
    """Every set of the team's SLOs (their indices, in order) one dashboard could show: a dashboard an
    SLO names gets those that name it, and those that name none if it is the team's first."""
    named = {s.dashboard for s in slos if s.dashboard is not None}
    unnamed = tuple(i for i, s in enumerate(slos) if s.dashboard is None)
    rows = {unnamed} | {tuple(i for i, s in enumerate(slos) if s.dashboard == uid) for uid in named} \
        | {tuple(i for i, s in enumerate(slos) if s.dashboard in (uid, None)) for uid in named}
    return sorted(row for row in rows if row)


def with_error_budget_row(dashboard: dict, panels: list[dict]) -> dict:
    """`dashboard` with an error-budget row's `panels` (laid out from y = 0) below everything it already shows."""
    existing = list(dashboard.get("panels") or [])
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in existing if "gridPos" in p), default=0)
    added = [{**panel, "gridPos": {**panel["gridPos"], "y": panel["gridPos"]["y"] + bottom}} for panel in panels]
    return {**dashboard, "panels": existing + added}


def with_error_budget_rows(sources: list[tuple[str, dict]], slos: list[Slo], team_file: str,
                           rows: dict[tuple[int, ...], list[dict]]) -> list[tuple[str, dict]]:
    """A team's dashboards (source file, JSON) with each SLO's panels on the dashboard it names (default:
    the first); `rows` holds the panels of each of `possible_rows(slos)`."""
    if not slos:
        return sources
    uids = [board.get("uid") for _, board in sources]
    problems = [(f"slos.{i}.dashboard", f"unknown dashboard '{s.dashboard}'; the team's: {', '.join(map(str, uids)) or 'none'}")
                for i, s in enumerate(slos) if s.dashboard is not None and s.dashboard not in uids]
    if not sources:
        problems.append(("slos", "the error-budget row needs a dashboard: the team has none"))
    if problems:
        raise ConfigError(team_file, problems)
    result = []
    for source, board in sources:
        shown = tuple(i for i, s in enumerate(slos) if (s.dashboard or uids[0]) == board.get("uid"))
        result.append((source, with_error_budget_row(board, rows[shown]) if shown else board))
    return result
