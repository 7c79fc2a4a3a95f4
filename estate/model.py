"""Building blocks shared by the stack model and the team model: base class, field types, errors."""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import re
import sys
import types
import typing
import unicodedata
from typing import Annotated, Any, Union

import urllib.parse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from syntax import promql

# Grafana refuses uids longer than 40 characters.
UID_MAX = 40
# [0-9], never \d: in Python's and pydantic's (Rust) regular expressions \d is any Unicode digit
# (`５m`, `٥m`), which Go's parsers (Prometheus, Grafana, Alertmanager) refuse. So in every pattern here.
DURATION_PATTERN = r"^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
# Prometheus and Grafana hold durations as Go time.Duration (int64 nanoseconds): about 292 years.
MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
MISSING_SECRET = "a secret this stack needs, not set"  # the message of every missing secret field
SECRET_MASK = "[secret]"  # what a message shows for a `secure:` value
# What the offline render puts where a secret goes; the checks of secret fields let it through
# (program.py refuses it in a real run).
PLACEHOLDER = re.compile(r"^<secure [^<>]+>$")


def placeholder_or(check):
    """`check` for a secret field's value, skipped for the offline render's placeholder."""
    def checked(value):
        return value if isinstance(value, str) and PLACEHOLDER.match(value) else check(value)
    return checked


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _bounded_duration(text: str) -> str:
    if duration_ms(text) > MAX_DURATION_SECONDS * 1000:
        raise ValueError("longer than Prometheus and Grafana accept (about 292 years)")
    return text


def url_parts(text: str) -> urllib.parse.SplitResult | None:
    """`text` split as a URL, or None when it can be none: it holds spaces or control characters, or
    urlsplit refuses it (brackets that hold no IPv6 address), in words that quote its host, which may
    be part of a secret."""
    if any(c.isspace() or ord(c) < 32 for c in text):
        return None
    try:
        return urllib.parse.urlsplit(text)
    except ValueError:
        return None


def _http_url(text: str) -> str:
    """An http(s) URL with a host and without credentials: a URL field is stored and shown in clear."""
    parts = url_parts(text)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL without spaces" + got(text))
    if "@" in parts.netloc:
        raise ValueError("must not hold credentials (user:password@): this URL is stored and shown in clear; "
                         "give credentials through the secret fields (basicAuthUser / basicAuthPassword)")
    if problem := port_problem(parts):
        raise ValueError(problem + got(text))
    return text


def port_problem(parts: urllib.parse.SplitResult) -> str | None:
    """Why the port of a URL is none (urlsplit reads `:99999` and `:0` without a word), or None."""
    try:
        port = parts.port
    except ValueError:  # out of 0-65535, or not digits
        port = 0
    return "the port must be a number from 1 to 65535" if port == 0 else None


def _no_template_action(text: str) -> str:
    """A URL the program writes into Go templates (a rule's runbook_url annotation, the notification
    templates' dashboard links): `{{` or `}}` in it would be read as an action there, and blamed on
    every alert of every team rather than on the stack file that holds it."""
    if "{{" in text or "}}" in text:
        raise ValueError("must not hold '{{' or '}}': the program writes this URL into Go templates (alert "
                         "annotations, notification templates), which would read it as an action; "
                         "percent-encode the braces (%7B%7B)" + got(text))
    return text


def _label_name(name: str) -> str:
    if name.startswith("__"):
        raise ValueError("label names starting with __ are reserved for Prometheus' internal use" + got(name))
    return name


def _selector(selector: str) -> str:
    if not selector.strip():
        return selector
    try:
        found = promql.matchers(selector)
    except ValueError as e:  # the parser's words quote the selector: none of them when it is a secure value
        raise ValueError("not valid label matchers" + ("" if _is_secure(selector) else f": {str(e)[:200]}")) from None
    reserved = sorted(name for name, _, _ in found if name.startswith("__"))
    if reserved:
        raise ValueError(f"label names starting with __ are reserved: {', '.join(reserved)}")
    return selector


