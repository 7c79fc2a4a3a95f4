"""A stack's configuration as the Pulumi engine hands it over, validated into a StackConfig.

The engine passes every config value as text (structured values, numbers and booleans as JSON)
and says which keys are secret; the offline render builds the same from the stack file
(`config_from_file`). Nothing here talks to Pulumi.

Secrets are never committed: a stack file holds the structure (a contact point's `slack:` with its
`recipient`, a datasource's `basicAuthUser`) without the secret leaves. The secrets a stack needs
are exactly the secret fields validation finds missing (`needed_secrets`): the offline render fills
each with a masked placeholder, a real run stops with one line per missing secret, and
`python -m tools.secrets` lists them or sets them from the environment (docs/secrets.md).
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from pydantic import ValidationError

from .files import (INVISIBLE_KEY, MAX_BYTES, MAX_DEPTH, MAX_DIGITS, MAX_NODES, KeyGivenTwice, depth,
                    has_invisible, normalized, not_unicode, not_unicode_at, read_yaml, unicode_path, unique_names)
from .layout import PROJECT, Layout
from .model import (MISSING_SECRET, PLACEHOLDER, ConfigError, _holds_secret, _is_secret, _secret_field, _walk,
                    dotted, located_problems, quoting_none_of, secret_paths, shown_key, validation_problems)
from .stack import StackConfig

# What a stack file may hold besides `config` (Pulumi's stack settings file reference:
# https://www.pulumi.com/docs/iac/concepts/projects/stack-settings-file/).
STACK_FILE_KEYS = ("config", "encryptedkey", "encryptionsalt", "environment", "secretsprovider")
# Config of other namespaces a stack file may set: the Kubernetes provider's documented configuration
# (the SDK's ProviderArgs, which the default provider the Grafana deployment uses reads;
# tests/test_malformed_inputs.py checks the list against the installed SDK) and Pulumi's own keys
# (pulumi:disable-default-providers, pulumi/pulumi#8829; pulumi:autonaming).
OTHER_NAMESPACES: dict[str, tuple[str, ...]] = {
    "kubernetes": (
        "alwaysRender", "cluster", "clusterIdentifier", "context", "deleteUnreachable", "enableConfigMapMutable",
        "enablePatchForce", "enableSecretMutable", "enableServerSideApply", "helmReleaseSettings",
        "kubeClientSettings", "kubeconfig", "namespace", "renderYamlToDirectory", "skipUpdateUnreachable",
        "suppressDeprecationWarnings", "suppressHelmHookWarnings", "upsertExistingObjects"),
    "pulumi": ("autonaming", "disable-default-providers"),
}
# `grafana:` keys configure Pulumi's default Grafana provider, which no resource here uses: every one
# goes through the platform's own provider (components/connection.py), which Pulumi gives no stack
# config to. A `grafana:url` or `grafana:auth` would be read by no one (and a token there sits in clear).
UNREAD_NAMESPACE = "grafana"


# A stack's name: Pulumi's own rule, which bounds it at 100 (pulumi/pulumi pkg/backend/filestate:
# `[A-Za-z0-9_.-]{1,100}`), not beginning with `.` or `-` (no `..`, no option). A longer one would
# reach the file system as a name too long: an OSError, not a message naming the stacks.
STACK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def stack_file(stack: str, layout: Layout) -> Path:
    """The existing stack file of `stack`; ConfigError for a name that is no stack (`../x`, `a/b`) or has no file."""
    if not STACK_NAME.fullmatch(stack) or not (path := layout.stack_file(stack)).exists():
        shown = f"stacks/Pulumi.{stack}.yaml" if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", stack) else "--stack"
        available = ", ".join(layout.stack_names()) or f"none (no {layout.stacks.name}/Pulumi.<stack>.yaml)"
        raise ConfigError(shown, [("", f"no such stack; available: {available}")])
    return path


def project_keys() -> list[str]:
    """This project's config keys: the StackConfig fields, as a stack file spells them."""
    return sorted(f.alias or n for n, f in StackConfig.model_fields.items())


_TOO_DEEP = object()  # what _decode gives for JSON nested past the decoder


class _TooManyDigits(ValueError):
    """JSON holding a number past Python's int_max_str_digits (what _decode raises)."""


