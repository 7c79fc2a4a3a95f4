"""MLOps Scoring Platform: ML metrics and business metrics (original: shared/seeds/mlops-scoring.md).

Red zones start at the threshold each alert uses in the stack (its rule, `team.rule(...)`); orange
zones sit at fixed, conventional values, moved only so that they never cross the red line.
"""
import warnings

with warnings.catch_warnings():  # as in dashboards/panels.py: the SDK nudges towards dashboard v2
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import common
from grafana_foundation_sdk.models.common import BarAlignment, GraphDrawStyle, VizOrientation
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig, DynamicConfigValue
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards import SELECTOR as SEL
from dashboards import (
    alert_query, alert_thresholds, barchart_panel, bargauge_panel, board, gauge_panel, organize, piechart_panel,
    quantile, query, row, source_selector, stat_panel, table_panel, threshold_line, thresholds, timeseries_panel,
)

KAFKA, MINIO = source_selector("kafka"), source_selector("minio")  # exporters' jobs (team.yaml sources)

ACCURACY_GREEN = 0.9   # accuracy: orange between ModelAccuracyLow's threshold and this
DRIFT_ORANGE = 0.1     # PSI convention: below 0.1 no significant drift
LATENCY_ORANGE = 0.2   # prediction p95: orange from 200 ms up to PredictionLatencyHigh's threshold


def prediction_latency(q: str):
    return query(quantile("ml_prediction_duration", q), f"p{q[2:]}")


