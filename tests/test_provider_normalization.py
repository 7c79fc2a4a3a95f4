"""What the Grafana provider keeps in the state, re-implemented, and applied to every committed stack.

A second `pulumi preview` shows no change when, for every input, what the provider's read puts in the
state compares equal to what the program sends, once the provider has normalized both: a StateFunc
applied to the program's value, a DiffSuppressFunc comparing the two loosely, a Default. Each
function below re-implements one such normalization, or one thing Grafana does to an object before
the read gives it back ("what Grafana keeps"), citing the source it follows. The tests apply them to
every registration of every committed stack's render (the session's `rendered`, no render of its
own) and then to hand-made inputs that do show a change, so each check is seen to fail.

Version. requirements.txt pins pulumiverse-grafana 2.44.0, and the package names no upstream tag (its
pulumi-plugin.json says 2.44.0 only). pulumiverse releases a minor per upstream upgrade since 2.0.0
bridged terraform-provider-grafana v4.0.1 (pulumiverse/pulumi-grafana#323), so 2.44.0 bridges a later
v4 release of 2026 whose exact tag could not be read offline. The source read is the stored copy of
each upstream file, its commit cited: a v4 copy where one is stored (dashboard, team, permissions), the
latest v3 copy for the alerting files (their v4 copies are not stored); what v4 changed is said where
it is known (message templates). docs/grafana-semantics.md, "Provider normalization: what the state
holds". Only the e2e workflow's `pulumi preview --expect-no-changes` proves it against a real Grafana.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from components.notification_templates import KEEP_AS_WRITTEN, as_grafana_keeps_it
from components.types import ResourceType as T
from estate import notifications as nt
from estate.model import duration_ms
from estate.stack import EmailIntegration
from tests.conftest import STACKS
from tools.mocks import Run


@pytest.fixture(scope="module")
def runs(rendered) -> dict[str, Run]:
    """Every committed stack's run: the session's renders (tests/conftest.py `rendered`), shared."""
    return {stack: rendered(stack) for stack in STACKS}


# ---------------------------------------------------------------------------------------------------
# Go's encoding/json: what every JSON-valued StateFunc ends with (json.Unmarshal into interface{},
# then json.Marshal). Go 1.24 (pulumi-grafana's provider/go.mod toolchain), encoding/json encode.go:
# map keys sorted bytewise (UTF-8 order is code point order), no spaces, numbers decoded to float64
# and written as ES6 writes them (floatEncoder: 'f' between 1e-6 and 1e21, else 'e' with "e-09"
# cleaned to "e-9"), strings with <, >, &, U+2028 and U+2029 escaped (HTMLEscape), \b \f \n \r \t
# as such, other control characters as \u00XX, and every other character as UTF-8 (no \u escape).

_GO_CONTROL = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
_GO_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_unmarshal(text: str):
    """json.Unmarshal into interface{}: every number a float64; NaN and infinities are no JSON to Go."""
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON (Go's decoder refuses it)")
    return json.loads(text, parse_int=float, parse_float=float, parse_constant=refuse)


def _go_number(x: float) -> str:
    if x == 0:
        return "-0" if str(x).startswith("-") else "0"
    exact = Decimal(repr(x))  # the shortest digits that round-trip, as strconv's -1 precision
    if 1e-6 <= abs(x) < 1e21:
        text = format(exact, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, digits, exponent = exact.normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    power = exponent + len(mantissa) - 1
    text = (f"{'-' if sign else ''}{mantissa[0]}{'.' + mantissa[1:] if len(mantissa) > 1 else ''}"
            f"e{'+' if power >= 0 else '-'}{abs(power):02d}")
    return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text  # "e-09" -> "e-9"


def _go_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _GO_CONTROL:
            out.append(_GO_CONTROL[ch])
        elif ch in _GO_HTML:
            out.append(_GO_HTML[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def go_marshal(value) -> str:
    """json.Marshal of what go_unmarshal gives."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_number(float(value))
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(go_marshal(v) for v in value) + "]"
    return "{" + ",".join(f"{_go_string(k)}:{go_marshal(value[k])}" for k in sorted(value)) + "}"


def normalize_json_string(text: str) -> str:
    """terraform-plugin-sdk helper/structure NormalizeJsonString: "" stays "", else Unmarshal + Marshal."""
    return "" if text == "" else go_marshal(go_unmarshal(text))


