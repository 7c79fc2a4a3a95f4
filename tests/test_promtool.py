"""promtool on every stack's rendered rules: `check rules`, and each team's unit tests (`test rules`).

Each team's teams/<slug>/alerts_test.yaml is filled in per stack (tools/promtool.py,
docs/alert-tests.md) and run against that stack's rendered rules, so overrides are covered.
Without promtool these tests fail (never skip): run `bash scripts/setup`.
"""
from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import STACKS, STACK_TEAMS, dump_yaml, files, load_yaml
from tools import command
from tools import promtool as pt
from tools.prometheus_server import PrometheusMissing, binary
from tools.render import write

CASES = STACK_TEAMS
IDS = [f"{stack}-{team}" for stack, team in CASES]


def require_promtool() -> None:
    """Fail (never skip) the calling test when promtool is missing, saying how to install it."""
    try:
        binary("promtool")
        return
    except PrometheusMissing as e:
        message = str(e)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def render_dir(rendered, tmp_path_factory) -> Callable[[str], Path]:
    """Each stack rendered once per session into its own folder (rules/, then alert-tests/)."""
    root = tmp_path_factory.mktemp("promtool")
    dirs: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in dirs:
            write(rendered(stack), root / stack)
            dirs[stack] = root / stack
        return dirs[stack]

    return get


@pytest.fixture(scope="session")
def filled(render_dir) -> Callable[[str, str], Path]:
    """A team's alerts_test.yaml filled in for a stack, next to the stack's rendered rules."""
    results: dict[tuple[str, str], Path | Exception] = {}

    def get(stack: str, team: str, fail: bool = True) -> Path | Exception:
        if (stack, team) not in results:
            try:
                results[stack, team] = pt.prepare(stack, team, render_dir(stack))
            except (FileNotFoundError, pt.PlaceholderError) as e:
                results[stack, team] = e
        result = results[stack, team]
        if fail and isinstance(result, Exception):
            pytest.fail(str(result), pytrace=False)
        return result

    return get


@pytest.fixture(scope="session")
def promtool_runs(filled) -> Iterator[Callable[[str, str], tuple[Path, int, str]]]:
    """`promtool test rules` for (stack, team): the first request for a stack starts one process per
    team of that stack, all at once; each test then reads its own team's result."""
    started: dict[tuple[str, str], tuple[Path, subprocess.Popen]] = {}
    done: dict[tuple[str, str], tuple[Path, int, str]] = {}

    def get(stack: str, team: str) -> tuple[Path, int, str]:
        filled(stack, team)  # this team's own preparation problem fails this test
        if (stack, team) not in started:
            for s, t in CASES:
                path = filled(s, t, fail=False) if s == stack else None
                if isinstance(path, Path) and (s, t) not in started:
                    started[s, t] = path, pt.start_tests(path)
        if (stack, team) not in done:
            path, process = started[stack, team]
            output, _ = process.communicate(timeout=120)
            done[stack, team] = path, process.returncode, output
        return done[stack, team]

    yield get
    for path, process in started.values():  # those no selected test read
        if process.returncode is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("stack", STACKS)
def test_promtool_check_rules(stack, render_dir):
    require_promtool()
    rules = sorted((render_dir(stack) / "rules").glob("*.yaml"))
    assert [p.stem for p in rules] == sorted(pt.stack_teams(stack)), "one rule file per team of the stack"
    result = pt.check_rules(rules)
    assert result.returncode == 0, f"promtool check rules failed for stack {stack}:\n{result.stdout}{result.stderr}"
    assert result.stdout.count("SUCCESS") == len(rules), result.stdout


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_promtool_test_rules(stack, team, promtool_runs):
    require_promtool()
    path, returncode, output = promtool_runs(stack, team)
    assert returncode == 0, (
        f"promtool test rules failed for team {team} in stack {stack} "
        f"(teams/{team}/{pt.TEST_FILE}, filled in as {path}):\n{output}")


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_every_alert_fires_on_time_and_stays_silent(stack, team, filled, render_dir):
    tests = load_yaml(filled(stack, team).read_text())
    rules = load_yaml((render_dir(stack) / "rules" / f"{team}.yaml").read_text())
    problems = pt.coverage_problems(tests, rules)
    assert not problems, f"teams/{team}/{pt.TEST_FILE} in stack {stack}:\n  " + "\n  ".join(problems)


