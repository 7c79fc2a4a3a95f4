"""Adopt an existing team's Grafana as it is: a folder of a live Grafana becomes a team under code.

    GRAFANA_TOKEN=glsa_... python -m tools.adopt pull --url https://grafana.acme-corp.com --folder Payments --stack prod
    python -m tools.adopt contract payments [--write]
    python -m tools.adopt check payments

`pull` reads the folder through Grafana's HTTP API (the token comes from an environment
variable, never the command line) and writes a new `teams/<slug>/`: team.yaml, the folder's
dashboards as exported JSON (imported as they come, see dashboards/importer.py), the folder's
Grafana-managed alert rules written back Prometheus-style where they have the three steps of
Grafana's Prometheus converter, and a metric contract drafted from every query. It also writes a
`pulumi import` file for the stack that adopts the team, naming exactly the resources the
program registers for it (found by running the program under mocks), so that after
`pulumi import --file` the stack's first `pulumi preview` creates and replaces nothing that
already exists. It prints the stack file entry to add and every conversion note.

`contract` drafts a team's metric contract from its imported queries (and alerts); `check`
prints, per dashboard and panel, what importing changes or could not carry over.

Grafana HTTP API used (https://grafana.com/docs/grafana/latest/developers/http_api/):
GET /api/org, /api/search (type=dash-folder / dash-db, folderUIDs), /api/folders/:uid,
/api/dashboards/uid/:uid, /api/library-elements/:uid, /api/datasources,
/api/v1/provisioning/alert-rules, /api/v1/provisioning/folder/:uid/rule-groups/:group,
/api/v1/provisioning/contact-points, /api/v1/provisioning/policies.
Import ids follow terraform-provider-grafana's import docs (examples/resources/*/import.sh):
folder `orgID:uid`, dashboard `orgID:uid`, rule group `orgID:folderUID:title`, contact point
`orgID:name`.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import promql_parser as pp
import yaml
from pydantic import ValidationError

from components.alert_rules import MISSING_SERIES_EVALS_TO_RESOLVE
from components.types import ResourceType as T
from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Layout
from syntax import promql, template
from estate.config import STACK_NAME, config_from_file
from estate.files import MAX_JSON_BYTES, YAML_DUMPER, load_json, read_json, read_yaml
from estate.model import SLUG_PATTERN, UID_MAX, kebab, validation_problems
from estate.grafana_templates import TemplateError
from estate.grafana_templates import check as check_template
from estate.grafana_templates import tokenize as grafana_tokenize
from estate.contract import TARGET_LABELS
from syntax.promql import selector_name, split_comparison, walk
from estate.team import TeamSpec
from syntax.template import SELECTOR
from dashboards.importer import ImportProblems, from_export, import_dashboard, queries
from syntax.promql_rewrite import VARIABLE, RewriteError, parse_matchers, scope
from tools.mocks import Registration, run_program
from tools import command, first_line, once, os_error_text, shown_path, write_whole
from tools.render import input_folder

TOKEN_ENV = "GRAFANA_TOKEN"
LAYOUT = PROJECT_LAYOUT  # the project's files; tests point it at a scratch copy
DRAFT_HELP = "drafted by tools.adopt from the imported queries; say what it measures"
NO_DATA_DRAFT = ("adopted as Grafana ran it (no data: OK, as Prometheus treats an empty result); "
                 "say why, e.g. which guard fires when its metrics are absent")
RATE_FUNCS = {"rate", "irate", "increase"}
# A team's slug, as a stack's `teams` names it (estate.model.Slug)
SLUG_RULE = f"lowercase letters, digits and '-', starting with a letter, at most {UID_MAX} characters"


class AdoptError(Exception):
    """What stops an adoption, said in one message."""


# --------------------------------------------------------------------------------------------
# Grafana's HTTP API
# --------------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib follows a redirect with the request's headers, the token's too, to whatever host the
    answer names: here a redirect is not followed, but answered as the HTTP error it is (below)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001  (urllib's signature)
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Grafana:
    """A read-only client of one Grafana; the token is sent as a Bearer token, to its host alone, and
    never printed."""

    def __init__(self, url: str, token: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        # http.client refuses such a header with an error that quotes it, token included
        if not all(" " <= c <= "~" for c in token):
            raise AdoptError("the token holds a line break, a control character or a character beyond ASCII; "
                             "give the service account token itself")

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._token}",
                                                       "Accept": "application/json"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_JSON_BYTES + 1)
                missing = response.length  # what Content-Length promised and the connection never gave
            if len(body) > MAX_JSON_BYTES:
                raise AdoptError(f"GET {path}: the answer is larger than {MAX_JSON_BYTES >> 20} MiB")
            if missing:  # a cut answer can still be JSON (`[]` of a longer list): never read as the whole
                raise AdoptError(f"GET {path}: the answer was cut short ({missing} of its bytes never came)")
            return load_json(body.decode("utf-8"), f"GET {path}")  # as the program reads a JSON file
        except ConfigError as e:
            raise AdoptError(f"GET {path}: the answer is {e.problems[0][1]}") from None
        except urllib.error.HTTPError as e:
            hint = {401: "the token was refused", 403: "the token may not read this"}.get(e.code, "")
            if 300 <= e.code < 400:  # never followed: the token goes to the --url's host alone
                hint = "a redirect, not followed: give the address Grafana answers on as --url"
            raise AdoptError(f"GET {path}: HTTP {e.code} {e.reason}" + (f" ({hint})" if hint else "")) from None
        except urllib.error.URLError as e:
            raise AdoptError(f"GET {shown_path(self.url + path)}: {e.reason}") from None
        except UnicodeDecodeError:
            raise AdoptError(f"GET {path}: the answer is not UTF-8 text") from None
        # a timeout or a reset while reading, a broken answer (http.client's), a port that is no number
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise AdoptError(f"GET {shown_path(self.url + path)}: {e}") from None


@dataclass
class Folder:
    uid: str
    title: str
    org_id: int
    parent_uid: str | None = None
    dashboards: dict[str, dict] = field(default_factory=dict)  # uid -> dashboard model
    rules: list[dict] = field(default_factory=list)
    groups: dict[str, dict] = field(default_factory=dict)  # group title -> rule group (interval, rules)
    contact_points: list[dict] = field(default_factory=list)
    policies: dict = field(default_factory=dict)
    datasource_types: dict[str, str] = field(default_factory=dict)  # uid -> plugin type


def read_folder(grafana: Grafana, folder: str) -> Folder:
    """Everything of one folder (given by title or uid) that adoption needs."""
    org = grafana.get("/api/org")
    found = [f for f in grafana.get("/api/search", type="dash-folder", query=folder, limit=5000) or []
             if folder in (f.get("title"), f.get("uid"))]
    if not found:
        raise AdoptError(f"no folder titled {folder[:80]!r} (or with that uid) in {grafana.url}")
    if len(found) > 1:
        raise AdoptError(f"{len(found)} folders are titled '{folder}' ({', '.join(f['uid'] for f in found)}); "
                         "give the uid with --folder")
    meta = grafana.get(f"/api/folders/{found[0]['uid']}")
    result = Folder(uid=meta["uid"], title=meta["title"], org_id=int(org["id"]), parent_uid=meta.get("parentUid") or None)
    # folderUIDs since Grafana 9, folderIds before: both asked, the answer filtered on the folder.
    hits = grafana.get("/api/search", type="dash-db", folderUIDs=result.uid, folderIds=meta.get("id"), limit=5000)
    for hit in sorted(hits or [], key=lambda h: h["uid"]):
        if hit.get("folderUid", result.uid) != result.uid:
            continue
        board = grafana.get(f"/api/dashboards/uid/{urllib.parse.quote(hit['uid'])}")["dashboard"]
        _include_library_panels(grafana, board)
        result.dashboards[board["uid"]] = board
    result.datasource_types = {d["uid"]: d.get("type", "") for d in grafana.get("/api/datasources") or []}
    result.rules = sorted((r for r in grafana.get("/api/v1/provisioning/alert-rules") or []
                           if r.get("folderUID") == result.uid), key=lambda r: (r.get("ruleGroup", ""), r.get("title", "")))
    for title in sorted({r["ruleGroup"] for r in result.rules}):
        path = f"/api/v1/provisioning/folder/{urllib.parse.quote(result.uid)}/rule-groups/{urllib.parse.quote(title)}"
        result.groups[title] = grafana.get(path)
    result.contact_points = grafana.get("/api/v1/provisioning/contact-points") or []
    result.policies = grafana.get("/api/v1/provisioning/policies") or {}
    return result


def _include_library_panels(grafana: Grafana, board: dict) -> None:
    """Library panels the dashboard links to, in `__elements` as Grafana's external export writes them."""
    elements = board.setdefault("__elements", {})
    refs = [p["libraryPanel"] for p in _all_panels(board) if isinstance(p.get("libraryPanel"), dict)]
    for ref in refs:
        if ref.get("uid") and ref["uid"] not in elements:
            element = grafana.get(f"/api/library-elements/{urllib.parse.quote(ref['uid'])}")["result"]
            elements[ref["uid"]] = {"name": element.get("name"), "uid": element["uid"], "kind": element.get("kind", 1),
                                    "model": element.get("model")}
    if not elements:
        board.pop("__elements")


