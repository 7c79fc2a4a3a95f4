"""The pure parts of the end-to-end test, proven here: synthetic series, remote write, expected alert texts,
the webhook receiver, and the comparison of Grafana's API state with the render.

Debian's Prometheus evaluates the local stack's rendered rules on the scenario's series pushed by
remote write: every alert of every team becomes active, and Prometheus' own expansion of each
summary and description equals expected_text(). The Grafana half (Grafana prints the same texts,
its API holds what the render says) needs a real Grafana: tests/e2e/test_real_grafana.py.
"""
from __future__ import annotations

import copy
import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import STACKS, dump_yaml, load_yaml
from tests.e2e import grafana_state as gs
from tests.e2e.alert_texts import TEXTS, UnsupportedTemplate, expected_text, rule_templates
from tests.e2e.synthetic import Pusher, scenario_series, snappy_block
from tests.e2e.webhook_receiver import serve
from tools.prometheus_server import PrometheusServer
from tools.render import committed

STACK = "local"  # the stack the end-to-end test deploys


@pytest.fixture(scope="module")
def local_render() -> Path:
    return committed(STACK).folder  # rendered once per process (the program is deterministic)


@pytest.fixture(scope="module")
def prometheus_alerts(local_render, tmp_path_factory) -> list[dict]:
    """The alerts Prometheus reports once it evaluates the local rules on the pushed scenario."""
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "rules"
    rules.mkdir()
    for path in (local_render / "rules").glob("*.yaml"):  # evaluated every second instead of every minute
        doc = load_yaml(path.read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
        (rules / path.name).write_text(dump_yaml(doc, sort_keys=False))
    config = f"global:\n  evaluation_interval: 1s\nrule_files: ['{rules}/*.yaml']\n"
    server = PrometheusServer.start(work / "data", config=config, flags=("--web.enable-remote-write-receiver",))
    try:
        pusher = Pusher(server.url, scenario_series(STACK))
        pusher.backfill(minutes=15)
        expected = set(rule_templates(local_render / "rules"))
        deadline = time.monotonic() + 60
        while True:
            pusher.push_now()
            with urllib.request.urlopen(f"{server.url}/api/v1/alerts", timeout=10) as r:
                alerts = json.load(r)["data"]["alerts"]
            active = {(a["labels"]["team"], a["labels"]["alertname"]) for a in alerts}
            if active >= expected or time.monotonic() > deadline:
                return alerts
            time.sleep(0.2)
    finally:
        server.stop()


def test_the_scenario_makes_every_alert_of_every_team_active_in_prometheus(prometheus_alerts, local_render):
    active = {(a["labels"]["team"], a["labels"]["alertname"]) for a in prometheus_alerts}
    assert set(rule_templates(local_render / "rules")) - active == set()


def test_expected_texts_are_the_texts_prometheus_prints_for_every_alert(prometheus_alerts, local_render):
    templates = rule_templates(local_render / "rules")
    compared = 0
    for alert in prometheus_alerts:
        labels = alert["labels"]
        for key, template in templates[(labels["team"], labels["alertname"])].items():
            assert expected_text(template, labels, float(alert["value"])) == alert["annotations"][key], \
                (labels["alertname"], key)
            compared += 1
    assert compared >= 2 * len(templates)


@pytest.mark.parametrize("stack", STACKS)
def test_every_summary_and_description_of_every_stack_is_understood(stack):
    templates = rule_templates(committed(stack).folder / "rules")
    assert templates
    for (team, alert), texts in templates.items():
        assert set(texts) == set(TEXTS), (team, alert)
        for template in texts.values():
            expected_text(template, {"instance": "i"}, 0.5)


@pytest.mark.parametrize("template, value, text", [
    ("{{ $value | humanizePercentage }}", 0.0523, "5.23%"),
    ("{{ humanizePercentage $value }}", 1, "100%"),
    ("{{ $value | humanize }}", 1234567, "1.235M"),
    ("{{ $value | humanize }}", 0.00042, "420u"),
    ("{{ $value | humanize1024 }}B", 2.5e9, "2.328GiB"),
    ("{{ $value | humanizeDuration }}", 3725, "1h 2m 5s"),
    ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
    ('{{ printf "%.2f" $value }}', float("inf"), "+Inf"),
    ("on {{ $labels.instance }}{{ $labels.missing }}", 0, "on a:80"),
])
def test_expected_text_expands_each_construct_as_prometheus_does(template, value, text):
    assert expected_text(template, {"instance": "a:80"}, value) == text


@pytest.mark.parametrize("template", ["{{ $value }}", "{{ $values.A.Value }}", "{{ if $labels.x }}y{{ end }}",
                                      "{{ $value | title }}"])
def test_a_construct_outside_what_the_teams_use_is_refused_by_name(template):
    with pytest.raises(UnsupportedTemplate, match="not understood"):
        expected_text(template, {}, 1)


def test_a_snappy_block_longer_than_one_literal_keeps_every_byte():
    data = bytes(range(256)) * 300
    block = snappy_block(data)
    assert block[:3] == bytes([0x80, 0xD8, 0x04])  # varint of 76800
    assert len(block) == len(data) + 3 + 2 * 3  # two literals of 3-byte tags


def test_the_webhook_receiver_keeps_each_payload_with_its_path_until_cleared():
    server = serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        body = json.dumps({"status": "firing", "alerts": []}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/pager-local", data=body, method="POST"), timeout=5)
        with urllib.request.urlopen(f"{url}/received", timeout=5) as r:
            assert json.load(r) == [{"path": "/pager-local", "payload": {"status": "firing", "alerts": []}}]
        urllib.request.urlopen(urllib.request.Request(f"{url}/received", method="DELETE"), timeout=5)
        with urllib.request.urlopen(f"{url}/received", timeout=5) as r:
            assert json.load(r) == []
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# Grafana's API state against the render
# ---------------------------------------------------------------------------------------------

def grafana_would_return(resources: list[dict]) -> dict:
    """The API answers of a Grafana that holds exactly this render, shaped as Grafana's docs show them:
    with Grafana's own extra fields, durations as Grafana writes them, secrets redacted."""
    resources = copy.deepcopy(resources)  # a change to the answers must never change the render
    folders = [{"id": n, "uid": f["inputs"]["uid"], "title": f["inputs"]["title"], "parentUid": ""}
               for n, f in enumerate(gs.of_type(resources, gs.FOLDER), start=1)]
    folders.append({"id": 99, "uid": "someone-elses", "title": "Made by hand"})  # Grafana holds more: fine
    dashboards = {}
    for n, d in enumerate(gs.of_type(resources, gs.DASHBOARD), start=1):
        model = json.loads(d["inputs"]["configJson"])
        dashboards[model["uid"]] = {"dashboard": {**model, "id": n, "version": 1},
                                    "meta": {"folderUid": d["inputs"]["folder"], "slug": model["uid"], "version": 1}}
    groups = {}
    for g in gs.of_type(resources, gs.RULE_GROUP):
        i = g["inputs"]
        rules = [{"id": n, "uid": r["uid"], "orgID": 1, "folderUID": i["folderUid"], "ruleGroup": i["name"],
                  "title": r["name"], "condition": r["condition"], "noDataState": r["noDataState"],
                  "execErrState": r["execErrState"], "for": r["for"], "labels": r.get("labels", {}),
                  "annotations": r.get("annotations", {}), "isPaused": False, "provenance": "api",
                  "updated": "2025-10-01T10:00:00Z",
                  "data": [{"refId": s["refId"], "queryType": "", "datasourceUid": s["datasourceUid"],
                            "relativeTimeRange": s["relativeTimeRange"], "model": json.loads(s["model"])}
                           for s in r["datas"]]}
                 for n, r in enumerate(i["rules"], start=1)]
        groups[f"{i['folderUid']}/{i['name']}"] = {"title": i["name"], "folderUid": i["folderUid"],
                                                   "interval": int(i["intervalSeconds"]), "rules": rules}
    def blocks(inputs: dict, kind: str) -> list[dict]:  # a list passed whole as a secret: one, settings redacted
        return [{"url": gs.SECRET}] if inputs.get(kind) == gs.SECRET else inputs.get(kind) or []

    contact_points = [{"uid": f"{cp['inputs']['name']}-{kind}", "name": cp["inputs"]["name"], "type": type_,
                       "disableResolveMessage": False, "provenance": "api",
                       "settings": {k: ("[REDACTED]" if v == gs.SECRET else v) for k, v in block.items()}}
                      for cp in gs.of_type(resources, gs.CONTACT_POINT)
                      for kind, (type_, _) in gs.INTEGRATIONS.items() for block in blocks(cp["inputs"], kind)]

    def route(policy: dict) -> dict:
        out = {"receiver": policy.get("contactPoint"), "continue": policy.get("continue", False)}
        out = {k: v for k, v in out.items() if v}
        if policy.get("matchers"):
            out["object_matchers"] = [[m["label"], m["match"], m["value"]] for m in policy["matchers"]]
        if "groupBies" in policy:
            out["group_by"] = policy["groupBies"]
        if policy.get("muteTimings"):
            out["mute_time_intervals"] = policy["muteTimings"]
        for mine, theirs in (("groupWait", "group_wait"), ("groupInterval", "group_interval"),
                             ("repeatInterval", "repeat_interval")):
            if mine in policy:
                out[theirs] = policy[mine]
        if policy.get("policies"):
            out["routes"] = [route(p) for p in policy["policies"]]
        return out

    trees = gs.of_type(resources, gs.POLICY)
    mute_timings = [{"name": m["inputs"]["name"], "provenance": "api",
                     "time_intervals": [{**({"times": [{"start_time": t["start"], "end_time": t["end"]}
                                                       for t in i["times"]]} if i.get("times") else {}),
                                         **({"weekdays": i["weekdays"]} if i.get("weekdays") else {}),
                                         **({"location": i["location"]} if i.get("location") else {})}
                                        for i in m["inputs"].get("intervals") or []]}
                    for m in gs.of_type(resources, gs.MUTE_TIMING)]
    return {"folders": folders, "dashboards": dashboards, "rule_groups": groups, "contact_points": contact_points,
            "policies": {**route(trees[0]["inputs"]), "provenance": "api"}, "mute_timings": mute_timings}


def resources_of(stack: str) -> list[dict]:
    return [r.as_json() for r in committed(stack).run.registrations]


@pytest.fixture(scope="module")
def dev() -> list[dict]:
    return resources_of("dev")  # dev has mute timings, prod email, Slack and PagerDuty: both are checked


@pytest.mark.parametrize("stack", STACKS)
def test_a_grafana_holding_the_render_shows_no_difference(stack):
    resources = resources_of(stack)
    assert gs.compare(resources, grafana_would_return(resources)) == []


def _set(path: list, value):
    def change(api: dict) -> None:
        node = api
        for step in path[:-1]:
            node = node[step] if not callable(step) else step(node)
        node[path[-1]] = value
    return change


def _drop(path: list):
    def change(api: dict) -> None:
        node = api
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
    return change


def _folder(api: dict, uid: str) -> dict:
    return next(f for f in api["folders"] if f["uid"] == uid)


CHANGES = [
    ("a missing folder", lambda api: api["folders"].remove(_folder(api, "api-production")),
     "folder api-production: missing"),
    ("a renamed folder", lambda api: _folder(api, "chatbot-sav").update(title="Chatbot"), "title is 'Chatbot' in Grafana"),
    ("a dashboard in another folder", _set(["dashboards", "voicebot-roi", "meta", "folderUid"], "general"),
     "dashboard voicebot-roi: in folder 'general'"),
    ("a dashboard Grafana rewrote", _set(["dashboards", "voicebot-roi", "dashboard", "schemaVersion"], 41),
     "dashboard voicebot-roi.schemaVersion: Grafana has 41, the render 42"),
    ("a missing rule group", _drop(["rule_groups", "voicebot/voicebot"]), "rule group voicebot/voicebot: missing"),
    ("a rule pending longer", _set(["rule_groups", "voicebot/voicebot", "rules", 0, "for"], "10m"), ".for: Grafana has '10m'"),
    ("an annotation in another dialect", _set(["rule_groups", "voicebot/voicebot", "rules", 0, "annotations", "summary"], "x"),
     ".annotations.summary: Grafana has \"x\""),
    ("a query Grafana changed", _set(["rule_groups", "voicebot/voicebot", "rules", 0, "data", 0, "model", "expr"], "up"),
     ".data[A].model.expr: Grafana has \"up\""),
    ("a contact point without its Slack", lambda api: api["contact_points"].pop(0),
     "contact point platform-dev: integrations [] in Grafana, ['slack']"),
    # (a Slack to another channel is not visible: the render masks each integration list whole, contact_points.py)
    ("a Slack turned into a webhook", _set(["contact_points", 0, "type"], "webhook"),
     "contact point platform-dev: integrations ['webhook'] in Grafana, ['slack']"),
    ("a team route gone", lambda api: api["policies"]["routes"].pop(), "policy tree: 4 child routes in Grafana, 5"),
    ("a route to another receiver", _set(["policies", "routes", 0, "receiver"], "other"), "policy tree.routes[0]: receiver 'other'"),
    ("a slower root group_wait", _set(["policies", "group_wait"], "5m"), "policy tree.group_wait: Grafana has '5m'"),
    ("a route without its mute timings", _drop(["policies", "routes", 0, "mute_time_intervals"]), "mute timings None in Grafana"),
    ("a mute timing on other days",  # by name: registrations arrive in thread order, not in the stack file's
     _set(["mute_timings", lambda timings: next(m for m in timings if m["name"] == "weekends"), "time_intervals", 0,
           "weekdays"], ["monday"]),
     "mute timing weekends: "),
]


@pytest.mark.parametrize("case, change, message", CHANGES, ids=[c[0] for c in CHANGES])
def test_each_difference_between_grafana_and_the_render_is_named(case, change, message, dev):
    api = grafana_would_return(dev)
    change(api)
    problems = gs.compare(dev, api)
    assert any(message in p for p in problems), problems


def test_secrets_are_never_compared_and_never_shown(dev):
    api = grafana_would_return(dev)
    assert api["contact_points"][0]["settings"]["url"] == "[REDACTED]"
    assert gs.compare(dev, api) == []
    api["contact_points"][0]["settings"]["url"] = "https://hooks.slack.com/services/T000/B000/XXXX"
    assert gs.compare(dev, api) == []
