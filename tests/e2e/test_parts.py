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
import yaml

from tests.conftest import STACKS
from tests.e2e import grafana_state as gs
from tests.e2e.alert_texts import TEXTS, UnsupportedTemplate, expected_text, rule_templates
from tests.e2e.synthetic import Pusher, scenario_series, snappy_block
from tests.e2e.webhook_receiver import serve
from tools.prometheus_server import PrometheusServer
from tools.render import render, write

STACK = "local"  # the stack the end-to-end test deploys


@pytest.fixture(scope="module")
def local_render(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("render") / STACK
    write(render(STACK), out)
    return out


@pytest.fixture(scope="module")
def prometheus_alerts(local_render, tmp_path_factory) -> list[dict]:
    """The alerts Prometheus reports once it evaluates the local rules on the pushed scenario."""
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "rules"
    rules.mkdir()
    for path in (local_render / "rules").glob("*.yaml"):  # evaluated every second instead of every minute
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
        (rules / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
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
            time.sleep(0.5)
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
def test_every_summary_and_description_of_every_stack_is_understood(stack, tmp_path):
    write(render(stack), tmp_path / stack)
    templates = rule_templates(tmp_path / stack / "rules")
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