def _go_template(text: str) -> str:
    problem = template_problem(text)
    if problem:
        raise ValueError(f"not a template Prometheus and Grafana accept: {problem}")
    return text


NonEmpty = Annotated[str, StringConstraints(min_length=1), AfterValidator(_not_blank)]


_DIRECTION_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # embeddings, overrides, isolates


def single_line(text: str) -> str:
    """A name Grafana shows (a folder's, a team's, a datasource's): one line without control characters
    or the direction overrides that make text read otherwise than it is stored (a stray paste, spoofing)."""
    odd = next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _DIRECTION_CONTROLS), None)
    if odd is not None:
        raise ValueError(f"must be one line of text without control characters (it holds U+{ord(odd):04X})")
    return text


def unpadded(text: str) -> str:
    """A name as Grafana keeps it: Grafana trims the titles it stores (the dashboard and folder services'
    strings.TrimSpace), so a padded one would come back without its padding and every preview would
    show the change."""
    if text != text.strip():
        raise ValueError("begins or ends with a space, which Grafana trims from a title it stores (every preview "
                         "would then show a change); remove it")
    return text


DisplayName = Annotated[NonEmpty, AfterValidator(single_line), AfterValidator(unpadded)]

# What Grafana's database holds (its migrations: dashboard.title and folder.title are VARCHAR(189);
# team.name, data_source.name, alert_rule.title and alert_rule.rule_group VARCHAR(190); a dashboard's
# tags are rows of dashboard_tag, whose term is VARCHAR(50)). MySQL and PostgreSQL refuse a longer
# value and SQLite checks none, so a longer name would render and then fail `pulumi up` on a Grafana
# with an external database, as prod's is. Grafana's rule store also refuses an alert rule title or
# group name of more than 190 bytes (AlertRuleMaxTitleLength and AlertRuleMaxRuleGroupNameLength,
# counted by Go's len). docs/grafana-semantics.md cites each.
TITLE_MAX = 189
NAME_MAX = 190
TAG_MAX = 50
DASHBOARD_JSON_MAX = (1 << 24) - 1  # bytes: dashboard.data is MEDIUMTEXT on MySQL (and dashboard_version.data)


def too_long(text: str, limit: int, column: str, in_bytes: bool = False) -> str | None:
    """Why `text` does not fit in Grafana's `column` of `limit` characters (`in_bytes`: UTF-8 bytes);
    None when it fits."""
    size = len(text.encode()) if in_bytes else len(text)
    if size <= limit:
        return None
    return f"{size:,} {'bytes' if in_bytes else 'characters'}; Grafana holds at most {limit} ({column})"


def stored_in(column: str, limit: int, in_bytes: bool = False) -> tuple[AfterValidator, Any]:
    """A field's check that it fits in Grafana's `column` (too_long); the JSON Schema says it as
    maxLength (in characters, which never exceed the bytes)."""
    def check(text: str) -> str:
        problem = too_long(text, limit, column, in_bytes)
        if problem:
            raise ValueError(problem)
        return text
    return AfterValidator(check), Field(json_schema_extra={"maxLength": limit})


FolderTitle = Annotated[DisplayName, *stored_in("folder.title", TITLE_MAX)]
Selector = Annotated[str, AfterValidator(_selector)]  # label matchers: job="api", env=~"prod|staging"
Template = Annotated[NonEmpty, AfterValidator(_go_template)]  # an alert annotation, in Go's text/template
Uid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=UID_MAX)]
SLUG_PATTERN = r"^[a-z][a-z0-9-]*$"  # a team's slug: also what tools.adopt --team takes
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=UID_MAX)]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, min_length=1),  # refuses "", which the pattern matches
                     AfterValidator(_bounded_duration)]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$"), AfterValidator(_label_name)]


def _no_years(text: str) -> str:
    # The provider reads a rule's `for` with go-openapi's strfmt.ParseDuration (terraform-provider-grafana
    # resource_alerting_rule_group.go, unpackAlertRule), which knows weeks and days but not years:
    # `pulumi up` would fail on a `for` that promtool took (docs/grafana-semantics.md).
    if "y" in text:
        raise ValueError("Grafana's provider reads a rule's `for` in weeks, days and smaller units, not years; "
                         "write days instead (1y is 365d)" + got(text))
    return text


