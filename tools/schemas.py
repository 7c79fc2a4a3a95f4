"""JSON Schemas for the files people edit by hand, generated from the models that read them.

    venv/bin/python -m tools.schemas            # rewrites schemas/*.schema.json
    venv/bin/python -m tools.schemas --check    # exit 1 when one is out of date

- `schemas/team.schema.json`: `teams/<slug>/team.yaml` (estate.team.TeamSpec);
- `schemas/stack.schema.json`: a whole stack file `stacks/Pulumi.<stack>.yaml`: Pulumi's own
  top-level keys, `config:` with one `grafana-platform:<key>` entry per StackConfig field (a
  secret field takes `{secure: <ciphertext>}` only, as the loader requires), and the provider
  namespaces `grafana:`, `kubernetes:` and `pulumi:`, passed through as they are.

Every such file starts with `# yaml-language-server: $schema=<relative path>`, which editors with
the YAML language server (VS Code's YAML extension, Neovim's yamlls, JetBrains) read to complete
keys and flag mistakes as people type. The YAML language server supports JSON Schema draft 7 and
below (README of redhat-developer/yaml-language-server), so the schemas are written in draft 7:
`definitions` instead of `$defs`, and a `$ref` with siblings wrapped in `allOf`.

A model also accepts a field under its Python name (`alert_interval` beside `alertInterval`,
pydantic's populate_by_name): the schema accepts that spelling too, one of the two at a time,
marked `doNotSuggest` so completion offers only the documented camelCase one
(redhat-developer/yaml-language-server, src/languageservice/services/yamlCompletion.ts).

What a schema cannot say, the program still checks when it loads the files: references between
keys (a receiver that must be a contact point, an override that must name an alert), PromQL, and
the cross-field rules of the model validators. The schemas catch the typing mistakes early;
`tools.render` remains the judge.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Layout
from estate.config import OTHER_NAMESPACES  # the namespaces a stack file may configure besides this project's
from estate.files import read_text, read_yaml
from estate.stack import StackConfig
from estate.team import TeamSpec
from tools import command, first_line

SCHEMAS = PROJECT_LAYOUT.root / "schemas"
TEAM_SCHEMA = SCHEMAS / "team.schema.json"
STACK_SCHEMA = SCHEMAS / "stack.schema.json"
DRAFT = "http://json-schema.org/draft-07/schema#"
MODELINE = "# yaml-language-server: $schema="
SECURE = {
    "type": "object",
    "description": "a Pulumi secret: the ciphertext `pulumi config set --secret --path '<key>' <value>` writes",
    "properties": {"secure": {"type": "string", "minLength": 1}},
    "required": ["secure"],
    "additionalProperties": False,
}


class _Generator(GenerateJsonSchema):
    """pydantic's generator without the titles it derives from field names (`Isdefault`): noise in an editor."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def team_schema() -> dict[str, Any]:
    schema = _model_schema(TeamSpec)
    return _document("grafana-platform team (teams/<slug>/team.yaml)", schema)


def stack_schema(layout: Layout = PROJECT_LAYOUT) -> dict[str, Any]:
    # Pulumi.yaml declares defaults for some keys: a stack file may leave those out. The engine fills
    # a default in under the declared key, so the other spelling of such a key would give the model
    # both: only the declared one is allowed there.
    declared = read_yaml(layout.project_file, layout.relative(layout.project_file)).get("config") or {}
    defaulted = {key for key, decl in declared.items() if isinstance(decl, dict) and "default" in decl}
    model = _secrets_as_secure(_model_schema(StackConfig, one_spelling=defaulted))
    definitions = model.pop("definitions")
    if _uses_secure(model) or _uses_secure(definitions):
        definitions["Secure"] = SECURE
    keys = {f"{PROJECT}:{key}": value for key, value in model["properties"].items()}
    rules = [_namespaced(rule) for rule in model.get("allOf", [])]
    config = {
        "type": "object",
        "description": f"this stack's configuration: {PROJECT}:<key> entries, and the providers' own keys",
        "properties": keys,
        "patternProperties": {
            f"^({'|'.join(OTHER_NAMESPACES)}):": {"description": "a provider's or Pulumi's own setting, passed on as it is"},
        },
        "additionalProperties": False,
        "required": [f"{PROJECT}:{key}" for key in model.get("required", []) if key not in defaulted],
        **({"allOf": rules} if rules else {}),
    }
    top = {
        "type": "object",
        "description": model.get("description", ""),
        "properties": {
            "config": config,
            # Pulumi's stack settings file reference: https://www.pulumi.com/docs/iac/concepts/projects/stack-settings-file/
            "secretsprovider": {"type": "string", "description": "the secrets provider, e.g. passphrase or awskms://..."},
            "encryptedkey": {"type": "string", "description": "KMS-encrypted data key (cloud secrets providers)"},
            "encryptionsalt": {"type": "string", "description": "base64 encryption salt (passphrase secrets provider)"},
            "environment": {"description": "Pulumi ESC environment(s) this stack imports"},
        },
        "additionalProperties": False,
        "required": ["config"],
        "definitions": definitions,
    }
    return _document("grafana-platform stack file (stacks/Pulumi.<stack>.yaml)", top)