def _all_panels(board: dict) -> Iterable[dict]:
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


# --------------------------------------------------------------------------------------------
# Alert rules: Grafana's three steps back to Prometheus style
# --------------------------------------------------------------------------------------------

_MATH = re.compile(r"^is_number\(\$(\w+)\)\|\|is_nan\(\$\1\)\|\|is_inf\(\$\1\)$")


def rule_query(rule: dict, datasource_types: dict[str, str]) -> tuple[str | None, str]:
    """The PromQL of a rule in the converter's three-step shape (then `why` is the query's refId),
    or None and why it is not in that shape.

    The shape components/alert_rules.py emits and Grafana's Prometheus converter writes: an
    instant Prometheus query with the comparison inside, `is_number($A) || is_nan($A) || is_inf($A)`,
    and a threshold `> 0` on it as the condition; no data is OK, an error is Error.
    """
    data = {d.get("refId"): d for d in rule.get("data") or []}
    if len(data) != 3:
        return None, f"{len(data)} steps (the converter's shape has 3: query, math, threshold)"
    condition = data.get(rule.get("condition"))
    model = (condition or {}).get("model") or {}
    if model.get("type") != "threshold":
        return None, "its condition is not a threshold step"
    evaluators = [c.get("evaluator") or {} for c in model.get("conditions") or []]
    if evaluators != [{"params": [0], "type": "gt"}] and [(e.get("type"), e.get("params")) for e in evaluators] != [("gt", [0])]:
        return None, "its threshold is not `> 0`"
    math = data.get(model.get("expression"))
    math_model = (math or {}).get("model") or {}
    found = _MATH.match(re.sub(r"\s+", "", math_model.get("expression") or ""))
    if math_model.get("type") != "math" or not found:
        return None, "its threshold does not read `is_number($A) || is_nan($A) || is_inf($A)`"
    query = data.get(found.group(1))
    query_model = (query or {}).get("model") or {}
    kind = datasource_types.get(query.get("datasourceUid")) if query else None
    kind = kind or (query_model.get("datasource") or {}).get("type")
    if kind != "prometheus" or not str(query_model.get("expr") or "").strip():
        return None, f"its query is not a Prometheus query ({kind or 'unknown datasource'})"
    if not query_model.get("instant") or query_model.get("range"):
        return None, "its query is a range query (the converter's is instant)"
    if ((query.get("relativeTimeRange") or {}).get("to") or 0) != 0:
        return None, "its query is evaluated in the past (relative time range `to` is not 0)"
    if (rule.get("noDataState"), rule.get("execErrState")) != ("OK", "Error"):
        return None, (f"no data is {rule.get('noDataState')} and errors are {rule.get('execErrState')} "
                      "(Prometheus-style: OK and Error)")
    if rule.get("isPaused"):
        return None, "it is paused"
    if any("unloadEvaluator" in c for c in model.get("conditions") or [] if isinstance(c, dict)):
        return None, "it has a recovery threshold (unloadEvaluator), which the platform's rules do not"
    if str(rule.get("keep_firing_for") or "0s") not in ("0s", "0"):
        return None, f"it keeps firing for {rule['keep_firing_for']} once resolved, which the platform's rules do not"
    if rule.get("missing_series_evals_to_resolve") not in (None, MISSING_SERIES_EVALS_TO_RESOLVE):
        return None, (f"it resolves a vanished series after {rule['missing_series_evals_to_resolve']} evaluations; "
                      "the platform's rules resolve at the first, as Prometheus does")
    if rule.get("notification_settings"):
        return None, "it routes by its own notification settings (the platform routes by the team label)"
    texts = {k: v for k, v in {**(rule.get("annotations") or {}), **(rule.get("labels") or {})}.items()
             if isinstance(v, str)}
    for key, text in sorted(texts.items()):
        try:
            from_grafana(text, found.group(1))
        except TemplateError as e:
            return None, f"its {key} template is not one the platform translates ({e})"
    return query_model["expr"], found.group(1)


def from_grafana(template: str, ref_id: str) -> str:
    """A label or annotation template from Grafana's dialect back to Prometheus' (what team.yaml holds
    and promtool tests): `$values.A.Value` is `$value`, `$values.A.Labels` is `$labels`
    (estate/grafana_templates.py translates the other way). TemplateError when the result is
    outside what the platform translates."""
    prefix_var, prefix_field = f"$values.{ref_id}.", f".Values.{ref_id}."
    out, inside = [], False
    for token in grafana_tokenize(template):
        inside = token.kind == "open" or (inside and token.kind != "close")
        text = token.text
        if inside and token.kind == "variable" and text.startswith(prefix_var):
            rest = text[len(prefix_var):]
            text = "$value" if rest == "Value" else "$labels" + rest[len("Labels"):] if rest.startswith("Labels") else text
        elif inside and token.kind == "field" and text.startswith(prefix_field):
            rest = text[len(prefix_field):]
            text = ".Value" if rest == "Value" else ".Labels" + rest[len("Labels"):] if rest.startswith("Labels") else text
        out.append(text)
    result = "".join(out)
    check_template(result)
    return result


