"""What a stack file (stacks/Pulumi.<stack>.yaml) may say: one environment's whole configuration."""
from __future__ import annotations

import datetime
import functools
import operator
import os
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from .model import (MISSING_SECRET, NAME_MAX, DisplayName, Duration, HttpUrl, JsonObject, LabelName, LinkUrl, Model,
                    NonEmpty, Number, Problems, RuleFor, Selector, Slug, Uid, got, placeholder_or, port_problem, quoted,
                    secret, stored_in, url_parts)

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def _matching(pattern: str, max_length: int, what: str) -> tuple[AfterValidator, WithJsonSchema]:
    """A string check with its own message, and the same pattern in the JSON Schema (tools/schemas.py)."""
    def check(value: str) -> str:
        if len(value) > max_length or not re.fullmatch(pattern, value):
            raise ValueError(what + got(value))
        return value
    return AfterValidator(check), WithJsonSchema({"type": "string", "pattern": f"^{pattern}$", "maxLength": max_length})


# A Kubernetes object name (DNS-1123 label), an ingress host, a resource quantity (500m, 1, 512Mi, 10Gi).
K8sName = Annotated[str, *_matching(_DNS_LABEL, 63, "must be a Kubernetes name: lowercase letters, digits and '-', "
                                                    "starting and ending with a letter or digit, at most 63 characters")]
Hostname = Annotated[str, *_matching(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", 253,
                                     "must be a DNS name in lowercase, e.g. grafana.example.com")]
# host:port, as Grafana's [smtp] host wants it (https://grafana.com/docs/grafana/latest/setup-grafana/configure-grafana/#smtp)
SmtpHost = Annotated[str, *_matching(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}", 260,
                                     "must be the SMTP server as host:port, e.g. smtp.acme-corp.com:587")]
EmailAddress = Annotated[str, *_matching(r'[^@\s<>"]+@[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?\.[A-Za-z]{2,}', 254,
                                         "must be one e-mail address, e.g. grafana@acme-corp.com")]
_QUANTITY = r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?"
Quantity = Annotated[str, BeforeValidator(lambda v: str(v) if type(v) in (int, float) else v),  # cpu: 2
                     _matching(_QUANTITY, 64, "must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi")[0],
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": f"^{_QUANTITY}$", "maxLength": 64},
                                               {"type": "number", "minimum": 0}]})]