RuleFor = Annotated[Duration, AfterValidator(_no_years)]  # an alert rule's `for`, as Grafana's provider reads it
HttpUrl = Annotated[str, AfterValidator(_http_url)]
LinkUrl = Annotated[HttpUrl, AfterValidator(_no_template_action)]  # an HttpUrl written into Go templates
Number = Annotated[float, Field(allow_inf_nan=False)]  # NaN or infinity would make an alert never (or always) fire


_FLOAT64_MAX = int(sys.float_info.max)


def _json_numbers(data: Any) -> Any:
    """Free-form data the program encodes as JSON for Grafana: NaN and infinity are no JSON numbers
    (json.dumps would write `NaN`, which Grafana's reader refuses), and neither is an integer past
    what Go's JSON reader holds in a float64. Each is named by its path; found without recursion."""
    problems, todo = [], [((), data)]
    while todo:
        at, node = todo.pop()
        if isinstance(node, dict):
            todo += reversed([((*at, k), v) for k, v in node.items()])
        elif isinstance(node, list):
            todo += reversed([((*at, i), v) for i, v in enumerate(node)])
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append((dotted(at), f"{'NaN' if math.isnan(node) else 'infinity'} is no JSON number, and "
                                         "Grafana reads this as JSON; write a finite number"))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > _FLOAT64_MAX:
            problems.append((dotted(at), f"a number of {len(str(abs(node)))} digits, past what a JSON reader "
                                         "holds (a float64, up to about 1.8e308)"))
    if problems:
        raise Problems(problems)
    return data


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_numbers)]  # free-form, encoded as JSON for Grafana
# What a person reads instead of the regular expression when a value does not match it.
_PATTERN_HINTS = {
    DURATION_PATTERN: "not a duration: write a number and a unit, e.g. 30s, 5m, 1h30m (units: y w d h m s ms)",
    r"^[A-Za-z0-9_-]+$": "a uid may use only letters, digits, '-' and '_'",
    r"^[a-z][a-z0-9-]*$": "must be lowercase letters, digits and '-', starting with a letter",
    r"^[a-zA-Z_][a-zA-Z0-9_]*$": "a label name is letters, digits and '_', not starting with a digit",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "a variable name is letters, digits and '_', not starting with a digit",
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*$": "a metric name is letters, digits, '_' and ':', not starting with a digit",
    r"^[a-z][a-z0-9_]*$":
        "a source's or expression's name is lowercase letters, digits and '_', starting with a letter",
    r"^[A-Z][A-Za-z0-9]*$": "an alert's name is letters and digits, starting with a capital letter (e.g. HighErrorRate)",
    r"^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$":
        "a bucket bound is a plain number, as the exporter writes its le label (e.g. \"0.3\")",
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$": "a time of day is HH:MM, from 00:00 to 23:59",
    r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$": "a time of day is HH:MM, from 00:00 to 24:00",
}


# Go text/template, as far as it must be read to refuse what Prometheus' and Grafana's template engine
# refuse when the rule is loaded (https://pkg.go.dev/text/template): an action never closed, an
# empty action, a quoted string never closed, and if/range/with/define/block without their end.
_BLOCKS = ("if", "range", "with", "define", "block")


def template_problem(text: str) -> str | None:
    """Why Go's template parser would refuse `text`, or None."""
    open_blocks: list[str] = []
    at = 0
    while (start := text.find("{{", at)) != -1:
        i, quote = start + 2, None
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 1
                elif c == quote:
                    quote = None
            elif c in "\"`'":
                quote = c
            elif text.startswith("}}", i):
                break
            i += 1
        else:
            return f"'{{{{' at character {start + 1} is never closed with '}}}}'" + (
                f" (a {quote} string inside it is not closed)" if quote else "")
        action = text[start + 2:i].strip()
        action = action.removeprefix("-").removesuffix("-").strip()
        at = i + 2
        if action.startswith("/*"):
            if not action.endswith("*/"):
                return f"the comment at character {start + 1} must end with '*/}}}}'"
            continue
        if not action:
            return f"empty action '{{{{}}}}' at character {start + 1}"
        word = action.split()[0].split("(")[0]
        if word in _BLOCKS:
            open_blocks.append(word)
        elif word == "end":
            if not open_blocks:
                return f"'{{{{ end }}}}' at character {start + 1} closes nothing"
            open_blocks.pop()
        elif word in ("else", "break", "continue") and not open_blocks:
            return f"'{{{{ {word} }}}}' at character {start + 1} outside if/range/with"
    if open_blocks:
        return f"'{{{{ {open_blocks[-1]} }}}}' has no '{{{{ end }}}}'"
    return None