def alert_name(title: str) -> str:
    """`High failure rate` -> `HighFailureRate`: the platform's alert names are CamelCase."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if re.match(r"^[A-Z]", name) else f"Alert{name}"


@dataclass
class Alerts:
    group: str | None = None
    interval: str | None = None
    rules: list[dict] = field(default_factory=list)  # team.yaml entries
    notes: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # groups left unmanaged, with why


def convert_alerts(folder: Folder, slug: str, group: str | None) -> Alerts:
    """The folder's rules that can be written back, one group (the team's), with notes on the rest."""
    out = Alerts()
    by_group: dict[str, list[dict]] = defaultdict(list)
    for rule in folder.rules:
        by_group[rule["ruleGroup"]].append(rule)
    convertible: dict[str, list[tuple[dict, str]]] = {}
    for title, rules in sorted(by_group.items()):
        queries = [(rule, *rule_query(rule, folder.datasource_types)) for rule in rules]
        refused = [f"'{r['title']}': {why}" for r, expr, why in queries if expr is None]
        if refused:
            out.left.append(f"rule group '{title}' stays unmanaged (converting it without these would delete them): "
                            + "; ".join(refused))
        else:
            convertible[title] = [(r, expr, ref_id) for r, expr, ref_id in queries]
    if group is not None and group not in by_group:
        raise AdoptError(f"no rule group {group[:80]!r} in folder '{folder.title}'; groups: {', '.join(sorted(by_group)) or 'none'}")
    chosen = group if group is not None else (sorted(convertible)[0] if convertible else None)
    if chosen is None or chosen not in convertible:
        return out
    for other in sorted(set(convertible) - {chosen}):
        out.left.append(f"rule group '{other}' stays unmanaged: the platform manages one rule group per team "
                        f"(adopt it with --group '{other}' as another team, or merge it by hand)")
    out.group = chosen
    seconds = int(folder.groups.get(chosen, {}).get("interval") or 60)
    out.interval = f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
    names: set[str] = set()
    for rule, expr, ref_id in convertible[chosen]:
        out.rules.append(_alert_entry(rule, expr, ref_id, slug, names, out.notes))
    waited = [r["title"] for r, _, _ in convertible[chosen] if r.get("missing_series_evals_to_resolve") is None]
    if waited:  # Grafana's default, 2 evaluations; the platform's rules resolve at the first (components/alert_rules.py)
        out.notes.append(f"{len(waited)} rule(s) resolve an instance whose series is gone at the next evaluation, as "
                         "Prometheus does; in Grafana they waited one more (its default)")
    return out


def _alert_entry(rule: dict, expr: str, ref_id: str, slug: str, names: set[str], notes: list[str]) -> dict:
    where = f"alert '{rule['title']}'"
    texts = {**(rule.get("labels") or {}), **(rule.get("annotations") or {})}
    if any(re.search(r"\$value\b", t) for t in texts.values()):
        notes.append(f"{where}: $value was Grafana's text of every query's values (before Grafana 12); in team.yaml "
                     "it is the query's number, as Prometheus and Grafana 12 show it")
    rule = {**rule, "labels": {k: from_grafana(v, ref_id) for k, v in (rule.get("labels") or {}).items()},
            "annotations": {k: from_grafana(v, ref_id) for k, v in (rule.get("annotations") or {}).items()}}
    name = alert_name(rule["title"])
    while name in names:
        name += "X"
    names.add(name)
    if name != rule["title"]:
        notes.append(f"{where}: named {name} (the platform's alert names are CamelCase); Grafana shows the new name")
    labels = dict(rule.get("labels") or {})
    severity = labels.pop("severity", None)
    if severity not in ("critical", "warning", "info"):
        notes.append(f"{where}: severity {severity!r} is not critical, warning or info: warning")
        severity = "warning"
    if labels.get("team", slug) != slug:
        notes.append(f"{where}: label team={labels['team']} becomes team={slug} (the platform routes by it)")
    labels.pop("team", None)
    annotations = dict(rule.get("annotations") or {})
    summary = annotations.pop("summary", None) or rule["title"]
    description = annotations.pop("description", None) or summary
    runbook = annotations.pop("runbook_url", None)
    if runbook:
        notes.append(f"{where}: runbook_url {runbook} becomes <runbookBaseUrl>/{slug}/{kebab(name)} (the stack's)")
    dropped = sorted(annotations)
    if dropped:
        notes.append(f"{where}: annotations {', '.join(dropped)} not carried over (the platform sets summary, "
                     "description and runbook_url)")
    # team.yaml says what an alert watches and where it fires: the expression Grafana showed, split at
    # its top-level comparison with a number (`x > 0.05`: quantity x, comparison >, threshold 0.05)
    quantity, comparison, threshold = split_comparison(expr.strip())
    quantity = scope(quantity, SELECTOR)
    entry: dict[str, Any] = {"alert": name, "uid": rule["uid"], "quantity": quantity}
    if comparison is not None:
        entry.update(comparison=comparison, threshold=int(threshold) if threshold.is_integer() else threshold)
    entry.update({"for": rule.get("for") or "0s", "severity": severity, "summary": summary,
                  "description": description, "noData": "ok",  # rule_query adopts only rules whose no data is OK
                  "noDataReason": NO_DATA_DRAFT})
    if labels:
        entry["labels"] = labels
    return entry


# --------------------------------------------------------------------------------------------
# Contact points the folder's rules reach
# --------------------------------------------------------------------------------------------

def _route_matches(route: dict, labels: dict[str, str]) -> bool:
    matchers = [tuple(m) for m in route.get("object_matchers") or []]
    for text in route.get("matchers") or []:  # the older `label=value` strings
        m = re.match(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$", text)
        if m:
            matchers.append(m.groups())
    tests = {"=": lambda v, x: v == x, "!=": lambda v, x: v != x,
             "=~": lambda v, x: re.fullmatch(x, v) is not None, "!~": lambda v, x: re.fullmatch(x, v) is None}
    return all(tests[op](labels.get(name, ""), value) for name, op, value in matchers if op in tests)


def receivers_for(tree: dict, labels: dict[str, str]) -> list[str]:
    """Contact points a Grafana policy tree (provisioning API shape) sends `labels` to."""
    def walk_tree(node: dict, inherited: str | None) -> list[str]:
        receiver = node.get("receiver") or inherited
        found: list[str] = []
        for child in node.get("routes") or []:
            if _route_matches(child, labels):
                found += walk_tree(child, receiver)
                if not child.get("continue"):
                    break
        return found or ([receiver] if receiver else [])
    return walk_tree(tree, None)


@dataclass
class Receivers:
    receiver: str | None = None
    contact_points: dict[str, dict] = field(default_factory=dict)  # name -> stack contactPoints entry (placeholders)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_SECRET = "<secure set with pulumi config set --secret>"  # the estate's placeholder form (estate.model.PLACEHOLDER)


# The settings of each integration the stack models carry (estate.stack's integrations, in Grafana's words).
_CARRIED = {"email": {"addresses", "singleEmail"}, "slack": {"url", "recipient"}, "webhook": {"url", "httpMethod"},
            "pagerduty": {"integrationKey"}}


def contact_points_for(folder: Folder, rules: list[dict], stack: str) -> Receivers:
    out = Receivers()
    chosen: dict[str, int] = defaultdict(int)
    for rule in rules:
        labels = {**(rule.get("labels") or {}), "alertname": rule["title"], "grafana_folder": folder.title}
        for name in receivers_for(folder.policies, labels):
            chosen[name] += 1
    if not chosen:
        return out
    out.receiver = max(sorted(chosen), key=lambda n: chosen[n])
    if len(chosen) > 1:
        out.notes.append(f"the folder's alerts reach {', '.join(sorted(chosen))}; the team's routing receiver is "
                         f"{out.receiver} (add severityReceivers in the stack for the others)")
    for name in sorted(chosen):
        integrations = [c for c in folder.contact_points if c.get("name") == name]
        entry: dict[str, dict] = {}
        unsupported = []
        for c in integrations:
            kind, settings = c.get("type"), c.get("settings") or {}
            key = {"email": "email", "slack": "slack", "webhook": "webhook", "pagerduty": "pagerduty"}.get(kind)
            if key is None or key in entry:
                unsupported.append(kind if key is None else f"a second {kind}")
                continue
            # what the stack model cannot say (a webhook's basic auth or bearer credentials, a Slack bot
            # token, a PagerDuty severity): imported without it, the integration would lose it. Names only.
            uncarried = sorted(k for k, v in settings.items() if k not in _CARRIED[key] and v not in (None, "", False, [], {}))
            if c.get("disableResolveMessage"):
                uncarried.append("disableResolveMessage")
            if uncarried:
                unsupported.append(f"{kind} settings {', '.join(uncarried)}")
                continue
            secret_field = {"email": "addresses", "slack": "url", "webhook": "url", "pagerduty": "integrationKey"}[key]
            entry[key] = {secret_field: _SECRET}
            if key == "slack" and settings.get("recipient"):
                entry[key]["recipient"] = settings["recipient"]
            if key == "email" and settings.get("singleEmail"):
                entry[key]["singleEmail"] = True
            if key == "webhook" and settings.get("httpMethod") in ("PUT",):
                entry[key]["httpMethod"] = "PUT"
            # The endpoint is a secret in the stack: never written or printed, only where to put it.
            out.commands.append(f"pulumi config set --stack {stack} --secret --path "
                                f"'{PROJECT}:contactPoints.{name}.{key}.{secret_field}' '<{kind} {secret_field} of {name}>'")
        if unsupported or not entry:
            out.notes.append(f"contact point '{name}' is not imported: the stack model has no "
                             f"{', '.join(unsupported) or 'integration of its kind'} (keep managing it in Grafana)")
            out.commands = [c for c in out.commands if f"contactPoints.{name}." not in c]
            continue
        out.contact_points[name] = entry
    return out


# --------------------------------------------------------------------------------------------
# The metric contract, drafted from queries
# --------------------------------------------------------------------------------------------

def draft_contract(exprs: Iterable[str], selector: str, existing: Iterable[dict] = ()) -> list[dict]:
    """Metric contract entries for every series `exprs` name: type guessed from the suffix and rate()s,
    labels from matchers and by/without/on/ignoring; entries of `existing` kept whole, labels added after theirs."""
    skip = {name for name, _, _ in parse_matchers(selector)} | TARGET_LABELS | {"__name__"}
    series: dict[str, set[str]] = defaultdict(set)
    rated: set[str] = set()
    quantiled: set[str] = set()
    for expr in exprs:
        try:
            root = promql.parse(expr, variables=True)
        except ValueError:
            continue  # the import and the query tests report it
        made = {str(n.args[1]).strip('"') for n, _ in walk(root)
                if isinstance(n, pp.Call) and n.func.name in ("label_replace", "label_join") and len(n.args) > 1}
        for node, ancestors in walk(root):
            if isinstance(node, pp.VectorSelector):
                name = selector_name(node)
                if not name:
                    continue
                series[name] |= {m.name for m in node.matchers.matchers}
                if any(isinstance(a, pp.Call) and a.func.name in RATE_FUNCS for a in ancestors):
                    rated.add(name)
            elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
                _spread(node.expr, set(node.modifier.labels or ()) - made, series)
            elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
                labels = set(node.modifier.matching.labels or ()) if node.modifier.matching else set()
                labels |= set(node.modifier.group_labels or ())
                _spread(node.lhs, labels - made, series)
                _spread(node.rhs, labels - made, series)
    for name, labels in series.items():
        if "quantile" in labels:
            quantiled.add(name)
    metrics: dict[str, dict] = {}
    bases = {n[: -len("_bucket")] for n in series if n.endswith("_bucket")}
    for name in sorted(series):
        labels = series[name]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name.endswith("_bucket") or (base != name and base in bases):
            kind, metric = "histogram", base
        elif base != name and (base in series or base in quantiled):
            kind, metric = "summary", base
        elif name in quantiled:
            kind, metric = "summary", name
        elif base != name:
            kind, metric = "histogram", base  # a _sum or _count alone: most often a histogram's
        elif name.endswith("_total") or name in rated:
            kind, metric = "counter", name
        elif name.endswith("_info"):
            kind, metric = "info", name
        else:
            kind, metric = "gauge", name
        entry = metrics.setdefault(metric, {"name": metric, "type": kind, "help": DRAFT_HELP, "labels": set()})
        if kind in ("histogram", "summary"):
            entry["type"] = kind
        entry["labels"] |= labels - skip - {"le", "quantile"}
    drafted = {m["name"]: m for m in existing}
    for name, entry in sorted(metrics.items()):
        if name in drafted:
            have = drafted[name]
            written = list(have.get("labels") or [])  # in the team's order, the new ones after them
            have["labels"] = written + sorted(entry["labels"] - set(written))
        else:
            drafted[name] = {**entry, "labels": sorted(entry["labels"])}
    return [_contract_entry(drafted[n]) for n in sorted(drafted)]


def _spread(node: pp.Expr, labels: set[str], series: dict[str, set[str]]) -> None:
    """Grouping labels belong to every metric under the grouping."""
    for n, _ in walk(node):
        if isinstance(n, pp.VectorSelector) and selector_name(n):
            series[selector_name(n)] |= labels


def _contract_entry(metric: dict) -> dict:
    """A contract entry as team.yaml writes it: an existing one whole (its range, rate, values, buckets,
    source...: what the team wrote stays), without labels when there are none."""
    return {k: v for k, v in metric.items() if k != "labels" or v}


def team_queries(slug: str, layout: Layout = PROJECT_LAYOUT) -> tuple[list[str], list[str], list[str]]:
    """A team's queries as the program resolves them without a stack: (PromQL, import notes, import problems)."""
    team_file = layout.team_file(slug)
    relative = layout.relative
    spec = read_yaml(team_file, relative(team_file))
    selector = spec.get("selector")
    if not isinstance(selector, str) or not selector.strip():
        raise AdoptError(f"{relative(team_file)}: selector: needed to scope the queries, e.g. job=\"{slug}\"")
    exprs, notes, problems = [], [], []
    for item in spec.get("imports") or []:
        path = team_file.parent / item["file"]
        try:
            result = import_dashboard(from_export(read_json(path, relative(path))), selector)
        except (ImportProblems, ConfigError) as e:  # the reader's problems as the program's load words them
            problems += [f"{relative(path)}: {w}: {m}" if w else f"{relative(path)}: {m}" for w, m in e.problems]
            continue
        except (OSError, ValueError) as e:
            problems.append(f"{relative(path)}: {e}")
            continue
        notes += [f"{relative(path)}: {n}" for n in result.notes]
        exprs += queries(result.board)
    expressions = spec.get("expressions") or {}
    for alert in spec.get("alerts") or []:
        quantity = str(alert.get("quantity", ""))
        quantity = expressions.get(quantity, quantity)  # a bare name stands for one of the team's expressions
        exprs.append(template.fill(quantity, {"selector": selector, **expressions}, keep_unknown=True))
    return exprs, notes, problems


