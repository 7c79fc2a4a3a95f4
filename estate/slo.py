"""SLOs a team declares in team.yaml (`slos:`), and the burn-rate alerts generated from them.

An SLO is an SLI (the fraction of good events), an objective (e.g. 0.99) and a window (30d); the
error budget is `1 - objective` of the events in the window. Alerts follow the Google SRE workbook,
"Alerting on SLOs", 6: multiwindow, multi-burn-rate alerts (https://sre.google/workbook/alerting-on-slos/):
a long window to be sure the budget really burns, a short one (1/12 of it) so the alert resets soon
after the burn stops. The burn rate is the error ratio over a window divided by the budget:

    page   (critical): 1h and 5m above 14.4, or 6h and 30m above 6   (2 % / 5 % of a 30-day budget)
    ticket (warning):  1d and 2h above 3,    or 3d and 6h above 1    (10 % of a 30-day budget)

No recording rules: Grafana-managed rules run one query each, so every window is computed in the
alert's own expression, and Prometheus (promtool) runs the very same expression.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from syntax import promql
from .model import NAME_MAX, Duration, LabelName, Model, NonEmpty, Problems, Uid, duration_seconds, stored_in

WINDOW = "%(window)s"  # where an SLI query's range goes, e.g. rate(x{%(selector)s}[%(window)s])


@dataclass(frozen=True)
class BurnWindows:
    long: str
    short: str
    factor: str  # a decimal, so that factor x budget is written exactly (14.4 x 0.01 = 0.144)


PAGE = (BurnWindows("1h", "5m", "14.4"), BurnWindows("6h", "30m", "6"))
TICKET = (BurnWindows("1d", "2h", "3"), BurnWindows("3d", "6h", "1"))
LONGEST = max(duration_seconds(w.long) for w in PAGE + TICKET)
SEVERITY = {"FastBurn": "critical", "SlowBurn": "warning"}  # page -> critical, ticket -> warning (routing)


class RatioSli(Model):
    """Good events over all events: two PromQL expressions, each with %(selector)s and %(window)s."""

    good: NonEmpty = Field(description="rate of good events, e.g. sum(rate(x_total{%(selector)s, code!~\"5..\"}[%(window)s]))")
    total: NonEmpty = Field(description="rate of all events, e.g. sum(rate(x_total{%(selector)s}[%(window)s]))")


class LatencySli(Model):
    """Events faster than a bucket boundary of a Prometheus histogram: `le` bucket over `_count`."""

    histogram: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")] = Field(
        description="the histogram's name, without _bucket or _count")
    le: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")] = Field(
        description="the bucket boundary exactly as the exporter writes its le label, e.g. \"0.3\" "
                    "(Python clients write \"1.0\" where Go clients write \"1\")")
    matchers: str = Field("", description="extra label matchers, e.g. endpoint=\"/score\"")


class Sli(Model):
    ratio: RatioSli | None = None
    latency: LatencySli | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Sli":
        if (self.ratio is None) == (self.latency is None):
            raise ValueError("give exactly one of: ratio ({good, total} PromQL) or latency ({histogram, le})")
        return self


def _plain_text(text: str) -> str:
    if any(c in text for c in "{}%"):
        raise ValueError("is quoted as it is in its alerts' summaries, where { and } would be template actions and "
                         "% a placeholder: write it without them")
    return text


class Slo(Model):
    """A service level objective: `objective` of the SLI's events are good over `window`."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$"),
                    *stored_in("alert_rule.title, once FastBurn or SlowBurn follows it",
                               NAME_MAX - max(map(len, SEVERITY)))] = Field(
        description="CamelCase; the alerts are <name>FastBurn (page) and <name>SlowBurn (ticket)")
    description: Annotated[NonEmpty, AfterValidator(_plain_text)] = Field(
        description="what the SLO is about, e.g. Scoring success rate (plain text: its alerts' summaries quote it)")
    sli: Sli
    objective: float = Field(gt=0, lt=1, description="the fraction of good events, e.g. 0.99")
    window: Duration = Field("30d", description="the window the objective and the error budget are counted over")
    dashboard: Uid | None = Field(None, description="the dashboard that gets the error-budget row "
                                                    "(default: the team's first)")
    labels: dict[LabelName, str] = {}

    @model_validator(mode="after")
    def _usable(self) -> "Slo":
        from .team import SELECTOR, label_problem  # estate.team imports this module for TeamSpec.slos

        problems = []
        if self.sli.ratio:
            for key in ("good", "total"):
                query = getattr(self.sli.ratio, key)
                missing = [p for p in (SELECTOR, WINDOW) if p not in query]
                if missing:
                    problems.append((f"sli.ratio.{key}", f"must contain {' and '.join(missing)} (the team's "
                                                         "selector, and the range each alert window fills in)"))
        if self.sli.latency and self.sli.latency.matchers.strip():
            try:
                promql.matchers(self.sli.latency.matchers)
            except ValueError as e:
                problems.append(("sli.latency.matchers", f"not valid label matchers: {e}"))
        if duration_seconds(self.window) < LONGEST:
            problems.append(("window", f"must be at least 3d, the longest alert window (got '{self.window}')"))
        highest = max(Decimal(w.factor) for w in PAGE)
        if highest * budget(self) >= 1:
            problems.append(("objective", f"leaves a budget of {promql.number(float(budget(self)))}: a page at "
                                          f"{highest} times the budget would need more than 100 % errors; "
                                          "use an objective above 0.93"))
        if problem := label_problem(self.labels):
            problems.append(("labels", problem))
        if problems:
            raise Problems(problems)
        return self


