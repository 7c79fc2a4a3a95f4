"""NotificationTemplates: the platform's template group and each team's overrides, as Grafana
message templates (what they say and how contact points use them: estate/notifications.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from .types import ResourceType

# Grafana stores a template group trimmed, and otherwise as written only when `\{\{\s*define` finds
# something in it; any other group it wraps whole in `{{ define "<group name>" }}` ... `{{ end }}`
# before parsing it (NotificationTemplate.Validate, grafana/grafana pkg/services/ngalert/api/tooling/definitions/
# provisioning_templates.go; TemplateGroup.Validate in Grafana 12). The pattern has no room for the
# trim marker, so a group whose defines are all `{{- define` (teams/chatbot-sav/notifications.tmpl)
# is wrapped, and Go's parser refuses a define inside a define: Grafana answers 400 and the group
# never exists. And what Grafana stores is what the provider's read puts in the state
# (terraform-provider-grafana resource_alerting_message_template.go, readMessageTemplate), so a group
# Grafana rewrote would differ from the program's at every preview. A comment holding the words
# keeps such a group as written; it renders nothing (tests/test_provider_normalization.py).
GRAFANA_FINDS_A_DEFINE = re.compile(r"\{\{[\t\n\f\r ]*define")  # Go's RE2: \s is ASCII [\t\n\f\r ]
# What Go's strings.TrimSpace trims (unicode.IsSpace); Python's own strip() also takes \x1c-\x1f
GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
            "\u2028\u2029\u202f\u205f\u3000")
KEEP_AS_WRITTEN = ('{{- /* Grafana wraps a group in which it finds no "{{ define" in a define named after it; '
                   'this comment keeps the group as written (components/notification_templates.py). */ -}}\n')


def as_grafana_keeps_it(text: str) -> str:
    """A template group's text as Grafana stores it: trimmed (Validate keeps strings.TrimSpace of it, which
    the state then holds), and kept as written (see KEEP_AS_WRITTEN)."""
    text = text.strip(GO_SPACE)
    return text if GRAFANA_FINDS_A_DEFINE.search(text) else KEEP_AS_WRITTEN + text


@dataclass(frozen=True)
class NotificationTemplatesArgs:
    platform: str  # the platform's template group (estate.notifications.platform_template)
    teams: dict[str, str]  # slug -> the team's overrides
    org_id: str | None  # the organization (None with a service account token: the token's)


class NotificationTemplates(pulumi.ComponentResource):
    def __init__(self, name: str, args: NotificationTemplatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.NOTIFICATION_TEMPLATES, name, None, opts)
        groups = {"platform": args.platform, **{f"team-{slug}": text for slug, text in sorted(args.teams.items())}}
        self.templates = [grafana.alerting.MessageTemplate(group, name=group, template=as_grafana_keeps_it(text),
                                                           org_id=args.org_id,
                                                           opts=pulumi.ResourceOptions(parent=self))
                          for group, text in groups.items()]
        self.register_outputs({"names": list(groups)})
