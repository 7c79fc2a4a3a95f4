"""GrafanaDeployment: Grafana itself on Kubernetes, from the official Helm chart (the stack's `kubernetes:` section).

Namespace, one Secret with the admin credentials (and the external database URL, and the SMTP user and
password), and a Helm release whose values hold no secret: the chart reads the credentials from the Secret
(`admin.existingSecret`, `smtp.existingSecret`, and `GF_DATABASE_URL` through `envValueFrom`), so they stay
out of the chart's ConfigMap and Helm's history.
With replicas > 1: the external database, unified alerting peering over the chart's headless Service, a
PodDisruptionBudget, and one volume per replica (StatefulSet).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from estate.stack import Kubernetes
from .types import ResourceType

CHART = "grafana"
CHART_REPO = "https://grafana.github.io/helm-charts"
# The last grafana chart published in this repository: Grafana Labs deprecated it on 2026-01-30 in
# favour of https://grafana-community.github.io/helm-charts (see docs/kubernetes.md).
CHART_VERSION = "10.5.15"
# The Grafana it runs: the version the e2e workflow proves (docker-compose.yml), not the chart's own
# 12.3.1. A newer Grafana migrates stored dashboards past the schemaVersion (42) they are rendered with,
# which the provider shows as a change on every preview (docs/real-run.md, "Supported Grafana versions").
GRAFANA_VERSION = "12.2.1"
# The release name and the chart's fullnameOverride: every object the chart creates is `grafana[-...]`.
RELEASE = "grafana"
HEADLESS_SERVICE = f"{RELEASE}-headless"
CREDENTIALS_SECRET = f"{RELEASE}-credentials"
USER_KEY, PASSWORD_KEY, DATABASE_URL_KEY = "admin-user", "admin-password", "database-url"
SMTP_USER_KEY, SMTP_PASSWORD_KEY = "smtp-user", "smtp-password"
GOSSIP_PORT = 9094  # unified alerting's memberlist (TCP and UDP); the chart opens it on every pod
SERVICE_PORT = 80  # the chart's Service `grafana` (fullnameOverride), in front of the pods' 3000
RELEASE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class GrafanaDeploymentArgs:
    config: Kubernetes


def ha_peers(config: Kubernetes) -> str:
    return f"{HEADLESS_SERVICE}.{config.namespace}.svc.cluster.local:{GOSSIP_PORT}"


def chart_values(config: Kubernetes) -> dict[str, Any]:
    """The Helm values for `config`: plain data only (no secret, no Output), keys sorted at every level."""
    host = config.ingress.host
    ha = config.replicas > 1
    ini: dict[str, Any] = {"server": {"domain": host, "root_url": config.url}}
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE,
        "image": {"tag": GRAFANA_VERSION},
        "replicas": config.replicas,
        "admin": {"existingSecret": CREDENTIALS_SECRET, "userKey": USER_KEY, "passwordKey": PASSWORD_KEY},
        "persistence": _persistence(config),
        "resources": _resources(config),
        "service": {"port": SERVICE_PORT},
        # The program creates the Ingress itself (ingress_spec), after the release, and waits for it.
        "ingress": {"enabled": False},
        "grafana.ini": ini,
    }
    if config.smtp is not None:
        # grafana.ini's [smtp] (a ConfigMap) says where and as whom; the chart's smtp.existingSecret sets
        # GF_SMTP_USER / GF_SMTP_PASSWORD from the Secret (grafana/helm-charts, charts/grafana/values.yaml
        # `smtp.existingSecret`, `userKey`, `passwordKey`; Grafana docs: configure-grafana/#smtp).
        ini["smtp"] = {"enabled": True, "host": config.smtp.host, "from_address": config.smtp.from_address,
                       "from_name": config.smtp.from_name}
        values["smtp"] = {"existingSecret": CREDENTIALS_SECRET, "userKey": SMTP_USER_KEY,
                          "passwordKey": SMTP_PASSWORD_KEY}
    if config.database_url is not None:
        values["envValueFrom"] = {
            "GF_DATABASE_URL": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": DATABASE_URL_KEY}}}
    if ha:
        values["headlessService"] = True
        values["podDisruptionBudget"] = {"minAvailable": 1}
        ini["unified_alerting"] = {
            "enabled": True,
            "ha_peers": ha_peers(config),
            "ha_listen_address": f"${{POD_IP}}:{GOSSIP_PORT}",
            "ha_advertise_address": f"${{POD_IP}}:{GOSSIP_PORT}",
        }
    elif config.persistence.enabled:
        # One ReadWriteOnce volume: the old pod must stop before the new one can mount it.
        values["deploymentStrategy"] = {"type": "Recreate"}
    return _sorted(values)


def ingress_spec(config: Kubernetes) -> dict[str, Any]:
    """The Ingress in front of the chart's Service: the host, its TLS Secret, the class."""
    host = config.ingress.host
    backend = {"service": {"name": RELEASE, "port": {"number": SERVICE_PORT}}}
    return _sorted({
        "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
        "tls": [{"hosts": [host], "secretName": config.ingress.tls_secret_name}],
        **({"ingressClassName": config.ingress.class_name} if config.ingress.class_name else {}),
    })


