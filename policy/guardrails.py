"""The guardrail checks of the grafana-platform policy pack, as plain functions.

Each resource check is `check(args, report_violation)`, reading only `args.resource_type`,
`args.props` (the resource's inputs, camelCase as the engine names them) and `args.urn`; the stack
check reads `args.resources` (each with `resource_type`, `props`, `urn`, `name`). That is what
pulumi_policy passes, and what the unit tests build by hand.

Secrets: the engine hands policies the plaintext of secret inputs, unmarked (pulumi/pulumi-policy#163,
#241); this pack checks them like any value and never quotes a value in a violation message. Where a
secret arrives masked instead (the string "[secret]", or a pulumi_policy `Secret` wrapper when secrets
are proxied), it is not visible and only the non-secret fields can be checked.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

from pulumi_policy.proxy import UnknownValueError

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


# ------------------------------------------------------------------------------------------ helpers

def stack_of(urn: str | None) -> str:
    """`urn:pulumi:prod::grafana-platform::type::name` -> `prod` ("" when there is no urn)."""
    if not urn or not urn.startswith("urn:pulumi:"):
        return ""
    return urn.split("::", 1)[0][len("urn:pulumi:"):]


def is_prod(args: Any) -> bool:
    return stack_of(getattr(args, "urn", None)) in PROD_STACKS


def visible(value: Any) -> bool:
    """False for a secret the policy cannot read (masked or wrapped)."""
    return not (value == MASKED or type(value).__name__ == "Secret")


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every visible string inside `value`, as (property path, string)."""
    if isinstance(value, str):
        if visible(value):
            yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")


def example_domains(text: str) -> list[str]:
    """The documentation-only domains a string names (hosts of URLs, domains of addresses)."""
    found = []
    for host in _HOST.findall(text):
        domain = host.lower().rstrip(".")
        if (domain in EXAMPLE_DOMAINS or domain.endswith(tuple("." + d for d in EXAMPLE_DOMAINS))
                or domain == EXAMPLE_TLD or domain.endswith("." + EXAMPLE_TLD)):
            found.append(domain)
    return found


def _filled(mapping: Any, key: str) -> bool:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return isinstance(value, str) and value.strip() != ""


def _is_admin(value: Any) -> bool:
    return isinstance(value, str) and visible(value) and value.strip().lower() == "admin"


# ------------------------------------------------------------------------------------ resource checks

def dashboard_in_team_folder(args: Any, report_violation: ReportViolation) -> None:
    """A dashboard lives in a team's folder, never in General (no folder)."""
    if args.resource_type != DASHBOARD:
        return
    folder = args.props.get("folder")
    if not isinstance(folder, str) or not folder.strip() or folder.strip().lower() == "general":
        report_violation("a dashboard must live in its team's folder: set `folder` to the team folder's uid "
                         "(dashboards in General belong to no team and nobody reviews them)")


def alert_rules_labelled(args: Any, report_violation: ReportViolation) -> None:
    """Every alert rule carries the labels routing needs and the annotations on-call needs."""
    if args.resource_type != RULE_GROUP:
        return
    for index, rule in enumerate(args.props.get("rules") or []):
        name = rule.get("name") or f"rules[{index}]"
        missing = [f"label {k}" for k in REQUIRED_LABELS if not _filled(rule.get("labels"), k)]
        missing += [f"annotation {k}" for k in REQUIRED_ANNOTATIONS if not _filled(rule.get("annotations"), k)]
        if missing:
            report_violation(f"alert rule '{name}' in group '{args.props.get('name')}' lacks {', '.join(missing)}: "
                             "every alert needs severity and team labels (routing) and summary and runbook_url "
                             "annotations (on-call)")


def prod_contact_points_real(args: Any, report_violation: ReportViolation) -> None:
    """In a prod stack no contact point notifies a documentation-only domain."""
    if args.resource_type != CONTACT_POINT or not is_prod(args):
        return
    for path, text in strings(args.props):
        for domain in example_domains(text):
            report_violation(f"contact point '{args.props.get('name')}': {path} uses the example domain {domain}; "
                             "prod alerts must reach a real inbox, channel or service")