def contract_block(metrics: list[dict], comments: dict[str, list[str]] | None = None, head: str | None = None) -> str:
    """The `metrics:` block, one metric a line; `comments`: the comment lines before a metric, by its name,
    `head`: the comment of the `metrics:` line."""
    lines = ["metrics:" + (f"  {head}" if head else "")]
    for m in metrics:
        lines += [f"  {c}" for c in (comments or {}).get(m["name"], [])]
        lines.append("  - " + yaml.dump(m, Dumper=YAML_DUMPER, default_flow_style=True, sort_keys=False, width=10_000).strip())
    return "\n".join(lines) + "\n"


def write_contract(team_yaml: Path, metrics: list[dict]) -> list[str]:
    """Replace the team.yaml's top-level `metrics:` block (or add one), leaving the rest of the file as it
    is, and the team's comments in the block: a metric's (above it or inside it) before it, the `metrics:`
    line's on it, those after the last metric after the block. Notes on the comments it drops."""
    text = team_yaml.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    keys = [key.value for key, _ in root.value] if isinstance(root, yaml.MappingNode) else []
    if "metrics" not in keys:
        write_whole(team_yaml, text.rstrip("\n") + "\n\n" + contract_block(metrics))
        return []
    index = keys.index("metrics")
    lines = _YAML_LINE.findall(text)
    first = root.value[index][0].start_mark.line
    end = root.value[index + 1][0].start_mark.line if index + 1 < len(keys) else len(lines)
    value = root.value[index][1]
    entries = [(_last_line(e), _entry_name(e)) for e in (value.value if isinstance(value, yaml.SequenceNode) else [])]
    last = max([first, *(line for line, _ in entries)])
    names = {m["name"] for m in metrics}
    comments, head, kept, dropped, after = _comments(text), None, defaultdict(list), defaultdict(int), []
    for number in range(first, end):
        comment = comments.get(number)
        if number == first:
            head = comment
        elif number > last:  # as written: blank lines, and comments of what follows the block
            if lines[number].strip() in ("", comment):
                after.append(lines[number])
            elif comment:
                after.append(f"  {comment}\n")
        elif comment:  # the metric it is written in or above
            owner = next(name for line, name in entries if number <= line)
            if owner in names:
                kept[owner].append(comment)
            else:
                dropped[owner] += 1
    block = contract_block(metrics, kept, head) + "".join(after)
    write_whole(team_yaml, "".join(lines[:first]) + block + "".join(lines[end:]))
    return [f"{sum(dropped.values())} comment line(s) of metrics no longer in the contract dropped: "
            + ", ".join(sorted(map(str, dropped)))] if dropped else []


