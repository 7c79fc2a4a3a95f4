"""Grafana on Kubernetes (the stack's optional `kubernetes:` section), and the existing-Grafana mode without it."""
import copy
import json

import pulumi
import pytest
from google.protobuf import json_format

from components.grafana_deployment import CHART_REPO, CHART_VERSION, GRAFANA_VERSION, chart_values
from estate.stack import Kubernetes
from components.types import ResourceType as T
from estate import PROJECT_ROOT
from tests.conftest import existing_grafana, load_yaml, run_fails, run_values, stack_values
from tools.mocks import SECRET_SIG, RecordingMonitor, Run

HOST = "grafana.prod.acme-corp.com"
ADMIN_PASSWORD = "correct-horse-battery-staple"
DATABASE_URL = "postgres://grafana:db-pass-4711@grafana-db.databases.svc.cluster.local:5432/grafana"
SMTP_PASSWORD = "smtp-pass-0815"  # a test's config value: the stack file holds no password
SMTP = {"host": "smtp.acme-corp.com:587", "fromAddress": "grafana@acme-corp.com", "fromName": "Grafana (prod)",
        "user": "grafana@acme-corp.com", "password": SMTP_PASSWORD}
PROD_HA = {
    "namespace": "grafana",
    "adminPassword": ADMIN_PASSWORD,
    "replicas": 2,
    "databaseUrl": DATABASE_URL,
    "persistence": {"size": "20Gi", "storageClass": "gp3"},
    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "ingress": {"host": HOST, "tlsSecretName": "grafana-tls", "className": "nginx",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
    "smtp": SMTP,
}
SINGLE = {"adminPassword": ADMIN_PASSWORD, "ingress": {"host": HOST, "tlsSecretName": "grafana-tls"}, "smtp": SMTP}


class ProviderRecordingMonitor(RecordingMonitor):
    """Also keeps, per registration, the provider it goes through and its inputs before masking."""

    def __init__(self) -> None:
        super().__init__()
        self.providers: dict[tuple[str, str], str] = {}
        self.raw: dict[tuple[str, str], dict] = {}

    def RegisterResource(self, request):
        self.providers[(request.type, request.name)] = request.provider
        self.raw[(request.type, request.name)] = json_format.MessageToDict(request.object)
        return super().RegisterResource(request)


def existing_grafana_prod(prod_values) -> tuple[dict, list[str]]:
    """The prod stack managing an existing Grafana instead of deploying one."""
    return existing_grafana(*prod_values)


def on_kubernetes(prod_values, section: dict) -> tuple[dict, list[str]]:
    values, secrets = prod_values
    values.pop("grafanaAuth", None)  # the provider logs in as the deployed Grafana's admin
    values["kubernetes"] = copy.deepcopy(section)
    values["grafanaUrl"] = f"https://{HOST}"
    return values, [*(k for k in secrets if k not in ("kubernetes", "grafanaAuth")), "kubernetes"]


def run_on_kubernetes(prod_values, section: dict = PROD_HA, monitor: RecordingMonitor | None = None) -> Run:
    return run_values(*on_kubernetes(prod_values, section), monitor)


@pytest.fixture(scope="module")
def ha() -> tuple[Run, ProviderRecordingMonitor]:
    """The prod stack deploying Grafana highly available (PROD_HA), run once for the tests that read
    what the program sent before masking: the run, and the monitor that kept it."""
    monitor = ProviderRecordingMonitor()
    return run_on_kubernetes(stack_values("prod"), monitor=monitor), monitor


def chart(run: Run) -> dict:
    return run.one(T.HELM_RELEASE, "grafana").inputs["values"]



# Without the section: an existing Grafana, as before.

def test_without_a_kubernetes_section_no_kubernetes_resource_is_registered(prod_values):
    run = run_values(*existing_grafana_prod(prod_values))
    assert [r for r in run.registrations if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))] == []
    assert run.of_type(T.GRAFANA_DEPLOYMENT) == []


def test_without_a_kubernetes_section_the_provider_targets_grafana_url_with_the_stack_token(prod_values):
    monitor = ProviderRecordingMonitor()
    values, secrets = existing_grafana_prod(prod_values)
    provider = run_values(values, secrets, monitor).one(T.PROVIDER, "grafana")
    assert provider.inputs["url"] == values["grafanaUrl"] == "https://grafana.acme-corp.com"
    assert provider.inputs["auth"] == "[secret]"
    assert monitor.raw[(T.PROVIDER, "grafana")]["auth"]["value"] == "<secure grafana-platform:grafanaAuth>"
    assert provider.dependencies == []


