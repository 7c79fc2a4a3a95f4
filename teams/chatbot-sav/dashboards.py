"""FastAPI Chatbot SAV: HTTP, system, business, database (original: shared/seeds/chatbot-sav.md)."""
from dashboards import SELECTOR as SEL
from dashboards import alert_line, alert_query, board, quantile, query, row, timeseries_panel


def dashboards(team):
    response_time, errors, memory = (team.rule(a) for a in ("HighResponseTime", "HighErrorRate", "HighMemoryUsage"))
    return [
        board("chatbot-sav-fastapi", "FastAPI Chatbot SAV", refresh="30s", time_from="now-1h",
              description="Is the after-sales chatbot answering, fast enough, within its resources, and how is it used?")
        .with_row(row("HTTP"))
        .with_panel(timeseries_panel("Requests per Minute", "reqpm",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (endpoint) * 60",
                                           "{{endpoint}}"), w=12, h=8, stacked=True))
        .with_panel(timeseries_panel("Status Code Distribution", "reqps",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (status)",
                                           "{{status}}"), w=12, h=8, stacked=True))
        .with_panel(timeseries_panel("Average Response Time per Endpoint", "s",
                                     query(f"sum(rate(http_request_duration_seconds_sum{{{SEL}}}[5m])) by (endpoint)"
                                           f" / sum(rate(http_request_duration_seconds_count{{{SEL}}}[5m])) by (endpoint)",
                                           "{{endpoint}}"), w=8, h=8))
        .with_panel(alert_line(timeseries_panel(
            "p95 Response Time per Endpoint", "s", alert_query(response_time, "{{endpoint}}"),
            w=8, h=8, description="What the HighResponseTime alert watches."), response_time))
        .with_panel(alert_line(timeseries_panel(
            "5xx Error Rate", "reqps", alert_query(errors, "{{method}} {{endpoint}} {{status}} ({{instance}})"),
            w=8, h=8, description="The HighErrorRate alert's own expression: 5xx responses/s per series."), errors))
        .with_row(row("System"))
        .with_panel(timeseries_panel("CPU Usage", "percentunit",
                                     query(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}"),
                                     w=8, h=6, description="Share of one CPU used by the process."))
        .with_panel(alert_line(timeseries_panel(
            "Memory Usage", "bytes", alert_query(memory, "{{instance}}"),
            w=8, h=6, description="Resident memory in MiB (the original's MB); dashed red line at the HighMemoryUsage threshold."),
            memory))
        .with_panel(timeseries_panel("Active Requests", "short",
                                     query(f"sum(http_requests_active{{{SEL}}})", "active"), w=8, h=6))
        .with_row(row("Business"))
        .with_panel(timeseries_panel("Chat Requests by User Type", "reqpm",
                                     query(f"sum(rate(chat_requests_total{{{SEL}}}[$__rate_interval])) by (user_type) * 60",
                                           "{{user_type}}"), w=8, h=8, stacked=True))
        .with_panel(timeseries_panel(
            "Chatbot Response Time", "s",
            query(f"sum(rate(chat_response_time_seconds_sum{{{SEL}}}[$__rate_interval])) by (user_type)"
                  f" / sum(rate(chat_response_time_seconds_count{{{SEL}}}[$__rate_interval])) by (user_type)",
                  "avg {{user_type}}"),
            query(quantile("chat_response_time_seconds", "0.95", by="user_type"), "p95 {{user_type}}"),
            w=8, h=8))
        .with_panel(timeseries_panel("AI Model Calls", "opm",
                                     query(f"sum(rate(ai_model_calls_total{{{SEL}}}[$__rate_interval])) by (model) * 60",
                                           "{{model}}"), w=8, h=8, stacked=True))
        .with_row(row("Database"))
        .with_panel(timeseries_panel("Active DB Connections", "short",
                                     query(f"sum(db_connections_active{{{SEL}}}) by (instance)", "{{instance}}"),
                                     w=24, h=6))
    ]