@pytest.mark.parametrize("sent, state", [
    pytest.param('{"a":1,"b":[true,null,"x"]}', '{"a":1,"b":[true,null,"x"]}', id="compact-sorted-is-kept"),
    pytest.param('{"b": 1, "a": 2}', '{"a":2,"b":1}', id="keys-sorted-spaces-dropped"),
    pytest.param('{"expr": "a < b && c > d"}', '{"expr":"a \\u003c b \\u0026\\u0026 c \\u003e d"}', id="html-escaped"),
    pytest.param('{"v": 1.0, "w": 1000}', '{"v":1,"w":1000}', id="float64-integral-without-point"),
    pytest.param('{"v": 1e-07, "w": 1e+21, "x": 0.000001, "y": 1e20}',
                 '{"v":1e-7,"w":1e+21,"x":0.000001,"y":100000000000000000000}', id="es6-number-cutoffs"),
    pytest.param('{"s": "\\u00e9\\u2028\\u001b\\n"}', '{"s":"\u00e9\\u2028\\u001b\\n"}', id="utf8-kept-separators-escaped"),
])
def test_gos_json_writes_what_the_state_holds_and_only_its_own_output_is_a_fixed_point(sent, state):
    assert normalize_json_string(sent) == state
    assert normalize_json_string(state) == state  # idempotent: the state normalizes to itself
    assert (normalize_json_string(sent) == sent) is (sent == state)


def test_go_refuses_nan_so_no_state_can_hold_it():
    with pytest.raises(ValueError, match="NaN is not JSON"):
        go_unmarshal('{"v": NaN}')


def go_trim_space(text: str) -> str:
    """Go's strings.TrimSpace: unicode.IsSpace at both ends (\\t \\n \\v \\f \\r space U+0085 U+00A0 and Zs,
    Zl, Zp; not Python's extra \\x1c-\\x1f)."""
    def space(ch: str) -> bool:
        return ch in "\t\n\v\f\r \x85\xa0" or (ch.isspace() and ch not in "\x1c\x1d\x1e\x1f")
    start, end = 0, len(text)
    while start < end and space(text[start]):
        start += 1
    while end > start and space(text[end - 1]):
        end -= 1
    return text[start:end]


# ---------------------------------------------------------------------------------------------------
# Dashboards: grafana_dashboard (terraform-provider-grafana internal/resources/grafana/resource_dashboard.go,
# v4, commit d5885e4d). config_json has StateFunc NormalizeDashboardConfigJSON; ReadDashboard stores
# NormalizeDashboardConfigJSON of what Grafana returns, without `uid` when the program's JSON has none;
# CustomizeDiff replaces the dashboard when the uid in config_json changes. `folder`'s DiffSuppressFunc
# compares the folder uids (org prefix dropped); the read stores Grafana's meta.folderUid.

def normalize_dashboard_config_json(text: str) -> str:
    """NormalizeDashboardConfigJSON: drop id and version, each top-level panel's id and every
    libraryPanel key but name and uid; Go's JSON. A text that is no JSON object comes back as it is."""
    try:
        board = go_unmarshal(text)
    except ValueError:
        return text
    if not isinstance(board, dict):
        return text
    board.pop("id", None)
    board.pop("version", None)
    if isinstance(board.get("panels"), list):
        for panel in board["panels"]:
            panel.pop("id", None)  # Go asserts panel.(map[string]any): a panel that is no object panics
            if isinstance(panel.get("libraryPanel"), dict):
                panel["libraryPanel"] = {k: v for k, v in panel["libraryPanel"].items() if k in ("name", "uid")}
    return go_marshal(board)


def read_dashboard(sent: str, *, grafana_id: int = 7, version: int = 3) -> str:
    """What the next read stores for a dashboard saved from `sent`: Grafana keeps the JSON (makeDashboard
    drops `id`) with its own id and version, and the title trimmed (the dashboard service's
    strings.TrimSpace, docs/grafana-semantics.md "Names"); ReadDashboard drops the uid the config lacks."""
    kept = go_unmarshal(sent)
    kept.pop("id", None)
    kept.update(id=float(grafana_id), version=float(version))
    if isinstance(kept.get("title"), str):
        kept["title"] = go_trim_space(kept["title"])
    remote = go_unmarshal(go_marshal(kept))
    if not isinstance(go_unmarshal(sent).get("uid"), str):
        remote.pop("uid", None)
    return normalize_dashboard_config_json(go_marshal(remote))