class ClusterService(Model):
    """A Service in the cluster Grafana runs in, reached by its in-cluster DNS name."""

    name: K8sName
    namespace: K8sName
    port: int = Field(ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{self.port}"


class Datasource(Model):
    uid: Uid
    name: Annotated[DisplayName, *stored_in("data_source.name", NAME_MAX)]
    url: HttpUrl | None = None
    service: ClusterService | None = Field(None, description="an in-cluster service instead of a url")
    is_default: bool = False
    json_data: JsonObject = {}
    basic_auth_user: NonEmpty | None = None
    basic_auth_password: str | None = secret(None)

    @model_validator(mode="after")
    def _url_or_service(self) -> "Datasource":
        problems = []
        if (self.url is None) == (self.service is None):
            found = "both url and service" if self.url else "neither url nor service"
            problems.append(("", f"has {found}; set exactly one: url (an http(s) URL) or "
                                 "service ({name, namespace, port} of an in-cluster service)"))
        if self.basic_auth_user is not None and self.basic_auth_password is None:
            problems.append(("basicAuthPassword", MISSING_SECRET))
        if self.basic_auth_user is None and self.basic_auth_password is not None:
            problems.append(("basicAuthPassword", "is sent only with a basicAuthUser: set basicAuthUser too"))
        if problems:
            raise Problems(problems)
        return self

    @property
    def endpoint(self) -> str:
        """Where Grafana reaches the datasource: its url, or the in-cluster service's."""
        return self.url or self.service.url


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
        named: dict[str, str] = {}  # Grafana refuses a second one: 409 "data source with the same name already exists"
        for kind, ds in self.items():
            if ds.name in named:
                raise ValueError(f"{named[ds.name]} and {kind} are both named '{ds.name}'; a datasource's name is "
                                 "unique in its organization")
            named[ds.name] = kind
        return self

    def items(self) -> list[tuple[str, Datasource]]:
        return [(kind, ds) for kind in ("prometheus", "loki", "alertmanager") if (ds := getattr(self, kind))]


# The endpoints are secrets: their checks raise ValueError with a message that never repeats the value.
def _addresses(addresses: str) -> str:
    # No ',' inside one: the provider reads the addresses back split on ',', ';' and line breaks
    # (terraform-provider-grafana resource_alerting_contact_point_notifiers.go, packAddrs), so
    # `a,b@x.com` would come back as two and show as a change on every preview.
    parts = [a.strip() for a in addresses.split(";") if a.strip()]
    if not parts or not all(re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", a) for a in parts):
        raise ValueError("must be e-mail addresses separated by ';' (no ',' in one: Grafana's provider reads "
                         "a ',' as a separator too)")
    return addresses


def _endpoint(schemes: tuple[str, ...]) -> AfterValidator:
    def check(url: str) -> str:
        parts = url_parts(url)
        if parts is None or parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"must be a {' or '.join(s + '://' for s in schemes)} URL without spaces")
        if problem := port_problem(parts):
            raise ValueError(problem)
        return url
    return AfterValidator(placeholder_or(check))


def _key(key: str) -> str:
    if not key.strip() or any(c.isspace() for c in key):
        raise ValueError("must be the integration key, without spaces")
    return key


def _grafana_auth(auth: str) -> str:
    """A service account token (glsa_...) or `user:password`, as the provider sends them in a header:
    a line break is never part of either (a value copied with its newline), a token has no space."""
    if "\n" in auth or "\r" in auth:
        raise ValueError("holds a line break (copied with its newline?); give the token, or user:password, alone")
    if ":" not in auth and any(c.isspace() for c in auth):
        raise ValueError("a service account token has no spaces; give the token alone")
    return auth


class EmailIntegration(Model):
    addresses: Annotated[str, AfterValidator(placeholder_or(_addresses))] = secret(description="';'-separated addresses")
    single_email: bool = False


class SlackIntegration(Model):
    url: Annotated[str, _endpoint(("https",))] = secret(description="incoming webhook URL")
    recipient: str | None = None


class WebhookIntegration(Model):
    # A secret: it may carry credentials (user:password@), which Grafana sends as basic auth.
    url: Annotated[str, _endpoint(("http", "https"))] = secret()
    http_method: Literal["POST", "PUT"] = "POST"


class PagerDutyIntegration(Model):
    integration_key: Annotated[str, AfterValidator(placeholder_or(_key))] = secret()


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


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class TimeRange(Model):
    """Minutes of the day, end excluded; `24:00` ends at midnight, as Grafana writes it."""

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # [0-9]: see model.DURATION_PATTERN
    end: str = Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")

    @model_validator(mode="after")
    def _ordered(self) -> "TimeRange":
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must come before end {self.end} (split a range over midnight in two)")
        return self


WEEK = 7 * 24 * 60  # minutes
# Mute timings are compared in UTC with each zone's winter and summer offset.
OFFSET_DAYS = (datetime.datetime(2026, 1, 15), datetime.datetime(2026, 7, 15))


@functools.cache
def _known_time_zone(name: str) -> bool:
    """Whether `name` is one of the IANA time zones this system knows (`zoneinfo.available_timezones()`).
    A name is first looked for as the one file that list would hold for it; only one not found so
    makes the whole list (it opens every file of the time zone database: about 20 ms)."""
    return _listed_zone_file(name) or name in _time_zones()


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _listed_zone_file(name: str) -> bool:
    """Whether available_timezones() lists `name` for a file it finds: under a root of zoneinfo.TZPATH,
    by a normalized relative path through real folders (its walk follows no folder link) and not
    under right/ or posix/, a file that begins as time zone files do, and not posixrules."""
    if not name or os.path.isabs(name) or os.path.normpath(name) != name or name == "posixrules" \
            or name.split("/")[0] in ("..", "right", "posix"):
        return False
    folders = name.split("/")[:-1]
    for root in zoneinfo.TZPATH:
        try:
            if any(os.path.islink(os.path.join(root, *folders[:i + 1])) for i in range(len(folders))):
                continue
            path = os.path.join(root, name)
            if not os.path.isdir(path):
                with open(path, "rb") as file:
                    if file.read(4) == b"TZif":
                        return True
        except (OSError, ValueError):  # no such file, unreadable, or a name no path can hold (a NUL)
            continue
    return False


class MuteTiming(Model):
    weekdays: list[Weekday] = []
    times: list[TimeRange] = []
    location: str | None = None

    @model_validator(mode="after")
    def _known_location(self) -> "MuteTiming":
        # An empty mute timing `{}` mutes always: _mutes_sometimes refuses it.
        if self.location is not None and not _known_time_zone(self.location):
            if not _time_zones():  # no name is known: the system's fault, not the stack file's
                raise Problems([("location", "cannot be checked: this system has no time zone database (none under "
                                             f"{', '.join(zoneinfo.TZPATH) or 'zoneinfo.TZPATH'}, no tzdata package); "
                                             "install tzdata, or unset PYTHONTZPATH")])
            raise Problems([("location", f"unknown time zone {quoted(self.location)}; use an IANA name such as "
                                         "Europe/Paris")])
        return self

    @model_validator(mode="after")
    def _mutes_sometimes(self) -> "MuteTiming":
        if mutes_always([self]):
            raise ValueError("mutes every minute of the week, so a route using it would never notify anyone; "
                             "narrow its weekdays or times")
        return self

    def muted_minutes(self, day: datetime.datetime) -> int:
        """The minutes of a UTC week (bit i: minute i after Monday 00:00) it mutes, at the zone's offset on `day`."""
        days = [WEEKDAYS.index(d) for d in self.weekdays] or range(7)
        ranges = [(_minute(t.start), _minute(t.end)) for t in self.times] or [(0, 24 * 60)]
        local = 0
        for d in days:
            for start, end in ranges:
                local |= ((1 << (end - start)) - 1) << (d * 24 * 60 + start)
        zone = zoneinfo.ZoneInfo(self.location) if self.location else datetime.timezone.utc
        shift = int(zone.utcoffset(day).total_seconds() // 60) % WEEK  # local = UTC + offset
        return ((local >> shift) | (local << (WEEK - shift))) & ((1 << WEEK) - 1)


WEEKDAYS = list(Weekday.__args__)


def _minute(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)


def mutes_always(timings: list[MuteTiming]) -> bool:
    """Whether `timings` together mute every minute of the week (Grafana mutes when any of them holds)."""
    full = (1 << WEEK) - 1
    return bool(timings) and all(
        functools.reduce(operator.or_, (t.muted_minutes(day) for t in timings)) == full for day in OFFSET_DAYS)


class NotificationPolicy(Model):
    """The root of the organization's single policy tree."""

    receiver: NonEmpty
    group_by: list[LabelName | Literal["..."]] = ["grafana_folder", "alertname"]
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "1h"


class RuleOverride(Model):
    threshold: Number | None = None
    for_: RuleFor | None = Field(None, alias="for")


class TeamRouting(Model):
    """Where a team's alerts go in this stack; without a receiver they go to the root receiver."""

    receiver: NonEmpty | None = None
    severity_receivers: dict[Severity, NonEmpty] = Field({}, description="also notified, per severity")
    mute_timings: list[NonEmpty] = []
    group_by: list[LabelName | Literal["..."]] | None = None


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




class GrafanaTeam(Model):
    """The product team as a Grafana Team in this stack: the owner of the team's folder."""

    name: Annotated[DisplayName, *stored_in("team.name", NAME_MAX)] = Field(
        description="the team's name in Grafana, unique in the organization")
    members: list[EmailAddress] | None = Field(None, description="e-mails of Grafana users the team has exactly (added and "
                                                          "removed by the program); leave it out where the "
                                                          "organization's SSO team sync fills the team")
    permission: Literal["View", "Edit", "Admin"] = Field(description="what the team may do in its folder, beside the "
                                                                     "role permissions (e.g. View in prod, where "
                                                                     "changes go through code review)")


class TeamSettings(Model):
    """What differs for one team in one stack."""

    selector: Selector = Field("", description="extra label matchers, e.g. env=\"prod\"")
    overrides: dict[NonEmpty, RuleOverride] = {}
    routing: TeamRouting = TeamRouting()
    permissions: list[FolderPermission] = []
    grafana_team: GrafanaTeam | None = None
    variables: dict[NonEmpty, Number] = {}

    @model_validator(mode="after")
    def _one_permission_each(self) -> "TeamSettings":
        """A role, team or user holds one permission on the folder: given two, Grafana keeps one of them."""
        given: dict[tuple[str, str], str] = {}
        problems = []
        for index, p in enumerate(self.permissions):
            subject = ("role", p.role) if p.role else ("teamId", p.team_id) if p.team_id else ("userId", p.user_id)
            if subject in given:
                problems.append((f"permissions.{index}", f"{subject[0]} '{subject[1]}' is given a permission twice "
                                                         f"({given[subject]} and {p.permission}); give it one"))
            given.setdefault(subject, p.permission)
        if problems:
            raise Problems(problems)
        return self


class Persistence(Model):
    """Grafana's /var/lib/grafana on a PersistentVolumeClaim (its SQLite database when there is no databaseUrl)."""

    enabled: bool = True
    size: Quantity = "10Gi"
    storage_class: K8sName | None = Field(None, description="the cluster's default storage class when unset")


class ResourceAmounts(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    requests: ResourceAmounts = ResourceAmounts()
    limits: ResourceAmounts = ResourceAmounts()


class Ingress(Model):
    host: Hostname
    tls_secret_name: K8sName = Field(description="kubernetes.io/tls Secret for the host (or cert-manager's target)")
    class_name: K8sName | None = Field(None, description="IngressClass; the cluster's default when unset")
    annotations: dict[NonEmpty, str] = Field({}, description="e.g. cert-manager.io/cluster-issuer: letsencrypt")


class Smtp(Model):
    """How the Grafana this stack deploys sends e-mail: grafana.ini's [smtp]. Every e-mail contact point needs it.

    The user and password reach Grafana through the chart's `smtp.existingSecret` (GF_SMTP_USER and
    GF_SMTP_PASSWORD from the credentials Secret), never through grafana.ini, a ConfigMap.
    """

    host: SmtpHost
    from_address: EmailAddress
    from_name: DisplayName = "Grafana"
    user: NonEmpty
    password: str = secret(min_length=1, description="the SMTP user's password")


class Kubernetes(Model):
    """Deploy Grafana itself with the official Helm chart, then manage its content (absent: an existing Grafana)."""

    namespace: K8sName = "grafana"
    admin_user: NonEmpty = "admin"
    admin_password: str = secret(description="the admin user's password; the provider logs in with it")
    # Kubernetes' own bound (spec.replicas is an int32): a larger one is refused by the API server, and
    # past a float64's range the Pulumi SDK, which sends numbers as floats, fails mid-registration.
    replicas: int = Field(1, ge=1, le=2**31 - 1)
    database_url: str | None = secret(None, description="external database, e.g. postgres://user:pass@host:5432/grafana")
    persistence: Persistence = Persistence()
    resources: Resources = Resources()
    ingress: Ingress
    smtp: Smtp | None = Field(None, description="the SMTP server Grafana sends e-mail through")

    # These checks raise ValueError (never a length or pattern constraint) so no message repeats a secret.
    @field_validator("admin_password")
    @classmethod
    def _strong_enough(cls, password: str) -> str:
        if password.strip().lower() == "admin":
            raise ValueError("must not be Grafana's default password; choose a strong one")
        if len(password) < 8:
            raise ValueError("must be at least 8 characters")
        return password

    @field_validator("database_url")
    @classmethod
    def _not_blank(cls, url: str | None) -> str | None:
        if url is not None and not url.strip():
            raise ValueError("must not be empty; remove the key to keep Grafana's SQLite database")
        return url

    @model_validator(mode="after")
    def _ha_needs_a_database(self) -> "Kubernetes":
        if self.replicas > 1 and self.database_url is None:
            # replicas > 1 needs an external database shared by all replicas (SQLite cannot be shared).
            raise Problems([("databaseUrl", MISSING_SECRET)])
        if self.database_url is None and not self.persistence.enabled:
            raise Problems([("persistence.enabled", "without databaseUrl Grafana keeps its SQLite database on this "
                                                    "volume; keep persistence enabled or set databaseUrl")])
        return self

    @property
    def url(self) -> str:
        return f"https://{self.ingress.host}"


class StackConfig(Model):
    grafana_url: LinkUrl
    grafana_auth: Annotated[str, AfterValidator(placeholder_or(_grafana_auth))] | None = secret(
        None, min_length=1, description="service account token, or user:password")
    # Grafana holds org ids as int64; the SDK sends this one as text (the provider's config, each resource's
    # org_id), never as a float, so all of them reach Grafana exactly.
    org_id: int = Field(ge=1, le=2**63 - 1)
    protect: bool
    runbook_base_url: LinkUrl
    datasources: Datasources
    teams: dict[Slug, TeamSettings] = Field(min_length=1)
    contact_points: dict[NonEmpty, ContactPoint]
    notification_policy: NotificationPolicy
    mute_timings: dict[NonEmpty, MuteTiming] = {}
    kubernetes: Kubernetes | None = None

    @model_validator(mode="after")
    def _kubernetes_consistent(self) -> "StackConfig":
        problems = []
        if self.kubernetes is None and self.grafana_auth is None:
            # The Grafana service account token (a stack with a kubernetes section logs in as its admin instead).
            problems.append(("grafanaAuth", MISSING_SECRET))
        if self.kubernetes is not None and self.grafana_auth is not None:
            problems.append(("grafanaAuth", "is not used when the kubernetes section deploys Grafana (the provider "
                                            "logs in as its admin): remove it"))
        if self.kubernetes and self.grafana_url.rstrip("/") != self.kubernetes.url:
            problems.append(("grafanaUrl", f"must be {self.kubernetes.url}, where kubernetes.ingress.host serves the "
                                           f"Grafana this stack deploys{got(self.grafana_url)}"))
        mailing = sorted(name for name, cp in self.contact_points.items() if cp.email)
        if self.kubernetes and self.kubernetes.smtp is None and mailing:
            problems.append(("kubernetes.smtp", f"is required: contact points {', '.join(mailing)} send e-mail, and the "
                                                "Grafana this stack deploys has no SMTP server without it; add "
                                                "kubernetes.smtp {host, fromAddress, user, password (a secret)}"))
        if not self.kubernetes:
            problems += [(f"datasources.{kind}.service", "an in-cluster service is reachable only from a Grafana "
                                                         "running in the cluster: add the kubernetes section or use url")
                         for kind, ds in self.datasources.items() if ds.service]
        if problems:
            raise Problems(problems)
        return self

    @model_validator(mode="after")
    def _grafana_team_names_unique(self) -> "StackConfig":
        owners: dict[str, str] = {}
        problems = []
        for slug, team in sorted(self.teams.items()):
            if team.grafana_team is None:
                continue
            name = team.grafana_team.name
            if name in owners:
                problems.append((f"teams.{slug}.grafanaTeam.name", f"'{name}' is also the Grafana team of {owners[name]}; "
                                                                   "Grafana team names are unique in an organization"))
            owners.setdefault(name, slug)
        if problems:
            raise Problems(problems)
        return self

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
                (f"{routing}.muteTimings", f"unknown mute timing {quoted(m)} (defined: {', '.join(sorted(self.mute_timings)) or 'none'})")
                for m in team.routing.mute_timings if m not in self.mute_timings
            ]
            timings = [self.mute_timings[m] for m in team.routing.mute_timings if m in self.mute_timings]
            if len(timings) > 1 and mutes_always(timings):
                problems.append((f"{routing}.muteTimings", f"{', '.join(team.routing.mute_timings)} together mute every "
                                                           "minute of the week: the team's alerts would never notify anyone"))
        problems += [
            (where, f"unknown contact point {quoted(name)} (defined: {', '.join(sorted(self.contact_points)) or 'none'})")
            for where, name in receivers if name not in self.contact_points
        ]
        if problems:
            raise Problems(problems)
        return self
