"""The dashboard lint (tools/lint.py): each rule catches its violation, and every rendered
dashboard of every stack passes them all."""
from __future__ import annotations

import copy
import json
import shutil

import pytest

from estate.contract import Contract
from estate.team import Metric
from tests.conftest import STACK_TEAMS, STACKS
from tools import lint
from tools.render import read_render, rendered_stacks

CONTRACT = Contract("shop", 'job="shop", env="prod"', {
    "http_requests_total": Metric(name="http_requests_total", type="counter", labels=["endpoint", "status"],
                                  help="Requests."),
    "http_request_duration_seconds": Metric(name="http_request_duration_seconds", type="histogram",
                                            labels=["endpoint"], help="Request latency."),
    "queue_messages_count": Metric(name="queue_messages_count", type="gauge", help="Queued messages."),
    "up": Metric(name="up", type="gauge", help="Target up."),
})
SEL = 'job="shop", env="prod"'
DS = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, ref: str = "A", **extra) -> dict:
    return {"datasource": dict(DS), "expr": expr, "refId": ref, **extra}


def panel(title: str, expr: str, *, x: int = 0, y: int = 1, w: int = 12, h: int = 8, unit: str = "reqps",
          kind: str = "timeseries", **target_extra) -> dict:
    return {"datasource": dict(DS), "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "gridPos": {"h": h, "w": w, "x": x, "y": y}, "id": 0, "targets": [target(expr, **target_extra)],
            "title": title, "type": kind}


def good_board() -> dict:
    """A small dashboard that follows every rule."""
    return {
        "uid": "shop-overview",
        "title": "Shop",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": [
            {"type": "row", "title": "Traffic", "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
             "panels": []},
            panel("Requests", f"sum by (endpoint) (rate(http_requests_total{{{SEL}}}[$__rate_interval]))"),
            panel("Latency p95", f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{SEL}}}[5m])))",
                  x=12, unit="s"),
            panel("Requests today", f"sum(increase(http_requests_total{{{SEL}}}[$__range]))", y=9, w=12, unit="short",
                  kind="stat", instant=True),
            panel("Instances", f"count(up{{{SEL}}}) + sum(queue_messages_count{{{SEL}}})", x=12, y=9, w=12, unit="short",
                  kind="stat"),
            {"type": "row", "title": "Details", "collapsed": True, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 17},
             "panels": [panel("Errors", f"sum(rate(http_requests_total{{{SEL}, status=~\"5..\"}}[5m]))", y=0)]},
        ],
    }


def rules(board: dict, contract: Contract | None = CONTRACT) -> set[str]:
    return {f.rule for f in lint.lint_dashboard(board, contract)}


def first_panel(board: dict) -> dict:
    return board["panels"][1]


def with_expr(expr: str, **extra) -> dict:
    board = good_board()
    first_panel(board)["targets"] = [target(expr, **extra)]
    return board


def test_the_good_dashboard_has_no_finding():
    assert lint.lint_dashboard(good_board(), CONTRACT) == []


def test_a_panel_without_a_title():
    board = good_board()
    first_panel(board)["title"] = " "
    assert rules(board) == {"panel-title"}


def test_a_panel_without_a_unit():
    board = good_board()
    del first_panel(board)["fieldConfig"]["defaults"]["unit"]
    assert rules(board) == {"panel-unit"}
    [finding] = lint.lint_dashboard(board, CONTRACT)
    assert (finding.dashboard, finding.panel) == ("shop-overview", "Requests")


def test_text_panels_need_only_a_title():
    board = good_board()
    board["panels"].append({"type": "text", "title": "Read me", "gridPos": {"h": 2, "w": 24, "x": 0, "y": 30}})
    assert rules(board) == set()


@pytest.mark.parametrize("where", ["panel", "target"])
def test_a_hard_coded_datasource(where):
    board = good_board()
    holder = first_panel(board) if where == "panel" else first_panel(board)["targets"][0]
    holder["datasource"] = {"type": "prometheus", "uid": "prometheus-prod"}
    assert rules(board) == {"panel-datasource"}


