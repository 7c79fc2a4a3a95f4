"""Customer Service API: overview, per-endpoint API metrics, health (original: shared/seeds/customer-service.md)."""
from grafana_foundation_sdk.builders import common
from grafana_foundation_sdk.models.dashboard import ValueMap, ValueMappingResult

from dashboards import SELECTOR as SEL
from dashboards import (
    alert_line, alert_query, board, organize, quantile, query, row, stat_panel, table_panel, thresholds,
    timeseries_panel,
)

ERRORS = f'http_requests_total{{{SEL}, status=~"5.."}}'

UP_DOWN = [ValueMap({"0": ValueMappingResult(text="DOWN", color="red"),
                     "1": ValueMappingResult(text="UP", color="green")})]
PASS_FAIL = [ValueMap({"0": ValueMappingResult(text="FAILING", color="red"),
                       "1": ValueMappingResult(text="OK", color="green")})]


def percentiles(title: str, metric: str, *, w: int, h: int, rule=None, description: str = ""):
    """p50, p95, p99 of a histogram; with `rule`, coloured where that latency alert fires."""
    panel = timeseries_panel(title, "s", *(query(quantile(metric, q), f"p{q[2:]}") for q in ("0.50", "0.95", "0.99")),
                             w=w, h=h, description=description)
    return alert_line(panel, rule) if rule is not None else panel


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
            "API Error Rate", "percentunit",
            query(f"sum(rate({ERRORS}[$__rate_interval])) / sum(rate(http_requests_total{{{SEL}}}[$__rate_interval]))", "5xx"),
            w=6, h=8, min=0, description="5xx responses over all responses; alert APIErrorRateHigh fires above the red line"),
            team.rule("APIErrorRateHigh")))
        .with_row(row("System"))
        .with_panel(alert_line(timeseries_panel(
            "CPU Usage", "percentunit",
            query(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}"),
            w=6, h=8, min=0, description="Share of one CPU core"), team.rule("CPUUsageHigh")))
        .with_panel(alert_line(timeseries_panel(
            "Memory Usage", "percentunit", alert_query(team.rule("MemoryUsageHigh"), "{{instance}}"),
            w=6, h=8, min=0, max=1, description="Resident memory over the memory the service may use"),
            team.rule("MemoryUsageHigh")))
        .with_panel(timeseries_panel("Disk Operations", "iops",
                                     query(f"sum(rate(customer_service_disk_operations_total{{{SEL}}}[$__rate_interval])) by (operation)",
                                           "{{operation}}"), w=6, h=8))
        .with_panel(timeseries_panel("Network Connections", "short",
                                     query(f"sum(customer_service_network_connections{{{SEL}}}) by (state)", "{{state}}"),
                                     w=6, h=8, stacked=True))
        .with_row(row("Business"))
        .with_panel(per_minute("User Creation Rate", "customer_service_users_created_total", "", "users created"))
        .with_panel(per_minute("Client Creation Rate", "customer_service_clients_created_total", "client_type", "{{client_type}}"))
        .with_panel(per_minute("Document Uploads", "customer_service_document_uploads_total", "status", "{{status}}"))
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
