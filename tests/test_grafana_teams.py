"""Grafana teams as owners (teams.<slug>.grafanaTeam): a Grafana Team per product team, granted its folder
beside the role permissions; under Pulumi mocks."""
from __future__ import annotations

import copy

import pytest

from components.types import ResourceType as T
from tests.conftest import existing_grafana, run_fails, run_values, stack_values


def team_permission(run, slug: str) -> dict:
    [entry] = [p for p in run.one(T.FOLDER_PERMISSION, slug).inputs["permissions"] if "teamId" in p]
    return entry


@pytest.mark.parametrize("stack, permission", [("dev", "Edit"), ("staging", "Edit"), ("prod", "View"), ("local", "Edit")])
def test_each_stack_makes_every_product_team_a_grafana_team_that_owns_its_folder(rendered, stack, permission):
    run = rendered(stack)
    slugs = sorted(t.name for t in run.of_type(T.TEAM))
    assert sorted(t.name for t in run.of_type(T.OSS_TEAM)) == slugs
    for slug in slugs:
        team = run.one(T.OSS_TEAM, slug)
        assert team.parent == f"{T.GRAFANA_TEAM}::{slug}"
        assert team.inputs["ignoreExternallySyncedMembers"] is True  # SSO team sync stays the organization's
        assert "members" not in team.inputs  # the committed stacks leave membership to SSO
        # the folder permission names the team by the id Grafana assigns it (the mocks' stand-in)
        assert team_permission(run, slug) == {"teamId": f"<team id of {slug}>", "permission": permission}


def test_prod_keeps_its_role_permissions_beside_the_owner_team_and_protects_the_team(rendered):
    run = rendered("prod")
    assert run.one(T.FOLDER_PERMISSION, "voicebot").inputs["permissions"] == [
        {"role": "Viewer", "permission": "View"}, {"role": "Editor", "permission": "View"},
        {"teamId": "<team id of voicebot>", "permission": "View"}]
    assert run.one(T.OSS_TEAM, "voicebot").protect


def test_a_stack_without_role_permissions_keeps_grafanas_defaults_beside_the_owner_team(rendered):
    """A FolderPermission replaces the folder's whole list: the owner alone would lock Viewers and Editors out."""
    assert rendered("dev").one(T.FOLDER_PERMISSION, "voicebot").inputs["permissions"] == [
        {"role": "Viewer", "permission": "View"}, {"role": "Editor", "permission": "Edit"},
        {"teamId": "<team id of voicebot>", "permission": "Edit"}]


def dev_values() -> tuple[dict, list[str]]:
    return existing_grafana(*copy.deepcopy(stack_values("dev")))


def test_members_listed_by_e_mail_become_the_teams_members_in_a_stable_order():
    values, secret_keys = dev_values()
    values["teams"]["voicebot"]["grafanaTeam"]["members"] = ["zoe@acme-corp.com", "adam@acme-corp.com"]
    team = run_values(values, secret_keys).one(T.OSS_TEAM, "voicebot")
    assert team.inputs["members"] == ["adam@acme-corp.com", "zoe@acme-corp.com"]


def test_without_a_grafana_team_the_folder_has_only_what_the_stack_lists():
    values, secret_keys = dev_values()
    del values["teams"]["voicebot"]["grafanaTeam"]
    run = run_values(values, secret_keys)
    assert sorted(t.name for t in run.of_type(T.OSS_TEAM)) == sorted(s for s in values["teams"] if s != "voicebot")
    assert not [p for p in run.of_type(T.FOLDER_PERMISSION) if p.name == "voicebot"]  # Grafana's own defaults


@pytest.mark.parametrize("change, field, says", [
    (lambda t: t["voicebot"]["grafanaTeam"].update(name="MLOps Scoring"), "teams.voicebot.grafanaTeam.name",
     "'MLOps Scoring' is also the Grafana team of mlops-scoring"),
    (lambda t: t["voicebot"]["grafanaTeam"].update(members=["voicebot-team"]), "teams.voicebot.grafanaTeam.members.0",
     "must be one e-mail address"),
    (lambda t: t["voicebot"]["grafanaTeam"].update(permission="Write"), "teams.voicebot.grafanaTeam.permission",
     "'View', 'Edit' or 'Admin'"),
    (lambda t: t["voicebot"]["grafanaTeam"].pop("permission"), "teams.voicebot.grafanaTeam.permission", "is required"),
], ids=["a name two teams share", "a member that is not an e-mail", "an unknown permission", "no permission"])
def test_a_grafana_team_grafana_would_refuse_is_a_config_error_and_nothing_is_registered(change, field, says):
    values, secret_keys = dev_values()
    change(values["teams"])
    message, monitor = run_fails(values, secret_keys)
    assert f"grafana-platform:{field}: " in message and says in message, message
    assert monitor.registrations == []
