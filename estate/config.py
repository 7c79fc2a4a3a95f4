"""A stack's configuration as the Pulumi engine hands it over, validated into a StackConfig.

The engine passes every config value as text (structured values, numbers and booleans as JSON)
and says which keys are secret; the offline render builds the same from the stack file
(`config_from_file`). Nothing here talks to Pulumi.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from pydantic import BaseModel, ValidationError

from .files import read_yaml
from .layout import PROJECT, Layout
from .model import ConfigError, _model_in, dotted, secret_paths, validation_problems
from .stack import StackConfig


def project_values(config: Mapping[str, str]) -> dict[str, Any]:
    """This project's keys (namespace removed), each decoded as the engine encoded it."""
    prefix = f"{PROJECT}:"
    return {key[len(prefix):]: _decode(raw) for key, raw in config.items() if key.startswith(prefix)}


def _decode(raw: Any) -> Any:
    # Pulumi hands structured values, numbers and booleans over as JSON text.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def load_stack_config(stack: str, config: Mapping[str, str], secret_keys: set[str], layout: Layout) -> StackConfig:
    """Validate the engine's `config` for `stack`; every secret field must have come from a `secure:` value."""
    path = layout.stack_file(stack)
    where = layout.relative(path)
    values = project_values(config)
    try:
        stack_config = StackConfig.model_validate(values)
    except ValidationError as e:
        raise ConfigError(where, validation_problems(e, StackConfig, prefix=f"{PROJECT}:")) from None
    secure = secure_paths_in_file(path, where)
    if secure is None:  # no stack file (e.g. config from an ESC environment): trust the engine's marks
        secure = {(k,) for k in values if f"{PROJECT}:{k}" in secret_keys}
    plain = [p for p, _ in secret_paths(stack_config) if not any(p[: len(s)] == s for s in secure)]
    if plain:
        raise ConfigError(where, [
            (f"{PROJECT}:{dotted(p)}",
             "must be a secret; set it with: "
             f"pulumi config set --stack {stack} --secret --path '{PROJECT}:{dotted(p)}' <value>")
            for p in plain
        ])
    return stack_config


def secure_paths_in_file(path: Path, shown_as: str) -> set[tuple] | None:
    """Paths of the `secure:` values in a stack file, or None when there is no file to read."""
    if not path.exists():
        return None
    config = {key: value for key, value in (read_yaml(path, shown_as).get("config") or {}).items()
              if key.startswith(f"{PROJECT}:")}
    secure = {at for key, value in config.items()
              for at, _, is_secure in config_leaves(value, (key.split(":", 1)[1],)) if is_secure}
    # a secret the file leaves out can only come from the engine's secrets (or an offline placeholder)
    return secure | {at for key, value in config.items() for at in _absent_secrets(copy.deepcopy(value), key)[1]}


def config_leaves(value: Any, at: tuple = ()) -> Iterator[tuple[tuple, Any, bool]]:
    """(path, value, is_secure) for each leaf of a stack file's config value; `{secure: ...}` is one secure leaf."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        yield at, value, True
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from config_leaves(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from config_leaves(v, (*at, i))
    else:
        yield at, value, False


def config_from_file(stack: str, layout: Layout) -> tuple[dict[str, str], set[str]]:
    """Config as the Pulumi engine would pass it from Pulumi.yaml defaults and a stack file.

    `secure:` values become placeholders: no passphrase or cloud login is needed, and the real
    secrets never enter an offline render.
    """
    project = read_yaml(layout.project_file, layout.relative(layout.project_file))
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            config[f"{PROJECT}:{key}"] = _encode(decl["default"])
    secret_keys: set[str] = set()
    path = layout.stack_file(stack)
    for key, value in (read_yaml(path, layout.relative(path)).get("config") or {}).items():
        if ":" not in key:
            key = f"{PROJECT}:{key}"
        value, has_secret = _placeholders(value, key)
        value, absent = _absent_secrets(value, key)
        has_secret = has_secret or bool(absent)
        config[key] = _encode(value)
        if has_secret:
            secret_keys.add(key)
    return config, secret_keys


def _placeholders(value: Any, key: str) -> tuple[Any, bool]:
    """`value` with each `{secure: ...}` replaced by `<secure key.path[i]>`, and whether it held one."""
    value = copy.deepcopy(value)
    secure = [at for at, _, is_secure in config_leaves(value) if is_secure]
    for at in secure:
        path, parent, node = key, None, value
        for step in at:
            path += f"[{step}]" if isinstance(node, list) else f".{step}"
            parent, node = node, node[step]
        if parent is None:
            return f"<secure {path}>", True
        parent[at[-1]] = f"<secure {path}>"
    return value, bool(secure)


def _absent_secrets(value: Any, key: str) -> tuple[Any, list[tuple]]:
    """`value` with a placeholder for each required secret field the file leaves out of a section it has
    (e.g. `kubernetes.smtp.password`), and their paths: offline, a secret kept out of the repository
    reads like a `secure:` one; a real run must get it from the engine (`pulumi config set --secret`)."""
    name = key.split(":", 1)[1]
    field = StackConfig.model_fields.get(_attribute(StackConfig, name))
    if field is None or not isinstance(value, dict):
        return value, []
    return value, _fill_secrets(_model_in(field.annotation), value, (name,))


def _fill_secrets(model: Any, value: dict, at: tuple) -> list[tuple]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    added = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if alias not in value:
            if extra.get("secret") and field.is_required():
                value[alias] = placeholder(f"{PROJECT}:{dotted((*at, alias))}")
                added.append((*at, alias))
        elif isinstance(value[alias], dict):
            added += _fill_secrets(_model_in(field.annotation), value[alias], (*at, alias))
    return added


def _attribute(model: type[BaseModel], alias: str) -> str:
    return next((n for n, f in model.model_fields.items() if (f.alias or n) == alias), alias)


def placeholder(path: str) -> str:
    """What an offline render reads for the secret at `path` (`grafana-platform:kubernetes.adminPassword`)."""
    return f"<secure {path}>"


def _encode(value: Any) -> str:
    # The engine passes strings as they are and everything else as JSON.
    return value if isinstance(value, str) else json.dumps(value)
