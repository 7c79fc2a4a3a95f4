"""What a team declares once, for every environment: teams/<slug>/team.yaml."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from syntax import template
from syntax.template import SELECTOR, SOURCE_SELECTOR, source_selector
from .model import (NAME_MAX, DisplayName, Duration, FolderTitle, LabelName, Model, NonEmpty, Number, Problems, RuleFor,
                    Selector, Slug, Template, Uid, duration_ms, kebab, stored_in)
from .slo import Slo, unique_names
from .stack import Severity

_BROKEN_PLACEHOLDER = re.compile(r"%\(")  # a '%(' left when every placeholder is taken out
THRESHOLD = template.placeholder("threshold")
WINDOW = "window"  # the parameter an expression takes for its range, e.g. `increase(x[%(window)s])`
RESERVED = {"selector", "threshold", WINDOW}
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # infinity: no history could be written


def label_problem(labels: dict[str, str]) -> str | None:
    """Why an alert's labels cannot be as given: one every alert gets from elsewhere, so the rule's would
    never reach an alert (severity and team from the platform, which routes by them; alertname, the
    rule's name, and grafana_folder, its folder's title, from Grafana's scheduler: pkg/services/ngalert/
    schedule getRuleExtraLabels; Prometheus sets alertname too), or a `%(name)s`, which no one fills
    in a label (a summary or description may quote %(threshold)s)."""
    platform = [name for name in ("severity", "team") if name in labels]
    if platform:
        return f"labels {platform} are set by the platform; use the severity field"
    grafana = [name for name in ("alertname", "grafana_folder") if name in labels]
    if grafana:
        return (f"labels {grafana} are set by Grafana on every alert (the rule's name, its folder's title), "
                "so these would never reach one; give the label another name")
    placeholders = sorted(name for name, value in labels.items() if "%(" in value)
    if placeholders:
        return (f"labels {placeholders} hold a %(...)s placeholder, which no one fills in a label "
                "(a summary or description may quote %(threshold)s)")
    return None


MetricName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Comparison = Literal[">", "<", ">=", "<=", "==", "!="]


class Metric(Model):
    """One entry of the team's metric contract: what its dashboards and alerts may query.

    `values`, `rate`, `range` and `buckets` describe what the series look like (tools/synthetic.py
    writes a plausible history from them, docs/validation.md).
    """

    name: MetricName
    type: Literal["counter", "gauge", "histogram", "summary", "info"]
    help: NonEmpty
    labels: list[LabelName] = []
    values: dict[LabelName, list[NonEmpty] | dict[NonEmpty, PositiveNumber]] = Field(
        {}, description="values a label takes; as a map, each value's share of the traffic (counters)")
    rate: PositiveNumber | None = Field(None, description="counter: increase per second of one series; "
                                                         "histogram, summary: observations per second")
    range: Annotated[list[Number], Field(min_length=2, max_length=2)] | None = Field(None, description="gauge: where its values lie ([0, 1]: a 0/1 flag); "
                                                                "histogram, summary: where most observations lie")
    buckets: list[Number] | None = Field(None, description="histogram: its bucket bounds (le), +Inf implied")
    source: Name | None = Field(None, description="one of the team's `sources` when an exporter, not the team's "
                                                  "own job, exports it; queries scope it with %(selector:<source>)s")

    def series_names(self) -> list[tuple[str, str]]:
        """The series its samples come as, each with its suffix (a histogram's _bucket, _sum and _count)."""
        if self.type == "histogram":
            return [(self.name + s, s) for s in ("_bucket", "_sum", "_count")]
        if self.type == "summary":
            return [(self.name, ""), (self.name + "_sum", "_sum"), (self.name + "_count", "_count")]
        if self.type == "counter" and not self.name.endswith("_total"):
            return [(self.name, ""), (self.name + "_total", "_total")]
        if self.type == "info" and not self.name.endswith("_info"):
            return [(self.name, ""), (self.name + "_info", "_info")]
        return [(self.name, "")]

    @model_validator(mode="after")
    def _hints(self) -> "Metric":
        problems = [(f"values.{label}", f"not a label of {self.name}; its labels: {', '.join(self.labels) or 'none'}")
                    for label in self.values if label not in self.labels]
        if self.range is not None and not self.range[0] <= self.range[1]:
            problems.append(("range", f"write [low, high] (got {list(self.range)})"))
        if self.range is not None and self.type in ("histogram", "summary") and self.range[0] <= 0:
            problems.append(("range", "observations of a histogram are positive here: give a low bound above 0"))
        if self.buckets is not None and (self.type != "histogram" or self.buckets != sorted(set(self.buckets))):
            problems.append(("buckets", "only a histogram has buckets, given in increasing order"))
        if self.rate is not None and self.type not in ("counter", "histogram", "summary"):
            problems.append(("rate", "only counters, histograms and summaries have a rate"))
        if problems:
            raise Problems(problems)
        return self


def _series_clashes(metrics: list[Metric]) -> list[tuple[str, str]]:
    """Series two metrics both describe (a metric given twice, a histogram `x` beside a counter
    `x_count`): a contract keeps one description per series, and the other's type and labels would
    vanish without a word."""
    owner: dict[str, Metric] = {}
    problems = []
    for index, m in enumerate(metrics):
        for name, _ in m.series_names():
            first = owner.setdefault(name, m)
            if first is not m:
                problems.append((f"metrics.{index}", f"metric '{m.name}' is described twice; describe it once"
                                 if first.name == m.name else f"'{name}' is a series of both '{first.name}' "
                                 f"({first.type}) and '{m.name}' ({m.type}); a series belongs to one metric"))
                break
    return problems


class AlertRule(Model):
    """An alert: the quantity it watches, the comparison and threshold that make it fire, for how long.

    The Prometheus expression is `<quantity> <comparison> <threshold>` (e.g. `up{...} == 0`); a rule
    without a comparison fires whenever its quantity returns a series (e.g. `absent(up{...})`).
    """

    alert: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$"), *stored_in("alert_rule.title", NAME_MAX)]
    uid: Uid | None = None
    quantity: NonEmpty = Field(description=f"PromQL scoped with {SELECTOR}, or the name of one of the team's "
                                           "expressions; may use the team's expressions and variables as %(name)s")
    comparison: Comparison | None = None
    threshold: Number | None = Field(None, description=f"compared with the quantity; {THRESHOLD} in annotations")
    window: Duration | None = Field(None, description="the range of expressions written with %(window)s")
    unit: NonEmpty | None = Field(None, description="Grafana unit of the quantity (percentunit, s, bytes, ...)")
    for_: RuleFor = Field(alias="for")
    severity: Severity
    summary: Template
    description: Template
    runbook: Slug | None = Field(None, description="page under the stack's runbookBaseUrl")
    labels: dict[LabelName, str] = {}
    no_data: Literal["ok", "alerting"] = Field(description="what an empty result means for Grafana: ok, or alerting")
    no_data_reason: NonEmpty = Field(description="why; e.g. which guard alert fires when the metrics are absent")

    @model_validator(mode="after")
    def _shape(self) -> "AlertRule":
        if (self.comparison is None) != (self.threshold is None):
            raise ValueError("give a comparison and a threshold together (or neither: the rule then fires "
                             "whenever its quantity returns a series)")
        if THRESHOLD in self.quantity:
            raise ValueError(f"the quantity is what is compared: put the threshold in `threshold`, not {THRESHOLD}")
        if THRESHOLD in self.summary + self.description and self.threshold is None:
            raise ValueError(f"{THRESHOLD} in an annotation needs a threshold")
        problem = label_problem(self.labels)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def runbook_page(self) -> str:
        return self.runbook or kebab(self.alert)


class DashboardImport(Model):
    """A dashboard exported from Grafana as JSON, kept as it is apart from uid and datasource."""

    file: NonEmpty
    uid: Uid
    title: DisplayName | None = None


class TeamSpec(Model):
    title: DisplayName
    folder: FolderTitle = Field(description="Grafana folder title")
    folder_uid: Uid | None = None
    selector: Annotated[Selector, StringConstraints(min_length=1)] = Field(
        description='label matchers every query carries, e.g. job="voicebot"')
    sources: dict[Name, NonEmpty] = Field(
        {}, description='other scrape jobs the team reads (exporters), by name: {kafka: job="kafka-exporter"}')
    metrics: list[Metric] = Field(min_length=1)
    expressions: dict[Name, NonEmpty] = Field(
        {}, description="PromQL shared by alerts and panels, used as %(name)s; may take %(window)s")
    alert_interval: Duration = "1m"
    alert_group: Annotated[NonEmpty, *stored_in("alert_rule.rule_group", NAME_MAX, in_bytes=True)] | None = Field(
        None, description="the Grafana rule group's name (an adopted group keeps its own); the slug when unset")
    alerts: list[AlertRule] = []
    variables: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Number] = Field(
        {}, description="dashboard constants a stack may override")
    dashboards: list[Uid] = Field([], description="uids of the dashboards dashboards.py builds; exactly these")
    imports: list[DashboardImport] = []
    slos: list[Slo] = Field([], description="service level objectives: burn-rate alerts and an error-budget row "
                                            "(docs/slo.md)")
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "TeamSpec":
        problems = _series_clashes(self.metrics)
        names = [a.alert for a in self.alerts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(("alerts", f"duplicate alert names: {', '.join(dupes)}; each alert needs its own name"))
        ms = duration_ms(self.alert_interval)
        if ms < 10_000 or ms % 10_000:  # Grafana's scheduler ticks every 10s and refuses other intervals
            problems.append(("alert_interval", f"must be a multiple of 10s, e.g. 1m (got '{self.alert_interval}')"))
        problems += [(f"metrics.{i}.source", f"unknown source '{m.source}'; the team's sources: "
                                             f"{', '.join(self.sources) or 'none (declare them under sources:)'}")
                     for i, m in enumerate(self.metrics) if m.source is not None and m.source not in self.sources]
        clash = sorted((set(self.expressions) & set(self.variables)) | (set(self.expressions) & RESERVED))
        if clash:
            problems.append(("expressions", f"{', '.join(clash)}: already a variable or a reserved name "
                                            f"({', '.join(sorted(RESERVED))})"))
        for name in self.expressions:
            try:
                self.expand(template.placeholder(name))
            except ValueError as e:
                problems.append((f"expressions.{name}", str(e)))
        for index, alert in enumerate(self.alerts):
            try:
                quantity = self.expand(self.quantity_of(alert))
            except ValueError as e:
                problems.append((f"alerts.{index}.quantity", str(e)))
                continue
            if SELECTOR not in quantity and not any(source_selector(s) in quantity for s in self.sources):
                problems.append((f"alerts.{index}.quantity", f"must scope its metrics with {SELECTOR}"))
            if (template.placeholder(WINDOW) in quantity) != (alert.window is not None):
                problems.append((f"alerts.{index}.window", "give a window exactly when the quantity's expressions "
                                                           f"use {template.placeholder(WINDOW)}"))
        declared = list(self.dashboards)
        problems += [("dashboards", f"lists '{uid}' twice") for uid in sorted({u for u in declared if declared.count(u) > 1})]
        for index, rule in enumerate(self.alerts):
            for field in ("summary", "description"):
                text = getattr(rule, field)
                for name in template.names(text):
                    if name not in {"threshold", *self.variables}:
                        problems.append((f"alerts.{index}.{field}", f"unknown placeholder %({name})s; known: "
                                                                    f"{', '.join(f'%({k})s' for k in sorted({'threshold', *self.variables}))}"))
                if _BROKEN_PLACEHOLDER.search(template.PLACEHOLDER.sub("", text)):
                    problems.append((f"alerts.{index}.{field}", "a '%(' that is no placeholder: write %(name)s"))
        problems += unique_names(self.slos, names)
        if problems:
            raise Problems(problems)
        return self

    @property
    def source_placeholders(self) -> set[str]:
        return {SOURCE_SELECTOR.format(source) for source in self.sources}

    def quantity_of(self, alert: AlertRule) -> str:
        """The alert's quantity as PromQL text: a bare expression name stands for that expression."""
        return template.placeholder(alert.quantity) if alert.quantity in self.expressions else alert.quantity

    def expand(self, text: str, seen: tuple[str, ...] = ()) -> str:
        """`text` with the team's expressions written out (recursively); other placeholders stay.

        ValueError for a placeholder that is no expression, variable or reserved name, or a cycle.
        """
        def one(name: str) -> str | None:
            if name in self.expressions:
                if name in seen:
                    raise ValueError(f"expressions refer to each other in a cycle: {' -> '.join((*seen, name))}")
                return self.expand(self.expressions[name], (*seen, name))
            if name in self.variables or name in RESERVED or name in self.source_placeholders:
                return None
            allowed = sorted({*RESERVED, *self.variables, *self.expressions, *self.source_placeholders} - {"threshold"})
            raise ValueError(f"unknown placeholder %({name})s; allowed: {', '.join(allowed)}")

        return template.fill(text, one, keep_unknown=True)