@pytest.mark.parametrize("stack", STACKS)
def test_a_dashboard_reads_back_as_the_state_its_json_normalizes_to(runs, stack):
    boards = runs[stack].of_type(T.DASHBOARD)
    problems = []
    for board in boards:
        sent = board.inputs["configJson"]
        model = json.loads(sent)
        if model.get("uid") != board.name:  # a uid Grafana generates would be dropped; a changed one replaces
            problems.append(f"{board.name}: config_json's uid is {model.get('uid')!r}")
        if not all(isinstance(p, dict) for p in model.get("panels", [])):
            problems.append(f"{board.name}: a top-level panel is no object (the StateFunc panics on it)")
        elif normalize_dashboard_config_json(sent) != read_dashboard(sent):
            problems.append(f"{board.name}: the read's state differs from the StateFunc of what is sent")
        state = normalize_dashboard_config_json(sent)
        if normalize_dashboard_config_json(state) != state:
            problems.append(f"{board.name}: the StateFunc is no fixed point of itself")
    assert len(boards) == 8
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_dashboard_names_its_folder_by_the_uid_the_read_stores(runs, stack):
    folders = {f.inputs["uid"] for f in runs[stack].of_type(T.FOLDER)}
    assert {b.inputs["folder"] for b in runs[stack].of_type(T.DASHBOARD)} <= folders


def test_the_dashboard_state_drops_ids_and_versions_but_keeps_what_grafana_rewrites():
    sent = '{"uid": "u", "id": 4, "version": 9, "title": "Latency", "panels": [{"id": 2, "type": "stat"}]}'
    assert normalize_dashboard_config_json(sent) == '{"panels":[{"type":"stat"}],"title":"Latency","uid":"u"}'
    assert read_dashboard(sent) == normalize_dashboard_config_json(sent)
    padded = '{"uid": "u", "title": " Latency "}'  # Grafana trims the title: a change at every preview
    assert read_dashboard(padded) == '{"title":"Latency","uid":"u"}' != normalize_dashboard_config_json(padded)


# ---------------------------------------------------------------------------------------------------
# Rule groups: grafana_rule_group (resource_alerting_rule_group.go, v3 copy at commit c7c6a1fe, the
# latest stored; its v4 release adds keep_firing_for and missing_series_evals_to_resolve, whose read
# the index does not hold). data[].model has StateFunc normalizeModelJSON, and packRuleData stores
# normalizeModelJSON(json.Marshal(Grafana's model)); Grafana fills maxDataPoints 43200 and intervalMs
# 1000 into a model that lacks them (grafana/grafana pkg/services/ngalert/models/alert_query.go,
# setMaxDatapoints/setIntervalMS, as the provider's comment cites). `for`: Default 0, DiffSuppressFunc
# equal when strfmt.ParseDuration of both is equal (errors count as 0); packAlertRule stores
# r.For.String(), Go's time.Duration text ("1m0s").

def normalize_model_json(text: str) -> str:
    """normalizeModelJSON: drop maxDataPoints == 43200 and intervalMs == 1000 (as float64), Go's JSON;
    a text that is no JSON object comes back as it is."""
    try:
        model = go_unmarshal(text)
    except ValueError:
        return text
    if not isinstance(model, dict):
        return text
    for key, default in (("maxDataPoints", 43200.0), ("intervalMs", 1000.0)):
        if isinstance(model.get(key), float) and model[key] == default:
            del model[key]
    return go_marshal(model)


def grafana_keeps_query(sent: str) -> str:
    """The model Grafana keeps for a query step, as the read marshals it: the defaults it fills."""
    model = go_unmarshal(sent)
    model.setdefault("maxDataPoints", 43200.0)
    model.setdefault("intervalMs", 1000.0)
    return go_marshal(model)


def read_query_model(sent: str) -> str:
    """What the read stores for a query step (packRuleData): normalizeModelJSON of what Grafana keeps."""
    return normalize_model_json(grafana_keeps_query(sent))