def budget(slo: Slo) -> Decimal:
    """The error budget as an exact decimal: 1 - 0.99 = 0.01 (in floats, 0.010000000000000009)."""
    return 1 - Decimal(repr(slo.objective))


def good_ratio(slo: Slo, window: str) -> str:
    """The SLI over `window`: good events / all events, as PromQL with %(selector)s still in it."""
    from .team import SELECTOR

    if slo.sli.ratio:
        good, total = (q.replace(WINDOW, window) for q in (slo.sli.ratio.good, slo.sli.ratio.total))
        return f"({good})\n/\n({total})"
    latency = slo.sli.latency
    extra = f", {latency.matchers.strip()}" if latency.matchers.strip() else ""
    return (f"sum(rate({latency.histogram}_bucket{{{SELECTOR}{extra}, le=\"{latency.le}\"}}[{window}]))\n/\n"
            f"sum(rate({latency.histogram}_count{{{SELECTOR}{extra}}}[{window}]))")


def error_ratio(slo: Slo, window: str) -> str:
    """The share of bad events over `window`: what the error budget is spent on."""
    return f"1 - (\n{_indent(good_ratio(slo, window))}\n)"


def burn_rate(slo: Slo, window: str) -> str:
    """How many times faster than the objective allows the budget burns over `window` (1: exactly on budget)."""
    return f"(\n{_indent(error_ratio(slo, window))}\n) / {promql.number(float(budget(slo)))}"


def budget_remaining(slo: Slo) -> str:
    """The share of the window's error budget not spent yet (negative: overspent)."""
    return f"1 - (\n{_indent(burn_rate(slo, slo.window))}\n)"


def burn_condition(slo: Slo, pairs: tuple[BurnWindows, ...]) -> str:
    """`(long > f x budget and short > f x budget) or ...`: each pair's error ratios above its factor."""
    def above(window: str, factor: str) -> str:
        return f"(\n{_indent(error_ratio(slo, window))}\n) > {promql.number(float(Decimal(factor) * budget(slo)))}"

    return "\nor\n".join(
        f"(\n{_indent(above(p.long, p.factor))}\n  and\n{_indent(above(p.short, p.factor))}\n)" for p in pairs)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def _percent(fraction: float) -> str:
    return promql.number(fraction * 100) + " %"


def _pairs(pairs: tuple[BurnWindows, ...]) -> str:
    return ", or ".join(f"more than {p.factor}x over {p.long} and {p.short}" for p in pairs)


@dataclass(frozen=True)
class SloAlert:
    """One generated alert, in the fields of a team's hand-written alerts (estate.team.AlertRule)."""

    alert: str
    expr: str
    severity: Literal["critical", "warning"]
    summary: str
    description: str
    labels: dict[str, str]


def alerts(slo: Slo) -> list[SloAlert]:
    """The page (fast burn) and the ticket (slow burn) of one SLO."""
    objective = f"Objective {_percent(slo.objective)} over {slo.window}. The error budget burns faster than it allows:"
    labels = dict(slo.labels)
    return [
        SloAlert(
            alert=f"{slo.name}FastBurn", expr=burn_condition(slo, PAGE), severity=SEVERITY["FastBurn"],
            summary=f"{slo.description} SLO: error budget burning fast",
            description=f"{objective} {_pairs(PAGE)}; at this pace it is gone within days.",
            labels=labels),
        SloAlert(
            alert=f"{slo.name}SlowBurn", expr=burn_condition(slo, TICKET), severity=SEVERITY["SlowBurn"],
            summary=f"{slo.description} SLO: error budget burning",
            description=f"{objective} {_pairs(TICKET)}; it will be spent before the {slo.window} window is over.",
            labels=labels),
    ]


def alert_rules(slos: list[Slo]) -> list:
    """The SLOs' alerts as estate.team.AlertRule, resolved like the team's own (selector, overrides, runbook)."""
    from .team import AlertRule

    # The burn condition holds its own comparisons: the rule fires whenever it returns a series.
    return [AlertRule(alert=a.alert, quantity=a.expr, for_="0s", severity=a.severity, summary=a.summary,
                      description=a.description, labels=a.labels, no_data="ok",
                      no_data_reason="no events in the alert's windows burn no error budget")
            for slo in slos for a in alerts(slo)]


def unique_names(slos: list[Slo], alert_names: list[str]) -> list[tuple[str, str]]:
    """Problems: two SLOs of one name, or an SLO alert named like one of the team's own alerts."""
    problems = []
    names = [s.name for s in slos]
    problems += [("slos", f"two SLOs named {n}") for n in sorted({n for n in names if names.count(n) > 1})]
    taken = set(alert_names)
    problems += [(f"slos.{i}.name", f"generates the alert {a.alert}, which the team's alerts already name")
                 for i, slo in enumerate(slos) for a in alerts(slo) if a.alert in taken]
    return problems
