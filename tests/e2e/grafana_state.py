"""Does a Grafana hold what the render says? Its HTTP API read back and compared with resources.json.

    api = fetch(GrafanaClient(url, user, password), resources)   # a few GETs, by the render's uids
    problems = compare(resources, api)                          # [] when Grafana holds the render

The API shapes are Grafana's documented ones (Grafana docs, "HTTP API": folder API GET /api/folders,
dashboard API GET /api/dashboards/uid/:uid, and "Alerting provisioning HTTP API"
GET /api/v1/provisioning/folder/:folderUid/rule-groups/:group, /contact-points, /policies and
/mute-timings, whose bodies are Grafana's AlertRuleGroup, EmbeddedContactPoint, Route and
MuteTimeInterval). The render's side is what the provider is given (pulumiverse-grafana input names).
Grafana adds fields of its own (ids, versions, provenance, defaults): only what the render sets is
compared, so that a difference means Grafana holds something else than the program asked for.
Secrets are `[secret]` in the render and redacted by Grafana: they are never compared.
"""
from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from typing import Any

from estate.model import duration_seconds

FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
MUTE_TIMING = "grafana:alerting/muteTiming:MuteTiming"
SECRET = "[secret]"
# Contact point integrations: provider block list -> Grafana integration type, and the settings
# compared where the render shows them (the others are secrets: url, addresses, keys).
INTEGRATIONS = {"emails": ("email", {"singleEmail": "singleEmail"}),
                "slacks": ("slack", {"recipient": "recipient"}),
                "webhooks": ("webhook", {"url": "url", "httpMethod": "httpMethod"}),
                "pagerduties": ("pagerduty", {})}
IGNORED_DASHBOARD_KEYS = {"id", "version"}  # Grafana's own bookkeeping


def of_type(resources: list[dict], type_: str) -> list[dict]:
    return [r for r in resources if r["type"] == type_]


# ---------------------------------------------------------------------------------------------
# Reading Grafana
# ---------------------------------------------------------------------------------------------

class GrafanaClient:
    def __init__(self, url: str, user: str, password: str):
        self.url = url.rstrip("/")
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": self._auth,
                                                                   "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    def post(self, path: str, body: dict) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": self._auth, "Content-Type": "application/json",
                                                  "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)


def fetch(client: GrafanaClient, resources: list[dict]) -> dict[str, Any]:
    """Everything compare() needs, read from Grafana: what the render names, by uid and name."""
    q = urllib.parse.quote
    groups = {}
    for g in of_type(resources, RULE_GROUP):
        folder, name = g["inputs"]["folderUid"], g["inputs"]["name"]
        groups[f"{folder}/{name}"] = client.get(f"/api/v1/provisioning/folder/{q(folder)}/rule-groups/{q(name)}")
    return {
        "folders": client.get("/api/folders?limit=1000"),
        "dashboards": {uid: client.get(f"/api/dashboards/uid/{q(uid)}")
                       for uid in (json.loads(d["inputs"]["configJson"])["uid"] for d in of_type(resources, DASHBOARD))},
        "rule_groups": groups,
        "contact_points": client.get("/api/v1/provisioning/contact-points"),
        "policies": client.get("/api/v1/provisioning/policies"),
        "mute_timings": client.get("/api/v1/provisioning/mute-timings"),
    }


# ---------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------

