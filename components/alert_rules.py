"""A team's alert rules as one Grafana-managed rule group.

Each Prometheus-style rule becomes the three steps Grafana's own Prometheus converter emits:
A, the instant query with the comparison inside; B, `is_number($A) || is_nan($A) || is_inf($A)`;
C, a threshold `B > 0` as the condition. A failing query is Error; what no data means each rule
says in team.yaml (`no_data`: ok, as Prometheus treats an empty result, or alerting). An instance
whose series is gone resolves at the first evaluation without it, as in Prometheus: the converter
sets `missing_series_evals_to_resolve` to 1 ("Prometheus resolves alerts as soon as the series
disappears", grafana/grafana pkg/services/ngalert/prom/convert.go); Grafana's own default is 2, a
resolved message one interval later than promtool proves. So a rule whose no data is ok fires and
resolves exactly when the Prometheus rule that promtool tests would.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana
from pulumiverse_grafana import alerting

from estate import Rule, Team
from .types import ResourceType

EXPRESSION_DATASOURCE = "__expr__"
QUERY_RANGE_SECONDS = 600
CONDITION = "C"
# team.yaml's `no_data` as Grafana's no-data states (the provider's RuleGroupRuleArgs.no_data_state:
# "Options are OK, NoData, KeepLast, and Alerting. Defaults to NoData if not set", pulumiverse_grafana
# 2.44 alerting/_inputs.py); NoData would raise a separate DatasourceNoData alert, so it is never left implied.
NO_DATA_STATE = {"ok": "OK", "alerting": "Alerting"}
MISSING_SERIES_EVALS_TO_RESOLVE = 1  # as Prometheus, and Grafana's converter (see above); Grafana's default is 2


def rule_data(rule: Rule, prometheus_uid: str) -> list[alerting.RuleGroupRuleDataArgs]:
    expr_ds = {"type": EXPRESSION_DATASOURCE, "uid": EXPRESSION_DATASOURCE}
    steps = [
        ("A", prometheus_uid, QUERY_RANGE_SECONDS, {
            "datasource": {"type": "prometheus", "uid": prometheus_uid},
            "expr": rule.expr, "instant": True, "intervalMs": 1000, "maxDataPoints": 43200, "refId": "A",
        }),
        ("B", EXPRESSION_DATASOURCE, 0, {
            "datasource": expr_ds, "expression": "is_number($A) || is_nan($A) || is_inf($A)",
            "refId": "B", "type": "math",
        }),
        (CONDITION, EXPRESSION_DATASOURCE, 0, {
            "datasource": expr_ds, "expression": "B", "refId": CONDITION, "type": "threshold",
            "conditions": [{"evaluator": {"params": [0], "type": "gt"}, "operator": {"type": "and"},
                            "query": {"params": [CONDITION]}, "reducer": {"params": [], "type": "last"},
                            "type": "query"}],
        }),
    ]
    return [
        alerting.RuleGroupRuleDataArgs(
            ref_id=ref_id,
            datasource_uid=datasource_uid,
            relative_time_range=alerting.RuleGroupRuleDataRelativeTimeRangeArgs(from_=seconds, to=0),
            model=json.dumps(model, sort_keys=True, allow_nan=False),  # JSON for Grafana, never `NaN`
        )
        for ref_id, datasource_uid, seconds, model in steps
    ]


def grafana_rule(rule: Rule, prometheus_uid: str) -> alerting.RuleGroupRuleArgs:
    return alerting.RuleGroupRuleArgs(
        name=rule.alert,
        uid=rule.uid,
        for_=rule.for_,
        condition=CONDITION,
        no_data_state=NO_DATA_STATE[rule.no_data],
        exec_err_state="Error",
        missing_series_evals_to_resolve=MISSING_SERIES_EVALS_TO_RESOLVE,
        labels=rule.grafana_labels,
        annotations=rule.grafana_annotations,  # Grafana's template dialect: $values.A.Value for $value
        datas=rule_data(rule, prometheus_uid),
    )


@dataclass(frozen=True)
class TeamAlertRulesArgs:
    team: Team
    folder_uid: pulumi.Input[str]
    prometheus_uid: str
    org_id: str | None


class TeamAlertRules(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamAlertRulesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.TEAM_ALERT_RULES, name, None, opts)
        team = args.team
        self.group = grafana.alerting.RuleGroup(
            team.slug,
            name=team.spec.alert_group or team.slug,
            folder_uid=args.folder_uid,
            interval_seconds=team.interval_seconds,
            rules=[grafana_rule(rule, args.prometheus_uid) for rule in team.rules],
            org_id=args.org_id,
            # provider and protect come from the parent; what this component waits for, the group waits for
            opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None),
        )
        self.register_outputs({"rules": len(team.rules)})
