"""Every rendered dashboard validates against Grafana's own JSON Schemas (grafana-foundation-sdk)."""
import copy
import json
from pathlib import Path

import jsonschema
import pytest

from components.types import ResourceType as T
from dashboards.finalize import panels
from tests.conftest import STACKS

# Copied unchanged from grafana-foundation-sdk (Apache-2.0, see the LICENSE beside them).
SCHEMAS = Path(__file__).parent / "schemas" / "grafana"


def schema(name: str, definition: str | None = None) -> jsonschema.Draft7Validator:
    document = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())
    if definition:
        document = {"$ref": f"#/definitions/{definition}", "definitions": document["definitions"]}
    return jsonschema.Draft7Validator(document)


def dashboard_schema() -> jsonschema.Draft7Validator:
    document = json.loads((SCHEMAS / "dashboard.jsonschema.json").read_text())
    # The SDK types matcher options as an object, but Grafana's own field overrides (byName,
    # byType) store a plain string there, as every dashboard Grafana exports shows.
    relaxed = copy.deepcopy(document)
    relaxed["definitions"]["MatcherConfig"]["properties"]["options"] = {}
    return jsonschema.Draft7Validator(relaxed)


DASHBOARD = dashboard_schema()
QUERY = schema("prometheus")
PANEL_OPTIONS = {p.name.split(".")[0]: schema(p.name.split(".")[0], "Options")
                 for p in SCHEMAS.glob("*.jsonschema.json")
                 if "Options" in json.loads(p.read_text()).get("definitions", {})}


def problems(validator: jsonschema.Draft7Validator, instance: dict, where: str) -> list[str]:
    return [f"{where}.{'.'.join(map(str, e.absolute_path))}: {e.message[:160]}" for e in validator.iter_errors(instance)]


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_panel_and_query_matches_grafanas_schemas(rendered, stack):
    found = []
    for board in rendered(stack).of_type(T.DASHBOARD):
        model = json.loads(board.inputs["configJson"])
        found += problems(DASHBOARD, model, board.name)
        for panel in panels(model):
            where = f"{board.name}.panels['{panel['title']}']"
            if panel["type"] in PANEL_OPTIONS:
                found += problems(PANEL_OPTIONS[panel["type"]], panel.get("options", {}), f"{where}.options")
            for target in panel.get("targets", []):
                found += problems(QUERY, target, f"{where}.targets.{target['refId']}")
    assert not found, "\n".join(found)