def test_a_dashboard_without_the_datasource_variable():
    board = good_board()
    board["templating"]["list"] = []
    assert rules(board) == {"template-datasource"}
    board["templating"]["list"] = [{"name": "datasource", "type": "custom", "query": "prometheus"}]
    assert rules(board) == {"template-datasource"}


@pytest.mark.parametrize("expr, extra, bad", [
    (f"sum(rate(http_requests_total{{{SEL}}}[$__interval]))", {}, True),
    (f"sum(irate(http_requests_total{{{SEL}}}[${{__interval}}]))", {}, True),
    (f"sum(increase(http_requests_total{{{SEL}}}[$__range]))", {}, True),  # a range query: not a total
    (f"sum(increase(http_requests_total{{{SEL}}}[$__range]))", {"instant": True}, False),
    (f"sum(rate(http_requests_total{{{SEL}}}[${{__rate_interval}}]))", {}, False),
    (f"sum(rate(http_requests_total{{{SEL}}}[90s]))", {}, False),
])
def test_rate_windows(expr, extra, bad):
    assert rules(with_expr(expr, **extra)) == ({"rate-interval"} if bad else set())


@pytest.mark.parametrize("expr, bad", [
    (f"sum(http_requests_total{{{SEL}}})", True),
    (f"max by (endpoint) (http_requests_total{{{SEL}}})", True),
    (f"rate(sum(http_requests_total{{{SEL}}})[5m:])", True),  # summed, then rated: resets break it
    (f"histogram_quantile(0.9, http_request_duration_seconds_bucket{{{SEL}}})", True),
    (f"sum(http_request_duration_seconds_sum{{{SEL}}}) / sum(http_request_duration_seconds_count{{{SEL}}})", True),
    (f"topk(3, http_requests_total{{{SEL}}})", True),
    (f"sum(rate(http_requests_total{{{SEL}}}[5m]))", False),
    (f"count(http_requests_total{{{SEL}}})", False),  # counts series, ignores values
    (f"sum(resets(http_requests_total{{{SEL}}}[1h]))", False),  # counts restarts, not requests
    (f"sum(queue_messages_count{{{SEL}}})", False),  # the contract says gauge, whatever the name
    (f"http_requests_total{{{SEL}}}", False),  # shown raw, not aggregated
])
def test_counters_are_rated_before_they_are_aggregated(expr, bad):
    assert rules(with_expr(expr)) == ({"counter-aggregation"} if bad else set())


def test_counters_by_name_without_a_contract():
    assert [r for r, _ in lint.lint_query('sum(jobs_processed_total{job="shop"})', None)] == ["counter-aggregation"]
    assert lint.lint_query('sum(rate(jobs_processed_total{job="shop"}[5m]))', None) == []
    assert lint.lint_query('sum(queue_messages_count{job="shop"})', None)  # no contract to say it is a gauge


@pytest.mark.parametrize("expr", [
    'sum(rate(http_requests_total{job="shop"}[5m]))',
    f'sum(rate(http_requests_total{{{SEL}}}[5m])) / sum(rate(http_requests_total{{env="prod"}}[5m]))',
    f'sum(rate(http_requests_total{{{SEL}}}[5m])) / sum(rate(http_requests_total{{job="shop", env="staging"}}[5m]))',
])
def test_every_selector_carries_the_team_selector(expr):
    assert rules(with_expr(expr)) == {"selector"}


def test_a_metric_or_label_outside_the_contract():
    assert rules(with_expr(f"sum(rate(http_requests_totl{{{SEL}}}[5m]))")) == {"metric-contract"}
    findings = lint.lint_dashboard(with_expr(f"sum by (method) (rate(http_requests_total{{{SEL}}}[5m]))"), CONTRACT)
    assert [f.rule for f in findings] == ["metric-contract"] and "label 'method'" in findings[0].message


def test_a_query_that_does_not_parse():
    assert rules(with_expr(f"sum(rate(http_requests_total{{{SEL}}}[5m])")) == {"promql"}


@pytest.mark.parametrize("kind", ["graph", "singlestat"])
def test_legacy_panels(kind):
    board = good_board()
    first_panel(board)["type"] = kind
    assert rules(board) == {"legacy-panel"}