# --- each test group against the rules it names (tools/promtool.split_by_alerts) -------------

def copied(filled, render_dir, stack: str, team: str, tmp_path: Path) -> Path:
    """A team's filled-in test file and its stack's rule file, copied where a test may change them
    (the session's own parts may be in promtool's hands)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "alert-tests").mkdir()
    (tmp_path / "rules" / f"{team}.yaml").write_bytes((render_dir(stack) / "rules" / f"{team}.yaml").read_bytes())
    path = tmp_path / "alert-tests" / f"{team}.yaml"
    path.write_bytes(filled(stack, team).read_bytes())
    return path


def verdict(paths: list[Path]) -> tuple[int, str]:
    result = subprocess.run([binary("promtool"), "test", "rules", *map(str, paths)], capture_output=True, text=True,
                            timeout=120, env=pt.go_env())
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("stack,team", CASES, ids=IDS)
def test_each_test_group_runs_once_against_the_rules_of_the_alerts_it_names(stack, team, filled, render_dir, tmp_path):
    path = copied(filled, render_dir, stack, team, tmp_path)
    whole, rules = load_yaml(path.read_text()), load_yaml((tmp_path / "rules" / f"{team}.yaml").read_text())
    parts = pt.split_by_alerts(path)
    groups = []
    for part in parts:
        doc = load_yaml(part.read_text())
        assert {k: v for k, v in doc.items() if k not in ("tests", "rule_files")} == {
            k: v for k, v in whole.items() if k not in ("tests", "rule_files")}, "evaluation_interval and the rest kept"
        named = {case["alertname"] for group in doc["tests"] for case in group["alert_rule_test"]}
        assert load_yaml((part.parent / doc["rule_files"][0]).read_text()) == {"groups": [
            {**g, "rules": [r for r in g["rules"] if r["alert"] in named]} for g in rules["groups"]
            if any(r["alert"] in named for r in g["rules"])]}
        groups += doc["tests"]
    assert sorted(groups, key=whole["tests"].index) == whole["tests"] and len(groups) == len(whole["tests"])
    assert len(parts) > 1, "every team's rules are alerts that read no other alert's series"


def test_a_render_that_lost_an_alerts_threshold_fails_split_as_it_fails_whole(filled, render_dir, tmp_path):
    require_promtool()
    path = copied(filled, render_dir, "prod", "voicebot", tmp_path)
    rules = tmp_path / "rules" / "voicebot.yaml"
    text = rules.read_text()
    assert 'voicebot_active_calls{job="voicebot", env="prod"} > 10' in text  # HighConcurrentCalls, with 15 calls
    rules.write_text(text.replace("} > 10", "} > 20"), encoding="utf-8")
    (returncode, output), (whole, _) = verdict(pt.split_by_alerts(path)), verdict([path])
    assert (returncode, whole) == (1, 1)
    assert "name: HighConcurrentCalls fires at 15 calls at once" in output, output


TWO_ALERTS = """\
groups:
  - name: g
    rules:
      - {alert: Source, expr: vector(1)}
      - {alert: Echo, expr: 'count(ALERTS{alertname="Source"}) > 0'}
