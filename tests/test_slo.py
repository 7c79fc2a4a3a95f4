"""SLOs (estate/slo.py, estate/slo_dashboard.py, docs/slo.md): the model, the workbook's burn-rate alerts, the
error-budget row, and promtool proving that a fast burn pages, a slow burn tickets, a healthy service
stays silent and a page resets once the burn stops; the whole chain on a scratch team under mocks."""
from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from decimal import Decimal

import promql_parser as pp
import pytest
from pydantic import ValidationError

from components.types import ResourceType as T
from dashboards.error_budget import ROW_TITLE, ErrorBudget, error_budget_panels
from estate import ConfigError
from estate.model import duration_seconds, validation_problems
from estate.slo import PAGE, TICKET, Slo, alert_rules, alerts, budget, budget_remaining, burn_rate, good_ratio
from estate.slo_dashboard import error_budget, possible_rows, with_error_budget_row
from syntax.template import SELECTOR
from tests.conftest import dump_yaml, existing_grafana, load_yaml, run_values, stack_values
from tools.lint import gridpos_problems
from tools.prometheus_server import PrometheusMissing, binary, go_env

TEAM_SELECTOR = 'job="checkout"'


def slo(**changes) -> Slo:
    spec = {
        "name": "CheckoutLatency", "description": "Checkout latency", "objective": 0.99,
        "sli": {"latency": {"histogram": "http_request_duration_seconds", "le": "0.3"}},
    }
    spec.update(changes)
    return Slo.model_validate(spec)


RATIO = {"ratio": {"good": 'sum(rate(http_requests_total{%(selector)s, code!~"5.."}[%(window)s]))',
                   "total": "sum(rate(http_requests_total{%(selector)s}[%(window)s]))"}}


def filled(expr: str) -> str:
    return expr.replace(SELECTOR, TEAM_SELECTOR)


# ----------------------------------------------------------------------------------------------- the model

@pytest.mark.parametrize("changes, field, says", [
    ({"sli": {"ratio": {"good": "sum(rate(x_total{%(selector)s}[5m]))", "total": RATIO["ratio"]["total"]}}},
     "sli.ratio.good", "must contain %(window)s"),
    ({"sli": {"ratio": {"good": "sum(rate(x_total[%(window)s]))", "total": RATIO["ratio"]["total"]}}},
     "sli.ratio.good", "must contain %(selector)s"),
    ({"sli": {**RATIO, "latency": {"histogram": "h", "le": "0.3"}}}, "sli", "exactly one of"),
    ({"sli": {}}, "sli", "exactly one of"),
    ({"sli": {"latency": {"histogram": "h", "le": "300ms"}}}, "sli.latency.le",
     "a bucket bound is a plain number, as the exporter writes"),
    ({"sli": {"latency": {"histogram": "h", "le": "0.3", "matchers": 'endpoint="/a'}}}, "sli.latency.matchers",
     "not valid label matchers"),
    ({"objective": 99}, "objective", "less than 1"),
    ({"objective": 0.9}, "objective", "more than 100 % errors"),
    ({"window": "1d"}, "window", "at least 3d"),
    ({"labels": {"severity": "page"}}, "labels", "set by the platform"),
    ({"labels": {"alertname": "Other"}}, "labels", "set by Grafana on every alert"),
    ({"labels": {"limit": "%(threshold)s"}}, "labels", "hold a %(...)s placeholder, which no one fills in a label"),
    ({"description": "Scoring {{ oops"}, "description", "where { and } would be template actions"),
    ({"description": "Scoring %(threshold)s"}, "description", "and % a placeholder"),
    ({"name": "checkout-latency"}, "name", "letters and digits, starting with a capital letter (e.g. HighErrorRate)"),
    ({"name": "C" * 183}, "name",
     "183 characters; Grafana holds at most 182 (alert_rule.title, once FastBurn or SlowBurn follows it)"),
], ids=["no window placeholder", "no selector", "two kinds", "no kind", "a duration as le", "bad matchers",
        "a percentage", "too low to page", "a window shorter than the alerts'", "a reserved label",
        "a label Grafana sets", "a placeholder in a label", "a template action in the description",
        "a placeholder in the description", "a kebab name",
        "a name whose alerts Grafana could not hold"])