def project_values(config: Mapping[str, str], where: str = "the stack's config",
                   secret_keys: Iterable[str] = ()) -> dict[str, Any]:
    """This project's keys (namespace removed), each decoded as the engine encoded it; a ConfigError
    naming `where` for a value nested deeper than a stack file may be (MAX_DEPTH): the engine reads
    the stack file with its own reader, so the bound is held here too; or giving a key twice in an
    object (of a value among `secret_keys`, without naming it: it is part of the secret); or holding
    text that is no Unicode (a lone surrogate: PULUMI_CONFIG written by hand), which would fail the
    SDK mid-registration."""
    prefix = f"{PROJECT}:"
    values, problems = {}, []
    for key, raw in config.items():
        if key.startswith(prefix):
            if isinstance(raw, str) and len(raw) > MAX_BYTES // 4 and len(raw.encode(errors="replace")) > MAX_BYTES:
                problems.append((key, f"larger than {MAX_BYTES // 1024} KiB, which no stack file may hold"))
                continue
            try:
                values[key[len(prefix):]] = value = _decode(raw)
            except KeyGivenTwice as e:  # one of its values would vanish
                problems.append((key, str(e) if _keys_may_show(key, secret_keys)
                                 else "a key is given twice in one object of this value; keep one"))
                continue
            except _TooManyDigits:
                problems.append((key, f"holds a number of more than {MAX_DIGITS} digits, which Python will not read"))
                continue
            if value is _TOO_DEEP or depth(value) > MAX_DEPTH:
                problems.append((key, f"nested more than {MAX_DEPTH} levels deep"))
            elif isinstance(value, (dict, list)) and sum(1 for _ in leaves(value)) > MAX_NODES:
                problems.append((key, f"more than {MAX_NODES} values, which no stack file may hold"))
            elif (at := not_unicode_at({key: value})) is not None:
                problems.append((unicode_path(at[:1]), f"{not_unicode(at[1:])} (check PULUMI_CONFIG)"))
    if problems:
        raise ConfigError(where, problems)
    return values


def _keys_may_show(key: str, secret_keys: Iterable[str]) -> bool:
    """Whether a message may quote the keys inside config value `key`: not when the engine marks it
    secret or its field is or holds a secret field (a secret's text, or the names beside one)."""
    _, field = _walk(StackConfig, (key.removeprefix(f"{PROJECT}:"),))
    return key not in secret_keys and field is not None and not _secret_field(field) \
        and not _holds_secret(field.annotation)


def _decode(raw: Any) -> Any:
    # Pulumi hands structured values, numbers and booleans over as JSON text; other text is the value.
    # A key given twice in it (PULUMI_CONFIG written by hand, say) raises KeyGivenTwice; NaN passes,
    # for the models to refuse with the field's path.
    if isinstance(raw, str):
        try:
            return json.loads(raw, object_pairs_hook=unique_names)
        except KeyGivenTwice:
            raise
        except ValueError as e:
            if "integer string conversion" in str(e):  # JSON all the same: as text it would be misread
                raise _TooManyDigits from None
            return raw
        except RecursionError:  # deeper than the decoder goes
            return _TOO_DEEP
    return raw


