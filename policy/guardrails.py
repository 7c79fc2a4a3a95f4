"""The guardrail checks of the grafana-platform policy pack, as plain functions.

Each resource check is `check(args, report_violation)`, reading only `args.resource_type`,
`args.props` (the resource's inputs, camelCase as the engine names them) and `args.urn`; the stack
check reads `args.resources` (each with `resource_type`, `props`, `urn`, `name`). That is what
pulumi_policy passes, and what the unit tests build by hand.

Any input may arrive in any shape (a map where a string belongs, a list as a uid, an unknown, a
secret): a check reads inputs only through `at` and `children` (below), which never raise, and
decides for itself what a shape it cannot judge means. An exception escaping a check is not a
violation: Pulumi shows the pack as crashed.

Secrets: the engine hands policies the plaintext of secret inputs, unmarked (pulumi/pulumi-policy#163,
#241); this pack checks them like any value and never quotes a value in a violation message, only
names (of rules, groups, contact points, datasources, folders), uids and example domains, each cut to
QUOTE_LIMIT characters. Where a secret arrives masked instead (the string "[secret]", or a
pulumi_policy `Secret` wrapper when secrets are proxied), it is not visible and only the non-secret
fields can be checked.
"""
from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError
from pulumi_policy.secret import Secret

ReportViolation = Callable[..., None]

DASHBOARD = "grafana:oss/dashboard:Dashboard"
DATASOURCE = "grafana:oss/dataSource:DataSource"
FOLDER = "grafana:oss/folder:Folder"
FOLDER_PERMISSION = "grafana:oss/folderPermission:FolderPermission"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
GRAFANA_PROVIDER = "pulumi:providers:grafana"
K8S_SECRET = "kubernetes:core/v1:Secret"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

PROD_STACKS = frozenset({"prod"})
REQUIRED_LABELS = ("severity", "team")
REQUIRED_ANNOTATIONS = ("summary", "runbook_url")
# RFC 2606 / RFC 6761 names reserved for documentation: never a real inbox or webhook.
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
EXAMPLE_TLD = "example"
MASKED = "[secret]"
_HOST = re.compile(r"(?i)(?<![a-z0-9-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z0-9]\.?(?![a-z0-9-])")

# Bounds of what a violation shows: a name or domain is cut to QUOTE_LIMIT characters, a property
# path to PATH_LIMIT; a check reports at most MAX_REPORTS violations, then one saying how many more.
# A walk through nested inputs stops at MAX_DEPTH levels (Grafana's deepest input, a contact point's
# integration settings, is 3 deep; the engine's own proxies recurse once per level).
QUOTE_LIMIT = 80
PATH_LIMIT = 80
MAX_REPORTS = 20
MAX_DEPTH = 32


# ------------------------------------------------------------------------ reading inputs of any shape
# What reaches a check, read in pulumi_policy 1.21.0 (policy.py, `Analyze` and `AnalyzeStack`):
# - `props` is the engine's inputs through `deserialize_properties` without `proxy_secrets`, so a
#   secret arrives as its plaintext (see the module docstring), then `unknown_checking_proxy`:
#   read-only Mapping and Sequence proxies (no dict, no list) whose item access raises
#   UnknownValueError where the engine sent an unknown sentinel (pulumi/pulumi-policy#218). A value
#   holding an unknown anywhere is often unknown whole at preview (pulumi/pulumi#7854): a rule group's
#   `rules`, a contact point's integration list.
# - The SDK turns an UnknownValueError escaping a check into an advisory "can't run policy during
#   preview" and skips the check, for a stack check on every resource; any other exception crashes.
# - "[secret]" is how this project's renders record a secret (tools/mocks.py), and a `Secret` wrapper
#   is what the SDK hands remediations (`proxy_secrets=True`).
# So `at` reads one value, `children` the items of one, and both answer UNKNOWN or SECRET for a value
# no check can judge: an unknown passes (policies run again during `pulumi up`, just before each
# resource is created or updated, so with its real inputs: pulumi/pulumi-policy README), and what a
# secret means is each check's decision (it says why).

class _Unreadable:
    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind


UNKNOWN = _Unreadable("an unknown value")  # not known before the update (a preview)
SECRET = _Unreadable("a secret")  # masked: the policy cannot read it
_UNKNOWNS = frozenset({proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE, proxy.UNKNOWN_STRING_VALUE,
                       proxy.UNKNOWN_ARRAY_VALUE, proxy.UNKNOWN_ASSET_VALUE, proxy.UNKNOWN_ARCHIVE_VALUE,
                       proxy.UNKNOWN_OBJECT_VALUE})


