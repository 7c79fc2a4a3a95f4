"""Customer Service API: overview, per-endpoint API metrics, health (original: shared/seeds/customer-service.md)."""
from grafana_foundation_sdk.builders import common
from grafana_foundation_sdk.models.dashboard import ValueMap, ValueMappingResult

from dashboards import SELECTOR as SEL
from dashboards import (
    alert_line, alert_query, board, organize, quantile, query, row, source_selector, stat_panel, table_panel,
    thresholds, timeseries_panel,
)

ERRORS = f'http_requests_total{{{SEL}, status=~"5.."}}'
NODE = source_selector("node")  # node_exporter on the service's hosts (team.yaml sources)

UP_DOWN = [ValueMap({"0": ValueMappingResult(text="DOWN", color="red"),
                     "1": ValueMappingResult(text="UP", color="green")})]
PASS_FAIL = [ValueMap({"0": ValueMappingResult(text="FAILING", color="red"),
                       "1": ValueMappingResult(text="OK", color="green")})]


def percentiles(title: str, metric: str, *, w: int, h: int, rule=None, description: str = ""):
    """p50, p95, p99 of a histogram; with `rule` (the p95 alert), its own p95 over its own window
    beside p50 and p99 over that window, coloured where the alert fires."""
    if rule is None:
        queries = [query(quantile(metric, q), f"p{q[2:]}") for q in ("0.50", "0.95", "0.99")]
        return timeseries_panel(title, "s", *queries, w=w, h=h, description=description)
    queries = [query(quantile(metric, "0.50", window="5m"), "p50"), alert_query(rule, "p95"),
               query(quantile(metric, "0.99", window="5m"), "p99")]
    return alert_line(timeseries_panel(title, "s", *queries, w=w, h=h, description=description), rule)


def per_minute(title: str, counter: str, by: str, legend: str, *, w: int = 6, h: int = 8, description: str = ""):
    grouping = f" by ({by})" if by else ""
    return timeseries_panel(title, "opm", query(f"sum(rate({counter}{{{SEL}}}[$__rate_interval])){grouping} * 60", legend),
                            w=w, h=h, description=description)


def overview(team):
    return (
        board("customer-service-overview", "Customer Service Overview", refresh="30s", time_from="now-6h",
              description="Who uses the Customer Service API, how fast it answers, what it costs the host, what the business does.")
        .with_row(row("Usage"))
        .with_panel(stat_panel("Total Users", "short", query(f"max(customer_service_users{{{SEL}}})"), w=6, h=4))
        .with_panel(stat_panel("Total SMEs", "short",
                               query(f'max(customer_service_clients{{{SEL}, client_type="sme"}})'), w=6, h=4))
        .with_panel(stat_panel("Total Financial Institutions", "short",
                               query(f'max(customer_service_clients{{{SEL}, client_type="financial_institution"}})'), w=6, h=4))
        .with_panel(stat_panel("Active Users", "short", query(f"max(customer_service_active_users{{{SEL}}})"), w=6, h=4,
                               description="Users with an authenticated request in the last 15 minutes"))
        .with_row(row("Performance"))
        .with_panel(percentiles("API Response Time", "http_request_duration_seconds", w=6, h=8,
                                rule=team.rule("APIResponseTimeHigh"),
                                description="Alert APIResponseTimeHigh fires on p95 above the red line"))
        .with_panel(timeseries_panel("Database Operation Latency", "s",
                                     query(quantile("customer_service_db_operation_duration_seconds", "0.95", "operation"),
                                           "p95 {{operation}}"), w=6, h=8))
        .with_panel(percentiles("Document Upload Duration", "customer_service_document_upload_duration_seconds", w=6, h=8))
        .with_panel(alert_line(timeseries_panel(
            "API Error Rate", "percentunit", alert_query(team.rule("APIErrorRateHigh"), "5xx"),
            w=6, h=8, min=0, description="5xx responses over all responses over 5 minutes, as alert APIErrorRateHigh "
                                         "reads them; it fires above the red line"),
            team.rule("APIErrorRateHigh")))
        .with_row(row("System"))
        .with_panel(alert_line(timeseries_panel(
            "CPU Usage", "percentunit", alert_query(team.rule("CPUUsageHigh"), "{{instance}}"),
            w=6, h=8, min=0, description="Share of one CPU core over 5 minutes (alert CPUUsageHigh)"),
            team.rule("CPUUsageHigh")))
        .with_panel(alert_line(timeseries_panel(
            "Memory Usage", "percentunit", alert_query(team.rule("MemoryUsageHigh"), "{{pod}}"),
            w=6, h=8, min=0, max=1, description="Working set of each container over its memory limit (cAdvisor)"),
            team.rule("MemoryUsageHigh")))
        .with_panel(timeseries_panel("Disk Operations", "iops",
                                     query(f"sum by (device) (rate(node_disk_reads_completed_total{{{NODE}}}[$__rate_interval]))",
                                           "reads {{device}}"),
                                     query(f"sum by (device) (rate(node_disk_writes_completed_total{{{NODE}}}[$__rate_interval]))",
                                           "writes {{device}}"),
                                     w=6, h=8, description="Reads and writes completed per second on the service's hosts "
                                                           "(node_exporter)"))
        .with_panel(timeseries_panel("Network Connections", "short",
                                     query(f"sum(node_netstat_Tcp_CurrEstab{{{NODE}}})", "established"),
                                     query(f"sum(node_sockstat_TCP_tw{{{NODE}}})", "time wait"),
                                     w=6, h=8, stacked=True,
                                     description="TCP connections of the service's hosts (node_exporter netstat, sockstat)"))
        .with_row(row("Business"))
        .with_panel(per_minute("User Creation Rate", "customer_service_users_created_total", "", "users created"))
        .with_panel(per_minute("Client Creation Rate", "customer_service_clients_created_total", "client_type", "{{client_type}}"))
        .with_panel(stat_panel("Document Uploads", "short",
                               query(f"sum by (status) (increase(customer_service_document_uploads_total{{{SEL}}}[$__range]))",
                                     "{{status}}", instant=True),
                               w=6, h=8, description="Documents uploaded over the time range, by outcome")
                    .decimals(0))
        .with_panel(per_minute("User Login Status", "customer_service_user_logins_total", "status", "{{status}}",
                               description="Login attempts per minute by outcome"))
    )