def _document(title: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "title": title,
            "$comment": "generated by `venv/bin/python -m tools.schemas` from the models in estate/; do not edit",
            **{k: v for k, v in schema.items() if k != "title"}}


def _model_schema(model: type[BaseModel], one_spelling: set[str] = frozenset()) -> dict[str, Any]:
    """The model's schema in draft 7, each field under its alias, or under its name (not suggested);
    the top-level fields in `one_spelling` under their alias only."""
    template = "#/definitions/{model}"
    by_alias = model.model_json_schema(by_alias=True, ref_template=template, schema_generator=_Generator)
    by_name = model.model_json_schema(by_alias=False, ref_template=template, schema_generator=_Generator)
    schema = _draft7(_both_spellings(by_alias, by_name, one_spelling))
    schema["definitions"] = schema.pop("$defs", {})
    return schema


def _both_spellings(by_alias: Any, by_name: Any, one_spelling: set[str] = frozenset()) -> Any:
    """Merge the two generations (identical but for property names): each object accepts exactly one
    spelling of each field; the fields in `one_spelling` (of this object only) keep their alias alone."""
    if isinstance(by_alias, list):
        return [_both_spellings(a, n) for a, n in zip(by_alias, by_name)]
    if not isinstance(by_alias, dict):
        return by_alias
    # A default is a value, written in either spelling: keep the alias one.
    merged = {k: v if k == "default" else _both_spellings(v, by_name[k])
              for k, v in by_alias.items() if k not in ("properties", "required")}
    if "properties" not in by_alias:
        return merged
    properties: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for (alias, a), (name, n) in zip(by_alias["properties"].items(), by_name["properties"].items()):
        properties[alias] = _both_spellings(a, n)
        if name != alias and alias not in one_spelling:
            renamed[alias] = name
    for alias, name in renamed.items():
        properties[name] = {**properties[alias], "doNotSuggest": True,
                            "description": f"the same as {alias}, which is the spelling to use"}
    # A secret is never required in the file (see _secrets_as_secure): at most one spelling of it.
    required = [r for r in by_alias.get("required", []) if by_alias["properties"].get(r, {}).get("secret") is not True]
    rules = [{"oneOf": [{"required": [alias]}, {"required": [renamed[alias]]}]} if alias in required
             else {"not": {"required": [alias, renamed[alias]]}}
             for alias in renamed]
    merged["properties"] = properties
    if [r for r in required if r not in renamed]:
        merged["required"] = [r for r in required if r not in renamed]
    if rules:
        merged["allOf"] = rules
    return merged