def _readable(value: Any) -> Any:
    """`value`, or UNKNOWN for an unknown sentinel the engine sent unproxied, or SECRET for a mask."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWNS else SECRET if value == MASKED else value
    return SECRET if isinstance(value, Secret) else value


def is_list(value: Any) -> bool:
    """A list input (a list, or the engine's proxy of one); a string is no list of characters here."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def at(value: Any, *path: Any) -> Any:
    """`value[path[0]][path[1]]...` whatever the shapes, never raising: UNKNOWN or SECRET where the
    walk meets one, None where a step does not exist (no such key or index, or a value with no items).
    The one place that catches what reading an input can raise."""
    value = _readable(value)
    for step in path:
        if isinstance(value, _Unreadable):
            return value
        if not (isinstance(value, Mapping) or (is_list(value) and isinstance(step, int))):
            return None
        try:
            value = _readable(value[step])
        except UnknownValueError:  # the engine's proxy, on an unknown
            return UNKNOWN
        except (LookupError, TypeError):  # no such key or index; a key a hostile map cannot hash
            return None
    return value


def children(value: Any) -> Iterator[tuple[Any, Any]]:
    """(key or index, item read with `at`) for each item of a map or list; nothing for anything else."""
    value = _readable(value)
    if isinstance(value, Mapping):
        keys: Any = list(value)  # iterating a proxy's keys reads no value, so never meets an unknown
    elif is_list(value):
        keys = range(len(value))
    else:
        return
    for key in keys:
        yield key, at(value, key)


def kind(value: Any) -> str:
    """What a value is, in the engine's words, for a message that must not show the value itself."""
    if isinstance(value, _Unreadable):
        return value.kind
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, Mapping):
        return "a map"
    return "a list" if is_list(value) else f"a {type(value).__name__}"


