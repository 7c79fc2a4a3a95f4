"""API Production Overview: traffic, errors, latency, system (original: shared/seeds/api-production.md).

Every query keeps the original's window ([1m] or [5m]), as TEAMS.md asks; the panels that show what
an alert watches are built from the alert's rule (its quantity and its threshold in this stack).
Each line of the grid is filled: the original's stats left empty columns beside them.
"""
from dashboards import SELECTOR as SEL
from dashboards import (
    alert_line, alert_query, alert_thresholds, board, quantile, query, row, stat_panel, timeseries_panel,
)


def latency(q: str, rule=None):
    title, legend = f"Latency p{q[2:]}", f"p{q[2:]}"
    if rule is None:
        return timeseries_panel(title, "s", query(quantile("http_request_duration_seconds", q, window="5m"), legend),
                                w=8, h=6)
    return alert_line(timeseries_panel(title, "s", alert_query(rule, legend), w=8, h=6), rule)


def dashboards(team):
    errors = team.rule("HighErrorRate")
    return [
        board("api-production-overview", "API Production Overview", refresh="10s", time_from="now-1h",
              description="Is the API receiving traffic, failing, slow, or short of resources?")
        .with_row(row("Traffic"))
        .with_panel(stat_panel("Requests per Second", "reqps",
                               query(f"sum(rate(http_requests_total{{{SEL}}}[1m]))"), w=12, h=4))
        .with_panel(stat_panel("In-Progress Requests", "short",
                               query(f"sum(http_requests_in_progress{{{SEL}}})"), w=12, h=4))
        .with_panel(timeseries_panel("Requests per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[1m])) by (endpoint)",
                                           "{{endpoint}}"), w=24, h=8))
        .with_row(row("Errors"))
        .with_panel(stat_panel("Error Rate (%)", "percent", alert_query(errors, unit="percent"), w=8, h=4,
                               steps=alert_thresholds(errors, unit="percent", warning=errors.threshold / 2)))
        .with_panel(stat_panel("4xx Rate", "reqps", query(f"sum(rate(http_requests_4xx_total{{{SEL}}}[5m]))"), w=8, h=4))
        .with_panel(stat_panel("5xx Rate", "reqps", query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m]))"), w=8, h=4,
                               steps=alert_thresholds(team.rule("ErrorSpike"))))
        .with_panel(timeseries_panel("Errors per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m])) by (endpoint)",
                                           "{{endpoint}}"), w=24, h=8))
        .with_row(row("Latency"))
        .with_panel(latency("0.50"))
        .with_panel(latency("0.95", team.rule("HighLatencyP95")))
        .with_panel(latency("0.99", team.rule("CriticalLatencyP99")))
        .with_row(row("System"))
        .with_panel(alert_line(timeseries_panel(
            "CPU Usage", "percentunit", alert_query(team.rule("HighCPUUsage"), "{{instance}}"), w=12, h=6),
            team.rule("HighCPUUsage")))
        .with_panel(alert_line(timeseries_panel(
            "Memory Usage", "decbytes", alert_query(team.rule("HighMemoryUsage"), "{{instance}}"), w=12, h=6),
            team.rule("HighMemoryUsage")))
    ]