def _subset(want: Any, got: Any, where: str) -> list[str]:
    """Every key and value `want` sets is in `got` (lists compared item by item); the differences by path."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{where}: Grafana has {json.dumps(got)[:80]}, the render a mapping"]
        problems = []
        for key, value in want.items():
            if key not in got:
                problems.append(f"{where}.{key}: missing in Grafana")
            else:
                problems += _subset(value, got[key], f"{where}.{key}")
        return problems
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{where}: Grafana has {len(got) if isinstance(got, list) else json.dumps(got)[:80]} items, "
                    f"the render {len(want)}"]
        return [p for i, (w, g) in enumerate(zip(want, got)) for p in _subset(w, g, f"{where}[{i}]")]
    return [] if want == got else [f"{where}: Grafana has {json.dumps(got)[:120]}, the render {json.dumps(want)[:120]}"]


def _seconds(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return float(value) if isinstance(value, (int, float)) else float(duration_seconds(str(value)))


def _same_duration(want: Any, got: Any, where: str) -> list[str]:
    if want is None:
        return []
    return [] if _seconds(want) == _seconds(got) else [f"{where}: Grafana has {got!r}, the render {want!r}"]


def compare_folders(resources: list[dict], folders: list[dict]) -> list[str]:
    titles = {f["uid"]: f.get("title") for f in folders}
    problems = []
    for f in of_type(resources, FOLDER):
        uid, title = f["inputs"]["uid"], f["inputs"]["title"]
        if uid not in titles:
            problems.append(f"folder {uid}: missing in Grafana")
        elif titles[uid] != title:
            problems.append(f"folder {uid}: title is {titles[uid]!r} in Grafana, {title!r} in the render")
    return problems


def compare_dashboards(resources: list[dict], dashboards: dict[str, dict]) -> list[str]:
    problems = []
    for d in of_type(resources, DASHBOARD):
        want = json.loads(d["inputs"]["configJson"])
        uid = want["uid"]
        got = dashboards.get(uid)
        if got is None:
            problems.append(f"dashboard {uid}: missing in Grafana")
            continue
        if got.get("meta", {}).get("folderUid") != d["inputs"].get("folder"):
            problems.append(f"dashboard {uid}: in folder {got.get('meta', {}).get('folderUid')!r} in Grafana, "
                            f"{d['inputs'].get('folder')!r} in the render")
        problems += _subset({k: v for k, v in want.items() if k not in IGNORED_DASHBOARD_KEYS},
                            got.get("dashboard", {}), f"dashboard {uid}")
    return problems


def compare_rule_groups(resources: list[dict], groups: dict[str, dict]) -> list[str]:
    problems = []
    for g in of_type(resources, RULE_GROUP):
        i = g["inputs"]
        key = f"{i['folderUid']}/{i['name']}"
        got = groups.get(key)
        if got is None:
            problems.append(f"rule group {key}: missing in Grafana")
            continue
        if _seconds(got.get("interval")) != float(i["intervalSeconds"]):
            problems.append(f"rule group {key}: interval {got.get('interval')} in Grafana, {i['intervalSeconds']} in the render")
        rules = {r.get("uid"): r for r in got.get("rules") or []}
        if set(rules) != {r["uid"] for r in i["rules"]}:
            problems.append(f"rule group {key}: rules {sorted(rules)} in Grafana, {sorted(r['uid'] for r in i['rules'])} in the render")
        for want in i["rules"]:
            rule = rules.get(want["uid"])
            if rule is None:
                continue
            at = f"rule {want['uid']}"
            problems += _subset({"title": want["name"], "condition": want["condition"],
                                 "noDataState": want["noDataState"], "execErrState": want["execErrState"],
                                 "labels": want.get("labels", {}), "annotations": want.get("annotations", {})},
                                rule, at)
            problems += _same_duration(want["for"], rule.get("for"), f"{at}.for")
            data = {d.get("refId"): d for d in rule.get("data") or []}
            for step in want["datas"]:
                got_step = data.get(step["refId"])
                if got_step is None:
                    problems.append(f"{at}.data[{step['refId']}]: missing in Grafana")
                    continue
                problems += _subset({"datasourceUid": step["datasourceUid"], "model": json.loads(step["model"]),
                                     "relativeTimeRange": step["relativeTimeRange"]},
                                    got_step, f"{at}.data[{step['refId']}]")
    return problems


def compare_contact_points(resources: list[dict], contact_points: list[dict]) -> list[str]:
    by_name: dict[str, list[dict]] = {}
    for cp in contact_points:
        by_name.setdefault(cp.get("name"), []).append(cp)
    problems = []
    for cp in of_type(resources, CONTACT_POINT):
        name = cp["inputs"]["name"]
        got = by_name.get(name, [])
        # A list the program passes whole as a secret is `[secret]` in the render: one integration of its
        # kind, nothing visible to compare (components/contact_points.py).
        want = [(kind, block) for kind in INTEGRATIONS
                for block in ([{}] if cp["inputs"].get(kind) == SECRET else cp["inputs"].get(kind) or [])]
        if sorted(INTEGRATIONS[k][0] for k, _ in want) != sorted(g.get("type") for g in got):
            problems.append(f"contact point {name}: integrations {sorted(g.get('type') for g in got)} in Grafana, "
                            f"{sorted(INTEGRATIONS[k][0] for k, _ in want)} in the render")
            continue
        for kind, block in want:
            type_, settings = INTEGRATIONS[kind]
            candidates = [g.get("settings") or {} for g in got if g.get("type") == type_]
            visible = {settings[k]: v for k, v in block.items() if k in settings and v != SECRET}
            if not any(not _subset(visible, c, "") for c in candidates):
                problems.append(f"contact point {name}: no {type_} integration with {visible} in Grafana")
    return problems


def _matchers(route: dict) -> list[tuple[str, str, str]]:
    return sorted(tuple(m) for m in route.get("object_matchers") or [])


def _compare_route(want: dict, got: dict, where: str) -> list[str]:
    problems = []
    if (want.get("contactPoint") or None) != (got.get("receiver") or None):
        problems.append(f"{where}: receiver {got.get('receiver')!r} in Grafana, {want.get('contactPoint')!r} in the render")
    wanted = sorted((m["label"], m["match"], m["value"]) for m in want.get("matchers") or [])
    if wanted != _matchers(got):
        problems.append(f"{where}: matchers {_matchers(got)} in Grafana, {wanted} in the render")
    if bool(want.get("continue")) != bool(got.get("continue")):
        problems.append(f"{where}: continue is {bool(got.get('continue'))} in Grafana, {bool(want.get('continue'))} in the render")
    if "groupBies" in want and list(want["groupBies"]) != list(got.get("group_by") or []):
        problems.append(f"{where}: group_by {got.get('group_by')} in Grafana, {want['groupBies']} in the render")
    if sorted(want.get("muteTimings") or []) != sorted(got.get("mute_time_intervals") or []):
        problems.append(f"{where}: mute timings {got.get('mute_time_intervals')} in Grafana, "
                        f"{want.get('muteTimings')} in the render")
    for mine, theirs in (("groupWait", "group_wait"), ("groupInterval", "group_interval"),
                         ("repeatInterval", "repeat_interval")):
        problems += _same_duration(want.get(mine), got.get(theirs), f"{where}.{theirs}")
    children, got_children = want.get("policies") or [], got.get("routes") or []
    if len(children) != len(got_children):
        return problems + [f"{where}: {len(got_children)} child routes in Grafana, {len(children)} in the render"]
    for n, (child, got_child) in enumerate(zip(children, got_children)):
        problems += _compare_route(child, got_child, f"{where}.routes[{n}]")
    return problems


def compare_policies(resources: list[dict], policies: dict) -> list[str]:
    trees = of_type(resources, POLICY)
    return [p for tree in trees for p in _compare_route(tree["inputs"], policies, "policy tree")]


def compare_mute_timings(resources: list[dict], mute_timings: list[dict]) -> list[str]:
    by_name = {m.get("name"): m for m in mute_timings}
    problems = []
    for m in of_type(resources, MUTE_TIMING):
        name = m["inputs"]["name"]
        got = by_name.get(name)
        if got is None:
            problems.append(f"mute timing {name}: missing in Grafana")
            continue
        want = [{"times": [{"start_time": t["start"], "end_time": t["end"]} for t in i.get("times") or []],
                 "weekdays": i.get("weekdays") or [], "location": i.get("location")}
                for i in m["inputs"].get("intervals") or []]
        got_intervals = [{"times": [{"start_time": t.get("start_time"), "end_time": t.get("end_time")}
                                    for t in i.get("times") or []],
                          "weekdays": i.get("weekdays") or [], "location": i.get("location")}
                         for i in got.get("time_intervals") or []]
        if want != got_intervals:
            problems.append(f"mute timing {name}: {got_intervals} in Grafana, {want} in the render")
    return problems


def compare(resources: list[dict], api: dict[str, Any]) -> list[str]:
    """Every difference between the render and what Grafana's API returned, one line each."""
    return (compare_folders(resources, api["folders"])
            + compare_dashboards(resources, api["dashboards"])
            + compare_rule_groups(resources, api["rule_groups"])
            + compare_contact_points(resources, api["contact_points"])
            + compare_policies(resources, api["policies"])
            + compare_mute_timings(resources, api["mute_timings"]))
