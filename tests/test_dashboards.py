"""Dashboards: built with the shared library or imported from an exported Grafana JSON file."""
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from components.types import ResourceType as T
from dashboards import board, query, stat_panel, thresholds
from dashboards.finalize import canonical_json, finalize, sorted_json
from dashboards.importer import import_dashboard
from dashboards.panels import to_dict
from estate import ConfigError
from tests.conftest import dump_yaml, exported, load_yaml, run_values

FIXTURES = Path(__file__).parent / "fixtures"


def bind(model: dict) -> dict:
    return finalize(model, uid="team-board", team="team", selector='job="team"',
                    datasource_uid="prom", datasource_name="Prometheus (test)")


def test_an_imported_dashboard_keeps_its_panels_and_gets_the_platforms_uid_and_datasource():
    imported = bind(exported(FIXTURES / "exported-dashboard.json"))
    assert imported["uid"] == "team-board"
    assert "id" not in imported and "version" not in imported and "__inputs" not in imported
    assert [p["title"] for p in imported["panels"]] == ["Traffic", "Requests"]
    requests = imported["panels"][1]
    assert requests["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert requests["targets"][0]["expr"] == 'sum(rate(http_requests_total{job="team"}[$__rate_interval]))'
    assert requests["gridPos"] == {"h": 8, "w": 12, "x": 0, "y": 1}
    assert imported["tags"] == ["exported", "team"]


def test_an_imported_legacy_graph_panel_becomes_timeseries_with_its_unit():
    requests = import_dashboard(exported(FIXTURES / "exported-dashboard.json"), 'job="team"').board["panels"][1]
    assert requests["type"] == "timeseries"
    assert requests["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert "yaxes" not in requests and "lines" not in requests


def test_a_broken_export_is_refused_with_its_position(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "x", "panels": [}')
    with pytest.raises(ConfigError, match="not valid JSON at line 1, column 27"):
        exported(broken)


def test_a_json_file_that_is_not_a_dashboard_is_refused(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"name": "not a dashboard"}')
    with pytest.raises(ValueError, match="needs a title and a panels list"):
        exported(other)


def test_built_panels_get_ids_ref_ids_the_datasource_variable_and_the_selector():
    built = bind(to_dict(board("b", "Built").with_panel(stat_panel(
        "Requests", "reqps", query("sum(rate(x_total{%(selector)s}[5m]))"), steps=thresholds("green", 5, "red")))))
    panel = built["panels"][0]
    assert (panel["id"], panel["targets"][0]["refId"]) == (1, "A")
    assert panel["targets"][0]["expr"] == 'sum(rate(x_total{job="team"}[5m]))'
    assert panel["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 5]
    assert built["templating"]["list"][0]["current"] == {"selected": True, "text": "Prometheus (test)", "value": "prom"}


def test_a_panel_of_more_than_26_queries_names_them_as_grafana_does_and_scopes_every_one():
    targets = [{"expr": f"up{{%(selector)s, n=\"{n}\"}}"} for n in range(30)]
    targets[1]["refId"] = "C"  # a refId of its own is kept, and no other query takes it
    built = bind({"title": "Many", "panels": [{"type": "timeseries", "title": "Many", "targets": targets}]})
    refs = [t["refId"] for t in built["panels"][0]["targets"]]
    assert refs == ["A", "C", "B", *"DEFGHIJKLMNOPQRSTUVWXYZ", "AA", "AB", "AC", "AD"]
    assert all(t["expr"].startswith('up{job="team", n=') and t["datasource"] for t in built["panels"][0]["targets"])


def test_canonical_json_sorts_keys_so_equal_dashboards_give_equal_bytes():
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == canonical_json({"a": {"c": 3, "d": 2}, "b": 1})
    assert json.loads(canonical_json({"b": 1})) == {"b": 1}


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.booleans()), inner, max_size=4)),
    max_leaves=40)


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(_JSON, st.dictionaries(st.text(max_size=8), _JSON, max_size=6)), ensure_ascii=st.booleans())
def test_sorted_json_is_byte_for_byte_what_json_dumps_writes(data, ensure_ascii):
    """Any JSON data (and data json.dumps writes its own way: NaN, tuples, keys that are not text)."""
    try:
        expected = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=ensure_ascii)
    except TypeError:  # keys of mixed types cannot be sorted: sorted_json refuses them the same way
        with pytest.raises(TypeError):
            sorted_json(data, ensure_ascii=ensure_ascii)
        return
    assert sorted_json(data, ensure_ascii=ensure_ascii) == expected
    if isinstance(data, dict) and not ensure_ascii:
        assert canonical_json(data) == expected + "\n"


def test_a_team_can_import_an_exported_dashboard_into_its_folder(scratch, prod_values):
    team = scratch.team_dir("api-production")
    shutil.copy(FIXTURES / "exported-dashboard.json", team / "exported.json")
    spec = load_yaml((team / "team.yaml").read_text())
    spec["imports"] = [{"file": "exported.json", "uid": "api-production-exported", "title": "API (imported)"}]
    (team / "team.yaml").write_text(dump_yaml(spec))
    values, secrets = prod_values
    values["teams"] = {"api-production": values["teams"]["api-production"]}

    board = run_values(values, secrets, layout=scratch).one(T.DASHBOARD, "api-production-exported")
    model = json.loads(board.inputs["configJson"])
    assert board.inputs["folder"] == "api-production" and model["title"] == "API (imported)"
    assert model["panels"][1]["type"] == "timeseries"
    assert model["panels"][1]["targets"][0]["expr"] == (
        'sum(rate(http_requests_total{job="api-production", env="prod"}[$__rate_interval]))')
    assert model["templating"]["list"][0]["current"]["value"] == "prometheus"


def test_a_stat_without_thresholds_stays_neutral_instead_of_grafanas_red_from_80():
    built = bind(to_dict(board("b", "Built").with_panel(stat_panel("Users", "short", query("max(users{%(selector)s})")))))
    steps = built["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "text", "value": None}]


def test_whole_threshold_values_are_written_as_integers_as_grafana_returns_them():
    steps = thresholds("green", 2.0, "orange", 0.5, "red").build().steps
    assert [s.value for s in steps] == [None, 2, 0.5] and isinstance(steps[1].value, int)
