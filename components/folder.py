"""A team's Grafana folder, with its permissions; protected where the stack asks for it."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from estate.stack import FolderPermission
from .types import ResourceType


# What Grafana grants a folder created in its UI (Viewer View, Editor Edit; Admins always have access:
# https://grafana.com/docs/grafana/latest/administration/roles-and-permissions/folder-access-control).
# Kept beside an owner team when the stack lists no role permissions, because a FolderPermission sets
# the folder's whole permission list ("Items that are omitted from the list will be removed":
# pulumiverse_grafana.oss.FolderPermission, `permissions`).
GRAFANA_DEFAULT_PERMISSIONS = (FolderPermission(role="Viewer", permission="View"),
                               FolderPermission(role="Editor", permission="Edit"))


@dataclass(frozen=True)
class FolderOwner:
    """The Grafana team that owns the folder, and what it may do there."""

    team_id: pulumi.Input[str]
    permission: str


@dataclass(frozen=True)
class TeamFolderArgs:
    slug: str
    uid: str
    title: str
    permissions: list[FolderPermission]
    prevent_destroy_if_not_empty: bool
    owner: FolderOwner | None = None
    org_id: str | None = None


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
        roles = args.permissions or (list(GRAFANA_DEFAULT_PERMISSIONS) if args.owner else [])
        permissions = [grafana.oss.FolderPermissionPermissionArgs(
            permission=p.permission, role=p.role, team_id=p.team_id, user_id=p.user_id) for p in roles]
        if args.owner:
            permissions.append(grafana.oss.FolderPermissionPermissionArgs(
                permission=args.owner.permission, team_id=args.owner.team_id))
        if permissions:
            grafana.oss.FolderPermission(args.slug, folder_uid=self.folder.uid, permissions=permissions,
                                      org_id=args.org_id, opts=child)
        self.register_outputs({"uid": self.folder.uid})