# A line as YAML reads them (PyYAML's marks count these breaks), with its line break
_YAML_LINE = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029])|[^\r\n\x85\u2028\u2029]+\Z")


def _comments(text: str) -> dict[int, str]:
    """The comments of the YAML `text` by line: what follows the last token ending on a line, where it
    begins with `#` (PyYAML's scanner skips comments; its tokens mark where they are not). A line inside
    a token (a block scalar's) holds none."""
    ends: dict[int, int] = defaultdict(int)  # line -> column past its last token
    inside: set[int] = set()
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if token.start_mark.index == token.end_mark.index:  # no text (the stream's end may follow a last comment)
            continue
        inside.update(range(token.start_mark.line + 1, token.end_mark.line))
        ends[token.end_mark.line] = max(ends[token.end_mark.line], token.end_mark.column)
    found = {}
    for number, line in enumerate(_YAML_LINE.findall(text)):
        rest = line[ends[number]:].strip()
        if number not in inside and rest.startswith("#"):
            found[number] = rest
    return found


def _last_line(node: yaml.Node) -> int:
    """The line a node's text ends on. A block collection's own end mark is where the next token begins,
    past the comments after it: its last value's end is the collection's; a mark at a line's start
    ends the line before."""
    while isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    return node.end_mark.line - 1 if node.end_mark.column == 0 else node.end_mark.line


def _entry_name(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v.value for k, v in node.value if k.value == "name" and isinstance(v, yaml.ScalarNode)), None)


# --------------------------------------------------------------------------------------------
# The team folder and the import file
# --------------------------------------------------------------------------------------------

def infer_selector(exprs: Iterable[str], slug: str) -> tuple[str, str | None]:
    """`job="x"` when every query naming a job names the same one; else `job="<slug>"`, with a note."""
    jobs: set[str] = set()
    for expr in exprs:
        try:
            root = promql.parse(expr, variables=True)
        except ValueError:
            continue
        jobs |= {m.value for n, _ in walk(root) if isinstance(n, pp.VectorSelector)
                 for m in n.matchers.matchers if m.name == "job" and str(m.op) == str(pp.MatchOp.Equal)
                 and not VARIABLE.search(m.value)}
    if len(jobs) == 1:
        return f'job="{jobs.pop()}"', None
    why = f"the queries name the jobs {', '.join(sorted(jobs))}" if jobs else "no query names a job"
    return f'job="{slug}"', f"selector job=\"{slug}\" assumed ({why}): check it, or pull again with --selector"