def _draft7(value: Any) -> Any:
    """pydantic writes draft 2020-12: `$defs`, and `$ref` beside other keywords (ignored in draft 7)."""
    if isinstance(value, list):
        return [_draft7(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _draft7(v) for k, v in value.items()}
    if "patternProperties" in value and "additionalProperties" not in value:  # dict[Slug, ...]: other keys refused
        value["additionalProperties"] = False
    if "$ref" in value and len(value) > 1:
        others = {k: v for k, v in value.items() if k != "$ref"}
        return {"allOf": [{"$ref": value["$ref"]}], **others}
    return value


def _secrets_as_secure(value: Any) -> Any:
    """A secret field (estate.model.secret) takes `{secure: ...}` in a stack file, never a plain value."""
    if isinstance(value, list):
        return [_secrets_as_secure(v) for v in value]
    if not isinstance(value, dict):
        return value
    # A secret is never required in the file: `tools.secrets apply` sets it from the secret store (docs/secrets.md).
    secrets = {name for name, field in (value.get("properties") or {}).items()
               if isinstance(field, dict) and field.get("secret") is True}
    value = {k: _secrets_as_secure(v) for k, v in value.items()}
    if secrets and "required" in value:
        value["required"] = [name for name in value["required"] if name not in secrets]
        if not value["required"]:
            del value["required"]
    if value.pop("secret", False) is True:
        nullable = {"type": "null"} in value.get("anyOf", [])
        kept = {k: v for k, v in value.items() if k in ("description", "default", "doNotSuggest")}
        secure = {"$ref": "#/definitions/Secure"}
        return {**kept, **({"anyOf": [secure, {"type": "null"}]} if nullable else {"allOf": [secure]})}
    return value


def _uses_secure(value: Any) -> bool:
    return '"#/definitions/Secure"' in json.dumps(value)


def _namespaced(rule: dict[str, Any]) -> dict[str, Any]:
    """A spelling rule of StackConfig's own fields, with the keys as the stack file writes them."""
    def key(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ([f"{PROJECT}:{x}" for x in v] if k == "required" else key(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [key(v) for v in value]
        return value
    return key(rule)


def rendered() -> dict[Path, str]:
    """Every schema file and its text, as committed."""
    return {path: json.dumps(schema, indent=2, sort_keys=False) + "\n"
            for path, schema in ((TEAM_SCHEMA, team_schema()), (STACK_SCHEMA, stack_schema()))}


def schema_for(path: Path, layout: Layout = PROJECT_LAYOUT) -> Path | None:
    """The schema a hand-edited file follows (None for other files)."""
    if path.name == "team.yaml" and path.parent.parent == layout.teams:
        return TEAM_SCHEMA
    if path.parent == layout.stacks and path.name.startswith("Pulumi.") and path.suffix == ".yaml":
        return STACK_SCHEMA
    return None


def modeline(path: Path, layout: Layout = PROJECT_LAYOUT) -> str:
    """The first line `path` must start with: its schema, relative to the file (as the language server resolves it)."""
    schema = schema_for(path, layout)
    return MODELINE + Path(os.path.relpath(schema, path.parent)).as_posix()


def edited_files(layout: Layout = PROJECT_LAYOUT) -> list[Path]:
    """Every file a schema describes: each team's team.yaml and each stack file."""
    return ([layout.team_file(t) for t in layout.team_names()]
            + [layout.stack_file(s) for s in layout.stack_names()])


def stale() -> list[str]:
    """What is out of date: schema files that differ from the models, files without their modeline."""
    problems = [f"{PROJECT_LAYOUT.relative(path)} is out of date"
                for path, text in rendered().items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    for path in edited_files():
        first = read_text(path, PROJECT_LAYOUT.relative(path)).split("\n", 1)[0]
        if first != modeline(path):
            problems.append(f"{PROJECT_LAYOUT.relative(path)}: the first line must be `{modeline(path)}`")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description=first_line(__doc__))
    parser.add_argument("--check", action="store_true", help="exit 1 if a schema is out of date or a file lacks its modeline")
    args = parser.parse_args(argv)
    if sys.flags.optimize >= 2:  # the schemas' descriptions are the models' docstrings, which -OO leaves out
        print("error: run without -OO (PYTHONOPTIMIZE=2): the schemas' descriptions come from the models' "
              "docstrings, which it leaves out", file=sys.stderr)
        return 2
    try:
        return _check() if args.check else _write()
    except ConfigError as e:  # a stack or team file that is no regular file of UTF-8 text, or too large
        print(f"error: {e}", file=sys.stderr)
        return 1


def _check() -> int:
    problems = stale()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run `venv/bin/python -m tools.schemas`", file=sys.stderr)
    return 1 if problems else 0


def _write() -> int:
    SCHEMAS.mkdir(exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(PROJECT_LAYOUT.root)}")
    for path in edited_files():
        text = read_text(path, PROJECT_LAYOUT.relative(path))
        line = modeline(path)
        if not text.startswith(line + "\n"):
            first, _, rest = text.partition("\n")
            path.write_text(line + "\n" + (rest if first.startswith(MODELINE) else text), encoding="utf-8")
            print(f"added the schema line to {PROJECT_LAYOUT.relative(path)}")
    return 0


if __name__ == "__main__":
    command(main)
