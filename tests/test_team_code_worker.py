"""Team code of many teams at once: the worker builds the next teams' dashboards while the program
resolves the ones before (estate/team_code.py, estate/team_worker.py), and the estate still loads as
if one team at a time: the same dashboards per team, the first team's problem reported, nothing of
the teams after it left running."""
from __future__ import annotations

import subprocess
import sys

import pytest

import estate.team_code
from estate import PROJECT_LAYOUT, ConfigError, Layout
from estate.config import config_from_file
from estate.resolve import begin_load, estate_from_file, load_estate
from tools.benchmark import synthetic_project
from tests.conftest import dump_yaml, load_yaml

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
    stack = load_yaml(path.read_text())
    teams = stack["config"]["grafana-platform:teams"]
    first, second = sorted(teams)[:2]
    stack["config"]["grafana-platform:teams"] = {first: teams[first], second: teams[second]}
    path.write_text(dump_yaml(stack, sort_keys=False))
    return first, second


def unscoped_metric_in_first_alert(project: Layout, slug: str) -> str:
    """team.yaml stays valid, but its first alert reads a metric without the team selector: a problem found
    when the team's rules are resolved, after every team.yaml validated. Returns the alert's name."""
    path = project.team_dir(slug) / "team.yaml"
    data = load_yaml(path.read_text())
    data["alerts"][0]["quantity"] = f"({data['alerts'][0]['quantity']}) or unscoped_metric_total"
    path.write_text(dump_yaml(data, sort_keys=False))
    return data["alerts"][0]["alert"]


def test_each_team_gets_the_dashboards_its_own_code_built_when_many_run_side_by_side(project):
    estate = estate_from_file("dev", project)
    assert len(estate.teams) == 12
    for team in estate.teams:
        spec = load_yaml((project.team_dir(team.slug) / "team.yaml").read_text())
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


def sent_requests(monkeypatch) -> list[str]:
    """The slugs whose team code is sent to the worker, from now on."""
    sent = []
    real = estate.team_code.start_dashboards
    monkeypatch.setattr(estate.team_code, "start_dashboards", lambda slug, *a: sent.append(slug) or real(slug, *a))
    return sent


def test_a_load_begun_early_is_finished_by_the_load_with_the_same_arguments_each_team_code_sent_once(
        project, monkeypatch):
    config, secret_keys = config_from_file("dev", project)
    sent = sent_requests(monkeypatch)
    begin_load("dev", config, secret_keys, project)
    assert len(sent) == 12  # sent at once, while the caller goes on
    estate = load_estate("dev", config, secret_keys, project)
    assert len(sent) == 12 and [t.slug for t in estate.teams] == sorted(sent)
    assert estate == estate_from_file("dev", project)  # as a load in one go


def test_a_load_begun_with_other_arguments_is_ended_and_the_load_reads_its_own(project, monkeypatch):
    config, secret_keys = config_from_file("dev", project)
    first, second = two_teams(project)
    fewer, _ = config_from_file("dev", project)
    begin_load("dev", config, secret_keys, project)  # twelve teams, their code sent
    sent = sent_requests(monkeypatch)
    assert [t.slug for t in load_estate("dev", fewer, secret_keys, project).teams] == [first, second]
    assert sent == [first, second]  # sent again for the load's own config


def test_a_problem_a_begun_load_meets_is_raised_by_the_load_that_finishes_it(project):
    config, secret_keys = config_from_file("dev", project)
    config["grafana-platform:teams"] = config["grafana-platform:teams"].replace('"ap0"', '"ap0x"', 1)
    begin_load("dev", config, secret_keys, project)  # raises nothing: the program reports it, as ever
    with pytest.raises(ConfigError) as error:
        load_estate("dev", config, secret_keys, project)
    assert "grafana-platform:teams.ap0x: unknown team 'ap0x'" in str(error.value)


def _landlock_abi() -> int:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return 0
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    return max(0, syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))  # landlock_create_ruleset: its ABI


READS_ITS_FOLDER_AND_IMPORTS = '''
import colorsys  # a module of the Python installation that the worker has not loaded
from pathlib import Path

from dashboards import board


def dashboards(team):
    note = (Path(__file__).parent / "note.txt").read_text()
    return [board(uid, note) for uid in DECLARED]
'''


def test_team_code_may_import_from_python_and_read_its_own_folder(project):
    first, _ = two_teams(project)
    declared = load_yaml((project.team_dir(first) / "team.yaml").read_text())["dashboards"]
    (project.team_dir(first) / "note.txt").write_text("From the team's folder")
    (project.team_dir(first) / "dashboards.py").write_text(f"DECLARED = {declared!r}\n" + READS_ITS_FOLDER_AND_IMPORTS)
    estate = estate_from_file("dev", project)
    assert [d.title for d in estate.teams[0].dashboards][:len(declared)] == ["From the team's folder"] * len(declared)


@pytest.mark.skipif(_landlock_abi() < 1, reason="the kernel has no Landlock (Linux 5.13+); the audit hook alone guards")
def test_the_kernel_keeps_team_code_from_what_no_hook_sees(project):
    """Listing /proc (other processes' environments) raises no audit event the hook refuses: Landlock refuses it."""
    first, _ = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text("import os\n\n\ndef dashboards(team):\n    os.listdir('/proc')\n")
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert "line 5, dashboards(): PermissionError: [Errno 13] Permission denied: '/proc'" in str(error.value)


@pytest.mark.skipif(_landlock_abi() < 4, reason="Landlock restricts TCP from ABI 4 (Linux 6.7) on")
def test_team_code_opens_no_tcp_connection(project):
    """Dashboards code has nothing to fetch: a connection (to send what it found) is refused by the kernel."""
    first, _ = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text(
        "import socket\n\n\ndef dashboards(team):\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n")
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert "line 5, dashboards(): PermissionError: [Errno 13] Permission denied" in str(error.value)


def test_the_worker_started_by_hand_without_a_project_root_says_how_it_is_started():
    done = subprocess.run([sys.executable, "-I", "-B", str(PROJECT_LAYOUT.root / "estate" / "team_worker.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: python -I -B estate/team_worker.py <project root> "), done.stderr
