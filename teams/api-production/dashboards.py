"""API Production Overview: traffic, errors, latency, system (original: shared/seeds/api-production.md).

Every query keeps the original's window ([1m] or [5m]), as TEAMS.md asks: the panels then read the
same numbers as the alerts that watch them.
"""
from dashboards import SELECTOR as SEL
from dashboards import board, quantile, query, row, stat_panel, threshold_line, thresholds, timeseries_panel


def latency(q: str, limit: float | None = None):
    panel = timeseries_panel(f"Latency p{q[2:]}", "s",
                             query(quantile("http_request_duration_seconds", q, window="5m"), f"p{q[2:]}"), w=8, h=6)
    return threshold_line(panel, limit) if limit is not None else panel


def dashboards(team):
    limit = team.thresholds  # the thresholds the alerts use in this stack
    return [
        board("api-production-overview", "API Production Overview", refresh="10s", time_from="now-1h",
              description="Is the API receiving traffic, failing, slow, or short of resources?")
        .with_row(row("Traffic"))
        .with_panel(stat_panel("Requests per Second", "reqps",
                               query(f"sum(rate(http_requests_total{{{SEL}}}[1m]))"), w=6, h=4))
        .with_panel(stat_panel("In-Progress Requests", "short",
                               query(f"sum(http_requests_in_progress{{{SEL}}})"), w=6, h=4))
        .with_panel(timeseries_panel("Requests per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[1m])) by (endpoint)",
                                           "{{endpoint}}"), w=12, h=8))
        .with_row(row("Errors"))
        .with_panel(stat_panel("Error Rate (%)", "percent",
                               query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m])) / sum(rate(http_requests_total{{{SEL}}}[5m])) * 100"),
                               w=6, h=4, steps=thresholds("green", limit["HighErrorRate"] * 50, "orange", limit["HighErrorRate"] * 100, "red")))
        .with_panel(stat_panel("4xx Rate", "reqps", query(f"sum(rate(http_requests_4xx_total{{{SEL}}}[5m]))"), w=6, h=4))
        .with_panel(stat_panel("5xx Rate", "reqps", query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m]))"), w=6, h=4,
                               steps=thresholds("green", limit["ErrorSpike"], "red")))
        .with_panel(timeseries_panel("Errors per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m])) by (endpoint)",
                                           "{{endpoint}}"), w=12, h=8))
        .with_row(row("Latency"))
        .with_panel(latency("0.50"))
        .with_panel(latency("0.95", limit["HighLatencyP95"]))
        .with_panel(latency("0.99", limit["CriticalLatencyP99"]))
        .with_row(row("System"))
        .with_panel(threshold_line(timeseries_panel(
            "CPU Usage", "percentunit", query(f"rate(process_cpu_seconds_total{{{SEL}}}[1m])", "{{instance}}"),
            w=12, h=6), limit["HighCPUUsage"]))
        .with_panel(threshold_line(timeseries_panel(
            "Memory Usage", "bytes", query(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}"),
            w=12, h=6), limit["HighMemoryUsage"]))
    ]
