"""API Production Overview: traffic, errors, latency, system (original: shared/seeds/api-production.md)."""
from dashboards import board, query, row, stat_panel, thresholds, timeseries_panel

SEL = "%(selector)s"


def latency(quantile: str, limit: float | None):
    expr = f"histogram_quantile({quantile}, sum(rate(http_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])) by (le))"
    steps = thresholds("green", limit, "red") if limit else None
    return timeseries_panel(f"Latency p{quantile[2:]}", "s", query(expr, f"p{quantile[2:]}"), w=8, h=6, steps=steps)


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
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (endpoint)",
                                           "{{endpoint}}"), w=12, h=8))
        .with_row(row("Errors"))
        .with_panel(stat_panel("Error Rate (%)", "percent",
                               query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m])) / sum(rate(http_requests_total{{{SEL}}}[5m])) * 100"),
                               w=6, h=4, steps=thresholds("green", limit["HighErrorRate"] * 50, "orange", limit["HighErrorRate"] * 100, "red")))
        .with_panel(stat_panel("4xx Rate", "reqps", query(f"sum(rate(http_requests_4xx_total{{{SEL}}}[5m]))"), w=6, h=4))
        .with_panel(stat_panel("5xx Rate", "reqps", query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[5m]))"), w=6, h=4,
                               steps=thresholds("green", limit["ErrorSpike"], "red")))
        .with_panel(timeseries_panel("Errors per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_5xx_total{{{SEL}}}[$__rate_interval])) by (endpoint)",
                                           "{{endpoint}}"), w=12, h=8))
        .with_row(row("Latency"))
        .with_panel(latency("0.50", None))
        .with_panel(latency("0.95", limit["HighLatencyP95"]))
        .with_panel(latency("0.99", limit["CriticalLatencyP99"]))
        .with_row(row("System"))
        .with_panel(timeseries_panel("CPU Usage", "percentunit",
                                     query(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}"),
                                     w=12, h=6, steps=thresholds("green", limit["HighCPUUsage"], "red")))
        .with_panel(timeseries_panel("Memory Usage", "bytes",
                                     query(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}"),
                                     w=12, h=6, steps=thresholds("green", limit["HighMemoryUsage"], "red")))
    ]