# ------------------------------------------------------------------------------------ what a message may show
# One policy for every message: a value is shown only when it cannot be a secret, and never long.
# Secret by field (a secret field, or a field that holds secret fields such as a contact point), by
# marking (a `secure:` value on a field that is no secret field: shown() quotes none while
# `quoting_none_of` holds them, and ConfigError.hiding masks what was worded elsewhere), and by
# shape (below).
ECHO_LIMIT = 60
# The `secure:` values of the config being validated. Known where a value is quoted, not searched
# for in the message afterwards: by then it is repr'd (`\t` for a tab) or cut after ECHO_LIMIT
# characters, and no longer the text a search would find.
_SECURE_VALUES: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("secure_values", default=frozenset())


@contextlib.contextmanager
def quoting_none_of(secrets: typing.Iterable[str]) -> typing.Iterator[None]:
    """While it holds, shown() quotes none of `secrets`, nor a value holding one."""
    token = _SECURE_VALUES.set(frozenset(s for s in secrets if s))
    try:
        yield
    finally:
        _SECURE_VALUES.reset(token)


def _is_secure(text: str) -> bool:
    return any(text == s or (len(s) >= 3 and s in text) for s in _SECURE_VALUES.get())


# A credential's own shape, which a key may have too (shown_key).
_SECRET_SHAPES = re.compile(
    r"://[^/\s]*@"  # credentials inside a URL
    r"|^(glsa_|glc_|glsc_|xox[abposr]-|gh[pousr]_|sk-|AKIA|eyJ)"  # Grafana, Slack, GitHub, OpenAI, AWS tokens, JWTs
    r"|hooks\.slack\.com|events\.pagerduty\.com"
    r"|^[A-Fa-f0-9]{24,}$"  # keys in hex (PagerDuty integration keys are 32)
    r"|@[A-Za-z0-9-]+\."  # e-mail addresses: contact point endpoints
)
# Words a credential comes with, in any case: searched in the value folded as `(?i:...)` folds these
# letters (A-Z, and the only other characters re takes for them: İ and ı for i, ſ for s, the Kelvin
# sign for k), for the same matches. (?i:...) itself tries every word at every position: 0.4 s on a
# 4 MB value.
_SECRET_WORDS = re.compile(r"bearer\s|basic\s|password|passwd|secret|token|apikey|api_key")
_IGNORECASE_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})  # İ ı ſ, the Kelvin sign
_SECRET_NAMES = re.compile(r"(?i)pass|secret|token|auth|key|credential|contactpoints")


def _folded(text: str) -> str:
    """`text` folded as `(?i:...)` folds the secret words' letters (_IGNORECASE_FOLD, then lower())."""
    return (text if text.isascii() else text.translate(_IGNORECASE_FOLD)).lower()


def could_be_secret(value: Any) -> bool:
    """Whether a value looks like a credential: by its shape alone, whatever field it was found in."""
    if not isinstance(value, str):
        return False
    if _SECRET_SHAPES.search(value) or "webhook" in value:
        return True
    if _SECRET_WORDS.search(_folded(value)):
        return True
    # A long run of mixed letters and digits without spaces reads like a generated token.
    return (len(value) >= 20 and not re.search(r"\s", value) and re.search(r"\d", value) is not None
            and re.search(r"[a-z]", value) is not None and re.search(r"[A-Z]", value) is not None)


