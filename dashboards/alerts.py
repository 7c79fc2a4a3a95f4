"""Panels that show what an alert watches, built from the alert's resolved rule (estate.Rule).

A team's dashboards module gets each rule as it runs in the stack (`team.rule("HighErrorRate")`):
its quantity (PromQL, no comparison), comparison, threshold in force and unit. So a panel that shows
the alerted quantity queries exactly what the alert compares, and its colours change exactly where
the alert fires, in every stack, whatever the stack overrides:

    stat_panel("Error Rate (%)", "percent", alert_query(rule, unit="percent"),
               steps=alert_thresholds(rule, unit="percent", warning=rule.threshold / 2))
    alert_line(timeseries_panel("Memory Usage", "bytes", alert_query(rule, "{{instance}}")), rule)

Shown in another unit than the rule's (`unit:` in team.yaml), query and thresholds are scaled by
the same factor, declared once in UNIT_SCALES.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from syntax.promql import number, times

from .panels import dashboard, prometheus, query, threshold_line, thresholds

if TYPE_CHECKING:  # estate imports dashboards.finalize: no import of estate's package at load time
    from estate.team_view import AlertView as Rule  # what team code holds: the rule as its view shows it

# (unit of the rule's quantity, unit shown) -> factor; Grafana's unit ids
# (https://github.com/grafana/grafana/blob/main/packages/grafana-data/src/valueFormats/categories.ts).
UNIT_SCALES = {
    ("percentunit", "percent"): Decimal(100),
    ("s", "ms"): Decimal(1000),
}
ABOVE, BELOW = (">", ">="), ("<", "<=")


def scale(rule: Rule, unit: str | None) -> Decimal:
    """The factor from the rule's unit to `unit` (1 when the same or not given)."""
    if unit is None or unit == rule.unit:
        return Decimal(1)
    if (rule.unit, unit) not in UNIT_SCALES:
        known = ", ".join(f"{a} -> {b}" for a, b in UNIT_SCALES)
        raise ValueError(f"alert {rule.alert}: no scale from its unit {rule.unit!r} to {unit!r}; known: {known} "
                         "(set `unit:` on the alert in team.yaml)")
    return UNIT_SCALES[rule.unit, unit]


def _scaled(value: float, factor: Decimal) -> float:
    # in decimals, so 0.05 x 100 is 5 and 0.025 x 100 is 2.5, as a person would write them
    return float(Decimal(repr(float(value))) * factor)


def alert_query(rule: Rule, legend: str | None = None, *, unit: str | None = None, instant: bool = False,
                table_format: bool = False) -> prometheus.Dataquery:
    """The query of the rule's quantity (what the alert compares), in `unit` when given."""
    factor = scale(rule, unit)
    expr = rule.quantity if factor == 1 else times(rule.quantity, number(float(factor)))
    return query(expr, legend, instant=instant, table_format=table_format)


def alert_thresholds(rule: Rule, *, unit: str | None = None, warning: float | None = None,
                     warning_color: str = "orange", whole: bool = False) -> dashboard.ThresholdsConfig:
    """Green where the rule is quiet, red from its threshold in force on the side where it fires.

    `warning` (in the rule's unit) adds a `warning_color` band before the red one, kept on the quiet
    side of the threshold whatever a stack overrides. `whole`: the quantity counts whole things, so
    `> 0` turns red at 1 (Grafana colours a step from its value on, inclusive).
    """
    if rule.comparison not in ABOVE + BELOW:
        raise ValueError(f"alert {rule.alert}: only an alert comparing with >, >=, < or <= has a red zone "
                         f"(its comparison: {rule.comparison})")
    factor = scale(rule, unit)
    limit = rule.threshold + 1 if whole and rule.comparison == ">" else rule.threshold
    red, band = _scaled(limit, factor), None if warning is None else _scaled(warning, factor)
    if rule.comparison in ABOVE:
        if band is None:
            return thresholds("green", red, "red")
        return thresholds("green", min(band, red), warning_color, red, "red")
    if band is None:
        return thresholds("red", red, "green")
    return thresholds("red", red, warning_color, max(band, red), "green")


def alert_line(panel: Any, rule: Rule, **kwargs: Any) -> Any:
    """A time series coloured by `alert_thresholds(rule, **kwargs)`, its red line drawn dashed."""
    return threshold_line(panel.thresholds(alert_thresholds(rule, **kwargs)))
