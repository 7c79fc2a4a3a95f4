"""grafana-platform: load and validate the stack's whole estate, then declare it."""
import pulumi

from components.estate import load_estate
from components.platform import GrafanaPlatform, summary

estate = load_estate(pulumi.get_stack())  # raises ConfigError before any resource exists
platform = GrafanaPlatform("grafana-platform", estate)

pulumi.export("grafanaUrl", estate.config.grafana_url)
pulumi.export("teams", summary(estate, platform))