def short(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` as a message may show it: unprintable characters (newlines, bidi controls) as '?', so it
    cannot forge lines or reorder the message, and cut to `limit` characters with an ellipsis."""
    text = "".join(c if c.isprintable() else "?" for c in text[:limit + 1])
    return text if len(text) <= limit else text[:limit - 1] + "…"


def name_of(value: Any, fallback: str) -> str:
    """A name for a message: `value` shortened when it is a visible string, else `fallback`."""
    return short(value.strip()) if isinstance(value, str) and value.strip() else fallback


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def path_of(parts: tuple) -> str:
    """`emails[0].addresses[1]`, at most PATH_LIMIT characters. A key that is no plain name shows as
    `[?]`: a key is data too (a webhook URL pasted as a settings key), so it is not quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += (("." if text else "") + part) if isinstance(part, str) and _PLAIN_KEY.fullmatch(part) else "[?]"
    return short(text, PATH_LIMIT)


def strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str | None]]:
    """Every visible string inside `value`, as (property path, string); (path, None) where the
    nesting goes on deeper than MAX_DEPTH, which the walk does not follow."""
    value = _readable(value)
    if isinstance(value, str):
        yield path, value
    elif len(path) >= MAX_DEPTH:
        if next(children(value), None) is not None:
            yield path, None
    else:
        for key, item in children(value):
            yield from strings(item, (*path, key))


def report_all(report_violation: ReportViolation, messages: list[str]) -> None:
    """The first MAX_REPORTS messages, then one saying how many were left out."""
    for message in messages[:MAX_REPORTS]:
        report_violation(message)
    if len(messages) > MAX_REPORTS:
        report_violation(f"{len(messages) - MAX_REPORTS} more violations of this policy like those above, not listed")


def stack_of(urn: Any) -> str:
    """`urn:pulumi:prod::grafana-platform::type::name` -> `prod` ("" when there is no urn)."""
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        return ""
    return urn.split("::", 1)[0][len("urn:pulumi:"):]


def is_prod(args: Any) -> bool:
    return stack_of(getattr(args, "urn", None)) in PROD_STACKS


def example_domains(text: str) -> list[str]:
    """The documentation-only domains a string names (hosts of URLs, domains of addresses)."""
    found = []
    for host in _HOST.findall(text):
        domain = host.lower().rstrip(".")
        if (domain in EXAMPLE_DOMAINS or domain.endswith(tuple("." + d for d in EXAMPLE_DOMAINS))
                or domain == EXAMPLE_TLD or domain.endswith("." + EXAMPLE_TLD)):
            found.append(domain)
    return found


def _is_admin(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "admin"


# ------------------------------------------------------------------------------------ resource checks

def dashboard_in_team_folder(args: Any, report_violation: ReportViolation) -> None:
    """A dashboard lives in a team's folder, never in General (no folder).

    The rule asks for something (a team folder), so a `folder` the policy cannot read is a
    violation: a masked secret or any shape but a string names no folder anyone can review. An
    unknown passes: a new folder's uid, read at the update. `configJson` is never read."""
    if args.resource_type != DASHBOARD:
        return
    folder = at(args.props, "folder")
    if folder is UNKNOWN:
        return
    if isinstance(folder, str) and folder.strip() and folder.strip().lower() != "general":
        return
    problem = ("in General" if isinstance(folder, str) and folder.strip()
               else "no folder" if folder is None or isinstance(folder, str)
               else f"`folder` is {kind(folder)}, not a folder uid the policy can read")
    report_violation(f"a dashboard must live in its team's folder ({problem}): set `folder` to the team "
                     "folder's uid (dashboards in General belong to no team and nobody reviews them)")


def alert_rules_labelled(args: Any, report_violation: ReportViolation) -> None:
    """Every alert rule carries the labels routing needs and the annotations on-call needs.

    The rule asks for something, so what hides it is a violation: `rules` that is no list (a
    masked secret too), an item that is no rule, a label or annotation that is a secret or no
    string. Unknowns pass, whether `rules`, one rule or one label. No `rules` at all is no rule."""
    if args.resource_type != RULE_GROUP:
        return
    group = name_of(at(args.props, "name"), "(unnamed)")
    rules = at(args.props, "rules")
    if rules is None or rules is UNKNOWN:
        return
    if not is_list(rules):
        report_violation(f"rule group '{group}': `rules` is {kind(rules)}, not a list of alert rules, so the "
                         "policy cannot check that every alert has severity and team labels and summary and "
                         "runbook_url annotations")
        return
    messages = []
    for index, rule in children(rules):
        if rule is UNKNOWN:
            continue
        name = name_of(at(rule, "name"), f"rules[{index}]")
        if not isinstance(rule, Mapping):
            messages.append(f"alert rule '{name}' in group '{group}' is {kind(rule)}, not an alert rule")
            continue
        missing = []
        for what, field, keys in (("label", "labels", REQUIRED_LABELS),
                                  ("annotation", "annotations", REQUIRED_ANNOTATIONS)):
            for key in keys:
                why = _unfilled(rule, field, key)
                if why is not None:
                    missing.append(f"{what} {key}{why}")
        if missing:
            messages.append(f"alert rule '{name}' in group '{group}' lacks {', '.join(missing)}: every alert needs "
                            "severity and team labels (routing) and summary and runbook_url annotations (on-call)")
    report_all(report_violation, messages)


def _unfilled(rule: Any, field: str, key: str) -> str | None:
    """None when `rule[field][key]` is a filled-in string (or unknown); else "" when it is missing or
    blank, or " (got <kind>)" when it is something the policy cannot take for a label's value."""
    value = at(rule, field, key)
    if value is UNKNOWN or (isinstance(value, str) and value.strip()):
        return None
    return "" if value is None or isinstance(value, str) else f" (got {kind(value)})"


def prod_contact_points_real(args: Any, report_violation: ReportViolation) -> None:
    """In a prod stack no contact point notifies a documentation-only domain.

    The rule forbids something, and the integrations hold the webhooks and keys, so this project
    passes each integration list as a secret (components/contact_points.py): a masked one passes
    (in a real run the engine sends the plaintext, which is checked), as do unknowns and values
    that are no string. Only nesting deeper than MAX_DEPTH, which no Grafana integration has, is a
    violation: the walk does not follow it, so the policy cannot say it is clean."""
    if args.resource_type != CONTACT_POINT or not is_prod(args):
        return
    name = name_of(at(args.props, "name"), "(unnamed)")
    messages = []
    for path, text in strings(args.props):
        if text is None:
            messages.append(f"contact point '{name}': {path_of(path)} nests deeper than {MAX_DEPTH} levels, which "
                            "the policy does not follow, so it cannot check it for example domains")
            continue
        for domain in example_domains(text):
            messages.append(f"contact point '{name}': {path_of(path)} uses the example domain {short(domain)}; "
                            "prod alerts must reach a real inbox, channel or service")
    report_all(report_violation, messages)


def no_admin_admin(args: Any, report_violation: ReportViolation) -> None:
    """Nothing logs in with Grafana's default admin/admin.

    The rule forbids something, and the values it reads are credentials, secret by design: a
    masked, unknown or misshapen value is no admin/admin the policy can see, and passes (in a real
    run the engine sends secrets' plaintext, which is checked)."""
    props = args.props
    if args.resource_type == GRAFANA_PROVIDER:
        auth = at(props, "auth")
        if isinstance(auth, str) and auth.strip().lower() == "admin:admin":
            report_violation("the Grafana provider authenticates as admin:admin; use a service account token "
                             "(pulumi config set --secret grafanaAuth)")
    elif args.resource_type == DATASOURCE:
        password = at(_json(at(props, "secureJsonDataEncoded")), "basicAuthPassword")
        if _is_admin(at(props, "basicAuthUsername")) and _is_admin(password):
            report_violation(f"datasource '{name_of(at(props, 'name'), '(unnamed)')}' uses basic auth admin/admin; "
                             "give it its own user and a secret password")
    elif args.resource_type == K8S_SECRET:
        values = {str(key): value for key, value in children(at(props, "stringData")) if isinstance(value, str)}
        for key, encoded in children(at(props, "data")):
            values.setdefault(str(key), _base64(encoded))
        users = [v for k, v in values.items() if "user" in k.lower()]
        passwords = [v for k, v in values.items() if "password" in k.lower()]
        if any(_is_admin(u) for u in users) and any(_is_admin(p) for p in passwords):
            report_violation("a Kubernetes Secret holds the credentials admin/admin; choose a strong admin password")
    elif args.resource_type == HELM_RELEASE:
        values = at(props, "values")
        user = at(values, "adminUser")
        if _is_admin("admin" if user is None else user) and _is_admin(at(values, "adminPassword")):  # chart default
            report_violation("the Helm release sets Grafana's admin password to 'admin'; "
                             "use admin.existingSecret with a strong password")


def _json(value: Any) -> Any:
    """The JSON a string holds (None when it is no string or no JSON, or nests past the parser's depth)."""
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _base64(value: Any) -> str | None:
    """The UTF-8 text a base64 string encodes, or None (binascii.Error and UnicodeDecodeError, and a
    non-ASCII string, are all ValueErrors)."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------- stack checks

def one_default_datasource(args: Any, report_violation: ReportViolation) -> None:
    """At most one datasource of the organization is the default.

    The rule forbids something: only an `isDefault` that is `true` counts; an unknown, a secret or
    any other shape is no default the policy can see."""
    defaults = [r for r in args.resources if r.resource_type == DATASOURCE and at(r.props, "isDefault") is True]
    if len(defaults) > 1:
        names = sorted(name_of(at(r.props, "name"), name_of(r.name, "(unnamed)")) for r in defaults)
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        report_violation(f"{len(defaults)} datasources set isDefault: {listed}; Grafana has one default "
                         "datasource per organization, so set isDefault on one of them only")


def team_folders_owned(args: Any, report_violation: ReportViolation) -> None:
    """Every folder has an owner: a Grafana team holds a permission on it (the stack's teams.<slug>.grafanaTeam).

    The rule asks for something, so a folder the policy cannot match to a team's permission is a
    violation: a uid that is no string (a list cannot even be compared), or a secret, and a
    permission whose folder or team the policy cannot read owns nothing. Unknowns pass: a folder
    whose uid is unknown, and every folder while a team's permission names an unknown folder (a
    new folder's uid in a preview; the update judges with real values)."""
    owned: set[str] = set()
    owner_unknown = False
    for permission in args.resources:
        if permission.resource_type != FOLDER_PERMISSION or not _grants_a_team(at(permission.props, "permissions")):
            continue
        uid = at(permission.props, "folderUid")
        owner_unknown |= uid is UNKNOWN
        if isinstance(uid, str):
            owned.add(uid)
    messages = []
    for folder in args.resources:
        if folder.resource_type != FOLDER:
            continue
        uid = at(folder.props, "uid")
        if uid is UNKNOWN or owner_unknown or (isinstance(uid, str) and uid in owned):
            continue
        shown = short(uid) if isinstance(uid, str) and uid.strip() else f"uid: {kind(uid)}"
        title = name_of(at(folder.props, "title"), name_of(folder.name, "(untitled)"))
        messages.append(f"folder '{title}' ({shown}) has no owner: no Grafana team holds a permission on it; name "
                        "the team's Grafana team in the stack (teams.<slug>.grafanaTeam: {name, permission})")
    report_all(report_violation, messages)


def _grants_a_team(permissions: Any) -> bool:
    # Grafana assigns a new team its id on creation, so in a preview `teamId` (or the whole list) is
    # unknown: that counts as a team, judged again at the update. A secret or misshapen id is no team.
    if permissions is UNKNOWN:
        return True
    if not is_list(permissions):  # a map's values are no permission list, whatever they hold
        return False
    for _, entry in children(permissions):
        team = at(entry, "teamId")
        if (entry is UNKNOWN or team is UNKNOWN or (isinstance(team, str) and team.strip())
                or (isinstance(team, int) and not isinstance(team, bool))):
            return True
    return False
