"""The organization's single notification policy tree, merged from the platform default and every team.

Grafana has one tree per organization, so the platform owns it: the root sends to the stack's
default receiver; each team gets a route matching `team`, and inside it, per severity, extra
receivers (`continue` on) before a catch-all that sends to the team's receiver.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana
from pulumiverse_grafana import alerting

from .contact_points import ContactPoints
from estate import Team
from estate.stack import SEVERITIES, MuteTiming, NotificationPolicy
from .types import ResourceType


def _matcher(cls: type, label: str, value: str):
    return cls(label=label, match="=", value=value)


def team_route(team: Team, contact_points: ContactPoints) -> alerting.NotificationPolicyPolicyArgs:
    routing = team.settings.routing
    receiver = contact_points.by_name[routing.receiver].name if routing.receiver else None
    # A route's mute timings are its own: child routes do not inherit them (Alertmanager's
    # dispatch/route.go NewRoute; grafana/grafana#79295), so every route of the team names them.
    mute_timings = routing.mute_timings or None
    severity_routes = [
        alerting.NotificationPolicyPolicyPolicyArgs(
            matchers=[_matcher(alerting.NotificationPolicyPolicyPolicyMatcherArgs, "severity", severity)],
            contact_point=contact_points.by_name[routing.severity_receivers[severity]].name,
            continue_=True,
            mute_timings=mute_timings,
        )
        for severity in SEVERITIES if severity in routing.severity_receivers
    ]
    if severity_routes:  # after the `continue` routes, the team's own receiver still gets every alert
        severity_routes.append(alerting.NotificationPolicyPolicyPolicyArgs(contact_point=receiver, mute_timings=mute_timings))
    return alerting.NotificationPolicyPolicyArgs(
        matchers=[_matcher(alerting.NotificationPolicyPolicyMatcherArgs, "team", team.slug)],
        contact_point=receiver,
        group_bies=routing.group_by,
        mute_timings=mute_timings,
        policies=severity_routes or None,
    )


@dataclass(frozen=True)
class NotificationPolicyTreeArgs:
    root: NotificationPolicy
    teams: tuple[Team, ...]
    contact_points: ContactPoints
    mute_timings: dict[str, MuteTiming]
    org_id: str | None


class NotificationPolicyTree(pulumi.ComponentResource):
    def __init__(self, name: str, args: NotificationPolicyTreeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.NOTIFICATION_POLICY_TREE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        timings = [
            grafana.alerting.MuteTiming(
                timing_name,
                name=timing_name,
                intervals=[alerting.MuteTimingIntervalArgs(
                    weekdays=timing.weekdays or None,
                    times=[alerting.MuteTimingIntervalTimeArgs(start=t.start, end=t.end) for t in timing.times] or None,
                    location=timing.location,
                )],
                org_id=args.org_id,
                opts=child,
            )
            for timing_name, timing in sorted(args.mute_timings.items())
        ]
        root = args.root
        self.policy = grafana.alerting.NotificationPolicy(
            "notification-policy",
            contact_point=args.contact_points.by_name[root.receiver].name,
            group_bies=root.group_by,
            group_wait=root.group_wait,
            group_interval=root.group_interval,
            repeat_interval=root.repeat_interval,
            policies=[team_route(team, args.contact_points) for team in args.teams],
            org_id=args.org_id,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=timings)),
        )
        self.register_outputs({"receiver": root.receiver})