@pytest.mark.parametrize("uid", ["", "shop-" + "x" * 36])
def test_uid_of_1_to_40_characters(uid):
    board = good_board()
    board["uid"] = uid
    assert rules(board) == {"uid"}


def test_uids_are_unique_across_a_stack():
    one, two = good_board(), good_board()
    two["title"] = "Shop again"
    findings = lint.lint_dashboards([(one, CONTRACT, "prod/shop"), (two, CONTRACT, "prod/shop")])
    assert [f.rule for f in findings] == ["uid"] and "also used" in findings[0].message


def test_overlapping_panels_and_rows():
    board = good_board()
    board["panels"][2]["gridPos"] = {"h": 8, "w": 12, "x": 6, "y": 1}  # onto "Requests"
    findings = lint.lint_dashboard(board, CONTRACT)
    assert [f.rule for f in findings] == ["gridpos"] and "overlaps panel 'Requests'" in findings[0].message
    board = good_board()
    board["panels"][0]["gridPos"]["y"] = 2  # the row onto the first line of panels
    assert rules(board) == {"gridpos"}


def test_panels_outside_the_grid():
    board = good_board()
    board["panels"][2]["gridPos"] = {"h": 8, "w": 12, "x": 18, "y": 1}
    assert rules(board) == {"gridpos"}


@pytest.mark.parametrize("change, gap", [
    ({"w": 6}, "beside"),             # the line ends at column 18
    ({"h": 4}, "below"),              # a shorter panel beside a taller one
])
def test_a_line_of_panels_that_leaves_cells_empty(change, gap):
    board = good_board()
    board["panels"][2]["gridPos"].update(change)  # "Latency p95", beside "Requests"
    findings = lint.lint_dashboard(board, CONTRACT)
    assert [f.rule for f in findings] == ["gridpos-gap"], (gap, findings)
    assert "line at y=1" in findings[0].message and "'Latency p95'" in findings[0].message


def test_panels_inside_a_collapsed_row_are_not_compared():
    board = good_board()
    collapsed = board["panels"][-1]["panels"]
    collapsed.append(copy.deepcopy(collapsed[0]))  # same place as its sibling: not laid out while collapsed
    assert rules(board) == set()


def test_the_command_line_names_what_is_wrong(tmp_path, capsys):
    folder = tmp_path / "prod"
    shutil.copytree(rendered_stacks()["prod"], folder)
    path = folder / "dashboards" / "chatbot-sav-fastapi.json"
    board = json.loads(path.read_text())
    victim = next(p for p in board["panels"] if p["type"] != "row")
    victim["type"] = "graph"
    path.write_text(json.dumps(board))
    assert lint.main([str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"prod/chatbot-sav: chatbot-sav-fastapi panel '{victim['title']}': [legacy-panel]" in out
    assert lint.main([str(tmp_path / "nowhere")]) == 2


# ---------------------------------------------------------------------------------------------
# The real dashboards
# ---------------------------------------------------------------------------------------------

def boards_of(stack: str) -> list:
    """The committed stack's rendered dashboards, each with its team (rendered on first use)."""
    return read_render(rendered_stacks()[stack])[1]


@pytest.mark.parametrize("stack, team", STACK_TEAMS, ids=[f"{s}-{t}" for s, t in STACK_TEAMS])
def test_every_rendered_dashboard_of_the_team_passes_the_lint(stack, team):
    boards = [b for b in boards_of(stack) if b.team == team]
    assert boards, f"team {team} renders no dashboard in stack {stack}"
    contract = lint.contracts_of(stack).get(team)
    findings = [f for b in boards for f in lint.lint_dashboard(b.board, contract, f"{stack}/{team}")]
    assert not findings, "\n".join(str(f) for f in findings)


@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_uids_are_unique_in_each_stack(stack):
    boards = boards_of(stack)
    assert boards, f"stack {stack} renders no dashboard"
    findings = [f for f in lint.lint_dashboards((b.board, None, f"{stack}/{b.team}") for b in boards) if f.rule == "uid"]
    assert not findings, "\n".join(str(f) for f in findings)