@dataclass
class Pulled:
    slug: str
    team_dir: Path
    import_file: Path
    stack_entry: str
    commands: list[str]
    notes: list[str]


def pull(grafana: Grafana, folder_name: str, stack: str, slug: str | None = None, selector: str | None = None,
         group: str | None = None, import_file: Path | None = None, layout: Layout = PROJECT_LAYOUT) -> Pulled:
    relative = layout.relative
    named = STACK_NAME.fullmatch(stack) is not None
    if not named or not layout.stack_file(stack).exists():
        shown = relative(layout.stack_file(stack)) if named else "--stack"
        raise AdoptError(f"{shown}: no such stack (the import file names the adopting stack)")
    if import_file is not None:  # before Grafana is asked anything; the default path, once the slug is known
        _check_import_file(import_file, layout)
    folder = read_folder(grafana, folder_name)
    if slug is None:
        slug = re.sub(r"-+", "-", kebab(re.sub(r"[^A-Za-z0-9]+", "-", folder.title))).strip("-")
    if not _is_slug(slug):
        raise AdoptError(f"{slug[:60]!r} is not a team slug ({SLUG_RULE}); give one with --team")
    team_dir = layout.team_dir(slug)
    if team_dir.exists():
        raise AdoptError(f"{relative(team_dir)} exists already; adoption writes a new team only (give another --team)")
    notes: list[str] = []
    if folder.parent_uid:
        notes.append(f"folder '{folder.title}' is nested under folder {folder.parent_uid}; the platform's team folders "
                     "are top-level, so the first `pulumi up` moves it there")
    if selector is None:
        seen = [e for b in folder.dashboards.values() for e in queries(b)]
        seen += [expr for r in folder.rules if (expr := rule_query(r, folder.datasource_types)[0])]
        selector, why = infer_selector(seen, slug)
        if why:
            notes.append(why)
    try:
        parse_matchers(selector)
    except RewriteError as e:
        raise AdoptError(f"--selector: {e}") from None
    alerts = convert_alerts(folder, slug, group)
    notes += alerts.notes + alerts.left
    receivers = contact_points_for(folder, [r for r in folder.rules if r["ruleGroup"] == alerts.group], stack)
    notes += receivers.notes

    # Every dashboard must import before anything is written.
    problems, imported = [], {}
    for uid, board in folder.dashboards.items():
        try:
            imported[uid] = import_dashboard(board, selector)
        except ImportProblems as e:
            problems += [f"dashboard {uid}: {w}: {m}" for w, m in e.problems]
    if problems:
        raise AdoptError("these dashboards cannot be imported as they are (nothing was written):\n  "
                         + "\n  ".join(problems))
    notes += [f"dashboard {uid}: {n}" for uid, result in imported.items() for n in result.notes]

    files = {uid: f"dashboards/{uid}.json" for uid in folder.dashboards}
    exprs = [e for r in imported.values() for e in queries(r.board)]
    exprs += [a["quantity"].replace(SELECTOR, selector) for a in alerts.rules]
    spec: dict[str, Any] = {
        "title": folder.title, "folder": folder.title, "folder_uid": folder.uid, "selector": selector,
        "metrics": draft_contract(exprs, selector),
    }
    if alerts.rules:
        spec.update(alert_group=alerts.group, alert_interval=alerts.interval, alerts=alerts.rules)
    spec["imports"] = [{"file": files[uid], "uid": uid} for uid in sorted(files)]
    _validate(slug, spec)

    stack_config = read_yaml(layout.stack_file(stack), relative(layout.stack_file(stack))).get("config") or {}
    stack_org = json.loads(config_from_file(stack, layout)[0].get(f"{PROJECT}:orgId", "1"))
    if int(stack_org) != folder.org_id:  # every resource carries the stack's org: another one would be replaced
        raise AdoptError(f"the token reads organization {folder.org_id}, the stack manages organization {stack_org} "
                         f"({PROJECT}:orgId): use a token of organization {stack_org}")
    known = stack_config.get(f"{PROJECT}:contactPoints") or {}
    if receivers.receiver and receivers.receiver not in receivers.contact_points and receivers.receiver not in known:
        notes.append(f"the team's alerts go to the stack's root receiver until {receivers.receiver} is a contact point "
                     "of the stack")
        receivers.receiver = None
    settings: dict[str, Any] = {"routing": {"receiver": receivers.receiver}} if receivers.receiver else {}
    new_points = {n: e for n, e in receivers.contact_points.items() if n not in known}
    registrations = _render_with(stack, slug, settings, new_points, spec, files, folder, layout)
    if import_file is None:
        import_file = layout.root / f"adopt-{slug}-{stack}.json"
        _check_import_file(import_file, layout)  # before the team is written: a pull writes both or neither
    ids = _import_ids(folder, slug, alerts.group, list(new_points))
    document = import_document(registrations, stack, slug, ids)

    texts = {files[uid]: json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
             for uid, board in folder.dashboards.items()}
    header = ("# yaml-language-server: $schema=../../schemas/team.schema.json\n"
              f"# Adopted from {grafana.url}, folder '{folder.title}' ({folder.uid}), by python -m tools.adopt pull.\n"
              "# The metric contract is a draft: give each metric its help text and check the types.\n")
    texts["team.yaml"] = header + _team_yaml(spec)
    try:
        _write_whole(team_dir, texts, import_file, json.dumps(document, indent=2, sort_keys=False) + "\n", layout)
    except OSError as e:  # a full disk, say
        raise AdoptError(f"writing {relative(team_dir)}/ and {_from_root(import_file, layout)}: {os_error_text(e)} "
                         "(nothing was written)") from None

    protect = bool(stack_config.get(f"{PROJECT}:protect", False))
    entry = yaml.dump({slug: settings or {"selector": ""}}, Dumper=YAML_DUMPER, sort_keys=False)
    plain = [f"pulumi config set --stack {stack} --path '{PROJECT}:contactPoints.{name}.{kind}.{key}' "
             f"'{str(value).lower() if isinstance(value, bool) else value}'"
             for name, point in sorted(new_points.items()) for kind, fields in point.items()
             for key, value in fields.items() if value != _SECRET]
    secrets = [c for c in receivers.commands if any(f"contactPoints.{n}." in c for n in new_points)]
    commands = secrets + plain + [
        f"pulumi import --stack {stack} --file {_from_root(import_file, layout)} --generate-code=false "
        f"--protect={str(protect).lower()}",
        f"pulumi preview --stack {stack} --diff",
    ]
    return Pulled(slug, team_dir, import_file, entry, commands, notes)