def _persistence(config: Kubernetes) -> dict[str, Any]:
    p = config.persistence
    if not p.enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        # Several replicas cannot share one ReadWriteOnce volume: a StatefulSet gives each its own.
        "type": "statefulset" if config.replicas > 1 else "pvc",
        "size": p.size,
        **({"storageClassName": p.storage_class} if p.storage_class else {}),
    }


def _resources(config: Kubernetes) -> dict[str, Any]:
    result = {}
    for kind in ("requests", "limits"):
        amounts = getattr(config.resources, kind).model_dump(exclude_none=True)
        if amounts:
            result[kind] = amounts
    return result


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class GrafanaDeployment(pulumi.ComponentResource):
    """Grafana on the cluster of the ambient Kubernetes provider (kubeconfig / `kubernetes:context`)."""

    url: str
    admin_auth: pulumi.Output[str]  # `user:password`, the Grafana provider's basic-auth form
    release: k8s.helm.v3.Release
    ingress: k8s.networking.v1.Ingress  # ready: the first Grafana API call can go through it

    def __init__(self, name: str, args: GrafanaDeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.GRAFANA_DEPLOYMENT, name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)  # protect: the parent's
        namespace = k8s.core.v1.Namespace(
            config.namespace,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=config.namespace),
            opts=child,
        )
        credentials = {USER_KEY: config.admin_user, PASSWORD_KEY: pulumi.Output.secret(config.admin_password)}
        if config.database_url is not None:
            credentials[DATABASE_URL_KEY] = pulumi.Output.secret(config.database_url)
        if config.smtp is not None:
            credentials[SMTP_USER_KEY] = config.smtp.user
            credentials[SMTP_PASSWORD_KEY] = pulumi.Output.secret(config.smtp.password)
        secret = k8s.core.v1.Secret(
            CREDENTIALS_SECRET,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=namespace.metadata.name),
            type="Opaque",
            string_data=credentials,
            opts=child,
        )
        self.release = k8s.helm.v3.Release(
            RELEASE,
            name=RELEASE,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=namespace.metadata.name,
            values=chart_values(config),
            timeout=RELEASE_TIMEOUT_SECONDS,
            max_history=10,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[secret])),
        )
        # Helm's wait (the release is ready) covers the pods and the Service, not the Ingress: the first
        # Grafana API call would race the ingress controller. pulumi-kubernetes waits for an Ingress it
        # creates until its Service's endpoints exist and the controller has published an address
        # (.status.loadBalancer.ingress; pulumi_kubernetes.networking.v1.Ingress, pulumi/pulumi-kubernetes#1832),
        # which is also why it is created here, after the release, and not by the chart
        # (pulumi/pulumi-kubernetes#1812). A controller that never publishes an address: docs/kubernetes.md.
        self.ingress = k8s.networking.v1.Ingress(
            RELEASE,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=RELEASE, namespace=namespace.metadata.name,
                                                annotations=dict(sorted(config.ingress.annotations.items())) or None),
            spec=ingress_spec(config),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.release])),
        )
        self.url = config.url
        self.admin_auth = pulumi.Output.secret(f"{config.admin_user}:{config.admin_password}")
        self.register_outputs({"url": self.url, "namespace": config.namespace, "chartVersion": CHART_VERSION})
