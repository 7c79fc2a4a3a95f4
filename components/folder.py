"""A team's Grafana folder, with its permissions; protected where the stack asks for it."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from estate.stack import FolderPermission
from .types import ResourceType


@dataclass(frozen=True)
class TeamFolderArgs:
    slug: str
    uid: str
    title: str
    permissions: list[FolderPermission]
    prevent_destroy_if_not_empty: bool
    org_id: str | None


class TeamFolder(pulumi.ComponentResource):
    folder: grafana.oss.Folder

    def __init__(self, name: str, args: TeamFolderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ResourceType.TEAM_FOLDER, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)  # provider and protect: the parent's
        self.folder = grafana.oss.Folder(
            args.slug,
            uid=args.uid,
            title=args.title,
            # In protected stacks a folder that still holds dashboards or rules refuses to go.
            prevent_destroy_if_not_empty=args.prevent_destroy_if_not_empty,
            org_id=args.org_id,
            opts=child,
        )
        if args.permissions:
            grafana.oss.FolderPermission(
                args.slug,
                folder_uid=self.folder.uid,
                permissions=[
                    grafana.oss.FolderPermissionPermissionArgs(
                        permission=p.permission, role=p.role, team_id=p.team_id, user_id=p.user_id)
                    for p in args.permissions
                ],
                org_id=args.org_id,
                opts=child,
            )
        self.register_outputs({"uid": self.folder.uid})
