"""Exported dashboards import as they come: scoped queries, modern panels, rebound datasources, nothing lost silently."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syntax import promql
from dashboards.finalize import panels
from dashboards.importer import ImportProblems, from_export, import_dashboard
from tests.conftest import exported
from syntax.promql_rewrite import SELECTOR, RewriteError, scope, scope_variable_query

FIXTURES = Path(__file__).parent / "fixtures" / "adopt"
EXPORTS = sorted(FIXTURES.glob("grafana*.json"))
SEL = 'job="payments", env="prod"'
MODERN = {"timeseries", "stat", "gauge", "table", "barchart", "histogram", "piechart", "bargauge", "row", "text"}


def imported(name: str, selector: str = SEL):
    return import_dashboard(exported(FIXTURES / name), selector)


def panel(board: dict, title: str) -> dict:
    return next(p for p in panels(board) if p.get("title") == title)


def at(value, path: str):
    for step in path.split("."):
        value = value[int(step)] if isinstance(value, list) else value[step]
    return value


# --------------------------------------------------------------------------------------------
# The PromQL rewrite: matchers in, every other character kept
# --------------------------------------------------------------------------------------------

REWRITES = [
    # (what, query, selector, expected)
    ("a bare metric gets braces", "up", SEL, 'up{job="payments", env="prod"}'),
    ("matchers go after the query's own", 'x_total{status="500"}', SEL, 'x_total{status="500", job="payments", env="prod"}'),
    ("empty braces are filled", "x{}", SEL, 'x{job="payments", env="prod"}'),
    ("a trailing comma is kept", 'x{a="1",}', SEL, 'x{a="1",job="payments", env="prod"}'),
    ("a selector without a name", '{__name__="up"}', SEL, '{__name__="up", job="payments", env="prod"}'),
    ("a matcher already there is not repeated", 'up{job="payments"}', SEL, 'up{job="payments", env="prod"}'),
    ("$__rate_interval stays", "rate(x_total[$__rate_interval])", SEL,
     'rate(x_total{job="payments", env="prod"}[$__rate_interval])'),
    ("${__rate_interval} stays", "rate(x_total[${__rate_interval}])", SEL,
     'rate(x_total{job="payments", env="prod"}[${__rate_interval}])'),
    ("$__range and $__range_s stay", "increase(x_total[$__range]) / $__range_s", SEL,
     'increase(x_total{job="payments", env="prod"}[$__range]) / $__range_s'),
    ("a subquery with $__interval", "max_over_time(rate(x_total[5m])[1h:$__interval])", SEL,
     'max_over_time(rate(x_total{job="payments", env="prod"}[5m])[1h:$__interval])'),
    ("[[var]] in a range", "rate(x_total[[[interval]]])", SEL, 'rate(x_total{job="payments", env="prod"}[[[interval]]])'),
    ("$variables in values", 'x{instance=~"$instance", method=~"${method:regex}"}', SEL,
     'x{instance=~"$instance", method=~"${method:regex}", job="payments", env="prod"}'),
    ("[[var]] in a value", 'x{instance=~"[[instance]]"}', SEL, 'x{instance=~"[[instance]]", job="payments", env="prod"}'),
    ("a templated metric name", "rate(${prefix}_requests_total[5m])", SEL,
     'rate(${prefix}_requests_total{job="payments", env="prod"}[5m])'),
    ("a variable as a number and as a label", "topk($n, sum by ($group) (x))", SEL,
     'topk($n, sum by ($group) (x{job="payments", env="prod"}))'),
    ("grouping labels are not metrics", "sum by (status) (x) / ignoring(status) group_left sum without (pod) (y)", SEL,
     'sum by (status) (x{job="payments", env="prod"}) / ignoring(status) group_left sum without (pod) (y{job="payments", env="prod"})'),
    ("set operators and bool", "a and on(x) b or c unless d > bool 1", SEL,
     'a{job="payments", env="prod"} and on(x) b{job="payments", env="prod"} or c{job="payments", env="prod"} '
     'unless d{job="payments", env="prod"} > bool 1'),
    ("offset and @ keep their place", "x offset 5m + y @ ${__to:date:seconds}", SEL,
     'x{job="payments", env="prod"} offset 5m + y{job="payments", env="prod"} @ ${__to:date:seconds}'),
    ("strings and comments are not read", 'label_replace(up, "a", "$1 {x}", "b", "(.*)") # up{x}\n+ 0', SEL,
     'label_replace(up{job="payments", env="prod"}, "a", "$1 {x}", "b", "(.*)") # up{x}\n+ 0'),
    ("spacing and line breaks stay", "sum(\n  rate( x_total [5m] )\n)", SEL, 'sum(\n  rate( x_total{job="payments", env="prod"} [5m] )\n)'),
    ("functions and numbers are not metrics", "vector(1) + time() - scalar(x) * Inf", SEL,
     'vector(1) + time() - scalar(x{job="payments", env="prod"}) * Inf'),
    ("the placeholder goes in as it is", "sum(rate(x_total[5m])) / up", SEL and SELECTOR,
     "sum(rate(x_total{%(selector)s}[5m])) / up{%(selector)s}"),
    ("a hand-scoped query is completed", "a{%(selector)s} / b", SEL, 'a{job="payments", env="prod"} / b{job="payments", env="prod"}'),
    ("a regex selector", 'x{job=~"pay.*"}', 'job=~"pay.*"', 'x{job=~"pay.*"}'),
    ("a regex the team's job passes", 'x{job=~"pay.*|billing"}', SEL, 'x{job=~"pay.*|billing", job="payments", env="prod"}'),
]


@pytest.mark.parametrize("what,query,selector,expected", REWRITES, ids=[r[0] for r in REWRITES])
def test_every_metric_selector_gets_the_matchers_and_nothing_else_changes(what, query, selector, expected):
    assert scope(query, selector) == expected


REFUSED = [
    ("a selector saying another job", 'x{job="billing"}', "selects job=\"billing\" but the team's selector is job=\"payments\""),
    ("a regex no team series matches", 'x{job=~"process-exporter.*"}',
     "selects job=~\"process-exporter.*\" but the team's selector is job=\"payments\""),
    ("a negative matcher on the team's own job", 'x{job!="payments"}', "selects job!=\"payments\""),
    ("the whole query is a variable", "$query", "the query is the variable $query"),
    ("a variable standing for a metric", "sum($metric)", "$metric must stand for a number here"),
    ("not PromQL", "rate(x[5m]", "invalid PromQL"),
    ("a Grafana macro that does not exist", "rate(x[$__rate])", "invalid PromQL"),
    ("an unterminated string", 'x{a="b}', "unterminated string"),
]


@pytest.mark.parametrize("what,query,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_query_that_cannot_be_scoped_faithfully_is_refused_saying_why(what, query, message):
    with pytest.raises(RewriteError, match=message.replace("$", r"\$").replace("(", r"\(")):
        scope(query, SEL)


VARIABLE_QUERIES = [
    ("label_values(label)", "label_values(instance)", 'label_values({job="payments", env="prod"}, instance)', None),
    ("label_values(metric, label)", "label_values(up, instance)", 'label_values(up{job="payments", env="prod"}, instance)', None),
    ("label_values with matchers", 'label_values(up{env=~"$env"},instance)',
     'label_values(up{env=~"$env", job="payments", env="prod"},instance)', None),
    ("label_names()", "label_names()", 'label_names({job="payments", env="prod"})', None),
    ("query_result(expr)", "query_result(topk(3, sum by (m) (rate(x_total[5m]))))",
     'query_result(topk(3, sum by (m) (rate(x_total{job="payments", env="prod"}[5m]))))', None),
    ("metrics(regex)", "metrics(payments_.*)",
     'label_values({job="payments", env="prod", __name__=~".*(?:payments_.*).*"}, __name__)', "cannot take a selector"),
    ("a series query", 'up{instance=~"a.*"}', 'up{instance=~"a.*", job="payments", env="prod"}', None),
]


@pytest.mark.parametrize("what,query,expected,note", VARIABLE_QUERIES, ids=[v[0] for v in VARIABLE_QUERIES])
def test_query_variables_are_scoped_too(what, query, expected, note):
    scoped, why = scope_variable_query(query, SEL)
    assert scoped == expected
    assert (why is None) if note is None else (note in why)


# --------------------------------------------------------------------------------------------
# Real exports, Grafana 4 to 12
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", EXPORTS, ids=[p.stem for p in EXPORTS])
def test_an_export_imports_with_every_query_carrying_the_selector(path):
    board = import_dashboard(exported(path), SEL).board
    required = promql.matchers(SEL)
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets") or [] if t.get("expr")]
    exprs += [a["expr"] for a in board["annotations"]["list"] if a.get("expr")]
    assert exprs
    for expr in exprs:
        assert promql.metrics_without(expr, required, variables=True) == [], expr  # proved by the parser, not by text search


@pytest.mark.parametrize("path", EXPORTS, ids=[p.stem for p in EXPORTS])
def test_an_export_keeps_its_panels_variables_and_links_in_modern_panels_on_the_stack_datasource(path):
    original = exported(path)
    board = import_dashboard(original, SEL).board
    titles = [p.get("title") for p in panels(board)]
    rows = original.get("rows") or []  # Grafana 4: rows hold the panels
    before = [p.get("title") or p["libraryPanel"]["name"] for p in panels(original)] + \
        [r["title"] for r in rows] + [p["title"] for r in rows for p in r["panels"]]
    assert sorted(titles) == sorted(before)
    assert {p["type"] for p in panels(board)} <= MODERN
    for p in panels(board):
        if p.get("targets"):
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["datasource"] == p["datasource"] for t in p["targets"])
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == [v["name"] for v in (original.get("templating") or {}).get("list", [])]
    assert board.get("links") == original.get("links") and board["title"] == original["title"]


CONVERSIONS = [
    # (fixture, panel, path, expected): what Grafana's own migrations make of the Angular options
    ("grafana7-payments-api.json", "Failure rate", "type", "stat"),
    ("grafana7-payments-api.json", "Failure rate", "fieldConfig.defaults.unit", "percent"),
    ("grafana7-payments-api.json", "Failure rate", "fieldConfig.defaults.decimals", 2),
    ("grafana7-payments-api.json", "Failure rate", "fieldConfig.defaults.thresholds.steps",
     [{"color": "#299c46", "value": None}, {"color": "rgba(237, 129, 40, 0.89)", "value": 1}, {"color": "#d44a3a", "value": 5}]),
    ("grafana7-payments-api.json", "Failure rate", "options.colorMode", "background"),
    ("grafana7-payments-api.json", "Failure rate", "options.graphMode", "area"),
    ("grafana7-payments-api.json", "Failure rate", "options.reduceOptions.calcs", ["lastNotNull"]),
    ("grafana7-payments-api.json", "Failure rate", "fieldConfig.defaults.mappings.0.options.match", "null"),
    ("grafana7-payments-api.json", "Providers up", "fieldConfig.defaults.mappings.0.options.0.text", "DOWN"),
    ("grafana7-payments-api.json", "Providers up", "options.colorMode", "value"),
    ("grafana7-payments-api.json", "Transactions by status", "type", "timeseries"),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.defaults.unit", "reqps"),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.defaults.min", 0),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.defaults.custom.axisLabel", "per second"),
    ("grafana7-payments-api.json", "Transactions by status", "options.legend",
     {"displayMode": "table", "showLegend": True, "placement": "bottom", "calcs": ["max", "mean", "lastNotNull"]}),
    ("grafana7-payments-api.json", "Transactions by status", "options.tooltip", {"mode": "multi", "sort": "desc"}),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.overrides.0",
     {"matcher": {"id": "byName", "options": "failed"},
      "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "#E02F44"}}]}),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.overrides.2",
     {"matcher": {"id": "byRegexp", "options": "/failed/"}, "properties": [
         {"id": "color", "value": {"mode": "fixed", "fixedColor": "#E02F44"}}, {"id": "custom.lineWidth", "value": 2},
         {"id": "custom.axisLabel", "value": "failures"}, {"id": "custom.axisPlacement", "value": "right"}]}),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.overrides.3.properties",
     [{"id": "custom.fillOpacity", "value": 30}]),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.defaults.thresholds.steps",
     [{"color": "transparent", "value": None}, {"color": "red", "value": 50}]),
    ("grafana7-payments-api.json", "Transactions by status", "fieldConfig.defaults.custom.thresholdsStyle.mode", "line+area"),
    ("grafana7-payments-api.json", "Transaction latency", "fieldConfig.defaults.custom.scaleDistribution",
     {"type": "log", "log": 2}),
    ("grafana7-payments-api.json", "Transaction latency", "fieldConfig.defaults.decimals", 3),
    ("grafana7-payments-api.json", "Transaction latency", "fieldConfig.defaults.custom.spanNulls", True),
    ("grafana7-payments-api.json", "Queues", "type", "table"),
    ("grafana7-payments-api.json", "Queues", "fieldConfig.overrides.0.properties.1", {"id": "custom.hideFrom.viz", "value": True}),
    ("grafana7-payments-api.json", "Queues", "fieldConfig.overrides.2.properties.3",
     {"id": "custom.cellOptions", "value": {"type": "color-background"}}),
    ("grafana7-payments-api.json", "Queues", "fieldConfig.overrides.2.properties.5.value.steps.2.value", 1000),
    ("grafana7-payments-api.json", "Queues", "transformations", [{"id": "merge", "options": {"reducers": []}}]),
    ("grafana8-payments-providers.json", "Transactions per provider", "type", "piechart"),
    ("grafana8-payments-providers.json", "Transactions per provider", "options.pieType", "donut"),
    ("grafana8-payments-providers.json", "Transactions per provider", "options.legend.values", ["value", "percent"]),
    ("grafana8-payments-providers.json", "Transactions per provider", "options.legend.placement", "right"),
    ("grafana8-payments-providers.json", "Transactions per provider", "fieldConfig.defaults.decimals", 1),
    ("grafana8-payments-providers.json", "Transactions per provider", "fieldConfig.overrides.0.matcher.options", "adyen"),
    ("grafana8-payments-providers.json", "Refunds by reason", "type", "bargauge"),
    ("grafana8-payments-providers.json", "Refunds by reason", "options.reduceOptions.calcs", ["sum"]),
    ("grafana8-payments-providers.json", "Memory", "type", "timeseries"),  # in a collapsed row
    ("grafana8-payments-providers.json", "$provider", "repeat", "provider"),
    ("grafana4-payments-legacy-rows.json", "Providers available", "type", "gauge"),
    ("grafana4-payments-legacy-rows.json", "Providers available", "fieldConfig.defaults.max", 1),
    ("grafana4-payments-legacy-rows.json", "Providers available", "options.reduceOptions.calcs", ["mean"]),
    ("grafana4-payments-legacy-rows.json", "Transactions", "fieldConfig.defaults.custom.stacking", {"mode": "normal", "group": "A"}),
    ("grafana4-payments-legacy-rows.json", "Transactions", "gridPos", {"h": 7, "w": 16, "x": 8, "y": 1}),
    ("grafana4-payments-legacy-rows.json", "Process", "collapsed", True),
    ("grafana4-payments-legacy-rows.json", "Process", "panels.0.title", "Resident memory"),
    ("grafana4-payments-legacy-rows.json", "Resident memory", "options.legend.showLegend", False),
    ("grafana10-payments-business.json", "Payments volume (EUR)", "fieldConfig.defaults.unit", "currencyEUR"),
    ("grafana10-payments-business.json", "Payments volume (EUR)", "gridPos", {"h": 8, "w": 12, "x": 0, "y": 0}),
    ("grafana12-payments-workers.json", "Worker CPU", "targets.0.expr",
     'avg(rate(process_cpu_seconds_total{job="payments", env="prod"}[${__rate_interval}]))'),
]


@pytest.mark.parametrize("fixture,title,path,expected", CONVERSIONS,
                         ids=[f"{c[0].split('-')[0]}-{c[1]}-{c[2]}" for c in CONVERSIONS])
def test_legacy_options_are_carried_over_as_grafana_migrates_them(fixture, title, path, expected):
    assert at(panel(imported(fixture).board, title), path) == expected


def test_converted_panels_lose_the_angular_options_and_plugin_version():
    board = imported("grafana7-payments-api.json").board
    for title in ("Failure rate", "Transactions by status", "Queues"):
        converted = panel(board, title)
        assert not {"yaxes", "seriesOverrides", "aliasColors", "styles", "colors", "valueName", "pluginVersion"} & set(converted)


VARIABLES = [
    ("grafana7-payments-api.json", "instance", "query", 'label_values(up{job="payments", env="prod"}, instance)'),
    ("grafana7-payments-api.json", "instance", "definition", 'label_values(up{job="payments", env="prod"}, instance)'),
    ("grafana7-payments-api.json", "quantile", "query", "0.5,0.95,0.99"),
    ("grafana8-payments-providers.json", "instance", "query.query", 'label_values({job="payments", env="prod"}, instance)'),
    ("grafana10-payments-business.json", "method", "query.query",
     'label_values(payments_transactions_total{job="payments", env="prod"},method)'),
    ("grafana10-payments-business.json", "method", "query.qryType", 1),
    ("grafana10-payments-business.json", "top_currency", "query.query",
     'query_result(topk(5, sum by (currency) (increase(payments_amount_eur_total{job="payments", env="prod"}[1d]))))'),
    ("grafana10-payments-business.json", "top_currency", "regex", '/currency="([^"]+)"/'),
    ("grafana10-payments-business.json", "Filters", "datasource", {"type": "prometheus", "uid": "${datasource}"}),
    ("grafana12-payments-workers.json", "labels", "query.query", 'label_names({job="payments", env="prod"})'),
    ("grafana12-payments-workers.json", "queue", "datasource", {"type": "prometheus", "uid": "${datasource}"}),
]


@pytest.mark.parametrize("fixture,name,path,expected", VARIABLES, ids=[f"{v[0].split('-')[0]}-{v[1]}-{v[2]}" for v in VARIABLES])
def test_template_variables_are_kept_with_their_queries_scoped(fixture, name, path, expected):
    variable = next(v for v in imported(fixture).board["templating"]["list"] if v["name"] == name)
    assert at(variable, path) == expected


NOTES = [
    ("grafana7-payments-api.json", "panels['Providers up']: singlestat options with no stat equivalent dropped: "
     "prefix/postfix text ''/' up'"),
    ("grafana7-payments-api.json", "panels['Transactions by status']: series override 'succeeded': zindex not carried over"),
    ("grafana7-payments-api.json", "panels['Queues']: table-old options with no table equivalent dropped: sort by column 2"),
    ("grafana8-payments-providers.json", "panels['Transactions per provider']: pie chart options with no piechart "
     "equivalent dropped: combining slices under 0.05 into 'Others'"),
    ("grafana8-payments-providers.json", "panels['Refunds by reason']: graph in series mode became a bar gauge"),
    ("grafana10-payments-business.json", "panels['Payments volume (EUR)']: library panel 'Payments volume (EUR)' inlined"),
    ("grafana10-payments-business.json", "templating['counters']: metrics(payments_.*_total) cannot take a selector"),
]


@pytest.mark.parametrize("fixture,note", NOTES, ids=[n[1].split(":")[0] for n in NOTES])
def test_a_cosmetic_loss_is_reported_per_panel(fixture, note):
    assert any(line.startswith(note) for line in imported(fixture).notes), imported(fixture).notes


def test_a_modern_export_imports_without_notes():
    assert imported("grafana12-payments-workers.json").notes == ()


def _with(fixture: str, change) -> dict:
    board = copy.deepcopy(exported(FIXTURES / fixture))
    change(board)
    return board


def _loki_panel(board: dict) -> None:
    board["panels"].append({"type": "logs", "title": "Errors", "datasource": {"type": "loki", "uid": "loki"},
                            "targets": [{"refId": "A", "expr": '{app="payments"} |= "error"'}]})


def _mixed_with_testdata(board: dict) -> None:
    board["panels"][1]["targets"].append({"refId": "C", "datasource": {"type": "grafana-testdata-datasource", "uid": "td"},
                                          "scenarioId": "random_walk"})


def _missing_library_panel(board: dict) -> None:
    board.pop("__elements")


def _other_job(board: dict) -> None:
    board["panels"][2]["targets"][0]["expr"] = 'sum(increase(payments_transactions_total{job="billing"}[$__range]))'


def _query_variable(board: dict) -> None:
    board["panels"][3]["targets"][0]["expr"] = "$query"


def _loki_variable(board: dict) -> None:
    board["templating"]["list"].append({"type": "query", "name": "app", "datasource": {"type": "loki", "uid": "loki"},
                                        "query": "label_values(app)"})


def _named_with_loki_required(board: dict) -> None:
    board["__requires"].append({"type": "datasource", "id": "loki", "name": "Loki", "version": "1.0.0"})
    board["panels"][2]["datasource"] = "Prometheus"


def _dashboard_datasource(board: dict) -> None:
    board["panels"][3]["datasource"] = {"type": "datasource", "uid": "-- Dashboard --"}
    board["panels"][3]["targets"] = [{"refId": "A", "datasource": {"type": "datasource", "uid": "-- Dashboard --"},
                                      "panelId": 2}]


PROBLEMS = [
    ("a Loki panel", _loki_panel, "panels['Errors'].targets.A", "queries a loki datasource"),
    ("a mixed panel with a TestData query", _mixed_with_testdata, "panels['Conversion'].targets.C",
     "queries a grafana-testdata-datasource datasource"),
    ("a library panel not in the file", _missing_library_panel, "panels['Payments volume (EUR)']",
     "library panel 'Payments volume (EUR)' (b7f1c2a0-5a7e-4c1b-9a58-3f6f1d2e9c11) is not in the file"),
    ("a query on another team's job", _other_job, "panels['Captured in range'].targets.A.expr",
     "selects job=\"billing\" but the team's selector is job=\"payments\""),
    ("a query that is a variable", _query_variable, "panels['Top methods'].targets.A.expr", "the query is the variable $query"),
    ("a Loki query variable", _loki_variable, "templating['app']", "a query variable on a loki datasource"),
    ("a named datasource among several kinds", _named_with_loki_required, "panels['Captured in range'].targets.A",
     "datasource 'Prometheus' is given by name and the dashboard also uses loki"),
    ("a panel reusing another panel's query", _dashboard_datasource, "panels['Top methods'].targets.A",
     "queries a dashboard datasource"),
]


@pytest.mark.parametrize("what,change,where,message", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_what_would_change_a_panels_meaning_is_refused_naming_the_panel(what, change, where, message):
    with pytest.raises(ImportProblems) as error:
        import_dashboard(_with("grafana10-payments-business.json", change), SEL)
    assert any(w == where and message in m for w, m in error.value.problems), error.value.problems


def test_every_problem_of_a_dashboard_is_reported_at_once():
    def both(board):
        _loki_panel(board)
        _other_job(board)
    with pytest.raises(ImportProblems) as error:
        import_dashboard(_with("grafana10-payments-business.json", both), SEL)
    assert [w for w, _ in error.value.problems] == ["panels['Captured in range'].targets.A.expr", "panels['Errors'].targets.A"]


def test_an_annotation_on_another_datasource_is_kept_and_reported():
    def loki_annotation(board):
        board["annotations"]["list"].append({"name": "Deploys", "datasource": {"type": "loki", "uid": "loki"},
                                             "expr": '{app="deployer"}', "enable": True})
    result = import_dashboard(_with("grafana10-payments-business.json", loki_annotation), SEL)
    kept = result.board["annotations"]["list"][-1]
    assert kept["datasource"] == {"type": "loki", "uid": "loki"} and kept["expr"] == '{app="deployer"}'
    assert any(n.startswith("annotations['Deploys']: kept on a loki datasource") for n in result.notes)


def test_importing_is_deterministic_and_leaves_the_export_untouched():
    original = exported(FIXTURES / "grafana7-payments-api.json")
    snapshot = json.dumps(original, sort_keys=True)
    first = import_dashboard(original, SEL)
    second = import_dashboard(original, SEL)
    assert json.dumps(original, sort_keys=True) == snapshot
    assert json.dumps(first.board, sort_keys=True) == json.dumps(second.board, sort_keys=True)
    assert first.notes == second.notes


def test_grafonnets_empty_rows_beside_panels_keep_the_panels():
    board = {"title": "Process Exporter", "schemaVersion": 14, "rows": [], "panels": [
        {"type": "graph", "title": "CPU", "datasource": "$ds", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
         "targets": [{"refId": "A", "expr": "sum by (groupname) (irate(namedprocess_namegroup_cpu_seconds_total[1m]))"}]}],
        "templating": {"list": [{"type": "datasource", "name": "ds", "query": "prometheus"}]}}
    result = import_dashboard(board, SEL).board
    assert "rows" not in result and [p["title"] for p in result["panels"]] == ["CPU"]
    assert result["panels"][0]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_legacy_rows_go_below_the_panels_a_dashboard_already_has():
    board = {"title": "Both", "panels": [{"type": "text", "title": "Intro", "gridPos": {"h": 3, "w": 24, "x": 0, "y": 0}}],
             "rows": [{"title": "R", "showTitle": True, "height": 190, "panels": [
                 {"type": "graph", "title": "G", "span": 12, "targets": [{"refId": "A", "expr": "up"}]}]}]}
    result = import_dashboard(board, SEL).board
    assert [(p["title"], p["gridPos"]) for p in result["panels"]] == [
        ("Intro", {"h": 3, "w": 24, "x": 0, "y": 0}), ("R", {"h": 1, "w": 24, "x": 0, "y": 3}),
        ("G", {"h": 5, "w": 24, "x": 0, "y": 4})]


# --------------------------------------------------------------------------------------------
# Hostile exports: a value of the wrong shape anywhere is a problem naming where, never a traceback
# --------------------------------------------------------------------------------------------

WRONG_SHAPES = [None, 1, 1.5, True, "x", [], {}, [1], [None], ["x"], {"a": 1}]
BOARDS = [exported(p) for p in EXPORTS]


def _paths(node, at=()):
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


@settings(max_examples=300, deadline=None)
@given(board=st.sampled_from(BOARDS), pick=st.integers(min_value=0), wrong=st.sampled_from(WRONG_SHAPES))
def test_a_value_of_the_wrong_shape_anywhere_gives_import_problems_not_a_traceback(board, pick, wrong):
    board = copy.deepcopy(board)
    paths = list(_paths(board))[1:]
    *parents, last = paths[pick % len(paths)]
    node = board
    for step in parents:
        node = node[step]
    node[last] = wrong
    try:
        import_dashboard(board, SEL)
    except ImportProblems as e:
        assert e.problems and all(isinstance(w, str) and isinstance(m, str) for w, m in e.problems)


# --------------------------------------------------------------------------------------------
# Where queries hide: Grafana 10's annotation target, rows inside rows
# --------------------------------------------------------------------------------------------

def test_an_annotations_query_is_scoped_where_grafana_10_keeps_it_and_where_earlier_grafanas_did():
    board = {"title": "x", "panels": [], "annotations": {"list": [
        {"name": "deploys", "datasource": {"type": "prometheus", "uid": "abc"},
         "target": {"expr": "changes(build_info[5m]) > 0", "refId": "Anno"}},
        {"name": "both", "datasource": {"type": "prometheus", "uid": "abc"}, "expr": "up",
         "target": {"expr": "up == 0", "refId": "Anno"}}]}}
    imported_board = import_dashboard(board, SEL).board
    deploys, both = imported_board["annotations"]["list"]
    required = promql.matchers(SEL)
    for expr in (deploys["target"]["expr"], both["expr"], both["target"]["expr"]):  # Grafana runs target.expr
        assert promql.metrics_without(expr, required, variables=True) == [], expr


def test_a_panel_in_a_row_in_a_row_is_scoped_like_every_other():
    stat = {"type": "stat", "title": "Up", "targets": [{"expr": "up", "refId": "A"}]}
    board = {"title": "x", "panels": [{"type": "row", "panels": [{"type": "row", "panels": [stat]}]}]}
    inner = [p for p in panels(import_dashboard(board, SEL).board) if p.get("type") == "stat"]
    assert len(inner) == 1 and promql.metrics_without(inner[0]["targets"][0]["expr"], promql.matchers(SEL)) == []


@pytest.mark.parametrize("wrong", [5, True, 1.5, "x", {"a": 1}])
def test_a_rows_panels_that_are_no_list_are_refused_not_a_traceback(wrong):
    with pytest.raises(ValueError, match="panel 'r': its panels must be a list of panels"):
        from_export({"title": "x", "panels": [{"type": "row", "title": "r", "panels": wrong}]})


def test_a_null_among_the_panels_ends_nothing():
    board = {"panels": [{"type": "stat", "title": "a"}, None, {"type": "stat", "title": "b"}]}
    assert [p.get("title") if p else p for p in panels(board)] == ["a", None, "b"]


# --------------------------------------------------------------------------------------------
# Links: one that would run script in the browser of whoever clicks it is refused, naming where
# --------------------------------------------------------------------------------------------

ALLOWED = "a link's URL may be an http(s) URL, a relative path (/d/uid, ?var-x=1) or a Grafana variable ($var, ${__url})"


def _links_board() -> dict:
    """A dashboard with a place for a link of every kind, each first of its list."""
    def stat(title: str) -> dict:
        return {"type": "stat", "title": title, "targets": [{"refId": "A", "expr": "up"}], "links": []}
    return {"title": "Links", "links": [], "panels": [
        {**stat("Up"), "fieldConfig": {"defaults": {"links": []}, "overrides": [
            {"matcher": {"id": "byName", "options": "up"}, "properties": [{"id": "links", "value": []}]}]}},
        {"type": "graph", "title": "Old graph", "options": {"dataLinks": []}, "targets": [{"refId": "A", "expr": "up"}]},
        {"type": "table-old", "title": "Old table", "styles": [{"pattern": "/.*/", "type": "string", "link": True}],
         "targets": [{"refId": "A", "expr": "up"}]},
        {"type": "row", "title": "Collapsed", "collapsed": True, "panels": [stat("In a row")]},
        {"title": "Shared", "libraryPanel": {"uid": "lib-1", "name": "Shared"}},
        {**stat("Old gauge"), "type": "gauge", "pluginVersion": "6.5.2", "options": {"fieldOptions": {
            "defaults": {"links": []}, "overrides": [
                {"matcher": {"id": "byName", "options": "up"}, "properties": [{"id": "links", "value": []}]}]}}}],
        "__elements": {"lib-1": {"uid": "lib-1", "name": "Shared", "model": stat("Shared")}}}


def _legacy_rows_board() -> dict:
    return {"title": "Links", "schemaVersion": 14, "rows": [{"title": "R", "panels": [
        {"type": "singlestat", "title": "Old stat", "links": [], "targets": [{"refId": "A", "expr": "up"}]}]}]}


def _link(url: str) -> dict:
    return {"title": "Runbook", "type": "link", "url": url, "targetBlank": True}


PLACES = [
    # (what, the board, where the link goes, its JSON path in the export)
    ("a dashboard link", _links_board, lambda b, u: b["links"].append(_link(u)), "links[0].url"),
    ("a panel link", _links_board, lambda b, u: b["panels"][0]["links"].append(_link(u)), "panels[0].links[0].url"),
    ("a data link", _links_board, lambda b, u: b["panels"][0]["fieldConfig"]["defaults"]["links"].append(_link(u)),
     "panels[0].fieldConfig.defaults.links[0].url"),
    ("an override's data link", _links_board,
     lambda b, u: b["panels"][0]["fieldConfig"]["overrides"][0]["properties"][0]["value"].append(_link(u)),
     "panels[0].fieldConfig.overrides[0].properties[0].value[0].url"),
    ("a Grafana 6 graph's data link", _links_board, lambda b, u: b["panels"][1]["options"]["dataLinks"].append(_link(u)),
     "panels[1].options.dataLinks[0].url"),
    ("a table-old style's link", _links_board, lambda b, u: b["panels"][2]["styles"][0].update(linkUrl=u),
     "panels[2].styles[0].linkUrl"),
    ("a panel in a collapsed row", _links_board, lambda b, u: b["panels"][3]["panels"][0]["links"].append(_link(u)),
     "panels[3].panels[0].links[0].url"),
    ("a library panel", _links_board, lambda b, u: b["__elements"]["lib-1"]["model"]["links"].append(_link(u)),
     '__elements["lib-1"].model.links[0].url'),
    ("a panel of a legacy row", _legacy_rows_board, lambda b, u: b["rows"][0]["panels"][0]["links"].append(_link(u)),
     "rows[0].panels[0].links[0].url"),
    # Grafana 6's stat, gauge and bargauge: Grafana moves options.fieldOptions into fieldConfig on load
    ("a Grafana 6 gauge's data link", _links_board,
     lambda b, u: b["panels"][5]["options"]["fieldOptions"]["defaults"]["links"].append(_link(u)),
     "panels[5].options.fieldOptions.defaults.links[0].url"),
    ("a Grafana 6 gauge's override data link", _links_board,
     lambda b, u: b["panels"][5]["options"]["fieldOptions"]["overrides"][0]["properties"][0]["value"].append(_link(u)),
     "panels[5].options.fieldOptions.overrides[0].properties[0].value[0].url"),
]


@pytest.mark.parametrize("what,board,put,where", PLACES, ids=[p[0] for p in PLACES])
def test_a_javascript_link_anywhere_in_the_export_is_one_problem_naming_its_json_path(what, board, put, where):
    board = board()
    put(board, "javascript:alert(document.cookie)")
    with pytest.raises(ImportProblems) as error:
        import_dashboard(board, SEL)
    assert error.value.problems == [(where, f"a javascript: URL, which Grafana would show as a clickable link; "
                                            f"{ALLOWED}: change or remove it")]


UNSAFE_URLS = [
    # (what, url, the scheme the problem names)
    ("javascript:", "javascript:alert(1)", "javascript"),
    ("in capitals", "JAVASCRIPT:alert(1)", "javascript"),
    ("in mixed case", "JaVaScRiPt:alert(1)", "javascript"),
    ("after spaces", "   javascript:alert(1)", "javascript"),
    ("after control characters", "\x00\x01\x1f javascript:alert(1)", "javascript"),
    ("after a tab and a line break", "\t\njavascript:alert(1)", "javascript"),
    ("a tab inside the scheme", "java\tscript:alert(1)", "javascript"),
    ("a line break inside the scheme", "java\r\nscript:alert(1)", "javascript"),
    ("a zero-width space inside the scheme", "java\u200bscript:alert(1)", "javascript"),
    ("after a byte order mark", "\ufeffjavascript:alert(1)", "javascript"),
    ("a variable inside the scheme", "java${empty}script:alert(1)", "javascript"),
    ("a variable before the scheme", "$empty javascript:alert(1)", "javascript"),
    ("data:", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "data"),
    ("data: in capitals after a space", " DATA:text/html,<script>alert(1)</script>", "data"),
    ("vbscript:", "vbscript:msgbox(1)", "vbscript"),
    ("vbscript: in capitals", "VBScript:msgbox(1)", "vbscript"),
    ("another scheme", "mailto:oncall@example.com", "mailto"),
]


@pytest.mark.parametrize("what,url,scheme", UNSAFE_URLS, ids=[u[0] for u in UNSAFE_URLS])
def test_a_link_url_a_browser_would_read_with_another_scheme_than_http_is_refused(what, url, scheme):
    board = _links_board()
    board["links"].append(_link(url))
    with pytest.raises(ImportProblems) as error:
        import_dashboard(board, SEL)
    assert error.value.problems == [("links[0].url", f"a {scheme}: URL, which Grafana would show as a clickable link; "
                                                     f"{ALLOWED}: change or remove it")]
    assert url not in str(error.value)  # the scheme is named, the URL not repeated


SCRIPT_VARIABLES = [
    # (what, the variable, the link's URL)
    ("a constant", {"type": "constant", "name": "u", "query": "javascript:alert(1)"}, "${u}"),
    ("a custom variable's second value", {"type": "custom", "name": "u", "query": "https://a.example.com,javascript:x"},
     "$u"),
    ("a custom variable's value behind its text", {"type": "custom", "name": "u", "query": "docs : data:text/html,x"},
     "[[u]]"),
    ("a textbox's current value", {"type": "textbox", "name": "u", "query": "",
                                    "current": {"value": " JavaScript:alert(1)", "text": "x"}}, "${u:raw}/x"),
    ("a query variable's listed option", {"type": "query", "name": "u", "query": "label_values(up, job)",
                                          "options": [{"value": "vbscript:msgbox(1)", "text": "v"}]}, "${u}"),
]


@pytest.mark.parametrize("what,variable,url", SCRIPT_VARIABLES, ids=[v[0] for v in SCRIPT_VARIABLES])
def test_a_link_whose_variable_the_dashboard_fills_with_a_script_url_is_refused(what, variable, url):
    board = _links_board()
    board["templating"] = {"list": [variable]}
    board["links"].append(_link(url))
    with pytest.raises(ImportProblems) as error:
        import_dashboard(board, SEL)
    assert [where for where, _ in error.value.problems] == ["links[0].url"]


def test_a_link_whose_variables_hold_only_http_urls_is_kept():
    board = _links_board()
    board["templating"] = {"list": [{"type": "constant", "name": "base", "query": "https://runbooks.example.com"},
                                    {"type": "custom", "name": "page", "query": "a,b : c"}]}
    board["links"].append(_link("${base}/$page"))
    assert import_dashboard(board, SEL).board["links"] == [_link("${base}/$page")]


SAFE_URLS = [
    ("an https URL", "https://runbooks.example.com/payments"),
    ("an http URL in capitals", "HTTP://grafana.example.com/d/abc"),
    ("an https URL with javascript: in its query", "https://example.com/?next=javascript:alert(1)"),
    ("a path", "/d/payments-workers/payments-workers?orgId=1&${__url_time_range}"),
    ("a path without a slash", "d/abc/payments"),
    ("a path with a colon after a slash", "d/abc:def"),
    ("a query", "?var-provider=adyen"),
    ("a fragment", "#panel-2"),
    ("a host without a scheme", "//runbooks.example.com/payments"),
    ("a variable", "${__url}"),
    ("a variable with a format", "${__data.fields.url:raw}"),
    ("a variable before a path", "$grafana/d/abc"),
    ("an old-style variable", "[[base]]/d/abc"),
    ("a variable after the scheme", "https://${host}/d/abc"),
    ("empty", ""),
    ("after an ideographic space, which a browser reads as a path", "\u3000javascript:alert(1)"),
]


@pytest.mark.parametrize("what,url", SAFE_URLS, ids=[u[0] for u in SAFE_URLS])
def test_a_link_to_an_http_url_a_relative_path_or_a_variable_is_kept_as_it_is(what, url):
    for _, board, put, where in PLACES:
        board = board()
        put(board, url)
        import_dashboard(board, SEL)  # no problem: the link is kept
    board = _links_board()
    board["links"].append(_link(url))
    assert import_dashboard(board, SEL).board["links"] == [_link(url)]


def test_a_refused_link_and_a_refused_query_are_reported_at_once():
    board = _links_board()
    board["links"].append(_link("javascript:alert(1)"))
    board["panels"][0]["targets"][0]["datasource"] = {"type": "loki", "uid": "loki"}
    with pytest.raises(ImportProblems) as error:
        import_dashboard(board, SEL)
    assert [w for w, _ in error.value.problems] == ["links[0].url", "panels['Up'].targets.A"]


def test_a_refused_link_is_named_with_the_dashboard_file_that_holds_it(tmp_path):
    from estate import Layout
    from tools.adopt import team_queries

    layout = Layout.at(tmp_path)
    team = layout.team_dir("payments")
    team.mkdir(parents=True)
    (team / "team.yaml").write_text('selector: job="payments"\nimports:\n  - {file: dashboards/api.json}\n')
    board = _links_board()
    board["panels"][0]["links"].append(_link("javascript:alert(1)"))
    (team / "dashboards").mkdir()
    (team / "dashboards" / "api.json").write_text(json.dumps(board))
    _, _, problems = team_queries("payments", layout)
    assert problems == [f"teams/payments/dashboards/api.json: panels[0].links[0].url: a javascript: URL, which Grafana "
                        f"would show as a clickable link; {ALLOWED}: change or remove it"]


def test_an_unnamed_annotation_is_named_by_its_place_in_the_list():
    """An annotation without a name is named by its index in annotations.list, as it stands in the export."""
    board = {"title": "x", "panels": [], "annotations": {"list": [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "name": "Annotations & Alerts"},
        {"datasource": {"type": "loki", "uid": "loki"}, "expr": '{app="deployer"}'},
        {"name": "deploys", "datasource": {"type": "prometheus", "uid": "abc"}, "expr": "$query"}]}}
    with pytest.raises(ImportProblems) as error:
        import_dashboard(board, SEL)
    assert [w for w, _ in error.value.problems] == ["annotations['deploys'].expr"]
    board["annotations"]["list"].pop()
    assert import_dashboard(board, SEL).notes == (
        "annotations['1']: kept on a loki datasource ({\"type\": \"loki\", \"uid\": \"loki\"}), which the stack does "
        "not manage",)


@pytest.mark.parametrize("annotations, problem", [
    ({"list": {"deploys": {"expr": "up"}}}, ("annotations.list", "not a list of annotations (got an object)")),
    ({"list": "up"}, ("annotations.list", "not a list of annotations (got a text)")),
    ([{"expr": "up"}], ("annotations", "not an object holding a list of annotations (got a list)")),
    ("up", ("annotations", "not an object holding a list of annotations (got a text)")),
    ({"list": [{"expr": "up"}, None]}, ("annotations.list[1]", "not an annotation object (got null)")),
    ({"list": [1]}, ("annotations.list[0]", "not an annotation object (got a number)")),
], ids=["a list that is an object", "a list that is a text", "annotations that are a list", "annotations that are a text",
        "a null among them", "a number among them"])
def test_annotations_grafana_could_not_read_are_a_problem_not_queries_that_vanish(annotations, problem):
    with pytest.raises(ImportProblems) as error:
        import_dashboard({"title": "x", "panels": [], "annotations": annotations}, SEL)
    assert error.value.problems == [problem]