"""
ECHO_FIRES = [{"interval": "1m", "input_series": [], "alert_rule_test": [
    {"eval_time": "1m", "alertname": "Echo", "exp_alerts": [{"exp_labels": {}}]}]}]


def write_test(tmp_path: Path, rules: str, tests: list) -> Path:
    (tmp_path / "rules").mkdir(parents=True)
    (tmp_path / "alert-tests").mkdir()
    (tmp_path / "rules" / "t.yaml").write_text(rules, encoding="utf-8")
    path = tmp_path / "alert-tests" / "t.yaml"
    path.write_text(dump_yaml({"rule_files": ["../rules/t.yaml"], "evaluation_interval": "1m", "tests": tests},
                              sort_keys=False), encoding="utf-8")
    return path


def test_an_alert_that_reads_another_alerts_series_is_run_with_it(tmp_path):
    require_promtool()
    path = write_test(tmp_path, TWO_ALERTS, ECHO_FIRES)
    assert pt.split_by_alerts(path) == [path]
    assert verdict([path])[0] == 0
    echo_alone = write_test(tmp_path / "alone", TWO_ALERTS.replace("      - {alert: Source, expr: vector(1)}\n", ""),
                            ECHO_FIRES)
    assert verdict([echo_alone])[0] == 1, "without Source, Echo never fires: a split would have changed the verdict"


INDEPENDENT = TWO_ALERTS.replace('count(ALERTS{alertname="Source"}) > 0', "vector(1)")


@pytest.mark.parametrize("rules", [
    INDEPENDENT + "      - {record: r, expr: vector(1)}\n",
    INDEPENDENT.replace("{alert: Echo", "{alert: Echo, annotations: {n: '{{ query \"ALERTS_FOR_STATE\" }}'}"),
], ids=["a recording rule's series can be read", "a template queries ALERTS_FOR_STATE"])
def test_rules_that_can_see_each_others_output_run_whole(rules, tmp_path):
    path = write_test(tmp_path, rules, ECHO_FIRES)
    (tmp_path / "alert-tests" / "t").mkdir()
    (tmp_path / "alert-tests" / "t" / "1.yaml").write_text("an earlier run's part")
    assert pt.split_by_alerts(path) == [path]
    assert not (tmp_path / "alert-tests" / "t").exists()


@pytest.mark.parametrize("group", [
    {"interval": "1m", "input_series": [], "promql_expr_test": [{"expr": "ALERTS", "eval_time": "1m", "exp_samples": []}],
     "alert_rule_test": [{"eval_time": "1m", "alertname": "Echo", "exp_alerts": []}]},
    {"interval": "1m", "alert_rule_test": [{"eval_time": "1m", "exp_alerts": []}]},
    {"interval": "1m", "alert_rule_test": "Echo"},
    "Echo",
], ids=["a group that queries the rules' output", "a case without alertname", "cases that are no list",
        "a group that is no mapping"])
def test_a_test_file_split_would_change_or_promtool_must_explain_runs_whole(group, tmp_path):
    path = write_test(tmp_path, INDEPENDENT, [*ECHO_FIRES, group])
    assert pt.split_by_alerts(path) == [path]


def test_a_test_file_without_groups_runs_whole(tmp_path):
    path = write_test(tmp_path, INDEPENDENT, [])
    assert pt.split_by_alerts(path) == [path]


def test_a_test_file_of_more_alert_sets_than_parts_runs_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(pt, "MAX_PARTS", 1)
    path = write_test(tmp_path, INDEPENDENT, [*ECHO_FIRES, {"interval": "1m", "alert_rule_test": [
        {"eval_time": "1m", "alertname": "Source", "exp_alerts": []}]}])
    assert pt.split_by_alerts(path) == [path]


def test_a_test_file_that_orders_the_rule_groups_runs_whole(tmp_path):
    path = write_test(tmp_path, INDEPENDENT, ECHO_FIRES)
    path.write_text(path.read_text() + "group_eval_order: [g]\n", encoding="utf-8")
    assert pt.split_by_alerts(path) == [path]


def test_independent_alerts_split_and_a_rerun_replaces_the_parts(tmp_path):
    path = write_test(tmp_path, INDEPENDENT, [*ECHO_FIRES, {**ECHO_FIRES[0], "name": "again"},
                                              {"interval": "1m", "alert_rule_test": [
                                                  {"eval_time": "1m", "alertname": "Source", "exp_alerts": []}]}])
    (tmp_path / "alert-tests" / "t").mkdir()
    (tmp_path / "alert-tests" / "t" / "3.yaml").write_text("an earlier run's part")
    parts = pt.split_by_alerts(path)
    assert [p.name for p in parts] == ["1.yaml", "2.yaml"]
    assert sorted(p.name for p in (tmp_path / "alert-tests" / "t").iterdir()) == [
        "1.rules.yaml", "1.yaml", "2.rules.yaml", "2.yaml"]
    assert [len(load_yaml(p.read_text())["tests"]) for p in parts] == [2, 1]


def test_missing_promtool_fails_with_the_setup_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"promtool is not installed.*bash scripts/setup"):
        require_promtool()
    with pytest.raises(PrometheusMissing, match="bash scripts/setup"):
        pt.check_rules([])


def test_a_team_without_alert_tests_fails(monkeypatch, render_dir):
    monkeypatch.setattr(pt, "TEST_FILE", "no_such_alerts_test.yaml")
    with pytest.raises(FileNotFoundError, match="no_such_alerts_test.yaml: missing; every team with alerts needs"):
        pt.prepare("prod", "voicebot", render_dir("prod"))


@pytest.mark.parametrize("text,message", [
    ("tests:\n  - name: fires\n    name: stays silent\n",
     r"line 3, column 5: key 'name' is given twice \(first at line 2\); keep one"),
    ("tests:\n  - {eval_time: 5m, eval_time: 10m}\n", r"line 2, column 21: key 'eval_time' is given twice"),
    ("tests:\n  - name: [unclosed\n", r"line 3, column 1: not valid YAML"),
    ("tests:\n  - exp_alerts: no\n", r"line 2, column 17: `no` is read differently by YAML readers"),
])
def test_a_test_file_the_programs_reader_refuses_is_one_error_naming_its_line(text, message, monkeypatch, tmp_path,
                                                                              render_dir):
    # a key given twice reached promtool as its last value only: the first case was never run
    source = tmp_path / pt.TEST_FILE
    source.write_text(text, encoding="utf-8")
    monkeypatch.setattr(pt, "tests_path", lambda team: source)
    with pytest.raises(pt.PlaceholderError, match=rf"^{source} \(stack prod\): {message}"):
        pt.prepare("prod", "voicebot", render_dir("prod"))


def test_a_test_file_that_is_a_device_is_refused_unread(monkeypatch, tmp_path, render_dir):
    source = tmp_path / pt.TEST_FILE
    source.symlink_to("/dev/zero")  # read whole, it would fill the memory
    monkeypatch.setattr(pt, "tests_path", lambda team: source)
    with pytest.raises(pt.PlaceholderError, match=rf"^{source} \(stack prod\): not a regular file"):
        pt.prepare("prod", "voicebot", render_dir("prod"))


@pytest.mark.parametrize("team", ["nosuch", "../teams/voicebot", "voicebot/../api-production"])
def test_a_team_the_stack_does_not_deploy_is_refused_before_anything_runs(team, capsys, tmp_path):
    require_promtool()
    assert pt.main(["--stack", "dev", "--team", "voicebot", "--team", team, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --team {team}: no such team in stack dev; its teams: api-production, chatbot-sav, "
                   "customer-service, mlops-scoring, voicebot\n")
    assert not (tmp_path / "out").exists()


def voicebot_tests(tmp_path: Path, old: str, new: str) -> Path:
    """voicebot's alerts_test.yaml with its first `old` written `new`, in tmp_path."""
    path = tmp_path / pt.TEST_FILE
    path.write_text(pt.tests_path("voicebot").read_text().replace(old, new, 1), encoding="utf-8")
    return path


