"""Every resource type token the program registers, in one place (components and tests use them)."""
from enum import StrEnum


class ResourceType(StrEnum):
    PLATFORM = "grafana-platform:index:Platform"
    CONNECTION = "grafana-platform:index:GrafanaConnection"
    DATASOURCES = "grafana-platform:index:Datasources"
    TEAM = "grafana-platform:index:Team"
    TEAM_FOLDER = "grafana-platform:index:TeamFolder"
    GRAFANA_TEAM = "grafana-platform:index:GrafanaTeam"
    TEAM_DASHBOARDS = "grafana-platform:index:TeamDashboards"
    TEAM_ALERT_RULES = "grafana-platform:index:TeamAlertRules"
    CONTACT_POINTS = "grafana-platform:index:ContactPoints"
    NOTIFICATION_POLICY_TREE = "grafana-platform:index:NotificationPolicyTree"
    NOTIFICATION_TEMPLATES = "grafana-platform:index:NotificationTemplates"
    GRAFANA_DEPLOYMENT = "grafana-platform:index:GrafanaDeployment"

    PROVIDER = "pulumi:providers:grafana"
    DATASOURCE = "grafana:oss/dataSource:DataSource"
    FOLDER = "grafana:oss/folder:Folder"
    FOLDER_PERMISSION = "grafana:oss/folderPermission:FolderPermission"
    OSS_TEAM = "grafana:oss/team:Team"  # a Grafana Team (TEAM is the component of a product team)
    DASHBOARD = "grafana:oss/dashboard:Dashboard"
    RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
    CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
    NOTIFICATION_POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
    MUTE_TIMING = "grafana:alerting/muteTiming:MuteTiming"
    MESSAGE_TEMPLATE = "grafana:alerting/messageTemplate:MessageTemplate"

    K8S_NAMESPACE = "kubernetes:core/v1:Namespace"
    K8S_SECRET = "kubernetes:core/v1:Secret"
    HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
    K8S_INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