def test_an_slo_the_alerts_could_not_honour_is_refused_with_its_field(changes, field, says):
    with pytest.raises(ValidationError) as error:
        slo(**changes)
    problems = validation_problems(error.value, Slo)
    assert any(path == field and says in message for path, message in problems), problems


def test_the_budget_is_exact_so_thresholds_read_as_people_write_them():
    assert budget(slo(objective=0.99)) == Decimal("0.01")
    assert budget(slo(objective=0.999)) == Decimal("0.001")


# ------------------------------------------------------------------------------------------- the alerts

def comparisons(expr: str) -> list[tuple[str, float]]:
    """(range of the windows inside, number compared with) of each `error ratio > x` in `expr`."""
    found = []

    def visit(node):
        if isinstance(node, pp.BinaryExpr) and str(node.op) == ">" and isinstance(node.rhs, pp.NumberLiteral):
            ranges = set()
            pp.walk(node.lhs, lambda n: ranges.add(str(n.range)) if isinstance(n, pp.MatrixSelector) else None)
            [window] = ranges
            found.append((window, node.rhs.val))
    pp.walk(pp.parse(filled(expr)), visit)
    return found


@pytest.mark.parametrize("objective", [0.99, 0.999])
def test_the_page_and_the_ticket_use_the_workbooks_window_pairs_and_burn_factors(objective):
    """SRE workbook, Alerting on SLOs, 6: page 14.4 over 1h and 5m or 6 over 6h and 30m; ticket 3 over 1d
    and 2h or 1 over 3d and 6h (https://sre.google/workbook/alerting-on-slos/)."""
    page, ticket = alerts(slo(objective=objective))
    error_budget = 1 - Decimal(str(objective))

    def expected(pairs):  # the parser shows a range as a timedelta
        return [(str(timedelta(seconds=duration_seconds(w))), float(Decimal(p.factor) * error_budget))
                for p in pairs for w in (p.long, p.short)]

    assert [(w.long, w.short, w.factor) for w in PAGE] == [("1h", "5m", "14.4"), ("6h", "30m", "6")]
    assert [(w.long, w.short, w.factor) for w in TICKET] == [("1d", "2h", "3"), ("3d", "6h", "1")]
    assert (page.alert, page.severity) == ("CheckoutLatencyFastBurn", "critical")
    assert (ticket.alert, ticket.severity) == ("CheckoutLatencySlowBurn", "warning")
    assert [(w, round(x, 10)) for w, x in comparisons(page.expr)] == expected(PAGE)
    assert [(w, round(x, 10)) for w, x in comparisons(ticket.expr)] == expected(TICKET)


def test_the_alerts_are_pure_expressions_with_no_for_and_the_team_selector_on_every_metric():
    for rule in alert_rules([slo(), slo(name="CheckoutErrors", sli=RATIO)]):
        assert rule.for_ == "0s"  # the short window, not a `for`, keeps a blip from paging
        assert rule.comparison is None  # the burn condition holds its comparisons: it fires when it returns a series
        assert "job:" not in rule.quantity and ":ratio_rate" not in rule.quantity  # no recording rule to depend on
        names = []
        pp.walk(pp.parse(filled(rule.quantity)),
                lambda n: names.append((n.name, {m.name for m in n.matchers.matchers}))
                if isinstance(n, pp.VectorSelector) else None)
        assert names and all("job" in labels for _, labels in names), names


# ------------------------------------------------------------------------------------ promtool: the proof