def failing_voicebot_tests(tmp_path: Path) -> Path:
    """voicebot's tests with its first case expecting an alert 1m too early."""
    return voicebot_tests(tmp_path, "%(for:HighConcurrentCalls+5m)s", "%(for:HighConcurrentCalls+4m)s")


def test_the_command_reports_each_team_in_the_order_given_with_promtools_output(monkeypatch, tmp_path, capsys):
    require_promtool()
    failing = failing_voicebot_tests(tmp_path)
    real, missing = pt.tests_path, tmp_path / "missing" / pt.TEST_FILE
    monkeypatch.setattr(pt, "tests_path", lambda team: {"voicebot": failing, "chatbot-sav": missing}.get(team)
                        or real(team))
    assert pt.main(["--stack", "prod", "--team", "voicebot", "--team", "chatbot-sav", "--team", "api-production",
                    "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    tests = tmp_path / "out" / "alert-tests"
    failed = f"FAILED prod/voicebot: {tests / 'voicebot.yaml'}\n"
    unprepared = f"FAILED prod/chatbot-sav: {missing}: missing; every team with alerts needs promtool tests"
    ok = f"ok     prod/api-production: {tests / 'api-production.yaml'}\n"
    assert failed in out and unprepared in out and ok in out
    assert (out.index(failed) < out.index("name: HighConcurrentCalls fires at 15 calls at once")
            < out.index(unprepared) < out.index(ok))


def test_tests_that_fail_leave_out_holding_every_file_to_rerun_promtool_by_hand(monkeypatch, tmp_path):
    require_promtool()
    failing = failing_voicebot_tests(tmp_path)
    monkeypatch.setattr(pt, "tests_path", lambda team: failing)
    out = tmp_path / "out"
    assert pt.main(["--stack", "prod", "--team", "voicebot", "--out", str(out)]) == 1
    assert (out / "resources.json").is_file()
    returncode, output = verdict([out / "alert-tests" / "voicebot.yaml"])
    assert returncode == 1 and "name: HighConcurrentCalls fires at 15 calls at once" in output, output


def test_what_every_part_of_a_teams_tests_says_alike_is_shown_once_with_the_parts_it_came_from(
        monkeypatch, tmp_path, capsys):
    require_promtool()
    broken = voicebot_tests(tmp_path, "evaluation_interval: 1m", "evaluation_interval: 1x")
    monkeypatch.setattr(pt, "tests_path", lambda team: broken)
    out = tmp_path / "out"
    assert pt.main(["--stack", "dev", "--team", "voicebot", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    count = len([p for p in (out / "alert-tests" / "voicebot").glob("*.yaml") if not p.name.endswith(".rules.yaml")])
    parts = ", ".join(f"voicebot/{n}.yaml" for n in range(1, count + 1))
    assert count > 1 and printed.count('not a valid duration string: "1x"') == 1, printed
    assert f'Unit Testing:  {parts} ({count} parts)\n  FAILED:\nnot a valid duration string: "1x"\n' in printed, printed


@pytest.mark.parametrize("earlier", [False, True], ids=["a new --out", "an earlier run's --out"])
@pytest.mark.parametrize("raised, status, message", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), 1,
     "error: cannot write the render or the tests (No space left on device); --out {out} is left as it was\n"),
    (KeyboardInterrupt(), 130, "error: interrupted\n"),
], ids=["a full disk", "Ctrl-C"])
def test_a_run_that_fails_or_is_interrupted_writing_the_tests_leaves_out_as_it_was(
        raised, status, message, earlier, monkeypatch, tmp_path, capsys):
    require_promtool()
    out = tmp_path / "out"
    argv = ["--stack", "dev", "--team", "voicebot", "--out", str(out)]
    if earlier:
        assert pt.main(argv) == 0
    before = files(out) if earlier else None
    assert before is None or "alert-tests/voicebot/2.yaml" in before, "the earlier run is complete"
    capsys.readouterr()
    real = Path.write_text

    def write_text(path, *args, **kwargs):  # voicebot's second part: its filled-in file and first part are written
        if path.parts[-3:] == ("alert-tests", "voicebot", "2.yaml"):
            raise raised
        return real(path, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(SystemExit) as ended:
        command(lambda: pt.main(argv))
    assert (ended.value.code, capsys.readouterr().err) == (status, message.format(out=out))
    assert (files(out) if out.exists() else None) == before


def test_a_team_given_twice_is_tested_once(capsys):
    require_promtool()
    assert pt.main(["--stack", "dev", "--team", "voicebot", "--team", "voicebot"]) == 0
    out = capsys.readouterr().out
    assert out.count("dev/voicebot") == 1 and out.endswith("ok     dev/voicebot: teams/voicebot/alerts_test.yaml\n"), out


def test_a_tmpdir_that_does_not_exist_never_reaches_promtool(monkeypatch, tmp_path):
    """Go takes $TMPDIR as it is, and `promtool test rules` keeps its test storage there: it crashed."""
    require_promtool()
    path = write_test(tmp_path, TWO_ALERTS, ECHO_FIRES)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "nonexistent"))
    assert pt.go_env()["TMPDIR"] == tempfile.gettempdir()
    output, _ = (process := pt.start_tests(path)).communicate(timeout=60)
    assert process.returncode == 0, output


