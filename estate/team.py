"""What a team declares once, for every environment: teams/<slug>/team.yaml."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .model import (Duration, LabelName, Model, NonEmpty, Number, Problems, Selector, Slug, Template, Uid, duration_ms,
                    kebab)
from .slo import Slo, unique_names
from .stack import Severity

SELECTOR = "%(selector)s"
THRESHOLD = "%(threshold)s"
_PLACEHOLDER = re.compile(r"%\((\w*)\)s")
_BROKEN_PLACEHOLDER = re.compile(r"%\(")
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]


class Metric(Model):
    """One entry of the team's metric contract: what its dashboards and alerts may query."""

    name: MetricName
    type: Literal["counter", "gauge", "histogram", "summary", "info"]
    help: NonEmpty
    labels: list[LabelName] = []


class AlertRule(Model):
    """A rule written as in a Prometheus rule file; the comparison stays inside `expr`."""

    alert: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$")]
    uid: Uid | None = None
    expr: NonEmpty
    threshold: Number | None = Field(None, description=f"substituted for {THRESHOLD} in expr and annotations")
    for_: Duration = Field(alias="for")
    severity: Severity
    summary: Template
    description: Template
    runbook: Slug | None = Field(None, description="page under the stack's runbookBaseUrl")
    labels: dict[LabelName, str] = {}

    @model_validator(mode="after")
    def _placeholders(self) -> "AlertRule":
        if SELECTOR not in self.expr:
            raise ValueError(f"expr must scope its metrics with {SELECTOR}")
        if (self.threshold is None) != (THRESHOLD not in self.expr):
            raise ValueError(f"give a threshold exactly when expr contains {THRESHOLD}")
        reserved = {"severity", "team"} & set(self.labels)
        if reserved:
            raise ValueError(f"labels {sorted(reserved)} are set by the platform; use the severity field")
        return self

    @property
    def runbook_page(self) -> str:
        return self.runbook or kebab(self.alert)


class DashboardImport(Model):
    """A dashboard exported from Grafana as JSON, kept as it is apart from uid and datasource."""

    file: NonEmpty
    uid: Uid
    title: NonEmpty | None = None


class TeamSpec(Model):
    title: NonEmpty
    folder: NonEmpty = Field(description="Grafana folder title")
    folder_uid: Uid | None = None
    selector: Annotated[Selector, StringConstraints(min_length=1)] = Field(description='label matchers every query carries, e.g. job="voicebot"')
    metrics: list[Metric] = Field(min_length=1)
    alert_interval: Duration = "1m"
    alert_group: NonEmpty | None = Field(None, description="the Grafana rule group's name (an adopted group keeps its own); the slug when unset")
    alerts: list[AlertRule] = []
    variables: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Number] = Field(
        {}, description="dashboard constants a stack may override")
    dashboards: list[Uid] = Field([], description="uids of the dashboards dashboards.py builds; exactly these")
    imports: list[DashboardImport] = []
    slos: list[Slo] = Field([], description="service level objectives: burn-rate alerts and an error-budget row "
                                            "(docs/slo.md)")
    notes: str = ""

    @model_validator(mode="after")
    def _unique_alerts(self) -> "TeamSpec":
        problems = []
        names = [a.alert for a in self.alerts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(("alerts", f"duplicate alert names: {', '.join(dupes)}; each alert needs its own name"))
        ms = duration_ms(self.alert_interval)
        if ms < 10_000 or ms % 10_000:  # Grafana's scheduler ticks every 10s and refuses other intervals
            problems.append(("alert_interval", f"must be a multiple of 10s, e.g. 1m (got '{self.alert_interval}')"))
        declared = [uid for uid in self.dashboards]
        problems += [("dashboards", f"lists '{uid}' twice") for uid in sorted({u for u in declared if declared.count(u) > 1})]
        known = {"selector", "threshold", *self.variables}
        for index, rule in enumerate(self.alerts):
            for field in ("expr", "summary", "description"):
                for name in _PLACEHOLDER.findall(getattr(rule, field)):
                    if name not in known:
                        problems.append((f"alerts.{index}.{field}", f"unknown placeholder %({name})s; known: "
                                                                    f"{', '.join(f'%({k})s' for k in sorted(known))}"))
                if _BROKEN_PLACEHOLDER.search(_PLACEHOLDER.sub("", getattr(rule, field))):
                    problems.append((f"alerts.{index}.{field}", "a '%(' that is no placeholder: write %(name)s"))
        problems += unique_names(self.slos, names)
        if problems:
            raise Problems(problems)
        return self
