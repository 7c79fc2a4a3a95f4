"""Team code of many teams at once: the worker builds the next teams' dashboards while the program
resolves the ones before (estate/team_code.py, estate/team_worker.py), and the estate still loads as
if one team at a time: the same dashboards per team, the first team's problem reported, nothing of
the teams after it left running."""
from __future__ import annotations

import os
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


def in_c(call: str, x86_64: int, aarch64: int, arguments: str, *setup: str) -> pytest.param:
    """A SOCKETS row: the system call made in C, with the worker's own libc, past every audit hook."""
    code = "\n    ".join(["import __main__", f"NUMBER = {{'x86_64': {x86_64}, 'aarch64': {aarch64}}}[os.uname().machine]",
                          *setup, f"if __main__._LIBC.syscall(NUMBER, {arguments}) < 0:",
                          f"    raise PermissionError(f'{call}(2): {{os.strerror(__main__.ctypes.get_errno())}}')"])
    return pytest.param(code, f"PermissionError: {call}(2): Operation not permitted", id=f"{call}(2) called in C",
                        marks=pytest.mark.skipif(not sys.platform.startswith("linux")
                                                 or os.uname().machine not in ("x86_64", "aarch64"),
                                                 reason="the seccomp filter is Linux's, for x86_64 and aarch64"))


SOCKETS = [  # (what the code does, the error it gets)
    pytest.param("socket.create_connection(('127.0.0.1', 9), timeout=1)",
                 "PermissionError: team code may not socket.__new__", id="a TCP connection"),
    pytest.param("socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))",
                 "PermissionError: team code may not socket.__new__", id="a UDP datagram"),
    pytest.param("socket.socket(socket.AF_UNIX).connect('/var/run/docker.sock')",
                 "PermissionError: team code may not socket.__new__", id="a Unix socket at a path"),
    pytest.param("socket.socket(socket.AF_UNIX).connect('\\0abstract')",
                 "PermissionError: team code may not socket.__new__", id="an abstract Unix socket"),
    in_c("socket", 41, 198, "socket.AF_INET, socket.SOCK_STREAM, 0"),
    in_c("socketpair", 53, 199, "socket.AF_UNIX, socket.SOCK_STREAM, 0, pair", "pair = (__main__.ctypes.c_int * 2)()"),
]


@pytest.mark.parametrize("code, error", SOCKETS)
def test_team_code_opens_no_socket_of_any_kind(project, code, error):
    """Dashboards code has nothing to fetch and nobody to tell what it found: no TCP, no UDP, no Unix
    socket (a container engine's), by Python (the audit hook) or by C (the seccomp filter)."""
    first, _ = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text(
        f"import os\nimport socket\n\n\ndef dashboards(team):\n    {code}\n")
    with pytest.raises(ConfigError) as error_:
        estate_from_file("dev", project)
    assert error in str(error_.value)


def test_the_worker_started_by_hand_without_a_project_root_says_how_it_is_started():
    done = subprocess.run([sys.executable, "-s", "-P", "-B", str(PROJECT_LAYOUT.root / "estate" / "team_worker.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: python -s -P -B estate/team_worker.py <project root> "), done.stderr


SIGNALS_THE_OTHERS = '''
import os
import signal

import __main__  # the worker's own module, and the C functions it loaded before the child's audit hook

KILL = {{"x86_64": 62, "aarch64": 129}}.get(os.uname().machine)  # kill(2)


def dashboards(team):
    # the nearest process of its group: the other team's (each team's process is the worker's child, in the
    # worker's process group), forked just before it, or the worker; on both sides, as pids wrap around
    # (pid_max may be 32768, and a test session starts thousands of processes)
    for pid in [p for d in range(1, 5000) for p in (os.getpid() - d, os.getpid() + d) if p > 0]:
        try:
            if os.getpgid(pid) != os.getpgid(0):
                continue
        except ProcessLookupError:
            continue
        {route}
'''
NEEDS_SIGNAL_SCOPE = pytest.mark.skipif(_landlock_abi() < 6, reason="Landlock scopes signals from ABI 6 (Linux 6.12) "
                                                               "on; before it, nothing refuses this route")
SIGNAL_ROUTES = [
    pytest.param("signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)",
                 "PermissionError: [Errno 1] Operation not permitted", id="signal.pidfd_send_signal",
                 marks=NEEDS_SIGNAL_SCOPE),
    pytest.param("if __main__._LIBC.syscall(KILL, pid, signal.SIGKILL) != 0: "
                 "raise PermissionError(f'kill(2): {os.strerror(__main__.ctypes.get_errno())}')",
                 "PermissionError: kill(2): Operation not permitted", id="kill(2) called in C, past every audit hook",
                 marks=NEEDS_SIGNAL_SCOPE),
    pytest.param("os.kill(pid, signal.SIGKILL)", "PermissionError: team code may not os.kill", id="os.kill"),
    pytest.param("os.killpg(os.getpgid(pid), signal.SIGKILL)", "PermissionError: team code may not os.killpg",
                 id="os.killpg"),
]


@pytest.mark.parametrize("route, refused", SIGNAL_ROUTES)
def test_team_code_that_signals_another_process_is_refused_and_the_team_it_aimed_at_is_not_blamed(project, route,
                                                                                                  refused):
    """The second team's code tries to kill the first team's process, still running, and the worker:
    the first team's dashboards are built, the worker lives on, and the error names the second team."""
    first, second = two_teams(project)
    innocent = project.team_dir(first) / "dashboards.py"
    innocent.write_text("import time\ntime.sleep(0.5)  # still running when the other team's code starts\n"
                        + innocent.read_text())
    (project.team_dir(second) / "dashboards.py").write_text(SIGNALS_THE_OTHERS.format(route=route))
    estate.team_code.prepare()
    worker = estate.team_code._worker.process
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert str(error.value).startswith(f"teams/{second}/dashboards.py: "), str(error.value)
    assert f"line 20, dashboards(): {refused}" in str(error.value)
    assert estate.team_code._worker.process is worker and worker.poll() is None


CHANGES_A_PROJECT_FILE = '''
import os

import __main__  # the worker's own module, and the C functions it loaded before the child's audit hook

NUMBER = {{"x86_64": {x86_64}, "aarch64": {aarch64}}}[os.uname().machine]
PATH = os.path.join(os.path.dirname(__file__), "..", "..", "Pulumi.yaml").encode()


def dashboards(team):
    if __main__._LIBC.syscall(NUMBER, {arguments}) != 0:
        raise PermissionError(f"{name}: {{os.strerror(__main__.ctypes.get_errno())}}")
'''
METADATA_CALLS = {  # what Landlock has no access right for (its uapi header says so), called in C
    "fchmodat": dict(x86_64=268, aarch64=53, arguments="-100, PATH, 0o777, 0"),  # AT_FDCWD
    "fchownat": dict(x86_64=260, aarch64=54, arguments="-100, PATH, os.getuid(), os.getgid(), 0"),
    "utimensat": dict(x86_64=280, aarch64=88, arguments="-100, PATH, None, 0"),  # its times: now
    "setxattr": dict(x86_64=188, aarch64=5, arguments="PATH, b'user.team', b'was here', 8, 0"),
    # chattr +A (FS_NOATIME_FL) through FS_IOC_SETFLAGS on a descriptor opened for reading
    "ioctl": dict(x86_64=16, aarch64=29, arguments="os.open(__file__, os.O_RDONLY), 0x40086602, "
                                                   "__main__.ctypes.byref(__main__.ctypes.c_long(0x80))"),
}


def _metadata(path) -> tuple:
    """What a change of mode, owner, times, extended attributes or attribute flags changes (ctime: any of them)."""
    stat = os.stat(path)
    return (stat.st_mode, stat.st_uid, stat.st_gid, stat.st_mtime_ns, stat.st_ctime_ns, os.listxattr(path),
            getattr(stat, "st_flags", None))


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "aarch64"),
                    reason="the seccomp filter is Linux's, its system call numbers those of x86_64 and aarch64")