# --- the placeholders themselves ------------------------------------------------------------

def test_placeholders_take_each_stacks_values():
    prod = pt.context("prod", "api-production")
    dev = pt.context("dev", "api-production")
    template = ("series: 'up{%(selector)s, instance=\"a\"}'\n"
                "labels: {%(selector_labels)s}\n"
                "t: %(threshold:HighErrorRate)s %(threshold:HighMemoryUsage)s\n"
                "e: %(for:APIInstanceDown)s %(for:APIInstanceDown+2m)s %(for:APIInstanceDown+1h-30s)s\n"
                "r: %(runbook_base)s/%(stack)s\n")
    assert pt.substitute(template, prod) == (
        "series: 'up{job=\"api-production\", env=\"prod\", instance=\"a\"}'\n"
        "labels: {job: \"api-production\", env: \"prod\"}\n"
        "t: 0.05 1000000000\n"
        "e: 1m 3m 1h30s\n"
        "r: https://runbooks.acme-corp.com/prod/prod\n")
    assert pt.substitute("%(threshold:HighErrorRate)s %(for:APIInstanceDown)s", dev) == "0.05 5m"
    assert load_yaml(pt.substitute("{%(selector_labels)s, instance: a}", prod)) == {
        "job": "api-production", "env": "prod", "instance": "a"}