def ml_metrics(team):
    accuracy, drift_rule, latency = (team.rule(a) for a in ("ModelAccuracyLow", "ModelDriftHigh", "PredictionLatencyHigh"))
    accuracy_green = max(ACCURACY_GREEN, accuracy.threshold)
    drift_orange = min(DRIFT_ORANGE, drift_rule.threshold)
    drift = (
        table_panel("Model Drift Detection", "short", alert_query(drift_rule, instant=True, table_format=True),
                    w=12, h=8, steps=alert_thresholds(drift_rule, warning=DRIFT_ORANGE),
                    description=f"PSI-style drift score per model version: green below {drift_orange}, "
                                f"orange to {drift_rule.threshold}, red above (alert ModelDriftHigh).")
        .with_transformation(organize(("Time",), {"model": "Model", "version": "Version", "Value": "Drift score"}))
        .decimals(3)
        # colour the score cell only, not the model and version columns
        .override_by_field_type("number", [
            DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
            DynamicConfigValue(id_val="color", value={"mode": "thresholds"}),
        ])
    )
    versions = (
        table_panel("Model Versions", "short",
                    query(f"count by (model, version, stage) (ml_model_version_info{{{SEL}}})",
                          instant=True, table_format=True),
                    w=24, h=6, description="Model versions being served, and how many instances serve each.")
        .with_transformation(organize(("Time",), {"model": "Model", "version": "Version", "stage": "Stage",
                                                 "Value": "Instances"}))
    )
    importance = (
        barchart_panel("Feature Importance", "percentunit",
                       query(f"topk(20, max by (model, feature) (ml_feature_importance{{{SEL}}}))",
                             "{{feature}} ({{model}})", instant=True),
                       w=12, h=8, description="The 20 most important features (a model's importances sum to 100 %).")
        .with_transformation(DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": "Last *", "desc": True}]}))
    )
    return (
        board("mlops-scoring-ml-metrics", "MLOps Scoring Platform - ML Metrics", refresh="1m", time_from="now-24h",
              description="Are the scoring models accurate, fast, and still seeing the data they were trained on?",
              tags=("mlops",))
        .with_row(row("Model Performance"))
        .with_panel(gauge_panel("Model Performance Overview", "percentunit",
                                alert_query(accuracy, "{{model}} {{version}}"),
                                w=8, h=8, min=0, max=1, steps=alert_thresholds(accuracy, warning=ACCURACY_GREEN),
                                description=f"Model accuracy: red below {accuracy.threshold:.0%} (alert ModelAccuracyLow), "
                                            f"green from {accuracy_green:.0%}."))
        .with_panel(threshold_line(timeseries_panel(
            "Prediction Latency", "s", prediction_latency("0.95"), prediction_latency("0.50"), w=16, h=8,
            steps=alert_thresholds(latency, warning=LATENCY_ORANGE),
            description=f"Model inference time; p95 above {latency.threshold} s fires PredictionLatencyHigh.")))
        .with_row(row("Drift and Features"))
        .with_panel(drift)
        .with_panel(importance)
        .with_row(row("Versions"))
        .with_panel(versions)
    )


def business_metrics(team):
    success = team.rule("ScoringSuccessRateLow")
    requests = "sum(rate(scoring_requests_total{%s}[$__rate_interval]))" % SEL
    errors = "(sum(rate(scoring_errors_total{%s}[$__rate_interval])) or vector(0))" % SEL
    daily = (
        # one bar per day: the query step (and so $__rate_interval) is at least 1d
        timeseries_panel("Daily Scoring Requests", "short",
                         query(f"sum(increase(scoring_requests_total{{{SEL}}}[$__rate_interval]))", "Requests per day")
                         .interval("1d"),
                         w=16, h=8, description="Scoring requests per day over the last 7 days (each bar ends at midnight UTC).")
        .draw_style(GraphDrawStyle.BARS).bar_alignment(BarAlignment.BEFORE).fill_opacity(80)
        .time_from("7d")
    )
    # A true histogram: the scores of the whole time range, one bar per bucket. The heatmap format
    # turns Prometheus' cumulative `le` buckets into counts per bucket, sorted by bound.
    distribution = (
        bargauge_panel("Credit Score Distribution", "short",
                       query(f"sum by (le) (increase(scoring_credit_score_bucket{{{SEL}}}[$__range]))", "{{le}}",
                             instant=True).format(PromQueryFormat.HEATMAP),
                       w=16, h=8, description="Credit scores returned over the dashboard's time range, per score bucket "
                                              "(upper bound).")
        .orientation(VizOrientation.VERTICAL).decimals(0)
    )
    violations = (
        threshold_line(timeseries_panel("Compliance Violations", "short",
                         query(f"sum by (regulation) (increase(compliance_violations_total{{{SEL}}}[$__rate_interval]))",
                               "{{regulation}}"),
                         # the alert fires above its threshold (0: any violation); counts step by whole violations
                         w=24, h=6, stacked=True, steps=alert_thresholds(team.rule("ComplianceViolation"), whole=True),
                         description="GDPR and KYC violations detected per bar; any violation fires ComplianceViolation."))
        .draw_style(GraphDrawStyle.BARS).fill_opacity(80)
        # few, wide bars: consecutive $__rate_interval windows overlap by one scrape interval
        .max_data_points(50)
    )
    return (
        board("mlops-scoring-business-metrics", "MLOps Scoring Platform - Business Metrics", refresh="1m",
              time_from="now-24h", tags=("mlops",),
              description="How much is scored, how well, for whom, and is the platform compliant?")
        .with_row(row("Volume and Quality"))
        .with_panel(daily)
        .with_panel(stat_panel("Scoring Success Rate", "percentunit", query(f"1 - {errors} / {requests}"),
                               w=8, h=8, steps=alert_thresholds(success),
                               description=f"1 - errors / requests; below {success.threshold:.1%} fires ScoringSuccessRateLow."))
        .with_row(row("Scores and Risk"))
        .with_panel(distribution)
        .with_panel(piechart_panel("Risk Level Breakdown", "reqps",
                                   query(f'sum by (risk_level) (rate(scoring_requests_total{{{SEL}, risk_level!="none"}}'
                                         '[$__rate_interval]))', "{{risk_level}}"),
                                   w=8, h=8, description="Share of scored requests per resulting risk level (failed "
                                                         "scorings, risk level none, left out).")
                    # average request rate per risk level over the time range, not its last point
                    .reduce_options(common.ReduceDataOptions().calcs(["mean"])))
        .with_row(row("API and Data Pipeline"))
        .with_panel(timeseries_panel("API Response Times", "s",
                                     query(quantile("http_request_duration_seconds", "0.95", by="endpoint"),
                                           "{{endpoint}} p95"),
                                     w=16, h=8, description="p95 response time per API endpoint."))
        .with_panel(stat_panel("Data Pipeline Health", "percentunit",
                               query(f"1 - avg(kafka_topic_partition_under_replicated_partition{{{KAFKA}}})",
                                     "Kafka partitions in sync"),
                               query(f"min(minio_cluster_health_status{{{MINIO}}})", "MinIO cluster healthy"),
                               # red below 100 %: one partition out of sync is what the alert counts
                               w=8, h=8, min=0, max=1, steps=thresholds("red", 1, "green"),
                               description="Red below 100 %: a Kafka partition under-replicated (kafka_exporter; alert "
                                           "KafkaPartitionsOutOfSync) or the MinIO cluster degraded (MinIO's own "
                                           "health status)."))
        .with_row(row("Compliance"))
        .with_panel(violations)
    )


def dashboards(team):
    return [ml_metrics(team), business_metrics(team)]
