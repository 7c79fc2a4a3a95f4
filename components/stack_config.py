"""What a stack file (stacks/Pulumi.<stack>.yaml) may say: one environment's whole configuration."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml
from pydantic import Field, ValidationError, model_validator

from .model import (
    ConfigError, Duration, HttpUrl, LabelName, Model, NonEmpty, Slug, Uid, dotted,
    secret, secret_paths, validation_problems,
)

PROJECT = "grafana-platform"
ROOT = Path(__file__).resolve().parent.parent
Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


class Datasource(Model):
    uid: Uid
    name: NonEmpty
    url: HttpUrl
    is_default: bool = False
    json_data: dict[str, Any] = {}
    basic_auth_user: str | None = None
    basic_auth_password: str | None = secret(None)


class Datasources(Model):
    """Prometheus is required (every dashboard and alert queries it); Loki and Alertmanager are optional."""

    prometheus: Datasource
    loki: Datasource | None = None
    alertmanager: Datasource | None = None

    @model_validator(mode="after")
    def _one_default(self) -> "Datasources":
        defaults = [kind for kind, ds in self.items() if ds.is_default]
        if len(defaults) > 1:
            raise ValueError(f"at most one datasource may set isDefault: true (got {', '.join(defaults)})")
        return self

    def items(self) -> list[tuple[str, Datasource]]:
        return [(kind, ds) for kind in ("prometheus", "loki", "alertmanager") if (ds := getattr(self, kind))]


class EmailIntegration(Model):
    addresses: str = secret(min_length=3, description="';'-separated addresses")
    single_email: bool = False


class SlackIntegration(Model):
    url: str = secret(min_length=1, description="incoming webhook URL")
    recipient: str | None = None


class WebhookIntegration(Model):
    url: str = secret(min_length=1)
    http_method: Literal["POST", "PUT"] = "POST"


class PagerDutyIntegration(Model):
    integration_key: str = secret(min_length=1)


class ContactPoint(Model):
    """One Grafana contact point; it notifies every integration it lists."""

    email: EmailIntegration | None = None
    slack: SlackIntegration | None = None
    webhook: WebhookIntegration | None = None
    pagerduty: PagerDutyIntegration | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ContactPoint":
        if not any((self.email, self.slack, self.webhook, self.pagerduty)):
            raise ValueError("a contact point needs at least one of: email, slack, webhook, pagerduty")
        return self


class TimeRange(Model):
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")


class MuteTiming(Model):
    weekdays: list[str] = []
    times: list[TimeRange] = []
    location: str | None = None


class NotificationPolicy(Model):
    """The root of the organization's single policy tree."""

    receiver: NonEmpty
    group_by: list[str] = ["grafana_folder", "alertname"]
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "1h"


class RuleOverride(Model):
    threshold: float | None = None
    for_: Duration | None = Field(None, alias="for")


class TeamRouting(Model):
    """Where a team's alerts go in this stack; without a receiver they go to the root receiver."""

    receiver: NonEmpty | None = None
    severity_receivers: dict[Severity, NonEmpty] = Field({}, description="also notified, per severity")
    mute_timings: list[NonEmpty] = []
    group_by: list[LabelName] | None = None


class FolderPermission(Model):
    role: Literal["Viewer", "Editor", "Admin"] | None = None
    team_id: NonEmpty | None = None
    user_id: NonEmpty | None = None
    permission: Literal["View", "Edit", "Admin"]

    @model_validator(mode="after")
    def _one_subject(self) -> "FolderPermission":
        if sum(x is not None for x in (self.role, self.team_id, self.user_id)) != 1:
            raise ValueError("a permission names exactly one of: role, teamId, userId")
        return self


class TeamSettings(Model):
    """What differs for one team in one stack."""

    selector: str = Field("", description="extra label matchers, e.g. env=\"prod\"")
    overrides: dict[NonEmpty, RuleOverride] = {}
    routing: TeamRouting = TeamRouting()
    permissions: list[FolderPermission] = []
    variables: dict[NonEmpty, float] = {}


class StackConfig(Model):
    grafana_url: HttpUrl
    grafana_auth: str = secret(min_length=1, description="service account token")
    org_id: int = Field(ge=1)
    protect: bool
    runbook_base_url: HttpUrl
    datasources: Datasources
    teams: dict[Slug, TeamSettings] = Field(min_length=1)
    contact_points: dict[NonEmpty, ContactPoint]
    notification_policy: NotificationPolicy
    mute_timings: dict[NonEmpty, MuteTiming] = {}

    @model_validator(mode="after")
    def _references_exist(self) -> "StackConfig":
        problems = []
        receivers = [("notificationPolicy.receiver", self.notification_policy.receiver)]
        for slug, team in self.teams.items():
            routing = f"teams.{slug}.routing"
            if team.routing.receiver:
                receivers.append((f"{routing}.receiver", team.routing.receiver))
            receivers += [(f"{routing}.severityReceivers.{s}", r) for s, r in team.routing.severity_receivers.items()]
            problems += [
                f"{routing}.muteTimings: unknown mute timing '{m}' (defined: {', '.join(sorted(self.mute_timings)) or 'none'})"
                for m in team.routing.mute_timings if m not in self.mute_timings
            ]
        problems += [
            f"{where}: unknown contact point '{name}' (defined: {', '.join(sorted(self.contact_points)) or 'none'})"
            for where, name in receivers if name not in self.contact_points
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def stack_file(stack: str) -> Path:
    return ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def secure_paths_in_file(path: Path) -> set[tuple] | None:
    """Paths of the `secure:` values in a stack file, or None when there is no file to read."""
    if not path.exists():
        return None
    found: set[tuple] = set()

    def walk(value: Any, at: tuple) -> None:
        if isinstance(value, dict) and set(value) == {"secure"}:
            found.add(at)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*at, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*at, i))

    for key, value in (read_yaml(path).get("config") or {}).items():
        if key.startswith(f"{PROJECT}:"):
            walk(value, (key.split(":", 1)[1],))
    return found


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(relative(path), [(where, f"not valid YAML: {getattr(e, 'problem', e)}")]) from None
    if not isinstance(data, dict):
        raise ConfigError(relative(path), [("", "must be a YAML mapping")])
    return data


def project_config() -> dict[str, Any]:
    """This project's keys from the Pulumi config the engine (or the offline render) provides."""
    merged = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    prefix = f"{PROJECT}:"
    values = {}
    for key, raw in merged.items():
        if key.startswith(prefix):
            values[key[len(prefix):]] = _decode(raw)
    return values


def _decode(raw: Any) -> Any:
    # Pulumi hands structured values, numbers and booleans over as JSON text.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def load_stack_config(stack: str) -> StackConfig:
    path = stack_file(stack)
    where = relative(path)
    values = project_config()
    try:
        config = StackConfig.model_validate(values)
    except ValidationError as e:
        raise ConfigError(where, validation_problems(e, StackConfig, prefix=f"{PROJECT}:")) from None
    secure = secure_paths_in_file(path)
    if secure is None:  # no stack file (e.g. config from an ESC environment): trust the engine's marks
        secure = {(k,) for k in values if pulumi.runtime.is_config_secret(f"{PROJECT}:{k}")}
    plain = [p for p, _ in secret_paths(config) if not any(p[: len(s)] == s for s in secure)]
    if plain:
        raise ConfigError(where, [
            (f"{PROJECT}:{dotted(p)}",
             "must be a secret; set it with: "
             f"pulumi config set --stack {stack} --secret --path '{PROJECT}:{dotted(p)}' <value>")
            for p in plain
        ])
    return config