def test_source_placeholders_give_an_exporters_selector_with_the_stacks_extension():
    ctx = pt.context("prod", "customer-service")
    assert pt.substitute("{%(selector:cadvisor)s}\n{%(selector_labels:cadvisor)s}\n", ctx) == (
        '{job="kubernetes-nodes-cadvisor", container="customer-service", env="prod"}\n'
        '{job: "kubernetes-nodes-cadvisor", container: "customer-service", env: "prod"}\n')


def test_placeholders_leave_comments_and_other_percent_signs_alone():
    ctx = pt.context("prod", "voicebot")
    text = '# %(nonsense)s\ndescription: {{ printf "%.2f" $value }} (threshold %(threshold:CostPerCallRunaway)s)\n'
    assert pt.substitute(text, ctx) == '# %(nonsense)s\ndescription: {{ printf "%.2f" $value }} (threshold 0.5)\n'


@pytest.mark.parametrize("placeholder,message", [
    ("%(treshold:HighErrorRate)s", "unknown placeholder"),
    ("%(threshold:NoSuchAlert)s", "no alert 'NoSuchAlert' with a threshold"),
    ("%(for:NoSuchAlert)s", "no alert 'NoSuchAlert'; its alerts: APIInstanceDown, APIMetricsAbsent, CriticalLatencyP99"),
    ("%(selector:kafka)s", "team api-production has no source 'kafka'; its sources: none"),
    ("%(for:APIInstanceDown+2)s", "optionally followed by"),
    ("%(for:APIInstanceDown-5m)s", "negative"),
])
def test_bad_placeholders_are_named_with_their_line(placeholder, message):
    with pytest.raises(pt.PlaceholderError, match=rf"line 2: .*{message}"):
        pt.substitute(f"tests:\n  - {placeholder}\n", pt.context("prod", "api-production"))


def test_coverage_finds_untested_and_mistimed_alerts():
    rules = {"groups": [{"rules": [{"alert": "A", "for": "5m"}, {"alert": "B", "for": "1m"}]}]}
    fires = {"exp_labels": {}, "exp_annotations": {}}
    tests = {"tests": [
        {"input_series": [{"series": "x", "values": "0x20"}], "alert_rule_test": [
            {"eval_time": "4m", "alertname": "A", "exp_alerts": []},
            {"eval_time": "6m", "alertname": "A", "exp_alerts": [fires]},   # not one interval after 4m
            {"eval_time": "1m", "alertname": "B", "exp_alerts": []},        # silent, but before B's for
            {"eval_time": "9m", "alertname": "Typo", "exp_alerts": []},
        ]},
    ]}
    assert pt.coverage_problems(tests, rules) == [
        "Typo: tested, but no such alert in the rules (a typo passes `exp_alerts: []` silently)",
        "A: no case where it fires at eval_time F with a case not firing at F - 1m in the same test",
        f"A: {NEVER_SILENT}",
        "B: no case where it fires at eval_time F with a case not firing at F - 1m in the same test",
        f"B: {NEVER_SILENT}",
    ]
    tests["tests"][0]["alert_rule_test"][0]["eval_time"] = "5m"
    tests["tests"][0]["alert_rule_test"].append({"eval_time": "7m", "alertname": "A", "exp_alerts": []})
    assert [p for p in pt.coverage_problems(tests, rules) if p.startswith("A:")] == []


NEVER_SILENT = "no case where it stays silent (after its for) or resolves while its test's input still has samples"