def _write_whole(team_dir: Path, texts: dict[str, str], import_file: Path, document: str, layout: Layout) -> None:
    """The team folder (`texts` by their path in it) and the import file, whole or not at all: a write that
    fails midway (a full disk, Ctrl-C) leaves neither half a team for the next render to read nor an import
    file without its team. Both are written staged, then renamed into place."""
    # Beside teams/, on its file system (a rename does not cross one), where no glob of teams/*/team.yaml
    # reads a half-written team
    staging = Path(tempfile.mkdtemp(prefix=".adopt-", dir=layout.teams.resolve().parent))
    staged_team = staging / team_dir.name  # not mkdtemp's folder itself: that one is private to its owner (0700)
    staged_import = import_file.with_name(f".{import_file.name}.partial")
    placed = False
    try:
        (staged_team / "dashboards").mkdir(parents=True)
        for path, text in texts.items():
            (staged_team / path).write_text(text, encoding="utf-8")
        staged_import.write_text(document, encoding="utf-8")
        os.rename(staged_team, team_dir)
        placed = True
        # the import file last: it may replace an earlier one, which a failed pull must leave as it was
        os.replace(staged_import, import_file)
    except BaseException:  # Ctrl-C too
        staged_import.unlink(missing_ok=True)
        if placed:
            shutil.rmtree(team_dir)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _from_root(path: Path, layout: Layout) -> str:
    """`path` as the pulumi CLI, run in the project folder, reaches it."""
    try:
        return str(path.resolve().relative_to(layout.root.resolve()))
    except ValueError:
        return str(path)


def _validate(slug: str, spec: dict) -> None:
    try:
        TeamSpec.model_validate(spec)
    except ValidationError as e:
        problems = validation_problems(e, TeamSpec)
        raise AdoptError(f"teams/{slug}/team.yaml would not validate (nothing was written):\n  "
                         + "\n  ".join(f"{w}: {m}" for w, m in problems)) from None


def _team_yaml(spec: dict) -> str:
    """team.yaml as a person keeps it: the contract one metric a line, every value on one line
    (an expression stays as Grafana showed it)."""
    return "".join(contract_block(value) if key == "metrics" else
                   yaml.dump({key: value}, Dumper=YAML_DUMPER, sort_keys=False, width=10_000, allow_unicode=True)
                   for key, value in spec.items())


def _render_with(stack: str, slug: str, settings: dict, new_points: dict, spec: dict, files: dict[str, str],
                 folder: Folder, layout: Layout) -> list[Registration]:
    """Run the program for `stack` with the team enabled, before anything is written: the team in a
    scratch teams folder beside the others, the stack's config with the team and its contact points."""
    config, secret_keys = config_from_file(stack, layout)
    teams = json.loads(config[f"{PROJECT}:teams"])
    teams[slug] = settings
    config[f"{PROJECT}:teams"] = json.dumps(teams)
    points_key = f"{PROJECT}:contactPoints"
    points = json.loads(config.get(points_key, "{}"))
    points.update(new_points)
    config[points_key] = json.dumps(points)
    with tempfile.TemporaryDirectory(prefix="adopt-") as scratch:
        # No stack file in the scratch stacks folder: secrecy comes from the keys marked secret (the
        # added contact points hold placeholders, not `secure:` values).
        trial = Layout(root=layout.root, stacks=Path(scratch) / "stacks", teams=Path(scratch) / "teams")
        trial.stacks.mkdir()
        trial.teams.mkdir()
        for team in layout.team_names():
            (trial.teams / team).symlink_to(layout.team_dir(team).resolve(), target_is_directory=True)
        (trial.team_dir(slug) / "dashboards").mkdir(parents=True)
        for uid, board in folder.dashboards.items():
            (trial.team_dir(slug) / files[uid]).write_text(json.dumps(board), encoding="utf-8")
        trial.team_file(slug).write_text(_team_yaml(spec), encoding="utf-8")
        try:
            return run_program(stack, config, {*secret_keys, points_key}, layout=trial).registrations
        except ConfigError as e:
            raise AdoptError(f"the stack would not accept the team:\n{e}") from None


def _import_ids(folder: Folder, slug: str, group: str | None, contact_points: list[str]) -> dict[tuple[str, str], str]:
    org = folder.org_id
    ids = {(T.FOLDER, slug): f"{org}:{folder.uid}"}
    ids |= {(T.DASHBOARD, uid): f"{org}:{uid}" for uid in folder.dashboards}
    if group:
        ids[(T.RULE_GROUP, slug)] = f"{org}:{folder.uid}:{group}"
    ids |= {(T.CONTACT_POINT, name): f"{org}:{name}" for name in contact_points}
    return ids


