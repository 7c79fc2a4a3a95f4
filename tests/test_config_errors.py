"""Bad configuration stops the program with one clear message before any resource exists."""
import pytest

from tests.conftest import existing_grafana, run_fails, run_values


def test_an_unknown_team_names_the_team_and_the_teams_allowed(prod_values):
    values, secrets = prod_values
    values["teams"]["billing"] = {}
    message, monitor = run_fails(values, secrets)
    assert "stacks/Pulumi.unit-test.yaml" in message
    assert "grafana-platform:teams.billing: unknown team 'billing'; allowed: api-production" in message
    assert monitor.registrations == []


def test_a_bad_duration_names_the_field_and_the_value(prod_values):
    values, secrets = prod_values
    values["teams"]["api-production"]["overrides"] = {"HighErrorRate": {"for": "5 minutes"}}
    message, monitor = run_fails(values, secrets)
    assert "grafana-platform:teams.api-production.overrides.HighErrorRate.for" in message
    assert "'5 minutes'" in message
    assert monitor.registrations == []


def test_a_missing_secret_is_required(prod_values):
    values, secrets = existing_grafana(*prod_values)
    del values["grafanaAuth"]
    message, monitor = run_fails(values, secrets)
    assert "grafana-platform:grafanaAuth: is required: the Grafana service account token" in message
    assert monitor.registrations == []


def test_a_plain_text_secret_is_refused_with_the_command_to_set_it(prod_values):
    values, secrets = prod_values
    secrets.remove("contactPoints")
    message, monitor = run_fails(values, secrets)
    assert ("pulumi config set --stack unit-test --secret --path "
            "'grafana-platform:contactPoints.api-production.slack.url' <value>") in message
    assert monitor.registrations == []


def test_a_duplicate_uid_names_both_owners(prod_values):
    values, secrets = prod_values
    values["datasources"]["loki"]["uid"] = "prometheus"
    message, monitor = run_fails(values, secrets)
    assert "datasource 'prometheus': used by both prometheus and loki" in message
    assert monitor.registrations == []


def test_a_uid_over_40_characters_is_refused(prod_values):
    values, secrets = prod_values
    values["datasources"]["loki"]["uid"] = "l" * 41
    message, monitor = run_fails(values, secrets)
    assert "grafana-platform:datasources.loki.uid: String should have at most 40 characters" in message
    assert monitor.registrations == []


def test_a_route_to_an_unknown_contact_point_lists_the_defined_ones(prod_values):
    values, secrets = prod_values
    values["teams"]["api-production"]["routing"]["receiver"] = "api-prod"
    message, monitor = run_fails(values, secrets)
    assert "teams.api-production.routing.receiver: unknown contact point 'api-prod'" in message
    assert "(defined: api-production, api-production-pagerduty, chatbot-sav," in message
    assert monitor.registrations == []


def test_a_typo_in_a_key_suggests_the_right_one(prod_values):
    values, secrets = prod_values
    values["teams"]["api-production"]["overrides"] = {"HighErrorRate": {"treshold": 0.01}}
    message, _ = run_fails(values, secrets)
    assert ("grafana-platform:teams.api-production.overrides.HighErrorRate.treshold: unknown field "
            "(did you mean 'threshold'?); allowed: for, threshold") in message


def test_an_override_of_an_unknown_alert_lists_the_teams_alerts(prod_values):
    values, secrets = prod_values
    values["teams"]["api-production"]["overrides"] = {"HighErrorRates": {"threshold": 0.01}}
    message, monitor = run_fails(values, secrets)
    assert "teams.api-production.overrides.HighErrorRates: unknown alert; allowed: APIInstanceDown" in message
    assert monitor.registrations == []


def test_two_default_datasources_are_refused(prod_values):
    values, secrets = prod_values
    values["datasources"]["loki"]["isDefault"] = True
    message, _ = run_fails(values, secrets)
    assert "at most one datasource may set isDefault: true (got prometheus, loki)" in message


def test_an_error_message_counts_its_problems_and_says_nothing_was_deployed(prod_values):
    values, secrets = prod_values
    values["orgId"] = 0
    values["protect"] = "sometimes"
    message, _ = run_fails(values, secrets)
    assert message.splitlines()[0] == (
        "stacks/Pulumi.unit-test.yaml: invalid configuration (2 problems); nothing was deployed:")


def test_secret_keys_handed_over_by_the_cli_in_the_environment_count_as_secure(prod_values, monkeypatch):
    values, secrets = prod_values
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["grafana-platform:contactPoints"]')
    secrets.remove("contactPoints")
    assert run_values(values, secrets).of_type("grafana:alerting/contactPoint:ContactPoint")


@pytest.mark.parametrize("timing,expected", [
    ({"weekdays": ["sundays"]}, "muteTimings.quiet.weekdays.0: Input should be 'monday', 'tuesday'"),
    ({"times": [{"start": "19:00", "end": "08:00"}]},
     "muteTimings.quiet.times.0: start 19:00 must come before end 08:00 (split a range over midnight in two)"),
    ({"weekdays": ["sunday"], "location": "Europe/Pariss"},
     "muteTimings.quiet.location: unknown time zone 'Europe/Pariss'; use an IANA name such as Europe/Paris"),
], ids=["unknown weekday", "range over midnight", "unknown time zone"])
def test_a_mute_timing_grafana_would_refuse_is_refused_first(prod_values, timing, expected):
    values, secrets = prod_values
    values["muteTimings"] = {"quiet": timing}
    message, monitor = run_fails(values, secrets)
    assert expected in message
    assert monitor.registrations == []


def test_a_token_is_refused_where_the_stack_deploys_grafana_and_logs_in_as_admin(prod_values):
    values, secrets = prod_values
    values["grafanaAuth"] = "<secure grafana-platform:grafanaAuth>"
    message, _ = run_fails(values, [*secrets, "grafanaAuth"])
    assert "grafana-platform:grafanaAuth: is not used when the kubernetes section deploys Grafana" in message