@pytest.mark.parametrize("values, counts", [
    ("0x20", True),  # 21 samples, 0 to 20m: 10m is inside
    ("0x5", False),  # the last sample at 5m
    ("1 2 3 4 5 6 7 8 9 10", False),  # 0 to 9m
    ("0+1x9 _x5", False),  # missing samples are no samples: the last at 9m
    ("0+1x5 stale", False),  # its last value at 5m, then a stale marker: nothing after it
    ("1-1x10", True),  # 0 to 10m
    ("-2+4x3 5x6", True),  # 4 + 7 samples: 0 to 10m
    ("0x3 _x3 1x3", True),  # 4 samples, 3 missing, 4 more: the last at 10m
    ("0x30 stale", True),
    ("", False),  # no input at all: silent for want of data
    (None, False),  # `values:` left empty: promtool runs the group with no samples
    ("0+1x5 5.", False),  # `5.` is a number to promtool: 7 samples, 0 to 6m
    ("1.x9 .5 1e1", True),  # 10 samples of 1., then two more: 0 to 11m
    ("-Inf NaN 1x8", True),  # 0 to 10m
    ("0+1x5 nonsense 1", True),  # promtool's own parser says what is wrong; coverage does not guess
    ("0x1F", True),  # no hex in a series description: promtool refuses it
], ids=["samples past it", "ended before it", "plain values ending before it", "missing samples at the end",
        "stale before it", "a decreasing series up to it", "two runs up to it", "missing samples between",
        "stale after it", "no values", "values left empty", "a number with a trailing dot", "numbers without leading "
        "digits or with exponents", "Inf and NaN", "notation promtool judges", "hex, which promtool refuses"])
def test_a_silent_case_counts_only_while_its_tests_input_has_samples(values, counts):
    rules = {"groups": [{"rules": [{"alert": "A", "for": "2m"}]}]}
    group = {"interval": "1m", "input_series": [{"series": 'up{job="a"}', "values": values}],
             "alert_rule_test": [{"eval_time": "10m", "alertname": "A", "exp_alerts": []}]}
    assert (f"A: {NEVER_SILENT}" not in pt.coverage_problems({"tests": [group]}, rules)) is counts


def test_a_resolved_case_past_the_input_does_not_count_but_one_within_it_does():
    rules = {"groups": [{"rules": [{"alert": "A", "for": "0s"}]}]}
    fires = {"exp_labels": {}, "exp_annotations": {}}
    group = {"interval": "30s", "input_series": [{"series": "x", "values": "1x10"}], "alert_rule_test": [
        {"eval_time": "1m", "alertname": "A", "exp_alerts": [fires]},
        {"eval_time": "6m", "alertname": "A", "exp_alerts": []}]}  # 11 samples every 30s: the last at 5m
    assert f"A: {NEVER_SILENT}" in pt.coverage_problems({"tests": [group]}, rules)
    group["alert_rule_test"][1]["eval_time"] = "5m"
    assert f"A: {NEVER_SILENT}" not in pt.coverage_problems({"tests": [group]}, rules)


@pytest.mark.parametrize("group, problem", [
    ("just a string", "test group 1: not a promtool test group"),
    ({"alert_rule_test": "A"}, "test group 1: not a promtool test group"),
    ({"name": "g", "alert_rule_test": [{"eval_time": "1m", "exp_alerts": []}]},
     "test group 1 (g), case 1: a case gives alertname and eval_time"),
    ({"alert_rule_test": [{"alertname": "A", "exp_alerts": []}]},
     "test group 1 (unnamed), case 1: a case gives alertname and eval_time"),
    ({"alert_rule_test": ["A"]}, "test group 1 (unnamed), case 1: a case gives alertname and eval_time"),
], ids=["a string", "cases that are no list", "a case without alertname", "a case without eval_time",
        "a case that is a string"])
def test_a_test_file_promtool_cannot_read_is_a_coverage_problem_not_a_traceback(group, problem):
    rules = {"groups": [{"rules": [{"alert": "A", "for": "0s"}]}]}
    problems = pt.coverage_problems({"tests": [group]}, rules)
    assert problems[0].startswith(problem) and problems[1:] == [
        "A: no case where it fires at eval_time F with a case not firing at F - 1m in the same test",
        f"A: {NEVER_SILENT}"]