# With the section: namespace, credentials, release.

def test_grafana_gets_its_own_namespace_and_a_helm_release_in_it(prod_values):
    run = run_on_kubernetes(prod_values)
    namespace = run.one(T.K8S_NAMESPACE, "grafana")
    assert namespace.inputs["metadata"]["name"] == "grafana"
    release = run.one(T.HELM_RELEASE, "grafana")
    assert (release.inputs["name"], release.inputs["namespace"]) == ("grafana", "grafana")
    assert "kubernetes:core/v1:Namespace::grafana" in release.dependencies
    assert release.parent == "grafana-platform:index:GrafanaDeployment::grafana"


def test_the_release_is_the_official_grafana_chart_at_a_pinned_version(prod_values):
    release = run_on_kubernetes(prod_values).one(T.HELM_RELEASE, "grafana").inputs
    assert release["chart"] == "grafana"
    assert release["repositoryOpts"] == {"repo": "https://grafana.github.io/helm-charts"} == {"repo": CHART_REPO}
    assert release["version"] == CHART_VERSION == "10.5.15"


def test_the_deployed_grafana_is_the_version_the_e2e_workflow_runs():
    """The chart would run its own Grafana (12.3.1), which no workflow here proves."""
    compose = load_yaml((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["grafana"]["image"] == f"grafana/grafana:{GRAFANA_VERSION}"
    assert chart_values(Kubernetes.model_validate(PROD_HA))["image"] == {"tag": GRAFANA_VERSION}


def test_chart_values_carry_persistence_and_resources_from_the_stack(prod_values):
    values = chart(run_on_kubernetes(prod_values))
    assert values["persistence"] == {"enabled": True, "type": "statefulset", "size": "20Gi", "storageClassName": "gp3"}
    assert values["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def test_grafana_is_exposed_by_an_ingress_on_the_host_with_its_tls_secret_in_front_of_the_charts_service(prod_values):
    run = run_on_kubernetes(prod_values)
    ingress = run.one(T.K8S_INGRESS, "grafana").inputs
    assert ingress["metadata"] == {"name": "grafana", "namespace": "grafana",
                                   "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "rules": [{"host": HOST, "http": {"paths": [{
            "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "grafana", "port": {"number": 80}}}}]}}],
        "tls": [{"hosts": [HOST], "secretName": "grafana-tls"}],
    }
    values = chart(run)
    assert values["ingress"] == {"enabled": False}  # the program's Ingress, awaited, not the chart's
    assert values["service"] == {"port": 80} and values["fullnameOverride"] == "grafana"
    assert values["grafana.ini"]["server"] == {"domain": HOST, "root_url": f"https://{HOST}"}


def test_the_ingress_comes_after_the_release_inside_the_deployment(prod_values):
    ingress = run_on_kubernetes(prod_values).one(T.K8S_INGRESS, "grafana")
    assert "kubernetes:helm.sh/v3:Release::grafana" in ingress.dependencies
    assert ingress.parent == "grafana-platform:index:GrafanaDeployment::grafana"


def test_an_ingress_without_class_or_annotations_leaves_them_to_the_cluster(prod_values):
    ingress = run_on_kubernetes(prod_values, SINGLE).one(T.K8S_INGRESS, "grafana").inputs
    assert "ingressClassName" not in ingress["spec"] and "annotations" not in ingress["metadata"]


def test_the_admin_password_lives_in_a_kubernetes_secret_the_chart_reads(ha):
    run, monitor = ha
    secret = run.one(T.K8S_SECRET, "grafana-credentials")
    assert secret.inputs["stringData"] == "[secret]"
    assert secret.inputs["metadata"] == {"name": "grafana-credentials", "namespace": "grafana"}
    stored = monitor.raw[(T.K8S_SECRET, "grafana-credentials")]["stringData"]["value"]
    assert (stored["admin-user"], stored["admin-password"]) == ("admin", ADMIN_PASSWORD)
    assert chart(run)["admin"] == {"existingSecret": "grafana-credentials", "userKey": "admin-user",
                                   "passwordKey": "admin-password"}
    assert "kubernetes:core/v1:Secret::grafana-credentials" in run.one(T.HELM_RELEASE, "grafana").dependencies


def test_no_recorded_input_holds_the_admin_password_or_the_database_url_in_clear(prod_values):
    recorded = json.dumps([r.inputs for r in run_on_kubernetes(prod_values).registrations])
    for fragment in (ADMIN_PASSWORD, "db-pass-4711", DATABASE_URL):
        assert fragment not in recorded


# E-mail: the deployed Grafana's [smtp], its credentials in the Secret.

def test_the_deployed_grafana_sends_mail_through_the_stacks_smtp_server(prod_values):
    values = chart(run_on_kubernetes(prod_values))
    assert values["grafana.ini"]["smtp"] == {"enabled": True, "host": "smtp.acme-corp.com:587",
                                             "from_address": "grafana@acme-corp.com", "from_name": "Grafana (prod)"}
    assert values["smtp"] == {"existingSecret": "grafana-credentials", "userKey": "smtp-user",
                              "passwordKey": "smtp-password"}


def test_the_smtp_user_and_password_live_in_the_secret_never_in_the_chart_values(ha):
    run, monitor = ha
    stored = monitor.raw[(T.K8S_SECRET, "grafana-credentials")]["stringData"]["value"]
    assert (stored["smtp-user"], stored["smtp-password"]) == ("grafana@acme-corp.com", SMTP_PASSWORD)
    recorded = json.dumps([r.inputs for r in run.registrations])
    assert SMTP_PASSWORD not in recorded
    assert "user" not in chart(run)["grafana.ini"]["smtp"] and "password" not in chart(run)["grafana.ini"]["smtp"]


def test_a_deployed_grafana_with_email_contact_points_and_no_smtp_is_refused(prod_values):
    section = {k: v for k, v in SINGLE.items() if k != "smtp"}
    message, monitor = run_fails(*on_kubernetes(prod_values, section))
    assert ("grafana-platform:kubernetes.smtp: is required: contact points api-production, chatbot-sav, "
            "customer-service, mlops-scoring, platform-ops, voicebot send e-mail") in message
    assert monitor.registrations == []


def test_without_email_contact_points_a_deployed_grafana_needs_no_smtp(prod_values):
    values, secrets = on_kubernetes(prod_values, {k: v for k, v in SINGLE.items() if k != "smtp"})
    values["contactPoints"] = {name: {k: v for k, v in cp.items() if k != "email"} or {"webhook": {"url": "https://hooks.acme-corp.com/x"}}
                               for name, cp in values["contactPoints"].items()}
    values_chart = chart(run_values(values, secrets))
    assert "smtp" not in values_chart and "smtp" not in values_chart["grafana.ini"]


def test_an_existing_grafana_brings_its_own_smtp(prod_values):
    run = run_values(*existing_grafana_prod(prod_values))  # mail settings belong to whoever runs that Grafana
    assert run.of_type(T.CONTACT_POINT)


@pytest.mark.parametrize("field, value, expected", [
    ("host", "smtp.acme-corp.com", "must be the SMTP server as host:port, e.g. smtp.acme-corp.com:587"),
    ("fromAddress", "Grafana <grafana@acme-corp.com>", "must be one e-mail address"),
    ("user", "", "String should have at least 1 character"),
])
def test_a_bad_smtp_setting_names_the_field_and_what_is_allowed(prod_values, field, value, expected):
    message, monitor = run_fails(*on_kubernetes(prod_values, {**SINGLE, "smtp": {**SMTP, field: value}}))
    assert f"grafana-platform:kubernetes.smtp.{field}: {expected}" in message
    assert monitor.registrations == []


def test_a_missing_smtp_password_is_required_without_a_value_in_the_message(prod_values):
    message, monitor = run_fails(*on_kubernetes(prod_values, {**SINGLE, "smtp": {k: v for k, v in SMTP.items()
                                                                                   if k != "password"}}))
    assert "grafana-platform:kubernetes.smtp.password: a secret this stack needs, not set" in message
    assert monitor.registrations == []


def test_the_committed_prod_stack_names_its_smtp_server_and_keeps_the_password_out_of_the_file(rendered):
    from estate import PROJECT_LAYOUT
    text = PROJECT_LAYOUT.stack_file("prod").read_text()
    assert "smtp:" in text and "smtp.acme-corp.com:587" in text
    smtp_section = text.split("smtp:", 1)[1].split("grafana-platform:", 1)[0]
    assert "password" not in smtp_section.split("#")[0] and "secure" not in smtp_section
    run = rendered("prod")
    assert run.estate.config.kubernetes.smtp.host == "smtp.acme-corp.com:587"
    assert chart(run)["grafana.ini"]["smtp"]["host"] == "smtp.acme-corp.com:587"
    assert run.one(T.K8S_SECRET, "grafana-credentials").inputs["stringData"] == "[secret]"


def test_an_smtp_password_written_in_clear_in_the_stack_file_is_refused(tmp_path):
    import shutil

    from estate import PROJECT_LAYOUT, ConfigError, Layout
    from tools.render import render

    root = tmp_path / "project"
    shutil.copytree(PROJECT_LAYOUT.root / "teams", root / "teams", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_LAYOUT.stacks, root / "stacks")
    shutil.copy(PROJECT_LAYOUT.project_file, root / "Pulumi.yaml")
    stack_file = root / "stacks" / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace(
        "      user: grafana@acme-corp.com\n", "      user: grafana@acme-corp.com\n      password: in-clear-4711\n", 1))
    with pytest.raises(ConfigError) as error:
        render("prod", Layout.at(root))
    assert ("grafana-platform:kubernetes.smtp.password: must be a secret, not plain text in the stack file; set it "
            "with: pulumi config set --stack prod --secret --path 'grafana-platform:kubernetes.smtp.password' "
            "(value on stdin)") in str(error.value)
    assert "in-clear-4711" not in str(error.value)


# Production HA.

def test_prod_ha_runs_the_replicas_on_the_external_database_url_from_the_secret(ha):
    run, monitor = ha
    values = chart(run)
    assert values["replicas"] == 2
    assert values["envValueFrom"] == {
        "GF_DATABASE_URL": {"secretKeyRef": {"name": "grafana-credentials", "key": "database-url"}}}
    assert "database" not in values["grafana.ini"]  # the chart's grafana.ini is a ConfigMap: no credentials there
    assert monitor.raw[(T.K8S_SECRET, "grafana-credentials")]["stringData"]["value"]["database-url"] == DATABASE_URL
    assert monitor.raw[(T.K8S_SECRET, "grafana-credentials")]["stringData"][SECRET_SIG]


def test_prod_ha_peers_unified_alerting_through_the_headless_service(prod_values):
    values = chart(run_on_kubernetes(prod_values))
    assert values["headlessService"] is True
    assert values["fullnameOverride"] == "grafana"  # so the chart's headless Service is grafana-headless
    assert values["grafana.ini"]["unified_alerting"] == {
        "enabled": True,
        "ha_peers": "grafana-headless.grafana.svc.cluster.local:9094",
        "ha_listen_address": "${POD_IP}:9094",
        "ha_advertise_address": "${POD_IP}:9094",
    }


def test_prod_ha_keeps_one_pod_through_voluntary_disruptions(prod_values):
    assert chart(run_on_kubernetes(prod_values))["podDisruptionBudget"] == {"minAvailable": 1}


def test_a_single_replica_keeps_sqlite_on_its_volume_without_peering_or_disruption_budget(prod_values):
    values = chart(run_on_kubernetes(prod_values, SINGLE))
    assert values["replicas"] == 1
    assert values["persistence"] == {"enabled": True, "type": "pvc", "size": "10Gi"}
    assert values["deploymentStrategy"] == {"type": "Recreate"}
    for key in ("headlessService", "podDisruptionBudget", "envValueFrom"):
        assert key not in values
    assert "unified_alerting" not in values["grafana.ini"]


def test_chart_values_are_plain_data_with_sorted_keys_and_the_same_on_every_run(prod_values):
    config = Kubernetes.model_validate(PROD_HA)

    def keys_sorted(value) -> bool:
        if isinstance(value, dict):
            return list(value) == sorted(value) and all(keys_sorted(v) for v in value.values())
        return all(keys_sorted(v) for v in value) if isinstance(value, list) else True

    assert keys_sorted(chart_values(config))
    assert json.dumps(chart_values(config)) == json.dumps(chart_values(Kubernetes.model_validate(PROD_HA)))
    first = chart(run_on_kubernetes(copy.deepcopy(prod_values)))
    assert chart(run_on_kubernetes(prod_values)) == first


def test_prod_protection_covers_the_namespace_the_credentials_the_release_and_the_ingress(prod_values):
    run = run_on_kubernetes(prod_values)
    for type_ in (T.K8S_NAMESPACE, T.K8S_SECRET, T.HELM_RELEASE, T.K8S_INGRESS):
        assert all(r.protect for r in run.of_type(type_)), type_


# The provider targets the deployed Grafana, after the release.

def test_the_provider_targets_the_ingress_as_admin_and_waits_for_it(ha):
    run, monitor = ha
    provider = run.one(T.PROVIDER, "grafana")
    assert provider.inputs["url"] == f"https://{HOST}"
    assert provider.inputs["auth"] == "[secret]"
    assert monitor.raw[(T.PROVIDER, "grafana")]["auth"]["value"] == f"admin:{ADMIN_PASSWORD}"
    assert provider.dependencies == ["kubernetes:networking.k8s.io/v1:Ingress::grafana"]  # which waits for the release


def test_every_grafana_resource_goes_through_the_provider_that_waits_for_the_ingress(ha):
    run, monitor = ha
    grafana = [r for r in run.registrations if r.type.startswith("grafana:")]
    assert grafana
    for r in grafana:
        provider_urn = monitor.providers[(r.type, r.name)].rsplit("::", 1)[0]  # a reference is `<urn>::<id>`
        assert provider_urn.endswith("$pulumi:providers:grafana::grafana"), f"{r.type} {r.name}: {provider_urn}"


def test_on_kubernetes_no_two_resources_share_a_type_and_name_and_all_have_a_parent(prod_values):
    run = run_on_kubernetes(prod_values)
    keys = [(r.type, r.name) for r in run.registrations]
    assert len(keys) == len(set(keys))
    assert all(r.parent for r in run.registrations if r.type != T.PLATFORM)


def test_a_prometheus_datasource_can_name_an_in_cluster_service(prod_values):
    values, secrets = on_kubernetes(prod_values, PROD_HA)
    prometheus = values["datasources"]["prometheus"]
    del prometheus["url"]
    prometheus["service"] = {"name": "prometheus-server", "namespace": "monitoring", "port": 9090}
    datasource = run_values(values, secrets).one(T.DATASOURCE, "prometheus")
    assert datasource.inputs["url"] == "http://prometheus-server.monitoring.svc.cluster.local:9090"


def test_the_provider_retries_every_call_for_about_two_minutes_while_a_new_grafana_settles(prod_values):
    provider = run_on_kubernetes(prod_values).one(T.PROVIDER, "grafana").inputs
    assert (provider["retries"], provider["retryWait"]) == ("12", "10")  # the provider's config is text
    assert "retryStatusCodes" not in provider  # the provider's default: 429 and 5xx


# The organization: orgId means that organization for every resource.

def grafana_types_taking_org_id() -> set[str]:
    """Type tokens of every pulumiverse_grafana oss/alerting resource that has an org_id input."""
    import inspect
    import re

    import pulumiverse_grafana as grafana

    types = set()
    for module in (grafana.oss, grafana.alerting):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pulumi.CustomResource) and "org_id" in inspect.signature(cls._internal_init).parameters:
                types |= set(re.findall(r"'(grafana:[A-Za-z]+/[A-Za-z]+:[A-Za-z]+)'", inspect.getsource(cls._internal_init)))
    return types


def test_with_basic_auth_every_grafana_resource_that_takes_an_org_id_carries_the_stacks(prod_values):
    values, secrets = on_kubernetes(prod_values, PROD_HA)
    values["orgId"] = 2
    run = run_values(values, secrets)
    takes_org = grafana_types_taking_org_id()
    assert {T.FOLDER, T.FOLDER_PERMISSION, T.DASHBOARD, T.DATASOURCE, T.RULE_GROUP, T.CONTACT_POINT,
            T.NOTIFICATION_POLICY, T.MUTE_TIMING} <= takes_org
    grafana = [r for r in run.registrations if r.type.startswith("grafana:")]
    assert {r.type for r in grafana} >= {T.FOLDER, T.DASHBOARD, T.DATASOURCE, T.RULE_GROUP, T.CONTACT_POINT,
                                         T.NOTIFICATION_POLICY, T.FOLDER_PERMISSION}
    for r in grafana:
        assert r.type in takes_org, f"{r.type} takes no org_id: is it organization-wide?"
        assert r.inputs.get("orgId") == "2", f"{r.type} {r.name}: orgId {r.inputs.get('orgId')!r}"
    assert run.one(T.PROVIDER, "grafana").inputs["orgId"] == "2"


def test_with_a_service_account_token_no_resource_names_an_organization(prod_values):
    values, secrets = existing_grafana_prod(prod_values)
    values["orgId"] = 2
    run = run_values(values, secrets)
    grafana = [r for r in run.registrations if r.type.startswith("grafana:")]
    assert grafana and not [r for r in grafana if "orgId" in r.inputs]
    provider = run.one(T.PROVIDER, "grafana").inputs
    assert "orgId" not in provider  # the token's organization; the provider refuses org_id > 1 with a token
    assert (provider["retries"], provider["retryWait"]) == ("12", "10")


def test_the_mute_timings_of_a_stack_carry_its_org_id_too(prod_values):
    values, secrets = on_kubernetes(prod_values, PROD_HA)
    values["orgId"] = 3
    values["muteTimings"] = {"weekends": {"weekdays": ["saturday", "sunday"]}}
    values["teams"]["api-production"]["routing"]["muteTimings"] = ["weekends"]
    assert run_values(values, secrets).one(T.MUTE_TIMING, "weekends").inputs["orgId"] == "3"


# Configuration errors: one clear message, nothing registered.

def test_admin_as_the_admin_password_is_refused(prod_values):
    message, monitor = run_fails(*on_kubernetes(prod_values, {**SINGLE, "adminPassword": "admin"}))
    assert "grafana-platform:kubernetes.adminPassword: must not be Grafana's default password" in message
    assert monitor.registrations == []


def test_a_short_admin_password_is_refused_without_repeating_it(prod_values):
    message, monitor = run_fails(*on_kubernetes(prod_values, {**SINGLE, "adminPassword": "s3cr3t"}))
    assert "grafana-platform:kubernetes.adminPassword: must be at least 8 characters" in message
    assert "s3cr3t" not in message
    assert monitor.registrations == []


def test_a_plain_text_admin_password_is_refused_with_the_command_to_set_it(prod_values):
    values, secrets = on_kubernetes(prod_values, SINGLE)
    secrets.remove("kubernetes")
    message, monitor = run_fails(values, secrets)
    assert ("pulumi config set --stack unit-test --secret --path "
            "'grafana-platform:kubernetes.adminPassword' (value on stdin)") in message
    assert monitor.registrations == []


def test_several_replicas_without_an_external_database_are_refused(prod_values):
    section = {k: v for k, v in PROD_HA.items() if k != "databaseUrl"}
    message, monitor = run_fails(*on_kubernetes(prod_values, section))
    assert ("grafana-platform:kubernetes.databaseUrl: a secret this stack needs, not set; set it with: pulumi config "
            "set --stack unit-test --secret --path 'grafana-platform:kubernetes.databaseUrl'") in message
    assert monitor.registrations == []


def test_grafana_url_must_be_the_ingress_host_of_the_deployed_grafana(prod_values):
    values, secrets = on_kubernetes(prod_values, PROD_HA)
    values["grafanaUrl"] = "https://grafana.acme-corp.com"
    message, monitor = run_fails(values, secrets)
    assert f"grafana-platform:grafanaUrl: must be https://{HOST}" in message
    assert monitor.registrations == []


def test_a_bad_quantity_or_host_names_the_field_and_what_is_allowed(prod_values):
    section = copy.deepcopy(PROD_HA)
    section["resources"]["limits"]["memory"] = "1 GB"
    section["ingress"]["host"] = "Grafana_Prod"
    message, monitor = run_fails(*on_kubernetes(prod_values, section))
    assert ("grafana-platform:kubernetes.resources.limits.memory: must be a Kubernetes quantity "
            "such as 500m, 2, 512Mi or 10Gi (got '1 GB')") in message
    assert "grafana-platform:kubernetes.ingress.host: must be a DNS name in lowercase" in message
    assert monitor.registrations == []


@pytest.mark.parametrize("url, found", [(True, "both url and service"), (False, "neither url nor service")])
def test_a_datasource_needs_exactly_one_of_url_and_service(prod_values, url, found):
    values, secrets = on_kubernetes(prod_values, PROD_HA)
    prometheus = values["datasources"]["prometheus"]
    if url:
        prometheus["service"] = {"name": "prometheus-server", "namespace": "monitoring", "port": 9090}
    else:
        del prometheus["url"]
    message, monitor = run_fails(values, secrets)
    assert f"grafana-platform:datasources.prometheus: has {found}; set exactly one" in message
    assert monitor.registrations == []


def test_an_in_cluster_service_needs_grafana_in_the_cluster(prod_values):
    values, secrets = existing_grafana_prod(prod_values)
    prometheus = values["datasources"]["prometheus"]
    del prometheus["url"]
    prometheus["service"] = {"name": "prometheus-server", "namespace": "monitoring", "port": 9090}
    message, monitor = run_fails(values, secrets)
    assert ("grafana-platform:datasources.prometheus.service: an in-cluster service is reachable only from "
            "a Grafana running in the cluster") in message
    assert monitor.registrations == []