@pytest.mark.parametrize("call", METADATA_CALLS)
def test_team_code_changes_no_project_files_mode_owner_times_or_attributes_even_in_c(project, call):
    """C code (the worker's own libc, past the audit hook) that changes what no Landlock right covers is
    refused by the seccomp filter, and the project's Pulumi.yaml and the team's own file are as they were."""
    first, _ = two_teams(project)
    code = project.team_dir(first) / "dashboards.py"
    code.write_text(CHANGES_A_PROJECT_FILE.format(name=call, **METADATA_CALLS[call]))
    before = [_metadata(path) for path in (project.root / "Pulumi.yaml", code)]
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert f"line 12, dashboards(): PermissionError: {call}: Operation not permitted" in str(error.value)
    assert [_metadata(path) for path in (project.root / "Pulumi.yaml", code)] == before


def test_team_code_may_not_set_a_files_attribute_flags(project):
    """chattr's flags (immutable, append only, no atime) through fcntl.ioctl on a file opened for reading."""
    first, _ = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text(
        "import fcntl\nimport os\n\n\ndef dashboards(team):\n"
        "    fcntl.ioctl(os.open(__file__, os.O_RDONLY), 0x40086602, (0x80).to_bytes(8, 'little'))\n")
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert "line 6, dashboards(): PermissionError: team code may not fcntl.ioctl" in str(error.value)


def test_team_code_may_not_set_a_files_extended_attributes(project):
    """An extended attribute holds a file's ACL: one more way to change who may write it."""
    first, _ = two_teams(project)
    (project.team_dir(first) / "dashboards.py").write_text(
        "import os\n\n\ndef dashboards(team):\n    os.setxattr(__file__, 'user.team', b'was here')\n")
    with pytest.raises(ConfigError) as error:
        estate_from_file("dev", project)
    assert "line 5, dashboards(): PermissionError: team code may not os.setxattr" in str(error.value)


DRAWS_ON_HASHES_AND_RANDOM = '''
import random

from dashboards import board


def dashboards(team):
    drawn = f"{hash('dashboards')} {random.random()} {' '.join({'api', 'chatbot', 'kafka', 'minio', 'node'})}"
    return [board(uid, drawn) for uid in DECLARED]
'''


def test_team_code_that_hashes_text_or_draws_random_numbers_builds_the_same_dashboards_in_every_render(project):
    """A set's order follows the hashes of its strings, and `random` is seeded: both are fixed, so two
    runs of the program (each its own team-code process) render the same titles."""
    first, _ = two_teams(project)
    declared = load_yaml((project.team_dir(first) / "team.yaml").read_text())["dashboards"]
    (project.team_dir(first) / "dashboards.py").write_text(f"DECLARED = {declared!r}\n" + DRAWS_ON_HASHES_AND_RANDOM)
    titles = []
    for _ in range(2):
        estate.team_code._worker._stop()  # as a new program run: a new worker, its own hash seed
        titles.append([d.title for d in estate_from_file("dev", project).teams[0].dashboards])
    assert titles[0] == titles[1]
