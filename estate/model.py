"""Building blocks shared by the stack model and the team model: base class, field types, errors."""
from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

# Grafana refuses uids longer than 40 characters.
UID_MAX = 40
DURATION_PATTERN = r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$"
_DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Uid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=UID_MAX)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, min_length=1)]  # refuses "", which the pattern matches
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
# What a person reads instead of the regular expression when a value does not match it.
_PATTERN_HINTS = {
    DURATION_PATTERN: "not a duration: write a number and a unit, e.g. 30s, 5m, 1h30m (units: y w d h m s ms)",
    r"^[A-Za-z0-9_-]+$": "a uid may use only letters, digits, '-' and '_'",
    r"^[a-z][a-z0-9-]*$": "must be lowercase letters, digits and '-', starting with a letter",
    r"^[a-zA-Z_][a-zA-Z0-9_]*$": "a label name is letters, digits and '_', not starting with a digit",
    r"^https?://[^\s]+$": "must be an http:// or https:// URL without spaces",
}


def duration_seconds(duration: str) -> int:
    """Seconds in a Prometheus duration such as `1m30s`."""
    total = sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", duration))
    return int(total)


def kebab(name: str) -> str:
    """`HighCPUUsage` -> `high-cpu-usage`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def secret(default: Any = ..., **kwargs: Any) -> Any:
    """A field whose value must come from a Pulumi `secure:` config value."""
    return Field(default, json_schema_extra={"secret": True}, **kwargs)


class Model(BaseModel):
    """Strict base: camelCase keys as in Pulumi config, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
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


class ConfigError(Exception):
    """A configuration problem: the program stops before it registers any resource.

    The program re-raises it as a Pulumi RunError, which Pulumi prints alone, without a traceback.
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{file}: invalid configuration ({count}); nothing was deployed:"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        super().__init__("\n".join(lines))


def dotted(path: typing.Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def validation_problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """pydantic errors as (field path, what is wrong and what is allowed)."""
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):  # a model validator that names its own fields
            problems += [(prefix + dotted((*loc, sub) if sub else loc), message) for sub, message in cause.problems]
            continue
        if "[key]" in loc:  # pydantic's marker for a bad dict key: the path is the key itself
            loc = tuple(p for p in loc if p != "[key]")
        path = prefix + dotted(loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            message += f"; allowed: {', '.join(allowed)}"
        elif err["type"] == "missing":
            message = "is required"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "string_pattern_mismatch":
                message = _PATTERN_HINTS.get((err.get("ctx") or {}).get("pattern"), message)
            if ("input" in err and not isinstance(err["input"], (dict, list)) and err["type"] != "value_error"
                    and not _is_secret(model, loc)):  # never echo a secret into logs
                message += f" (got {err['input']!r})"
        problems.append((path, message))
    return problems


class Problems(ValueError):
    """Raised by a model validator to report problems at paths below the model it validates."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))


def _is_secret(model: type[BaseModel], loc: tuple) -> bool:
    """Whether the field at `loc` inside `model` is a secret field."""
    _, field = _walk(model, loc)
    extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
    return bool(extra.get("secret"))


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`."""
    annotation = _model_in(_walk(model, loc)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sorted(f.alias or n for n, f in annotation.model_fields.items())
    return []


def _walk(model: type[BaseModel], loc: tuple) -> tuple[Any, Any]:
    """The annotation at `loc` inside `model`, and the model field that declares it (None for a
    dict value or list item), found by walking the annotations."""
    annotation: Any = model
    field = None
    for part in loc:
        annotation = _model_in(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for n, f in annotation.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None, None
            annotation = field.annotation
        else:  # a dict value or a list item
            args = typing.get_args(annotation)
            annotation, field = (args[-1] if args else Any), None
    return annotation, field


def _model_in(annotation: Any) -> Any:
    """The model inside Optional[...] / Annotated[...], or the annotation itself."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation
