"""The offline render: what it writes, that it is deterministic, that it never leaks a secret."""
import copy
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml
from hypothesis import given, settings, strategies as st

import tools.render
from estate import PROJECT_ROOT as ROOT
from components.types import ResourceType as T
from tests.conftest import STACKS, files, load_yaml
from tools.render import committed, main, render, write


@pytest.mark.parametrize("stack", STACKS)
def test_two_renders_of_a_stack_are_byte_identical(tmp_path, stack):
    first = committed(stack).folder  # this process's first render of the stack, shared by the tests
    write(render(stack), tmp_path / "second")
    assert files(first) == files(tmp_path / "second")


def test_render_writes_resources_dashboards_and_prometheus_rule_files(tmp_path, capsys):
    assert main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    resources = json.loads((out / "resources.json").read_text())
    assert resources == sorted(resources, key=lambda r: (r["type"], r["name"], r["parent"]))
    assert {"type", "name", "parent", "inputs", "protect"} == set(resources[0])
    board = json.loads((out / "dashboards" / "api-production-overview.json").read_text())
    assert board["title"] == "API Production Overview" and board["refresh"] == "10s"
    rules = load_yaml((out / "rules" / "api-production.yaml").read_text())
    assert rules["groups"][0]["name"] == "api-production"
    assert rules["groups"][0]["rules"][0]["expr"] == 'up{job="api-production", env="prod"} == 0'
    summary = capsys.readouterr().out
    assert "team api-production: 1 dashboards, 8 alert rules" in summary


def test_the_dashboard_file_is_exactly_the_config_json_sent_to_grafana():
    run, folder = committed("dev").run, committed("dev").folder
    sent = run.one(T.DASHBOARD, "api-production-overview").inputs["configJson"]
    assert (folder / "dashboards" / "api-production-overview.json").read_text() == sent