def config_path(path: tuple) -> str:
    """A path as `pulumi config set --path` reads it: contactPoints.api-production.slack.url,
    with keys that hold other characters quoted: contactPoints["a.b"].email.addresses."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def key_path(key: str, at: tuple) -> str:
    """A config key and a path inside its value, as `pulumi config set --path` reads them."""
    return key + ("." if at and not isinstance(at[0], int) else "") + config_path(at)


def env_var(path: tuple) -> str:
    """The environment variable `tools.secrets apply` reads a secret from."""
    return "GRAFANA_PLATFORM_SECRET_" + re.sub(r"[^A-Z0-9]", "_", config_path(path).upper())


def set_command(stack: str, path: tuple) -> str:
    return f"pulumi config set --stack {stack} --secret --path '{PROJECT}:{config_path(path)}' (value on stdin)"


@dataclass(frozen=True)
class LoadedConfig:
    config: StackConfig
    secure_values: frozenset[str]  # every value that came from a secret: masked wherever it lands


def load_stack_config(stack: str, config: Mapping[str, str], secret_keys: set[str], layout: Layout) -> LoadedConfig:
    """Validate the engine's `config` for `stack`; every secret field must have come from a secret,
    and every secret the stack needs must be there."""
    path = layout.stack_file(stack)
    where = layout.relative(path)
    values = project_values(config, where, secret_keys)
    every = list(leaves(values))
    # Where secrets came from: `secure:` values in the stack file, the offline render's placeholders
    # in it, and keys the engine marks secret that hold neither (an ESC environment, or no stack
    # file): those count as secret as a whole.
    secure = secure_paths_in_file(path, where)
    if path.exists():  # the offline render of a stack file: its placeholders are exactly where secrets go
        secure |= {at for at, v in every if isinstance(v, str) and PLACEHOLDER.match(v)}
    precise = set(secure)
    marked = {(k,) for k in values if f"{PROJECT}:{k}" in secret_keys and not any(p[0] == k for p in secure)}
    secure |= marked
    # A key marked secret as a whole that holds one value (a URL from an ESC environment's fn::secret)
    # is known exactly: that value is a secure one, masked in messages and in every input it reaches.
    precise |= {at for at in marked if not isinstance(values[at[0]], (dict, list))}
    # Values from `secure:` on fields that are no secret fields (a Slack recipient, a URL): the
    # components know nothing of them, so every message masks them and every resource input holding
    # one becomes a secret (program.mask_secure_values). Secret fields are never shown and always
    # secret Outputs already; a key secret as a whole is known only at its secret fields.
    # A secure number (the engine hands `{secure: ...}` of a whole key over as text, which reads as JSON)
    # is held as its text, as a message would quote it.
    secret_values = frozenset(v if isinstance(v, str) else str(v) for at, v in every
                              if ((isinstance(v, str) and v) or type(v) in (int, float))
                              and not _is_secret(StackConfig, at) and any(at[: len(s)] == s for s in precise))
    with quoting_none_of(secret_values):  # what the checks and validation_problems word quotes none of them
        try:
            stack_config = StackConfig.model_validate(values)
        except ValidationError as e:
            # Every missing secret at once, also those validation reaches only once others are filled, each
            # named as `pulumi config set --path` reads it (contactPoints["ops.team"].slack.url).
            problems = [(p, m) for p, m in validation_problems(e, StackConfig) if m != MISSING_SECRET]
            problems += [(config_path(p), MISSING_SECRET) for p in needed_secrets(values)]
            raise ConfigError(where, [(f"{PROJECT}:{p}", _missing(stack, p, m)) for p, m in problems]
                              ).hiding(secret_values) from None
    plain = [p for p, _ in secret_paths(stack_config) if not any(p[: len(s)] == s for s in secure)]
    if plain:
        raise ConfigError(where, [
            (f"{PROJECT}:{dotted(p)}", f"must be a secret, not plain text in the stack file; set it with: "
                                       f"{set_command(stack, p)}")
            for p in plain
        ]).hiding(secret_values)
    return LoadedConfig(stack_config, secret_values)


def _missing(stack: str, path: str, message: str) -> str:
    if message != MISSING_SECRET:
        return message
    return (f"a secret this stack needs, not set; set it with: pulumi config set --stack {stack} --secret --path "
            f"'{PROJECT}:{path}' (value on stdin), or tools.secrets apply")


def leaves(value: Any, at: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) for each scalar leaf of decoded config values."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*at, i))
    else:
        yield at, value


def secure_paths_in_file(path: Path, shown_as: str) -> set[tuple]:
    """Paths of the `secure:` values in a stack file (none when there is no file to read)."""
    if not path.exists():
        return set()
    return {at for key, value in stack_file_config(path, shown_as).items() if key.startswith(f"{PROJECT}:")
            for at, _, is_secure in config_leaves(value, (key.split(":", 1)[1],)) if is_secure}


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


def stack_file_config(path: Path, shown_as: str) -> dict[str, Any]:
    """The `config:` of a stack file with every key namespaced (`teams` -> `grafana-platform:teams`).

    Refused: keys outside the stack file reference, config keys that are no name, namespaces that
    are neither this project's nor a documented provider's or Pulumi's (`grafana-platfrom:protect`
    would be ignored by everyone: nothing protected), keys no one reads, and one key given twice in
    any spelling (`teams` beside `grafana-platform:teams`: Pulumi keeps one, the other vanishes).
    """
    data = read_yaml(path, shown_as)
    problems = [(shown_key(key), f"unknown stack file key; allowed: {', '.join(STACK_FILE_KEYS)}")
                for key in data if key not in STACK_FILE_KEYS]
    config = data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(shown_as, [*problems, ("config", f"must be a mapping of {PROJECT}:<key>: <value>")])
    namespaced: dict[str, Any] = {}
    seen: dict[Any, str] = {}
    ours = project_keys()
    for key, value in config.items():
        if not key:  # the reader refuses keys that are not text
            problems.append(("config", f"an empty key; keys are names like {PROJECT}:orgId"))
            continue
        full = key if ":" in key else f"{PROJECT}:{key}"
        same = normalized(full)
        at = f"config.{shown_key(key)}"
        if same in seen:
            problems.append((at, f"is given twice (also as '{shown_key(seen[same])}'); Pulumi would keep one and "
                                 "drop the other: keep one"))
            continue
        seen[same] = key
        if why := key_problem(full, ours):
            problems.append((at, why))
            continue
        problems += _malformed_secure(full, value)
        namespaced[full] = value
    problems += [("config.pulumi:disable-default-providers", why) for why in settings_problems(namespaced)]
    if problems:
        raise ConfigError(shown_as, problems)
    return namespaced


def key_problem(full: str, ours: list[str]) -> str | None:
    """Why a namespaced config key would be read by no one, whichever route it comes by (a stack file,
    or an ESC environment's pulumiConfig in PULUMI_CONFIG): a namespace that is neither this project's
    nor a documented provider's or Pulumi's (`grafana-platfrom:protect` would be ignored by everyone:
    nothing protected), or a key unknown to its namespace. None for a key someone reads."""
    namespace, name = full.split(":", 1)
    if namespace == PROJECT:
        return None if name in ours else _unknown(name, ours, "key")
    if namespace == UNREAD_NAMESPACE:
        return ("configures Pulumi's default Grafana provider, which no resource here uses (each goes through the "
                f"platform's own, set by {PROJECT}:grafanaUrl, grafanaAuth and orgId): it would be read by no one; "
                "remove it")
    if namespace in OTHER_NAMESPACES:
        return None if name in OTHER_NAMESPACES[namespace] else _unknown(name, OTHER_NAMESPACES[namespace],
                                                                         f"{namespace}: key")
    return (_unknown(namespace, [PROJECT, *OTHER_NAMESPACES], "namespace")
            + "; a key in an unknown namespace is read by no one")


def settings_problems(namespaced: Mapping[str, Any]) -> list[str]:
    """Settings that contradict each other, given the decoded config values by namespaced key."""
    disabled = namespaced.get("pulumi:disable-default-providers")
    if f"{PROJECT}:kubernetes" in namespaced and isinstance(disabled, list) and {"*", "kubernetes"} & set(map(str, disabled)):
        return [f"disables the default Kubernetes provider, which the Grafana that {PROJECT}:kubernetes deploys runs "
                "on (kubeconfig, kubernetes:context): `pulumi up` would fail; leave kubernetes out of it (['grafana'] "
                "is fine)"]
    return []


def engine_key_problems(config: Mapping[str, str]) -> list[tuple[str, str]]:
    """The stack file's key rules (key_problem, settings_problems), held for the keys the engine hands
    over (PULUMI_CONFIG), which may come from no stack file (an ESC environment's pulumiConfig): a key
    in a misspelt namespace would otherwise be dropped without a word (`grafana-platfrom:protect`:
    nothing protected), as would one spelt twice (`kubernetes:context` and `Kubernetes:context`). This
    project's own keys are the models' to judge (an unknown one is named with what it may have meant)."""
    ours, seen = project_keys(), {}
    problems = [(shown_key(repr(key)[1:-1]), INVISIBLE_KEY) for key in sorted(config) if has_invisible(key)]
    for key in sorted(k for k in config if not k.startswith(f"{PROJECT}:") and not has_invisible(k)):
        if ":" not in key:
            problems.append((shown_key(key), f"a key without its namespace; the Pulumi CLI writes {PROJECT}:<key>"))
        elif (same := normalized(key)) in seen:
            problems.append((shown_key(key), f"is given twice (also as '{shown_key(seen[same])}'); keep one"))
        elif why := key_problem(key, ours):
            problems.append((shown_key(key), why))
        seen.setdefault(normalized(key), key)
    decoded = dict.fromkeys(config)
    for key in set(config) & {"pulumi:disable-default-providers"}:
        try:
            decoded[key] = _decode(config[key])
        except ValueError:  # not the list settings_problems reads: no contradiction to name
            pass
    return problems + [("pulumi:disable-default-providers", why) for why in settings_problems(decoded)]


def _malformed_secure(key: str, value: Any) -> list[tuple[str, str]]:
    """A `secure:` value is the ciphertext the Pulumi CLI writes there (`pulumi config set --secret`): text,
    not empty. Offline, any other would become a placeholder too and the render pass, where the CLI
    refuses it. Nothing of it is shown."""
    problems = []
    for at, leaf, is_secure in config_leaves(value):
        if is_secure and not (isinstance(leaf["secure"], str) and leaf["secure"].strip()):
            path = key_path(key, at)
            problems.append((path, f"a secure value must be the ciphertext the Pulumi CLI writes (text, not empty), "
                                   f"not {_kind(leaf['secure'])}; set it with: pulumi config set --secret --path "
                                   f"'{path}' (value on stdin)"))
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "blank text"
    return {type(None): "nothing", bool: "a boolean", int: "a number", float: "a number", list: "a list",
            dict: "a mapping"}.get(type(value), "no text")


def _unknown(name: str, allowed: list[str] | tuple[str, ...], what: str) -> str:
    import difflib

    hint = difflib.get_close_matches(name, allowed, n=1)
    return f"unknown {what}" + (f" (did you mean '{hint[0]}'?)" if hint else "") + f"; allowed: {', '.join(allowed)}"


def needed_secrets(values: dict[str, Any]) -> list[tuple]:
    """The secret fields the stack's structure needs and does not hold, as config paths (no namespace).

    Validation names each missing secret field; filling it with a placeholder can let validation
    reach further checks (a datasource's basicAuthPassword once the rest of it is valid), so this
    fills and validates again until no new missing secret appears.
    """
    values = copy.deepcopy(values)
    found: list[tuple] = []
    for _ in range(10):
        try:
            StackConfig.model_validate(values)
            break
        except ValidationError as e:
            missing = [at for at, message in located_problems(e, StackConfig) if message == MISSING_SECRET]
            new = [p for p in missing if p not in found]
            if not new:
                break
            for p in new:
                _put(values, p, placeholder(p))
            found += new
    return found


def placeholder(path: tuple) -> str:
    return f"<secure {PROJECT}:{config_path(path)}>"


def _put(values: dict, path: tuple, value: Any) -> None:
    node = values
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
    node[path[-1]] = value


def stack_values_from_file(stack: str, layout: Layout) -> tuple[dict[str, str], set[str]]:
    """Config as the Pulumi engine would pass it from Pulumi.yaml defaults and a stack file, each
    `secure:` value replaced by a placeholder (the real secrets never enter an offline render)."""
    project = read_yaml(layout.project_file, layout.relative(layout.project_file))
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            config[f"{PROJECT}:{key}"] = _encode(decl["default"])
    secret_keys: set[str] = set()
    path = layout.stack_file(stack)
    for key, value in stack_file_config(path, layout.relative(path)).items():
        value, has_secret = _placeholders(value, key)
        config[key] = _encode(value)
        if has_secret:
            secret_keys.add(key)
    return config, secret_keys


def config_from_file(stack: str, layout: Layout) -> tuple[dict[str, str], set[str]]:
    """The config an offline render runs with: the stack file's, every `secure:` value and every
    secret the stack needs (`needed_secrets`) filled with a masked placeholder, marked secret."""
    config, secret_keys = stack_values_from_file(stack, layout)
    values = project_values(config)
    for path in needed_secrets(values):
        _put(values, path, placeholder(path))
        key = f"{PROJECT}:{path[0]}"
        config[key] = _encode(values[path[0]])
        secret_keys.add(key)
    return config, secret_keys


def _placeholders(value: Any, key: str) -> tuple[Any, bool]:
    """`value` with each `{secure: ...}` replaced by `<secure key.path[i]>`, and whether it held one."""
    value = copy.deepcopy(value)
    secure = [at for at, _, is_secure in config_leaves(value) if is_secure]
    for at in secure:
        parent, node = None, value
        for step in at:
            parent, node = node, node[step]
        text = f"<secure {key_path(key, at)}>"
        if parent is None:
            return text, True
        parent[at[-1]] = text
    return value, bool(secure)


def _encode(value: Any) -> str:
    # The engine passes strings as they are and everything else as JSON.
    return value if isinstance(value, str) else json.dumps(value)
