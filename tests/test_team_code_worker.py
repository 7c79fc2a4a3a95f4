"""Team code of many teams at once: the worker builds the next teams' dashboards while the program
resolves the ones before (estate/team_code.py, estate/team_worker.py), and the estate still loads as
if one team at a time: the same dashboards per team, the first team's problem reported, nothing of
the teams after it left running."""
from __future__ import annotations

import pytest
import yaml

import estate.team_code
from estate import ConfigError, Layout
from estate.resolve import estate_from_file
from tools.benchmark import synthetic_project

FIRST, SECOND = "api-production", "chatbot-sav"  # loaded in this order (sorted slugs)
FAILS = "def dashboards(team):\n    raise ValueError('the first team fails')\n"
LOOPS = "def dashboards(team):\n    while True:\n        pass\n"


@pytest.fixture
def project(tmp_path) -> Layout:
    """The dev stack with twelve cloned teams, more than the worker runs at once."""
    return Layout.at(synthetic_project(tmp_path / "project", 12))


def two_teams(project: Layout) -> tuple[str, str]:
    """The dev stack of `project` cut down to its first two teams (in load order)."""
    path = project.stack_file("dev")
    stack = yaml.safe_load(path.read_text())
    teams = stack["config"]["grafana-platform:teams"]
    first, second = sorted(teams)[:2]
    stack["config"]["grafana-platform:teams"] = {first: teams[first], second: teams[second]}
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    return first, second


def unscoped_metric_in_first_alert(project: Layout, slug: str) -> str:
    """team.yaml stays valid, but its first alert reads a metric without the team selector: a problem found
    when the team's rules are resolved, after every team.yaml validated. Returns the alert's name."""
    path = project.team_dir(slug) / "team.yaml"
    data = yaml.safe_load(path.read_text())
    data["alerts"][0]["quantity"] = f"({data['alerts'][0]['quantity']}) or unscoped_metric_total"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data["alerts"][0]["alert"]


def test_each_team_gets_the_dashboards_its_own_code_built_when_many_run_side_by_side(project):
    estate = estate_from_file("dev", project)
    assert len(estate.teams) == 12
    for team in estate.teams:
        spec = yaml.safe_load((project.team_dir(team.slug) / "team.yaml").read_text())
        built = [d.uid for d in team.dashboards]
        assert built[:len(spec.get("dashboards", []))] == spec.get("dashboards", []), team.slug


def test_the_first_teams_code_problem_is_reported_before_a_later_teams_team_yaml_problem(project):
    first, second = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text(FAILS)
    unscoped_metric_in_first_alert(project, second)
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert str(error.value).startswith(f"teams/{first}/dashboards.py: ")
    assert "the first team fails" in str(error.value)


def test_the_first_teams_team_yaml_problem_is_reported_before_a_later_teams_code_problem(project):
    first, second = two_teams(project)
    alert = unscoped_metric_in_first_alert(project, first)
    (project.team_dir(second) / "dashboards.py").write_text(FAILS)
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert str(error.value).startswith(f"teams/{first}/team.yaml: "), str(error.value)
    assert f"alerts.{alert}.quantity: metrics ['unscoped_metric_total'] lack the team selector" in str(error.value)


def test_a_problem_ends_the_team_code_sent_after_it_and_the_next_load_is_served(project):
    first, second = two_teams(project)
    original = (project.team_dir(first) / "dashboards.py").read_text()
    (project.team_dir(first) / "dashboards.py").write_text(FAILS)
    (project.team_dir(second) / "dashboards.py").write_text(LOOPS)
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert str(error.value).startswith(f"teams/{first}/dashboards.py: ")
    worker = estate.team_code._worker
    assert worker.received == worker.sent  # the endless loop was ended and answered, not left running
    (project.team_dir(first) / "dashboards.py").write_text(original)
    (project.team_dir(second) / "dashboards.py").write_text(FAILS)
    with pytest.raises(ConfigError) as error:  # the same process serves the next load, each answer to its team
        estate_from_file("dev", project)
    assert str(error.value).startswith(f"teams/{second}/dashboards.py: ")
    assert "the first team fails" in str(error.value)
