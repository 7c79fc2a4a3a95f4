"""What a team declares once, for every environment: teams/<slug>/team.yaml."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .model import Duration, LabelName, Model, NonEmpty, Problems, Slug, Uid, duration_seconds, kebab
from .slo import Slo, unique_names
from .stack import Severity

SELECTOR = "%(selector)s"
THRESHOLD = "%(threshold)s"
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
    threshold: float | None = Field(None, description=f"substituted for {THRESHOLD} in expr and annotations")
    for_: Duration = Field(alias="for")
    severity: Severity
    summary: NonEmpty
    description: NonEmpty
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
    selector: NonEmpty = Field(description='label matchers every query carries, e.g. job="voicebot"')
    metrics: list[Metric] = Field(min_length=1)
    alert_interval: Duration = "1m"
    alert_group: NonEmpty | None = Field(None, description="the Grafana rule group's name (an adopted group keeps its own); the slug when unset")
    alerts: list[AlertRule] = []
    variables: dict[NonEmpty, float] = Field({}, description="dashboard constants a stack may override")
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
        seconds = duration_seconds(self.alert_interval)
        if seconds < 10 or seconds % 10:  # Grafana's scheduler ticks every 10s and refuses other intervals
            problems.append(("alert_interval", f"must be a multiple of 10s, e.g. 1m (got '{self.alert_interval}')"))
        problems += unique_names(self.slos, names)
        if problems:
            raise Problems(problems)
        return self