def shown(value: Any) -> str:
    """`value` as a message may show it: repr'd, cut after ECHO_LIMIT characters; '[secret]' for a
    `secure:` value (quoting_none_of)."""
    if _SECURE_VALUES.get() and type(value) in (str, int, float) and _is_secure(str(value)):
        return repr(SECRET_MASK)
    if isinstance(value, str):
        text = repr(value) if len(value) <= ECHO_LIMIT else f"{value[:ECHO_LIMIT]!r}… ({len(value)} characters)"
    elif isinstance(value, (bool, int, float)) or value is None:
        text = repr(value)
    else:
        return f"a {type(value).__name__}"
    return text if len(text) <= ECHO_LIMIT + 40 else text[: ECHO_LIMIT + 40] + "…"


def _quoted_forms(secret: str) -> set[str]:
    """`secret` as a message may hold it: itself, and inside shown()'s quotes (whole, or cut)."""
    forms = {secret, repr(secret)[1:-1]}
    if len(secret) > ECHO_LIMIT:
        cut = repr(secret[:ECHO_LIMIT])
        forms |= {cut[1:-1], cut[1:ECHO_LIMIT + 40]}
    return {f for f in forms if len(f) >= 3}


def shown_key(key: Any) -> str:
    """A key no model has, as a message may show it: itself, or "(a key that looks like a secret)"
    when it has a credential's own shape. Such a key is data: `slack: {https://hooks.slack.com/...}`
    (braces for quotes) makes the webhook a key, as does a token pasted as a config key. Not by the
    words a credential comes with, nor by length: keys are names (`secretsprovider`, a long alert
    name with a digit). The names a stack gives (a contact point's, a team's) are shown: they are
    what Grafana shows too."""
    if isinstance(key, str) and (_SECRET_SHAPES.search(key) or _SECRET_SHAPES.search(key.rpartition(":")[2])):
        return "(a key that looks like a secret)"  # the second: a token after a config key's namespace
    return str(key)


def quoted(value: Any) -> str:
    """`value` quoted for a message, or "(a value that looks like a secret)"."""
    return "(a value that looks like a secret)" if could_be_secret(value) else shown(value)


def got(value: Any, secret: bool = False) -> str:
    """` (got <value>)` for a message, or nothing when the value is or could be a secret."""
    if secret or could_be_secret(value) or isinstance(value, (dict, list, tuple)):
        return ""
    return f" (got {shown(value)})"


def duration_ms(duration: str) -> int:
    """Milliseconds in a Prometheus duration such as `1m30s`, exactly."""
    return sum(int(n) * (1 if u == "ms" else _DURATION_UNITS[u] * 1000)
               for n, u in re.findall(r"([0-9]+)(ms|[ywdhms])", duration))


def duration_seconds(duration: str) -> int:
    """Whole seconds in a Prometheus duration such as `1m30s`."""
    return duration_ms(duration) // 1000


def kebab(name: str) -> str:
    """`HighCPUUsage` -> `high-cpu-usage`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def secret(default: Any = ..., **kwargs: Any) -> Any:
    """A field whose value must come from a Pulumi `secure:` config value."""
    return Field(default, json_schema_extra={"secret": True}, **kwargs)


class Model(BaseModel):
    """Strict base: camelCase keys as in Pulumi config, unknown keys refused, immutable, no coercion
    (`true` is no integer, `"5"` no number, `1` no boolean)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


