"""NotificationTemplates: the platform's template group and each team's overrides, as Grafana
message templates (what they say and how contact points use them: estate/notifications.py)."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from .types import ResourceType


@dataclass(frozen=True)
class NotificationTemplatesArgs:
    platform: str  # the platform's template group (estate.notifications.platform_template)
    teams: dict[str, str]  # slug -> the team's overrides
    org_id: str | None  # the organization (None with a service account token: the token's)


class NotificationTemplates(pulumi.ComponentResource):
    def __init__(self, name: str, args: NotificationTemplatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.NOTIFICATION_TEMPLATES, name, None, opts)
        groups = {"platform": args.platform, **{f"team-{slug}": text for slug, text in sorted(args.teams.items())}}
        self.templates = [grafana.alerting.MessageTemplate(group, name=group, template=text, org_id=args.org_id,
                                                           opts=pulumi.ResourceOptions(parent=self))
                          for group, text in groups.items()]
        self.register_outputs({"names": list(groups)})