def promtool_test(tmp_path, the_slo: Slo, tests: list[dict]) -> subprocess.CompletedProcess:
    try:
        promtool = binary("promtool")
    except PrometheusMissing as e:
        pytest.fail(str(e), pytrace=False)
    rules = [{"alert": a.alert, "expr": filled(a.expr), "labels": {"severity": a.severity},
              "annotations": {"summary": a.summary}} for a in alerts(the_slo)]
    (tmp_path / "rules.yaml").write_text(dump_yaml({"groups": [{"name": "slo", "interval": "1m", "rules": rules}]}))
    (tmp_path / "test.yaml").write_text(dump_yaml(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    return subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          env=go_env())


def latency_series(slow_per_minute: str, minutes: int) -> list[dict]:
    """100 requests a minute, `slow_per_minute` of them slower than 0.3 s (promtool series notation)."""
    series = 'http_request_duration_seconds_{}{{job="checkout", instance="a"{}}}'
    return [
        {"series": series.format("count", ""), "values": f"0+100x{minutes}"},
        {"series": series.format("bucket", ', le="+Inf"'), "values": f"0+100x{minutes}"},
        {"series": series.format("bucket", ', le="0.3"'), "values": slow_per_minute},
    ]


def firing(alert, at: str, slo_: Slo) -> dict:
    fired = next(a for a in alerts(slo_) if a.alert == alert)
    return {"eval_time": at, "alertname": alert, "exp_alerts": [
        {"exp_labels": {"severity": fired.severity}, "exp_annotations": {"summary": fired.summary}}]}


def silent(alert, at: str) -> dict:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


def test_promtool_proves_fast_burn_pages_slow_burn_tickets_healthy_is_silent_and_a_page_resets(tmp_path):
    """Each window pair on its own (budget 1 %: the page needs 14.4 % over 1h and 5m or 6 % over 6h and 30m, the
    ticket 3 % over 1d and 2h or 1 % over 3d and 6h); counters start at 0, so a ratio holds from the second sample."""
    the_slo = slo()
    fast, slow = "CheckoutLatencyFastBurn", "CheckoutLatencySlowBurn"
    tests = [
        # 6 hours all fast, then half the requests slow: the 1h window passes 14.4 % 18 minutes in (12.5 % at
        # 15m, 20.8 % at 25m) while the 6h window is still at 3.5 %, far from its 6 %.
        {"name": "a sharp outage pages through the 1h/5m pair", "interval": "1m",
         "input_series": latency_series("0+100x360 36050+50x40", 400),
         "alert_rule_test": [silent(fast, "375m"), firing(fast, "385m", the_slo)]},
        {"name": "10 % slow pages through the 6h/30m pair (under the 1h pair's 14.4 %)", "interval": "1m",
         "input_series": latency_series("0+90x70", 70),
         "alert_rule_test": [silent(fast, "0m"), firing(fast, "1m", the_slo)]},
        {"name": "4 % slow: ticket, no page", "interval": "1m",
         "input_series": latency_series("0+96x130", 130),
         "alert_rule_test": [silent(slow, "0m"), firing(slow, "1m", the_slo), silent(fast, "2h")]},
        {"name": "2 % slow tickets through the 3d/6h pair (under the 1d pair's 3 %)", "interval": "1m",
         "input_series": latency_series("0+98x130", 130),
         "alert_rule_test": [silent(slow, "0m"), firing(slow, "1m", the_slo), silent(fast, "2h")]},
        {"name": "0.5 % slow, half the budget: silent", "interval": "1m",
         "input_series": latency_series("0+99.5x400", 400),
         "alert_rule_test": [silent(fast, "6h"), silent(slow, "6h")]},
        # 20 % slow for 30 minutes, then none: at 60m the 6h window still shows 10 % (above the 6 % of its
        # pair) but the 30m window shows none, so the page has reset; at 45m both still burn.
        {"name": "the short window resets the page soon after the burn stops", "interval": "1m",
         "input_series": latency_series("0+80x30 2500+100x40", 70),
         "alert_rule_test": [firing(fast, "45m", the_slo), silent(fast, "60m")]},
    ]
    result = promtool_test(tmp_path, the_slo, tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# (what, pairs, which, wrong factor, bad-request series, minutes, alert, eval_time): a case of the proof above
# that passes only with the workbook's factor. The ticket's 1d/2h pair needs no case of its own: with 3 x 1d =
# 1 x 3d both long windows need the same errors, and a 2h window above 3 % keeps the 6h one above 1 %.
MUTANTS = [
    ("page 1h/5m at 30", "PAGE", 0, "30", "0+100x360 36050+50x40", 400, "FastBurn", "385m"),
    ("page 6h/30m at 12", "PAGE", 1, "12", "0+90x70", 70, "FastBurn", "1m"),
    ("ticket 3d/6h at 2.5", "TICKET", 1, "2.5", "0+98x130", 130, "SlowBurn", "1m"),
]


@pytest.mark.parametrize("what, pairs, which, factor, series, minutes, alert, at", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_the_promtool_proof_fails_when_one_factor_is_wrong(tmp_path, monkeypatch, what, pairs, which, factor,
                                                           series, minutes, alert, at):
    import estate.slo

    changed = list(getattr(estate.slo, pairs))
    changed[which] = estate.slo.BurnWindows(changed[which].long, changed[which].short, factor)
    monkeypatch.setattr(estate.slo, pairs, tuple(changed))
    the_slo = slo()
    case = {"interval": "1m", "input_series": latency_series(series, minutes),
            "alert_rule_test": [firing(f"CheckoutLatency{alert}", at, the_slo)]}
    result = promtool_test(tmp_path, the_slo, [case])
    assert result.returncode == 1 and "got:[]" in result.stdout + result.stderr, result.stdout + result.stderr


def test_promtool_finds_the_panels_numbers_sli_budget_left_and_burn_rate(tmp_path):
    """0.5 % of requests fail against a 99 % objective: SLI 99.5 %, half the budget left, burn rate 0.5."""
    the_slo = slo(name="CheckoutErrors", sli=RATIO)
    series = 'http_requests_total{{job="checkout", instance="a", code="{}"}}'
    tests = [{"interval": "1m", "input_series": [
        {"series": series.format("200"), "values": "0+199x400"},
        {"series": series.format("500"), "values": "0+1x400"}],
        "promql_expr_test": [
            # rounded to 4 decimals: promtool compares floats exactly, and 0.005 / 0.01 is 0.49999999999999956
            {"expr": f"round({filled(expr)}, 0.0001)", "eval_time": "6h", "exp_samples": [{"labels": "{}", "value": value}]}
            for expr, value in ((good_ratio(the_slo, the_slo.window), 0.995), (budget_remaining(the_slo), 0.5),
                                (burn_rate(the_slo, "1h"), 0.5))]}]
    result = promtool_test(tmp_path, the_slo, tests)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------- the error-budget row

def panels_of(slos: list[Slo]) -> list[dict]:
    """The error-budget row of `slos` as the team-code worker builds it, from what the estate resolved."""
    return error_budget_panels([ErrorBudget(**error_budget(s)) for s in slos])


def test_the_error_budget_row_goes_below_the_dashboard_with_sli_budget_and_burn_rate_per_slo():
    existing = {"uid": "b", "panels": [{"type": "stat", "title": "x", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 9}}]}
    board = with_error_budget_row(existing, panels_of([slo(), slo(name="CheckoutErrors", description="Checkout errors",
                                                                  sli=RATIO)]))
    added = board["panels"][1:]
    assert [(p["type"], p["title"]) for p in added] == [
        ("row", ROW_TITLE),
        ("stat", "Checkout latency: SLI"), ("stat", "Checkout latency: error budget left"),
        ("timeseries", "Checkout latency: burn rate"),
        ("stat", "Checkout errors: SLI"), ("stat", "Checkout errors: error budget left"),
        ("timeseries", "Checkout errors: burn rate")]
    assert min(p["gridPos"]["y"] for p in added) == 9
    assert gridpos_problems(board) == []
    sli, left, burn = added[1:4]
    assert sli["targets"][0]["instant"] and left["targets"][0]["instant"]  # one evaluation over 30d, not one per point
    assert [t["legendFormat"] for t in burn["targets"]] == ["1h", "6h"]
    assert [s["value"] for s in sli["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 0.99]


def test_the_panels_query_what_the_alerts_compare():
    the_slo = slo()
    [_, _, _, burn] = panels_of([the_slo])
    assert burn["targets"][0]["expr"] == burn_rate(the_slo, "1h")
    assert "[30d]" in panels_of([the_slo])[2]["targets"][0]["expr"]


@pytest.mark.parametrize("dashboards, rows", [
    ([None, None], [(0, 1)]),  # the usual case: one row, on the first dashboard
    (["b", None], [(0,), (0, 1), (1,)]),  # b, unless b is the first: then both
    (["b", "c"], [(0,), (1,)]),
])
def test_every_row_a_dashboard_could_show_is_asked_for_before_the_team_code_says_which_is_first(dashboards, rows):
    assert possible_rows([slo(name=f"S{i}", dashboard=d) for i, d in enumerate(dashboards)]) == rows


# ---------------------------------------------------------------------- hooked in: a scratch team, mocks

def with_slos(scratch, slos: list[dict]) -> None:
    path = scratch.team_dir("api-production") / "team.yaml"
    spec = load_yaml(path.read_text())
    spec["slos"] = slos
    path.write_text(dump_yaml(spec, sort_keys=False))


def dev_run(scratch):
    values, secret_keys = existing_grafana(*stack_values("dev"))
    values["teams"] = {"api-production": values["teams"]["api-production"]}
    return run_values(values, secret_keys, layout=scratch)


LATENCY_SLO = {"name": "ApiLatency", "description": "API latency", "objective": 0.995,
               "sli": {"latency": {"histogram": "http_request_duration_seconds", "le": "0.5"}}}


def test_a_teams_slo_adds_its_page_and_ticket_to_the_teams_rule_group_and_its_row_to_the_first_dashboard(scratch):
    with_slos(scratch, [LATENCY_SLO])
    run = dev_run(scratch)
    rules = {r["name"]: r for r in run.one(T.RULE_GROUP, "api-production").inputs["rules"]}
    page, ticket = rules["ApiLatencyFastBurn"], rules["ApiLatencySlowBurn"]
    assert (page["labels"], ticket["labels"]) == ({"severity": "critical", "team": "api-production"},
                                                  {"severity": "warning", "team": "api-production"})
    assert page["annotations"]["runbook_url"] == "https://runbooks.acme-corp.com/dev/api-production/api-latency-fast-burn"
    expr = json.loads(page["datas"][0]["model"])["expr"]
    assert 'http_request_duration_seconds_bucket{job="api-production", env="dev", le="0.5"}[1h]' in expr
    assert page["condition"] == "C" and page["noDataState"] == "OK"  # Grafana runs it as it runs every rule
    board = json.loads(run.one(T.DASHBOARD, "api-production-overview").inputs["configJson"])
    titles = [p["title"] for p in board["panels"]]
    assert titles[-4:] == [ROW_TITLE, "API latency: SLI", "API latency: error budget left", "API latency: burn rate"]
    assert 'env="dev"' in board["panels"][-1]["targets"][0]["expr"]


@pytest.mark.parametrize("slos, field, says", [
    ([{**LATENCY_SLO, "dashboard": "no-such-board"}], "slos.0.dashboard", "unknown dashboard 'no-such-board'"),
    ([LATENCY_SLO, LATENCY_SLO], "slos", "two SLOs named ApiLatency"),
    ([{**LATENCY_SLO, "name": "HighLatency"}], "slos.0.name", "HighLatencyFastBurn"),
], ids=["an unknown dashboard", "two SLOs of one name", "a name the team's alerts take"])
def test_an_slo_that_does_not_fit_its_team_is_a_config_error_naming_the_team_file(scratch, slos, field, says):
    with_slos(scratch, slos)
    if slos[0]["name"] == "HighLatency":  # the team's own alert HighLatencyFastBurn, for the collision
        path = scratch.team_dir("api-production") / "team.yaml"
        spec = load_yaml(path.read_text())
        spec["alerts"].append({**spec["alerts"][0], "alert": "HighLatencyFastBurn"})
        path.write_text(dump_yaml(spec, sort_keys=False))
    with pytest.raises(ConfigError) as error:
        dev_run(scratch)
    assert error.value.file.endswith("api-production/team.yaml")
    assert any(path == field and says in message for path, message in error.value.problems), error.value.problems