def test_a_bad_stack_exits_non_zero_with_one_message_and_writes_nothing(tmp_path, scratch):
    scratch.stack_file("broken").write_text("config:\n  grafana-platform:teams: {billing: {}}\n  grafana-platform:orgId: [\n")
    result = subprocess.run([sys.executable, "-m", "tools.render", "--root", str(scratch.root), "--stack", "broken",
                             "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("error: stacks/Pulumi.broken.yaml: invalid configuration")
    assert "not valid YAML" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_render_never_contains_the_stack_files_ciphertexts():
    text = "".join(p.read_text() for p in committed("prod").folder.rglob("*") if p.is_file())
    assert "AAABA" not in text and "<secure" not in text


def test_a_failed_write_keeps_the_previous_render_and_leaves_no_staging_folder(tmp_path, monkeypatch):
    run = committed("dev").run
    write(run, tmp_path / "out")
    before = files(tmp_path / "out")
    monkeypatch.setattr(tools.render, "rules_file", lambda group: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write(run, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and files(tmp_path / "out") == before
    with pytest.raises(ZeroDivisionError):
        write(run, tmp_path / "new" / "out")  # its parent is created next to nothing else
    assert list((tmp_path / "new").iterdir()) == []




def test_a_render_replaces_what_a_killed_render_left_and_still_refuses_other_files(tmp_path):
    left = tmp_path / "out" / ".staging-k1ll3d"  # a render killed (SIGKILL) while it wrote
    (left / "dashboards").mkdir(parents=True)
    (left / "alerts.json").write_text("{")
    assert main(["--stack", "dev", "--out", str(tmp_path / "out")]) == 0
    assert files(tmp_path / "out") == files(committed("dev").folder)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".staging-notes.txt").write_text("a file, not a render's folder")
    with pytest.raises(tools.render.OutError, match="holds files that are not an earlier render"):
        tools.render.check_out(tmp_path / "other")

@pytest.fixture
def forks(monkeypatch):
    """The pids os.fork gave this process (the render's writer of the estate's files, here for an
    estate of any size: the committed stacks have fewer teams than ASIDE_MIN_TEAMS)."""
    monkeypatch.setattr(tools.render, "ASIDE_MIN_TEAMS", 1)
    pids, real_fork = [], os.fork

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(os, "fork", fork)
    return pids


def test_the_command_writes_the_estates_files_aside_and_they_are_the_files_write_gives(tmp_path, forks):
    assert main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 0
    assert len(forks) == 1
    assert files(tmp_path / "out") == files(committed("prod").folder)


def test_a_small_estates_files_are_written_by_the_command_itself(tmp_path, monkeypatch):
    def fork():
        raise AssertionError("a forked copy wrote the files")
    monkeypatch.setattr(os, "fork", fork)
    assert len(committed("prod").run.estate.teams) < tools.render.ASIDE_MIN_TEAMS
    assert main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 0
    assert files(tmp_path / "out") == files(committed("prod").folder)


def _disk_full(estate, folder):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _killed(estate, folder):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer ends a process


@pytest.mark.parametrize("writer, reason", [
    (_disk_full, "No space left on device"),
    (_killed, "the process writing the render's files ended with status -9"),
])
def test_a_failure_of_the_writer_aside_is_the_commands_error_and_leaves_nothing(
        writer, reason, tmp_path, monkeypatch, capsys, forks):
    monkeypatch.setattr(tools.render, "write_estate", writer)
    assert main(["--stack", "dev", "--out", str(tmp_path / "out")]) == 1
    assert len(forks) == 1
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'out'}: cannot write the render ({reason})\n"
    assert list(tmp_path.iterdir()) == []


def test_a_program_that_fails_after_its_load_ends_the_writer_aside_and_leaves_nothing(tmp_path, monkeypatch, forks):
    import program

    def failing(*args, **kwargs):
        raise RuntimeError("the program failed while it registered")
    monkeypatch.setattr(program, "GrafanaPlatform", failing)
    with pytest.raises(RuntimeError, match="while it registered"):
        main(["--stack", "dev", "--out", str(tmp_path / "out")])
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):  # reaped: no writer is left running or unwaited for
        os.waitpid(forks[0], os.WNOHANG)
    assert list(tmp_path.iterdir()) == []


def test_the_program_runs_on_a_thread_of_its_own_so_an_interrupt_never_lands_in_its_event_loop():
    from tools.mocks import run_under_mocks

    threads = []
    run_under_mocks("grafana-platform", "dev", lambda: threads.append(threading.current_thread()))
    assert threads and threads[0] is not threading.main_thread()


@pytest.mark.parametrize("after", [0.3, 0.6])
def test_ctrl_c_ends_the_command_at_once_and_leaves_nothing(after, tmp_path):
    command = subprocess.Popen([sys.executable, "-m", "tools.render", "--stack", "prod", "--out", str(tmp_path / "out")],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(after)  # loading, or registering: the prod render takes about a second here
        command.send_signal(signal.SIGINT)
        _, err = command.communicate(timeout=30)  # an interrupt that landed in the event loop could hang it
    finally:
        command.kill()
    assert command.returncode in (0, 130, -signal.SIGINT), err  # -SIGINT: Python itself still starting
    if command.returncode == 130:  # the first: still importing the tool's modules (tools/__init__), nothing begun
        assert err in ("error: interrupted\n", f"error: interrupted; {tools.render.INTERRUPTED}\n")
    if command.returncode == 0 or (tmp_path / "out").exists():  # done before the interrupt came, or as it came
        assert files(tmp_path / "out") == files(committed("prod").folder)  # whole, never half of it
    assert [p.name for p in tmp_path.iterdir()] in ([], ["out"])


def test_a_program_going_on_after_the_command_was_interrupted_writes_nothing(tmp_path, monkeypatch, forks):
    # Ctrl-C reaches the command's thread while it waits for the program's (tools.mocks.run_under_mocks),
    # which goes on until the process ends: what it then hands to be written aside is refused
    import tools.mocks

    real, went_on = tools.mocks.run_program, []

    def interrupted(*args, **kwargs):
        went_on.append(lambda: real(*args, **kwargs))
        raise KeyboardInterrupt
    monkeypatch.setattr(tools.mocks, "run_program", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--stack", "dev", "--out", str(tmp_path / "out")])
    with pytest.raises(tools.render.OutError, match=r"the render was interrupted; nothing is written"):
        went_on[0]()  # the program, finishing the load the command began
    assert forks == [] and list(tmp_path.iterdir()) == []


def test_a_run_whose_registered_dashboards_are_not_its_estates_is_not_written(tmp_path):
    run = copy.deepcopy(committed("dev").run)
    run.one(T.DASHBOARD, "api-production-overview").inputs["configJson"] += " "
    with pytest.raises(RuntimeError, match="registered other dashboards than its estate holds"):
        write(run, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),  # any character at all
    st.lists(st.sampled_from([*" \n\t{}[]()$.,:#-'\"|>!%@&*?=~019azAZ_\\", "{{ ", " }}", "\n\n", "  ", "é", "🔥",
                              "word ", "a-longer-word "]), max_size=120).map("".join),  # what rule texts are made of
)
_RULE = st.fixed_dictionaries({"alert": _TEXT, "expr": _TEXT, "for": _TEXT}, optional={
    "labels": st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True), _TEXT, max_size=3),
    "annotations": st.dictionaries(st.sampled_from(["summary", "description", "runbook_url"]), _TEXT)})


@settings(max_examples=120, deadline=None)
@given(rules=st.lists(_RULE, max_size=3))
def test_a_rule_file_is_written_byte_for_byte_as_pyyamls_own_emitter_writes_it(rules):
    """libyaml's emitter writes most files (fast); what it would write differently goes through PyYAML's."""
    data = {"groups": [{"name": "team", "interval": "60s", "rules": rules}]}
    expected = yaml.dump(data, Dumper=tools.render._RuleFileDumper, sort_keys=False, width=120, allow_unicode=True)
    assert tools.render.rules_file_text(data) == expected