REGEX_REPEATS = ['a{1000}', 'a{1001}', 'a{2,1001}', 'a{1001,}', 'a{0,1000}', 'a\\\\{1001}', 'a{1}|b{5000}']


def test_a_regex_repeat_count_is_refused_exactly_where_promtool_refuses_it(tmp_path):
    """promql_parser's Rust engine takes what Go's RE2 refuses (a repeat over 1000): the program's parse
    gives promtool's verdict on each, in one `promtool check rules` of one file per regex."""
    from syntax import promql

    require_promtool()
    files = []
    for index, regex in enumerate(REGEX_REPEATS):
        path = tmp_path / f"r{index}.yaml"
        path.write_text(dump_yaml({"groups": [{"name": "g", "rules": [{"record": "x", "expr": f'up{{env=~"{regex}"}}'}]}]}))
        files.append(path)
    done = pt.check_rules(files)
    lines = (done.stdout + done.stderr).splitlines()
    refused_by_promtool = {i for i, _ in enumerate(REGEX_REPEATS)
                           if any(f"r{i}.yaml: " in line and "invalid repeat count" in line for line in lines)}
    refused_here = set()
    for index, regex in enumerate(REGEX_REPEATS):
        try:
            promql.parse(f'up{{env=~"{regex}"}}')
        except ValueError:
            refused_here.add(index)
    assert refused_here == refused_by_promtool == {1, 2, 3, 6}


@pytest.mark.parametrize("values, too_large", [
    ("1x99999999999999999999", True), ("0+1x100000", True), ("_x100000 1", True), ("1x99999", False), ("1 2 3", False),
], ids=["a repeat count of 20 digits", "100,001 samples", "missing ones count too", "100,000 samples", "three"])
def test_a_series_that_expands_past_what_a_test_needs_is_refused_before_promtool_holds_it(values, too_large):
    """promtool expands `1x99999999999999999999` in memory: it took every GiB of the machine."""
    tests = {"tests": [{"name": "g", "input_series": [{"series": "up", "values": values}]}]}
    assert pt.size_problems(tests) == (["test group 1 (g): series up expands to more than 100,000 samples; a test "
                                        "needs a few hundred"] if too_large else [])


def test_a_silent_case_counts_only_while_the_alerts_own_metrics_have_samples():
    """Another series running on (an `up`) says nothing of an alert on memory_usage_bytes whose input ended."""
    rules = {"groups": [{"rules": [{"alert": "HighMemory", "expr": 'memory_usage_bytes{job="a"} > 100', "for": "0s"}]}]}
    group = {"interval": "1m", "input_series": [{"series": 'memory_usage_bytes{job="a"}', "values": "500x1"},
                                                {"series": 'up{job="a"}', "values": "1x30"}],
             "alert_rule_test": [{"eval_time": "20m", "alertname": "HighMemory", "exp_alerts": []}]}
    assert f"HighMemory: {NEVER_SILENT}" in pt.coverage_problems({"tests": [group]}, rules)
    group["input_series"][0]["values"] = "50x30"  # healthy, and still there at 20m
    assert f"HighMemory: {NEVER_SILENT}" not in pt.coverage_problems({"tests": [group]}, rules)
    group["input_series"][0]["series"] = '{__name__="memory_usage_bytes", job="a"}'  # the name written as a matcher
    assert f"HighMemory: {NEVER_SILENT}" not in pt.coverage_problems({"tests": [group]}, rules)


def test_an_alert_on_a_recording_rule_counts_the_input_of_the_metrics_the_rule_records():
    rules = {"groups": [{"rules": [{"record": "job:errors:rate5m", "expr": 'rate(errors_total{job="a"}[5m])'},
                                   {"alert": "Errors", "expr": "job:errors:rate5m > 1", "for": "0s"}]}]}
    group = {"interval": "1m", "input_series": [{"series": 'errors_total{job="a"}', "values": "0x30"}],
             "alert_rule_test": [{"eval_time": "20m", "alertname": "Errors", "exp_alerts": []}]}
    assert f"Errors: {NEVER_SILENT}" not in pt.coverage_problems({"tests": [group]}, rules)
    group["input_series"][0]["values"] = "0x5"
    assert f"Errors: {NEVER_SILENT}" in pt.coverage_problems({"tests": [group]}, rules)