def import_document(registrations: list[Registration], stack: str, slug: str,
                    ids: dict[tuple[str, str], str]) -> dict:
    """The `pulumi import --file` document for what exists already: resources as the program registers
    them (type, logical name, parent), the components above them created empty, existing parents and
    the provider by URN in the name table."""
    by_short = {f"{r.type}::{r.name}": r for r in registrations}

    def urn(reg: Registration) -> str:
        chain = []
        node: Registration | None = reg
        while node is not None:
            chain.append(node.type)
            node = by_short.get(node.parent)
        return f"urn:pulumi:{stack}::{PROJECT}::{'$'.join(reversed(chain))}::{reg.name}"

    missing = [key for key in ids if f"{key[0]}::{key[1]}" not in by_short]
    if missing:
        raise AdoptError(f"the program does not register {missing}; the import file would not match it")
    provider = next(r for r in registrations if r.type == T.PROVIDER)
    name_table = {"grafana-provider": urn(provider)}
    wanted = {f"{t}::{n}" for t, n in ids}
    components: dict[str, Registration] = {}
    for short in wanted:  # every component between a resource and what exists already
        parent = by_short[short].parent
        while parent in by_short and by_short[parent].type.startswith(f"{PROJECT}:") and \
                _inside_team(by_short[parent], slug):
            components[parent] = by_short[parent]
            parent = by_short[parent].parent
    labels: dict[str, str] = {}

    def label(short: str) -> str:
        if short not in labels:
            reg = by_short[short]
            kind = reg.type.rsplit(":", 1)[-1]
            labels[short] = f"{kebab(kind)}-{reg.name}"
        return labels[short]

    def parent_ref(reg: Registration) -> str:
        if reg.parent in components or reg.parent in wanted:
            return label(reg.parent)
        key = label(reg.parent)
        name_table[key] = urn(by_short[reg.parent])
        return key

    resources = []
    for short, reg in sorted(components.items(), key=lambda kv: (urn(kv[1]).count("$"), kv[0])):  # parents first
        resources.append({"type": reg.type, "name": label(short), "logicalName": reg.name,
                          "component": True, "parent": parent_ref(reg)})
    for (type_, name), id_ in sorted(ids.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        reg = by_short[f"{type_}::{name}"]
        resources.append({"type": str(type_), "name": label(f"{type_}::{name}"), "logicalName": name, "id": id_,
                          "parent": parent_ref(reg), "provider": "grafana-provider"})
    return {"nameTable": dict(sorted(name_table.items())), "resources": resources}


def _inside_team(reg: Registration, slug: str) -> bool:
    return reg.name == slug and reg.type in (T.TEAM, T.TEAM_FOLDER, T.TEAM_DASHBOARDS, T.TEAM_ALERT_RULES)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _check_import_file(path: Path, layout: Layout) -> None:
    """Where the import file may go: a new file, or an earlier import file (JSON with `resources`), in
    an existing folder outside the project's stacks/ and teams/, which the program reads."""
    shown = f"--import-file {path}"
    if inside := input_folder(path, layout):
        raise AdoptError(f"{shown}: is inside the project's {inside}/ folder; give a path outside it")
    if not path.parent.is_dir():
        raise AdoptError(f"{shown}: its folder {path.parent} does not exist")
    if path.is_dir():
        raise AdoptError(f"{shown}: is a folder; give the path of the file to write")
    if path.exists():
        try:
            earlier = read_json(path, str(path))
        except ConfigError:
            earlier = None
        if not (isinstance(earlier, dict) and isinstance(earlier.get("resources"), list)):
            raise AdoptError(f"{shown}: holds something other than a pulumi import file; give a new path")


def _variable_name(text: str) -> str:
    """An argparse `type`: an environment variable's name (an empty one would name no variable)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not the name of an environment variable "
                                         "(letters, digits and _, not beginning with a digit)")
    return text


def _is_slug(text: str) -> bool:
    return re.fullmatch(SLUG_PATTERN, text) is not None and len(text) <= UID_MAX  # fullmatch: `$` in re admits a final line break


def _team_slug(text: str) -> str:
    """An argparse `type`: a team's slug (an empty one would name none, not the folder's)."""
    if not _is_slug(text):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a team slug ({SLUG_RULE})")
    return text


def _url_shown(url: str) -> str:
    """A --url as a message shows it: without what may hold a secret, a user and password
    (`https://admin:secret@host`) or a query (`?auth_token=...`)."""
    return shown_path(re.sub(r"[?#].*", "?…", re.sub(r"//[^/?#]*@", "//…@", url, count=1), flags=re.DOTALL))


def _cmd_pull(args: argparse.Namespace) -> int:
    try:
        address = urllib.parse.urlsplit(args.url)
        hostname, _ = address.hostname, address.port
    except ValueError:  # `http://[::1`: no IPv6 address closed; `:grafana`, `:99999`: no port
        address, hostname = None, None
    if address is None or address.scheme not in ("http", "https") or not hostname:
        print(f"error: --url {_url_shown(args.url)}: give the Grafana's address, e.g. https://grafana.acme-corp.com",
              file=sys.stderr)
        return 2
    if "@" in address.netloc or address.query or address.fragment:  # every message names the address
        print(f"error: --url {_url_shown(args.url)}: give the Grafana's address alone, without a user, password or "
              f"query; the token goes in the environment variable {args.token_env}", file=sys.stderr)
        return 2
    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"error: set the Grafana token in the environment variable {args.token_env} "
              "(a service account token that may read the folder, its alert rules and contact points)", file=sys.stderr)
        return 2
    pulled = pull(Grafana(args.url, token), args.folder, args.stack, slug=args.team, selector=args.selector,
                  group=args.group, import_file=args.import_file, layout=LAYOUT)
    print(f"wrote {LAYOUT.relative(pulled.team_dir)}/ and {_from_root(pulled.import_file, LAYOUT)}")
    if pulled.notes:
        print("\nWhat changes or stays behind:")
        print("\n".join(f"  - {n}" for n in pulled.notes))
    print(f"\nEnable the team in stacks/Pulumi.{args.stack}.yaml, under {PROJECT}:teams:\n")
    print("\n".join("    " + line for line in pulled.stack_entry.splitlines()))
    print("\nThen (its contact points' endpoints are secrets: give them here, never in the file):\n")
    print("\n".join(f"  {c}" for c in pulled.commands))
    return 0


def _known_team(slug: str) -> bool:
    """Whether `slug` names one of the project's teams (a name, never a path: `../x` is none); says which are."""
    if slug in LAYOUT.team_names():
        return True
    print(f"error: no team {slug[:60]!r} in {LAYOUT.relative(LAYOUT.teams)}/; teams: "
          f"{', '.join(LAYOUT.team_names()) or 'none'}", file=sys.stderr)
    return False


def _cmd_contract(args: argparse.Namespace) -> int:
    if not _known_team(args.team):
        return 2
    path = LAYOUT.team_file(args.team)
    exprs, _, problems = team_queries(args.team, LAYOUT)
    spec = read_yaml(path, LAYOUT.relative(path))
    metrics = draft_contract(exprs, spec["selector"], spec.get("metrics") or [])
    if args.write:
        for note in write_contract(path, metrics):
            print(f"note: {note}", file=sys.stderr)
        print(f"wrote {len(metrics)} metrics into {LAYOUT.relative(path)}")
    else:
        print(contract_block(metrics), end="")
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_check(args: argparse.Namespace) -> int:
    if not _known_team(args.team):
        return 2
    _, notes, problems = team_queries(args.team, LAYOUT)
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(f"error: {p}")
    print(f"{len(notes)} note(s), {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.adopt", description=first_line(__doc__))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pull", help="read a Grafana folder into a new teams/<slug>/ and a pulumi import file")
    p.add_argument("--url", action=once(), required=True, help="the Grafana, e.g. https://grafana.acme-corp.com")
    p.add_argument("--folder", action=once(), required=True, help="the folder's title or uid")
    p.add_argument("--stack", action=once(), required=True,
                   help="the stack that adopts the team (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--team", action=once(), type=_team_slug, help="the team's slug (default: from the folder title)")
    p.add_argument("--selector", action=once(),
                   help='label matchers of the team\'s series, e.g. job="payments" (default: inferred)')
    p.add_argument("--group", action=once(), help="the rule group to adopt when the folder has several")
    p.add_argument("--import-file", action=once(), type=Path,
                   help="where to write the import file (default adopt-<team>-<stack>.json)")
    p.add_argument("--token-env", action=once(), default=TOKEN_ENV, type=_variable_name,
                   help=f"environment variable holding the token (default {TOKEN_ENV})")
    c = sub.add_parser("contract", help="draft a team's metric contract from its imported queries")
    c.add_argument("team")
    c.add_argument("--write", action="store_true", help="write it into teams/<team>/team.yaml")
    k = sub.add_parser("check", help="what importing a team's dashboards changes or cannot carry over")
    k.add_argument("team")
    args = parser.parse_args(argv)
    try:
        return {"pull": _cmd_pull, "contract": _cmd_contract, "check": _cmd_check}[args.command](args)
    except (AdoptError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, AttributeError) as e:  # an answer or a file not in the shape documented
        print(f"error: an answer of Grafana's API (or a team file) is not in the documented shape "
              f"({type(e).__name__}: {e}); nothing was written", file=sys.stderr)
        return 1


if __name__ == "__main__":
    command(main)