_GO_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_STRFMT_UNITS = (("ns", "nano"), ("us", "\u00b5s", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
                 ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"))
_STRFMT_SCALE = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
                 "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def go_parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (ValueError where Go errs)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"time: invalid duration {text!r}")
    total, at = Decimal(0), 0
    while at < len(body):
        m = _GO_DURATION.match(body, at)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {text!r}")
        total += Decimal(m.group(1)) * _GO_UNITS[m.group(2)]
        at = m.end()
    return int(-total if text.startswith("-") else total)


def strfmt_parse_duration(text: str) -> int:
    """go-openapi/strfmt duration.go ParseDuration: time.ParseDuration, else every `<n><unit>` found,
    a unit matching a variant exactly or the last variant as a prefix (ValueError when none does)."""
    try:
        return go_parse_duration(text)
    except ValueError:
        pass
    total, found = 0, False
    for m in re.finditer(r"(([0-9]+)\s*([A-Za-z\u00b5]+))", text):
        factor, unit = int(m.group(2)), m.group(3).strip().lower()
        for variants in _STRFMT_UNITS:
            for i, variant in enumerate(variants):
                if (i == len(variants) - 1 and unit.startswith(variant)) or variant.lower() == unit:
                    found, total = True, total + factor * _STRFMT_SCALE[variants[0]]
    if not found:
        raise ValueError(f"unable to parse {text} as duration")
    return total


def go_duration_string(ns: int) -> str:
    """Go's time.Duration.String (whole and fractional seconds; under a second in ms, µs, ns)."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 10**9:
        for unit, scale in (("ms", 10**6), ("\u00b5s", 10**3), ("ns", 1)):
            if u >= scale:
                whole, frac = divmod(u, scale)
                digits = f"{frac:0{len(str(scale)) - 1}d}".rstrip("0") if scale > 1 else ""
                return f"{sign}{whole}{'.' + digits if digits else ''}{unit}"
    seconds, frac = divmod(u, 10**9)
    text = f"{seconds % 60}{'.' + f'{frac:09d}'.rstrip('0') if frac else ''}s"
    if seconds >= 60:
        text = f"{seconds // 60 % 60}m" + text
    if seconds >= 3600:
        text = f"{seconds // 3600}h" + text
    return sign + text


def for_diff_suppressed(state: str, sent: str) -> bool:
    """The `for` DiffSuppressFunc: strfmt.ParseDuration of each, an error counting as 0."""
    def parsed(text: str) -> int:
        try:
            return strfmt_parse_duration(text)
        except ValueError:
            return 0
    return parsed(state) == parsed(sent)


@pytest.mark.parametrize("stack", STACKS)
def test_every_query_model_reads_back_as_the_state_of_what_the_program_sends(runs, stack):
    problems, steps = [], 0
    for group in runs[stack].of_type(T.RULE_GROUP):
        for rule in group.inputs["rules"]:
            for step in rule["datas"]:
                steps += 1
                if normalize_model_json(step["model"]) != read_query_model(step["model"]):
                    problems.append(f"{group.name}/{rule['name']}/{step['refId']}: {step['model']}")
    assert steps == 3 * sum(len(g.inputs["rules"]) for g in runs[stack].of_type(T.RULE_GROUP)) > 0
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_rules_for_means_to_the_provider_what_promtool_tested_and_grafanas_answer_is_suppressed(runs, stack):
    problems = []
    assert sum(len(g.inputs["rules"]) for g in runs[stack].of_type(T.RULE_GROUP)) > 0
    for group in runs[stack].of_type(T.RULE_GROUP):
        for rule in group.inputs["rules"]:
            sent = rule["for"]
            try:
                meant = strfmt_parse_duration(sent)
            except ValueError as e:  # unpackAlertRule returns the error: `pulumi up` fails
                problems.append(f"{group.name}/{rule['name']}: {e}")
                continue
            if meant != duration_ms(sent) * 10**6:
                problems.append(f"{group.name}/{rule['name']}: the provider reads {sent!r} as {meant} ns")
            elif not for_diff_suppressed(go_duration_string(meant), sent):
                problems.append(f"{group.name}/{rule['name']}: {go_duration_string(meant)!r} vs {sent!r} shows")
    assert problems == []


@pytest.mark.parametrize("state, sent, suppressed", [
    pytest.param("1m0s", "1m", True, id="grafanas-1m0s-for-1m"),
    pytest.param("1h30m0s", "90m", True, id="same-duration-other-text"),
    pytest.param("36h0m0s", "1d12h", True, id="days-read-by-strfmts-fallback"),
    pytest.param("0s", "0", True, id="zero"),
    pytest.param("10m0s", "5m", False, id="a-real-change-shows"),
])
def test_the_for_suppression_covers_grafanas_rewording_and_nothing_else(state, sent, suppressed):
    assert for_diff_suppressed(state, sent) is suppressed


@pytest.mark.parametrize("where", ["team", "stack"])
def test_a_for_in_years_which_the_provider_cannot_read_is_refused_by_the_loader(where):
    """A year is a Prometheus duration promtool takes, but strfmt refuses it: such a `for` would fail `pulumi up`."""
    from pydantic import ValidationError

    from estate.stack import RuleOverride
    from estate.team import AlertRule

    with pytest.raises(ValueError, match="unable to parse 1y"):
        strfmt_parse_duration("1y")
    with pytest.raises(ValidationError, match=r"not years; write days instead \(1y is 365d\)"):
        if where == "stack":
            RuleOverride.model_validate({"for": "1y"})
        else:
            AlertRule.model_validate({"alert": "A", "expr": "up == 0", "for": "1y", "severity": "critical",
                                      "summary": "s", "description": "d"})
    assert strfmt_parse_duration("365d") == duration_ms("365d") * 10**6  # what the message says to write


@pytest.mark.parametrize("ns, text", [(0, "0s"), (60 * 10**9, "1m0s"), (5400 * 10**9, "1h30m0s"),
                                      (1500 * 10**6, "1.5s"), (500 * 10**6, "500ms")],
                         ids=["zero", "minute", "hour-and-a-half", "fraction", "milliseconds"])
def test_gos_duration_text_is_what_the_rule_read_stores(ns, text):
    assert go_duration_string(ns) == text
    assert go_parse_duration(text) == ns


def test_without_the_statefunc_the_expression_steps_would_show_grafanas_defaults_at_every_preview():
    step_b = '{"datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "$A > 0", "refId": "B", "type": "math"}'
    assert grafana_keeps_query(step_b) == ('{"datasource":{"type":"__expr__","uid":"__expr__"},"expression":"$A \\u003e 0",'
                                           '"intervalMs":1000,"maxDataPoints":43200,"refId":"B","type":"math"}')
    # terraform-provider-grafana #948: the diff a plain JSON comparison showed; #949: normalizeModelJSON
    assert grafana_keeps_query(step_b) != normalize_json_string(step_b)
    assert read_query_model(step_b) == normalize_model_json(step_b)
    kept = '{"refId": "A", "maxDataPoints": 100}'  # a value of one's own is kept on both sides
    assert read_query_model(kept) == normalize_model_json(kept) == '{"maxDataPoints":100,"refId":"A"}'
    assert normalize_model_json('{"b": 1, "a": "x<y"}') == '{"a":"x\\u003cy","b":1}' != '{"b": 1, "a": "x<y"}'


# ---------------------------------------------------------------------------------------------------
# The notification policy: grafana_notification_policy (resource_alerting_notification_policy.go, copy
# at commit 61bab8db): no StateFunc, no DiffSuppressFunc on group_wait / group_interval /
# repeat_interval; packNotifPolicy stores the text Grafana returns, and Grafana holds them as
# prometheus/common model.Duration (grafana/alerting definition Route: `GroupWait *model.Duration`),
# written back by model.Duration.String: "60s" comes back "1m", "90m" comes back "1h30m".

_PROM_DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")
_PROM_UNITS = (("y", 365 * 86400000), ("w", 7 * 86400000), ("d", 86400000), ("h", 3600000), ("m", 60000),
               ("s", 1000), ("ms", 1))


def prom_parse_duration(text: str) -> int:
    """prometheus/common model.ParseDuration, in milliseconds."""
    if text == "0":
        return 0
    m = _PROM_DURATION.match(text)
    if not text or not m:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(m.group(2 * i + 2) or 0) * mult for i, (_, mult) in enumerate(_PROM_UNITS))


def prom_duration_string(ms: int) -> str:
    """model.Duration.String: years and weeks only when exact, then d h m s ms."""
    if ms == 0:
        return "0s"
    text = ""
    for unit, mult in _PROM_UNITS:
        if unit in ("y", "w") and ms % mult:
            continue
        if ms // mult:
            text += f"{ms // mult}{unit}"
            ms -= ms // mult * mult
    return text


def _routes(policy: dict):
    yield policy
    for child in policy.get("policies") or []:
        yield from _routes(child)


@pytest.mark.parametrize("stack", STACKS)
def test_the_policy_trees_timings_come_back_in_the_words_they_were_sent(runs, stack):
    tree = runs[stack].one(T.NOTIFICATION_POLICY, "notification-policy").inputs
    timings = [(key, route[key]) for route in _routes(tree)
               for key in ("groupWait", "groupInterval", "repeatInterval") if key in route]
    assert len(timings) >= 3
    assert [(k, v) for k, v in timings if prom_duration_string(prom_parse_duration(v)) != v] == []


@pytest.mark.parametrize("sent, kept", [("30s", "30s"), ("5m", "5m"), ("1h30m", "1h30m"), ("60s", "1m"),
                                        ("90m", "1h30m"), ("168h", "1w"), ("0", "0s")],
                         ids=["seconds", "minutes", "mixed", "60s-reads-1m", "90m-reads-1h30m", "week", "bare-zero"])
def test_grafana_writes_policy_timings_as_prometheus_does(sent, kept):
    assert prom_duration_string(prom_parse_duration(sent)) == kept


# ---------------------------------------------------------------------------------------------------
# Mute timings: grafana_mute_timing (resource_alerting_mute_timing.go, copy at commit 13d088ac):
# packIntervals stores Grafana's strings as they come, with a DiffSuppressFunc on `months` only.
# Grafana holds each interval as Alertmanager's timeinterval types and writes them back with their
# MarshalText/MarshalJSON (prometheus/alertmanager timeinterval/timeinterval.go): a weekday range
# lower-cased ("Saturday" -> "saturday") and one day once ("monday:monday" -> "monday"), a time
# "%02d:%02d", a location as time.Location.String (the name it was loaded by).

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_TIME = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")


def weekday_range_text(text: str) -> str:
    """WeekdayRange: UnmarshalYAML (stringableRangeFromString lower-cases) then MarshalText."""
    parts = text.lower().split(":")
    if len(parts) > 2 or any(p not in _WEEKDAYS for p in parts):
        raise ValueError(f"{text!r} is not a weekday range")
    begin, end = _WEEKDAYS.index(parts[0]), _WEEKDAYS.index(parts[-1])
    if begin > end:
        raise ValueError("start day cannot be before end day")
    return _WEEKDAYS[begin] if begin == end else f"{_WEEKDAYS[begin]}:{_WEEKDAYS[end]}"


def time_text(text: str) -> str:
    """TimeRange's parseTime then MarshalJSON's "%02d:%02d"."""
    if not _TIME.match(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = map(int, text.split(":"))
    return f"{hours:02d}:{minutes:02d}"


def test_every_mute_timing_comes_back_in_the_words_it_was_sent(runs):
    intervals = [(stack, t.name, i) for stack in STACKS for t in runs[stack].of_type(T.MUTE_TIMING)
                 for i in t.inputs["intervals"]]
    changed = [(stack, name, interval) for stack, name, interval in intervals
               if [weekday_range_text(d) for d in interval.get("weekdays", [])] != interval.get("weekdays", [])
               or [{"start": time_text(r["start"]), "end": time_text(r["end"])} for r in interval.get("times", [])]
               != interval.get("times", [])]
    assert {name for _, name, _ in intervals} == {"nights", "weekends"}  # dev's: the only stack with some
    assert changed == []


@pytest.mark.parametrize("sent, kept", [("saturday", "saturday"), ("monday:friday", "monday:friday"),
                                        ("Saturday", "saturday"), ("monday:monday", "monday")],
                         ids=["day", "range", "capitalised-reads-lower", "one-day-range-reads-one-day"])
def test_alertmanager_writes_weekdays_back_lower_cased_and_collapsed(sent, kept):
    assert weekday_range_text(sent) == kept


def test_alertmanager_refuses_an_unpadded_hour_rather_than_rewriting_it():
    assert time_text("24:00") == "24:00"
    with pytest.raises(ValueError, match="invalid format"):
        time_text("8:00")


# ---------------------------------------------------------------------------------------------------
# Message templates: grafana_message_template (resource_alerting_message_template.go: in v3, commit
# d462b839, `template` has StateFunc strings.TrimSpace and readMessageTemplate stores Grafana's text;
# in v4 the resource is Plugin Framework with a semantic equality on TrimSpace,
# resource_alerting_message_template_value.go, commit aca40c35). Either way the state equals the
# program's text, trimmed, only if Grafana keeps the trimmed text: NotificationTemplate.Validate
# (grafana/grafana pkg/services/ngalert/api/tooling/definitions/provisioning_templates.go; Grafana 12:
# TemplateGroup.Validate) trims it and, when `\{\{\s*define` (RE2: \s is [\t\n\f\r ]) finds nothing,
# wraps it whole in a define named after the group.

def grafana_keeps_template(name: str, text: str) -> str:
    content = go_trim_space(text)
    if not re.search(r"\{\{[\t\n\f\r ]*define", content):
        content = f'{{{{ define "{name}" }}}}\n' + "\n".join("  " + line for line in content.split("\n")) + "\n{{ end }}"
    return content


@pytest.mark.parametrize("stack", STACKS)
def test_every_template_group_is_kept_by_grafana_as_the_state_compares_it(runs, stack):
    groups = runs[stack].of_type(T.MESSAGE_TEMPLATE)
    assert sorted(g.name for g in groups) == ["platform", "team-chatbot-sav"]
    assert [g.name for g in groups if grafana_keeps_template(g.inputs["name"], g.inputs["template"])
            != go_trim_space(g.inputs["template"])] == []


def test_a_group_written_with_trim_markers_only_is_wrapped_by_grafana_and_then_refused():
    """teams/chatbot-sav/notifications.tmpl as written: no `{{ define` (every define is `{{- define`)."""
    text = (nt.PROJECT_ROOT / "teams" / "chatbot-sav" / "notifications.tmpl").read_text(encoding="utf-8")
    wrapped = grafana_keeps_template("team-chatbot-sav", text)
    assert wrapped.startswith('{{ define "team-chatbot-sav" }}\n  {{- /* Chatbot SAV') and wrapped != go_trim_space(text)
    with pytest.raises(nt.TemplateError, match=r"\{\{define\}\} inside the \{\{define\}\}"):
        nt.parse(wrapped)  # Go's parser refuses a define inside a define: Grafana answers 400


def test_the_program_keeps_such_a_group_as_written_with_a_comment_that_renders_nothing():
    text = (nt.PROJECT_ROOT / "teams" / "chatbot-sav" / "notifications.tmpl").read_text(encoding="utf-8")
    sent = as_grafana_keeps_it(text)
    assert sent == KEEP_AS_WRITTEN + go_trim_space(text)  # trimmed as Grafana stores it
    assert grafana_keeps_template("team-chatbot-sav", sent) == go_trim_space(sent)
    assert nt.parse(sent).defines == [(name, line + 1) for name, line in nt.parse(text).defines]
    assert as_grafana_keeps_it('{{ define "x" }}x{{ end }}\n') == '{{ define "x" }}x{{ end }}'  # others only trimmed


def test_a_template_group_is_sent_trimmed_as_go_trims_it():
    """What Grafana stores (Validate's strings.TrimSpace), so no plan differs from the state it reads back."""
    for text in ('\n\u3000{{ define "x" }}x{{ end }}\xa0\n', '\x1c{{ define "x" }}x{{ end }}\x1f'):
        assert as_grafana_keeps_it(text) == go_trim_space(text)


def test_a_templates_surrounding_whitespace_is_in_no_state():
    assert grafana_keeps_template("g", '\n{{ define "x" }}x{{ end }}\n') == '{{ define "x" }}x{{ end }}'
    assert go_trim_space("\x1c{{ define }}") == "\x1c{{ define }}"  # Go's TrimSpace is not Python's strip


# ---------------------------------------------------------------------------------------------------
# Data sources: grafana_data_source (resource_data_source.go, copy at commit 8953b0f5): json_data_encoded
# has StateFunc NormalizeJsonString and a DiffSuppressFunc comparing JSON by value
# (common.SuppressEquivalentJSONDiffs); datasourceConfigToState stores json.Marshal of Grafana's
# jsonData less every httpHeaderName* key and teamHttpHeaders (removeHeadersFromJSONData). is_default
# suppresses true -> false; access_mode defaults to proxy, basic_auth_enabled / is_default to false.

def read_json_data(sent: str) -> str:
    kept = go_unmarshal(sent) if sent else {}
    return go_marshal({k: v for k, v in kept.items() if not k.startswith("httpHeaderName") and k != "teamHttpHeaders"})


@pytest.mark.parametrize("stack", STACKS)
def test_a_datasources_json_data_reads_back_as_its_state(runs, stack):
    sources = runs[stack].of_type(T.DATASOURCE)
    assert sources
    assert [s.name for s in sources if not isinstance(go_unmarshal(s.inputs["jsonDataEncoded"]), dict)
            or normalize_json_string(s.inputs["jsonDataEncoded"]) != read_json_data(s.inputs["jsonDataEncoded"])] == []
    assert all(s.inputs["accessMode"] == "proxy" and isinstance(s.inputs["isDefault"], bool) for s in sources)


def test_json_data_the_read_strips_would_show_at_every_preview():
    sent = '{"httpMethod": "POST", "teamHttpHeaders": {"1": []}}'
    assert read_json_data(sent) == '{"httpMethod":"POST"}' != normalize_json_string(sent)


# ---------------------------------------------------------------------------------------------------
# Folders and folder permissions: grafana_folder (resource_folder.go, copy at commit 1fa1f06e) stores
# Grafana's title, which Grafana trims; grafana_folder_permission (common_resource_permission_sdk2.go,
# v4, commit 54fbd10d): `permissions` is a set hashed on role + team id + user id + permission (org
# prefixes dropped), team_id / user_id default "0", and readPermissions stores Grafana's managed,
# not inherited, permissions: one per role, team or user (Grafana sets one permission per principal).

@pytest.mark.parametrize("stack", STACKS)
def test_folder_titles_and_permissions_read_back_as_sent(runs, stack):
    folders = runs[stack].of_type(T.FOLDER)
    assert [f.inputs["title"] for f in folders if go_trim_space(f.inputs["title"]) != f.inputs["title"]] == []
    problems = []
    for grant in runs[stack].of_type(T.FOLDER_PERMISSION):
        principals = [(p.get("role", ""), p.get("teamId", "0"), p.get("userId", "0")) for p in grant.inputs["permissions"]]
        if len(set(principals)) != len(principals):
            problems.append(f"{grant.name}: two permissions for one principal; Grafana keeps one")
        if any(sum((bool(r), t != "0", u != "0")) != 1 for r, t, u in principals):
            problems.append(f"{grant.name}: a permission names no principal or several")
        if any(p.get("role", "Viewer") not in ("Viewer", "Editor", "Admin") or p["permission"] not in ("View", "Edit", "Admin")
               for p in grant.inputs["permissions"]):
            problems.append(f"{grant.name}: a role or permission Grafana spells otherwise")
    assert len(folders) == 5
    assert problems == []


# ---------------------------------------------------------------------------------------------------
# Contact points: grafana_contact_point (resource_alerting_contact_point.go, commit 77b24b7e, and
# _notifiers.go, commit ec804f3d): each integration is a set element with `settings` Default {} and
# disable_resolve_message Default false; unpackPointConfig drops every "" setting; the e-mail notifier
# sends addresses joined with ';' and reads them back split on ',', ';' and '\n' (packAddrs). The
# render masks each integration list whole, so the committed stacks show nothing here; the loader
# refuses the one address the provider would read back otherwise (estate/stack.py, _addresses).

def read_addresses(sent: list[str]) -> list[str]:
    joined = ";".join(sent)
    return [a for a in re.split(r"[,;\n]", joined) if a]


@pytest.mark.parametrize("sent, kept", [(["a@x.com"], ["a@x.com"]), (["a@x.com", "b@x.com"], ["a@x.com", "b@x.com"]),
                                        (["a@x.com,b@x.com"], ["a@x.com", "b@x.com"])],
                         ids=["one", "two", "a-comma-reads-as-two"])
def test_the_provider_reads_addresses_back_split_on_commas_too(sent, kept):
    assert read_addresses(sent) == kept


def test_the_loader_refuses_the_address_the_provider_would_read_back_as_two():
    with pytest.raises(ValueError, match="no ',' in one"):
        EmailIntegration(addresses="a,b@acme-corp.com")