def secret_paths(model: BaseModel, path: tuple = ()) -> typing.Iterator[tuple[tuple, str]]:
    """Every secret field that holds a value, as (config path, value)."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = (*path, field.alias or name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("secret") and value is not None:
            yield key, value
        for sub_key, item in _children(value):
            yield from secret_paths(item, (*key, *sub_key))


def _children(value: Any) -> typing.Iterator[tuple[tuple, BaseModel]]:
    if isinstance(value, BaseModel):
        yield (), value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, BaseModel):
                yield (k,), v
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if isinstance(v, BaseModel):
                yield (i,), v


MAX_LINES = 15  # a message is at most this many lines: the first problems, then how many more
_LINE_LIMIT = 400


class ConfigError(Exception):
    """A configuration problem: the program stops before it registers any resource.

    The program re-raises it as a Pulumi RunError, which Pulumi prints alone, without a traceback.
    The message is at most MAX_LINES lines of at most ~400 characters, one line per problem.
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{_one_line(file)}: invalid configuration ({count}); nothing was deployed:"]
        listed = [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        if len(listed) > MAX_LINES - 1:
            rest = len(listed) - (MAX_LINES - 2)
            listed = listed[: MAX_LINES - 2] + [f"  … and {rest} more problems (fix these first, or see them all "
                                                  "by fixing the file in parts)"]
        lines += [_one_line(line) for line in listed]
        super().__init__("\n".join(lines))

    def hiding(self, secrets: typing.Iterable[str]) -> "ConfigError":
        """The same error with every occurrence of the `secrets` (the `secure:` values) masked: the second
        line, for messages worded where quoting_none_of did not hold. In each form shown() quotes
        a value in: as it is, repr'd, and its first ECHO_LIMIT characters repr'd."""
        hidden = sorted({form for s in secrets if isinstance(s, str) and len(s) >= 3 for form in _quoted_forms(s)},
                        key=len, reverse=True)

        def mask(text: str) -> str:
            for value in hidden:
                text = text.replace(value, SECRET_MASK)
            return text
        return type(self)(self.file, [(p, mask(m)) for p, m in self.problems]) if hidden else self


def _one_line(text: str) -> str:
    """No line breaks or control characters from a value, and no endless line."""
    text = "".join(c if c.isprintable() else "\\n" if c == "\n" else " " for c in text)
    return text if len(text) <= _LINE_LIMIT else text[: _LINE_LIMIT - 1] + "…"


def dotted(path: typing.Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def validation_problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """pydantic errors as (field path, what is wrong and what is allowed), values shown only where
    they cannot be secrets (see `got`)."""
    return [(prefix + dotted(at), message) for at, message in located_problems(error, model)]


def located_problems(error: ValidationError, model: type[BaseModel]) -> list[tuple[tuple, str]]:
    """validation_problems with each path as its keys, which may hold a dot (a contact point
    `ops.team`): where code must find the field again, as the missing secrets are filled."""
    problems: list[tuple[tuple, str]] = []
    for err in _union_members_resolved(error.errors(), model):
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):  # a model validator that names its own fields (dotted field names)
            problems += [((*loc, *sub.split(".")) if sub else loc, message) for sub, message in cause.problems]
            continue
        if "[key]" in loc:  # pydantic's marker for a bad dict key: the path is the key itself
            loc = tuple(p for p in loc if p != "[key]")
        at = loc
        if err["type"] == "extra_forbidden":  # a key the model does not have: data, which may be a pasted secret
            at = (*loc[:-1], shown_key(loc[-1]))
            allowed = _allowed_keys(model, loc[:-1])
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            message += f"; allowed: {', '.join(allowed)}"
        elif err["type"] == "missing":
            message = MISSING_SECRET if _is_secret(model, loc) else "is required"
        elif err["type"] == "model_type":  # pydantic says "or instance of AlertRule": a class name, not for people
            message = f"Input should be a mapping with the keys {', '.join(_allowed_keys(model, loc))}"
            message += got(err["input"], secret=may_hold_secret(model, loc))
        else:
            message = _said(err)
            if "input" in err and err["type"] != "value_error":
                message += got(err["input"], secret=may_hold_secret(model, loc))
        problems.append((at, message))
    return problems


def _said(err: dict) -> str:
    """What a pydantic error says, in the program's words."""
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "string_pattern_mismatch":
        return _PATTERN_HINTS.get((err.get("ctx") or {}).get("pattern"), message)
    return message + _TYPE_HINTS.get(err["type"], "")


def _union_members_resolved(errors: list[dict], model: type[BaseModel]) -> list[dict]:
    """pydantic's errors with the label it gives each member of a union (`list[function-after[...]]`)
    taken out of their paths. Where the value went into a member and failed inside it, only that
    member's errors; where it matched no member at all, one error saying what each member takes:
    "Input should be a valid list, or a valid dictionary"."""
    resolved: list[dict] = []
    unions: dict[tuple, list[dict]] = {}
    for err in errors:
        at = _union_label_at(model, tuple(err["loc"]))
        if at is None:
            resolved.append(err)
            continue
        loc = tuple(err["loc"])
        unions.setdefault(loc[:at], []).append({**err, "loc": loc[:at] + loc[at + 1:]})
    for path, member_errors in unions.items():
        inside = [e for e in member_errors if len(e["loc"]) > len(path)]
        if inside:
            resolved += inside
            continue
        takes = [re.sub(r" \(got .*\)$", "", _said(e)) for e in member_errors]
        takes = list(dict.fromkeys(takes[:1] + [t.removeprefix("Input should be ") for t in takes[1:]]))
        resolved.append({**member_errors[0], "type": "union", "msg": ", or ".join(takes)})
    return resolved


def _union_label_at(model: type[BaseModel], loc: tuple) -> int | None:
    """Where in `loc` pydantic put the label of a union's member: the part after the path of a field,
    dict value or list item that is a union of two types or more."""
    annotation: Any = model
    for index, part in enumerate(loc):
        if typing.get_origin(_peeled(annotation)) in (Union, types.UnionType):
            return index
        annotation, _ = _step(annotation, part)
        if annotation is None:
            return None
    return None


def _peeled(annotation: Any) -> Any:
    """`annotation` without Annotated[...] and without an Optional[...] around one type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


_TYPE_HINTS = {
    "int_type": " (a whole number, without quotes)",
    "float_type": " (a number, without quotes)",
    "bool_type": " (true or false, without quotes)",
    "finite_number": " (NaN and infinity are no values a threshold, a rate or a bucket can take)",
}


class Problems(ValueError):
    """Raised by a model validator to report problems at paths below the model it validates."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))


def _is_secret(model: type[BaseModel], loc: tuple) -> bool:
    """Whether the field at `loc` inside `model` is a secret field."""
    _, field = _walk(model, loc)
    return _secret_field(field)


def _secret_field(field: Any) -> bool:
    extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
    return bool(extra.get("secret"))


def may_hold_secret(model: type[BaseModel], loc: tuple) -> bool:
    """Whether what sits at `loc` inside `model` is, holds or could be a secret: a secret field, a
    field whose type holds secret fields (a contact point, its integrations), a place under a key
    named like a credential, or a place the models do not know."""
    if any(_SECRET_NAMES.search(str(part)) for part in loc):
        return True
    annotation, field = _walk(model, loc)
    if annotation is None:
        return True
    return _secret_field(field) or _holds_secret(annotation)


def _holds_secret(annotation: Any, seen: frozenset = frozenset()) -> bool:
    annotation = _peeled(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        return any(_secret_field(f) or _holds_secret(f.annotation, seen | {annotation})
                   for f in annotation.model_fields.values())
    return any(_holds_secret(arg, seen) for arg in typing.get_args(annotation))


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`."""
    annotation = _peeled(_walk(model, loc)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sorted(f.alias or n for n, f in annotation.model_fields.items())
    return []


def _walk(model: type[BaseModel], loc: tuple) -> tuple[Any, Any]:
    """The annotation at `loc` inside `model`, and the model field that declares it (None for a
    dict value or list item), found by walking the annotations."""
    annotation: Any = model
    field = None
    for part in loc:
        annotation, field = _step(annotation, part)
        if annotation is None:
            return None, None
    return annotation, field


def _step(annotation: Any, part: Any) -> tuple[Any, Any]:
    """The annotation one part further along a path, and the model field that declares it (None for
    a dict value or list item); (None, None) for a key the model does not have."""
    annotation = _peeled(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = next((f for n, f in annotation.model_fields.items() if part in (n, f.alias)), None)
        return (None, None) if field is None else (field.annotation, field)
    args = typing.get_args(annotation)  # a dict value or a list item
    return (args[-1] if args else Any), None

