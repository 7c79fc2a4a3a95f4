"""The stack's datasources: Prometheus always, Loki and Alertmanager when the stack names them."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from estate.stack import Datasources as DatasourcesConfig
from .types import ResourceType

# What Grafana would otherwise pick per datasource type; a stack's jsonData wins over these.
JSON_DATA_DEFAULTS = {
    "prometheus": {"httpMethod": "POST", "prometheusType": "Prometheus"},
    "loki": {"maxLines": 1000},
    "alertmanager": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
}


@dataclass(frozen=True)
class DatasourcesArgs:
    config: DatasourcesConfig
    org_id: str | None  # the organization each datasource belongs to (None: the token's)


class Datasources(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatasourcesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.DATASOURCES, name, None, opts)
        self.by_kind: dict[str, grafana.oss.DataSource] = {}
        for kind, ds in args.config.items():
            secure = {"basicAuthPassword": ds.basic_auth_password} if ds.basic_auth_password else None
            self.by_kind[kind] = grafana.oss.DataSource(
                kind,
                type=kind,
                name=ds.name,
                uid=ds.uid,
                url=ds.endpoint,
                access_mode="proxy",
                is_default=ds.is_default,
                basic_auth_enabled=ds.basic_auth_user is not None,
                basic_auth_username=ds.basic_auth_user,
                # allow_nan=False: JSON for Grafana, never `NaN` (the model refuses it first: model.JsonObject)
                json_data_encoded=json.dumps({**JSON_DATA_DEFAULTS[kind], **ds.json_data}, sort_keys=True,
                                             allow_nan=False),
                secure_json_data_encoded=pulumi.Output.secret(json.dumps(secure, sort_keys=True, allow_nan=False))
                if secure else None,
                org_id=args.org_id,
                opts=pulumi.ResourceOptions(parent=self),  # provider and protect: the parent's
            )
        self.register_outputs({kind: ds.uid for kind, ds in self.by_kind.items()})