def no_admin_admin(args: Any, report_violation: ReportViolation) -> None:
    """Nothing logs in with Grafana's default admin/admin."""
    props = args.props
    if args.resource_type == GRAFANA_PROVIDER:
        auth = props.get("auth")
        if isinstance(auth, str) and visible(auth) and auth.strip().lower() == "admin:admin":
            report_violation("the Grafana provider authenticates as admin:admin; use a service account token "
                             "(pulumi config set --secret grafanaAuth)")
    elif args.resource_type == DATASOURCE:
        if not _is_admin(props.get("basicAuthUsername")):
            return
        secure = props.get("secureJsonDataEncoded")
        try:
            password = json.loads(secure).get("basicAuthPassword") if isinstance(secure, str) and visible(secure) else None
        except (ValueError, AttributeError):
            password = None
        if _is_admin(password):
            report_violation(f"datasource '{props.get('name')}' uses basic auth admin/admin; "
                             "give it its own user and a secret password")
    elif args.resource_type == K8S_SECRET:
        def mapping(value: Any) -> dict:  # a whole map arrives masked when it was passed as a secret
            return value if isinstance(value, dict) else {}

        values = {k: v for k, v in mapping(props.get("stringData")).items() if visible(v)}
        for key, encoded in mapping(props.get("data")).items():
            if isinstance(encoded, str) and visible(encoded):
                try:
                    values.setdefault(key, base64.b64decode(encoded, validate=True).decode())
                except (binascii.Error, UnicodeDecodeError):
                    pass
        users = [v for k, v in values.items() if "user" in k.lower()]
        passwords = [v for k, v in values.items() if "password" in k.lower()]
        if any(_is_admin(u) for u in users) and any(_is_admin(p) for p in passwords):
            report_violation("a Kubernetes Secret holds the credentials admin/admin; choose a strong admin password")
    elif args.resource_type == HELM_RELEASE:
        values = props.get("values") or {}
        if _is_admin(values.get("adminUser", "admin")) and _is_admin(values.get("adminPassword")):
            report_violation("the Helm release sets Grafana's admin password to 'admin'; "
                             "use admin.existingSecret with a strong password")


# ---------------------------------------------------------------------------------------- stack checks

def one_default_datasource(args: Any, report_violation: ReportViolation) -> None:
    """At most one datasource of the organization is the default."""
    defaults = [r for r in args.resources if r.resource_type == DATASOURCE and r.props.get("isDefault") is True]
    if len(defaults) > 1:
        names = ", ".join(sorted(str(r.props.get("name") or r.name) for r in defaults))
        report_violation(f"{len(defaults)} datasources set isDefault: {names}; Grafana has one default "
                         "datasource per organization, so set isDefault on one of them only")


def team_folders_owned(args: Any, report_violation: ReportViolation) -> None:
    """Every folder has an owner: a Grafana team holds a permission on it (the stack's teams.<slug>.grafanaTeam)."""
    owned = {permission.props.get("folderUid") for permission in args.resources
             if permission.resource_type == FOLDER_PERMISSION
             and any(_grants_a_team(entry) for entry in permission.props.get("permissions") or [])}
    for folder in args.resources:
        if folder.resource_type == FOLDER and folder.props.get("uid") not in owned:
            report_violation(f"folder '{folder.props.get('title')}' ({folder.props.get('uid')}) has no owner: no "
                             "Grafana team holds a permission on it; name the team's Grafana team in the stack "
                             "(teams.<slug>.grafanaTeam: {name, permission})")


def _grants_a_team(entry: Any) -> bool:
    # Grafana assigns a new team its id on creation, so in a preview `teamId` is known to be set but
    # its value is not: look for the key without reading the value (pulumi_policy raises on unknowns).
    if not isinstance(entry, Mapping) or not any(key == "teamId" for key in entry):
        return False
    try:
        value = entry["teamId"]
    except UnknownValueError:
        return True
    return value not in (None, "")