def api_metrics(team):
    latency, errors = team.rule("APIResponseTimeHigh"), team.rule("APIErrorRateHigh")
    return (
        board("customer-service-api-metrics", "Customer Service API Metrics", refresh="30s", time_from="now-1h",
              description="Per-endpoint traffic, latency and errors of the Customer Service API.")
        .with_row(row("Traffic"))
        .with_panel(timeseries_panel("Request Rate per Endpoint", "reqps",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (endpoint)",
                                           "{{endpoint}}"), w=12, h=8, legend_table=True))
        .with_panel(timeseries_panel("Status Codes", "reqps",
                                     query(f"sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (status)",
                                           "{{status}}"), w=12, h=8, stacked=True))
        .with_row(row("Latency"))
        .with_panel(percentiles("Latency Percentiles", "http_request_duration_seconds", w=12, h=8, rule=latency))
        .with_panel(alert_line(timeseries_panel(
            "Latency p95 per Endpoint", "s",
            query(quantile("http_request_duration_seconds", "0.95", "endpoint"), "{{endpoint}}"),
            w=12, h=8, legend_table=True), latency))
        .with_row(row("Errors"))
        .with_panel(alert_line(timeseries_panel(
            "Error Rate per Endpoint", "percentunit",
            query(f"sum(rate({ERRORS}[$__rate_interval])) by (endpoint)"
                  f" / sum(rate(http_requests_total{{{SEL}}}[$__rate_interval])) by (endpoint)", "{{endpoint}}"),
            w=24, h=8, min=0, legend_table=True, description="5xx responses over all responses of each endpoint"),
            errors))
    )


def health():
    last_failure = (
        f"1000 * max_over_time(timestamp(customer_service_health_check_status{{{SEL}}} == 0)[$__range:$__interval])"
        f' or 1000 * label_replace(max_over_time(timestamp(up{{{SEL}}} == 0)[$__range:$__interval]), "check", "scrape", "", "")'
    )
    return (
        board("customer-service-health", "Customer Service Health", refresh="30s", time_from="now-24h",
              description="Is the Customer Service API up, do its health checks pass, and when did they last fail?")
        .with_row(row("Status"))
        .with_panel(stat_panel("Up Status", "short", query(f"up{{{SEL}}}", "{{instance}}"), w=12, h=4,
                               steps=thresholds("red", 1, "green"), description="Prometheus scrape of each instance")
                    .mappings(UP_DOWN))
        .with_panel(stat_panel("Health-Check Status", "short",
                               query(f"min(customer_service_health_check_status{{{SEL}}}) by (check)", "{{check}}"),
                               w=12, h=4, steps=thresholds("red", 1, "green"),
                               description="Dependency checks of /health, worst instance")
                    .mappings(PASS_FAIL))
        .with_row(row("Availability"))
        .with_panel(stat_panel("Availability (selected range)", "percentunit",
                               query(f"avg(avg_over_time(up{{{SEL}}}[$__range]))", instant=True), w=6, h=8, min=0, max=1,
                               steps=thresholds("red", 0.99, "orange", 0.999, "green")))
        .with_panel(timeseries_panel("Availability Over Time", "percentunit",
                                     query(f"avg(avg_over_time(up{{{SEL}}}[$__interval]))", "scraped instances"),
                                     query(f"avg(avg_over_time(customer_service_health_check_status{{{SEL}}}[$__interval]))",
                                           "passing health checks"),
                                     w=18, h=8, min=0, max=1))
        .with_row(row("Failures"))
        .with_panel(table_panel("Last Failed Checks", "dateTimeAsIso",
                                query(last_failure, instant=True, table_format=True), w=24, h=8,
                                description="Last time in the selected range each instance failed a scrape (check "
                                            "'scrape') or a /health dependency check; no row means no failure")
                    .with_transformation(organize(("Time", "job"), {"Value": "Last failure"},
                                                  order=("instance", "check", "Value")))
                    .sort_by([common.TableSortByFieldState().display_name("Last failure").desc(True)]))
    )


def dashboards(team):
    # team.rule(...): each alert as it runs in this stack, so panels turn red where alerts fire
    return [overview(team), api_metrics(team), health()]
