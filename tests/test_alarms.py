"""deploy --alarms' CloudWatch alarms: the specs (pure), the diff against what
CloudWatch holds, and ``ops.alarms`` against the moto server (alarms read back
from moto's CloudWatch)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from conftest import ACCOUNT, REGION, Account

from mlayer import render
from mlayer.alarms import (
    DEFAULT_ITERATOR_AGE_MS,
    MANAGED_MARK,
    AlarmAction,
    alarm_action,
    alarm_names,
    alarm_specs,
    check_topic_arn,
    topic_refusal,
)
from mlayer.aws import Aws
from mlayer.errors import NotFound, UsageError
from mlayer.ops.alarms import alarm_states, check_alarms, ensure_alarms
from mlayer.options import alarm_topic_option, alarms_option
from mlayer.state import AlarmState

TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ops-alerts"


def _state_of(spec_name: str, **changes: object) -> AlarmState:
    """An AlarmState as CloudWatch would report the spec of that name."""
    spec = next(s for s in alarm_specs("fn", "live", TOPIC) if s.name == spec_name)
    values: dict[str, object] = {
        "name": spec.name,
        "state": "OK",
        "description": spec.description,
        "namespace": spec.namespace,
        "metric": spec.metric,
        "statistic": spec.statistic,
        "dimensions": spec.dimensions,
        "period": spec.period,
        "evaluation_periods": spec.evaluation_periods,
        "threshold": spec.threshold,
        "comparison": spec.comparison,
        "treat_missing_data": spec.treat_missing_data,
        "alarm_actions": spec.actions,
        "ok_actions": spec.actions,
    }
    values.update(changes)
    return AlarmState(**values)


# --- the specs (pure) ---------------------------------------------------------------


def test_three_alarms_named_after_the_function() -> None:
    specs = alarm_specs("fn", "live")
    assert [s.name for s in specs] == alarm_names("fn")
    assert alarm_names("fn") == [
        "fn-mlayer-iterator-age",
        "fn-mlayer-errors",
        "fn-mlayer-throttles",
    ]
    assert all(s.description.startswith(MANAGED_MARK) for s in specs)


def test_iterator_age_watches_the_alias_the_trigger_invokes() -> None:
    age, errors, throttles = alarm_specs("fn", "live")
    assert (age.namespace, age.metric, age.statistic) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert dict(age.dimensions) == {"FunctionName": "fn", "Resource": "fn:live"}
    assert age.threshold == DEFAULT_ITERATOR_AGE_MS == 60_000
    assert age.period == 300 and age.comparison == "GreaterThanThreshold"
    # Errors and Throttles: the function as a whole, any count at all.
    for spec, metric in ((errors, "Errors"), (throttles, "Throttles")):
        assert (spec.metric, spec.statistic, spec.threshold) == (metric, "Sum", 0.0)
        assert spec.dimensions == (("FunctionName", "fn"),)
    # No invocation is no failure and no backlog.
    assert {s.treat_missing_data for s in (age, errors, throttles)} == {"notBreaching"}


def test_without_an_alias_iterator_age_is_the_function_s() -> None:
    age = alarm_specs("fn", None, iterator_age_ms=120_000)[0]
    assert age.dimensions == (("FunctionName", "fn"),)
    assert age.threshold == 120_000


def test_topic_is_notified_on_alarm_and_on_ok() -> None:
    request = alarm_specs("fn", "live", TOPIC)[1].request()
    assert request["AlarmActions"] == [TOPIC] and request["OKActions"] == [TOPIC]
    assert alarm_specs("fn", "live")[1].request()["AlarmActions"] == []


# --- the diff (pure) ----------------------------------------------------------------


def test_missing_alarm_is_created_matching_unchanged_differing_updated() -> None:
    specs = alarm_specs("fn", "live", TOPIC)
    errors = specs[1]
    assert alarm_action(errors, None) is AlarmAction.CREATE
    assert alarm_action(errors, _state_of(errors.name)) is AlarmAction.UNCHANGED
    # A state change is not a configuration change.
    assert alarm_action(errors, _state_of(errors.name, state="ALARM")) is AlarmAction.UNCHANGED
    for change in (
        {"threshold": 5.0},
        {"alarm_actions": ()},
        {"dimensions": (("FunctionName", "other"),)},
        {"description": MANAGED_MARK + " older wording"},
    ):
        assert alarm_action(errors, _state_of(errors.name, **change)) is AlarmAction.UPDATE, change


def test_an_alarm_mlayer_did_not_create_is_never_replaced() -> None:
    errors = alarm_specs("fn", "live")[1]
    theirs = _state_of(errors.name, description="paged to the on-call team")
    with pytest.raises(UsageError) as refused:
        alarm_action(errors, theirs)
    message = str(refused.value)
    assert "fn-mlayer-errors" in message and "not created by mlayer" in message
    assert "\n" not in message


# --- --alarm-topic ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        TOPIC,
        f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts.fifo",
        "arn:aws-cn:sns:cn-north-1:1" + "0" * 11 + ":a_b",
    ],
)
def test_topic_arns_accepted(value: str) -> None:
    assert check_topic_arn(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("ops-alerts", "not an SNS topic ARN"),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue", "not an SNS topic ARN"),
        (f"arn:aws:sns::{ACCOUNT}:alerts", "not an SNS topic ARN"),
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:bad name", "not an SNS topic ARN"),
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:*", "wildcard"),
    ],
)
def test_topic_arns_refused(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_topic_arn(value)


def test_topic_in_another_region_or_account_is_refused() -> None:
    assert topic_refusal(TOPIC, REGION, ACCOUNT) is None
    other_region = topic_refusal(TOPIC.replace(REGION, "us-east-1"), REGION, ACCOUNT)
    assert other_region and "region us-east-1" in other_region and REGION in other_region
    other_account = topic_refusal(TOPIC, REGION, "210987654321")
    assert other_account and f"account {ACCOUNT}" in other_account


def test_alarm_topic_option_refuses_a_bad_arn_in_one_line() -> None:
    @click.command()
    @alarms_option
    @alarm_topic_option
    def command(alarms: bool | None, alarm_topic: str | None) -> None:
        click.echo(json.dumps([alarms, alarm_topic]))

    ok = CliRunner().invoke(command, ["--alarms", "--alarm-topic", TOPIC])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == [True, TOPIC]
    bad = CliRunner().invoke(command, ["--alarm-topic", "arn:aws:sqs:eu-west-1:123456789012:q"])
    assert bad.exit_code == 2 and "is not an SNS topic ARN" in bad.stderr


# --- against the moto server ----------------------------------------------------------


def _aws(account: Account) -> Aws:
    return Aws(REGION, endpoint_url=account.endpoint)


def _alarms(account: Account) -> dict[str, dict]:  # type: ignore[type-arg]
    reply = account.client("cloudwatch").describe_alarms(AlarmNamePrefix="fn-mlayer-")
    return {alarm["AlarmName"]: alarm for alarm in reply["MetricAlarms"]}


def test_ensure_alarms_creates_the_three_then_changes_nothing(aws: Account) -> None:
    topic = aws.client("sns").create_topic(Name="ops-alerts")["TopicArn"]
    lines = ensure_alarms(_aws(aws), "fn", "live", topic)
    assert [line.split(" (")[0] for line in lines] == [
        f"create alarm {name}" for name in alarm_names("fn")
    ]
    created = _alarms(aws)
    assert set(created) == set(alarm_names("fn"))
    age = created["fn-mlayer-iterator-age"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/Lambda",
        "IteratorAge",
        "Maximum",
    )
    assert {d["Name"]: d["Value"] for d in age["Dimensions"]} == {
        "FunctionName": "fn",
        "Resource": "fn:live",
    }
    assert age["Threshold"] == 60_000 and age["ComparisonOperator"] == "GreaterThanThreshold"
    errors = created["fn-mlayer-errors"]
    assert (errors["Statistic"], errors["Threshold"]) == ("Sum", 0)
    assert errors["AlarmActions"] == [topic] and errors["OKActions"] == [topic]
    assert errors["AlarmDescription"].startswith(MANAGED_MARK)

    # Again: read back as they were put, so nothing is put.
    aws_again = _aws(aws)
    assert ensure_alarms(aws_again, "fn", "live", topic) == [
        f"alarm unchanged: {name}" for name in alarm_names("fn")
    ]


def test_a_changed_topic_updates_the_alarms(aws: Account) -> None:
    sns = aws.client("sns")
    first = sns.create_topic(Name="first")["TopicArn"]
    second = sns.create_topic(Name="second")["TopicArn"]
    ensure_alarms(_aws(aws), "fn", "live", first)
    lines = ensure_alarms(_aws(aws), "fn", "live", second)
    assert all(line.startswith("update alarm ") for line in lines), lines
    assert {a["AlarmActions"][0] for a in _alarms(aws).values()} == {second}


def test_dry_run_puts_nothing(aws: Account) -> None:
    lines = ensure_alarms(_aws(aws), "fn", "live", None, dry_run=True)
    assert all(line.startswith("would create alarm ") for line in lines)
    assert _alarms(aws) == {}


def test_an_alarm_of_the_same_name_made_by_someone_else_stops_everything(aws: Account) -> None:
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="fn-mlayer-throttles",
        AlarmDescription="the on-call team's",
        Namespace="AWS/Lambda",
        MetricName="Throttles",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    with pytest.raises(
        UsageError, match="fn-mlayer-throttles exists and was not created by mlayer"
    ):
        ensure_alarms(_aws(aws), "fn", "live", None)
    # Refused before any change: theirs untouched, none of ours created.
    alarms = _alarms(aws)
    assert set(alarms) == {"fn-mlayer-throttles"}
    assert alarms["fn-mlayer-throttles"]["Threshold"] == 10


def test_topic_checks_come_before_any_change(aws: Account) -> None:
    client = _aws(aws)
    with pytest.raises(UsageError, match="region us-east-1"):
        check_alarms(client, "fn", "live", TOPIC.replace(REGION, "us-east-1"))
    with pytest.raises(UsageError, match="account 210987654321"):
        check_alarms(client, "fn", "live", TOPIC.replace(ACCOUNT, "210987654321"))
    with pytest.raises(NotFound, match="ops-alerts does not exist"):
        check_alarms(client, "fn", "live", TOPIC)
    with pytest.raises(UsageError, match="not an SNS topic ARN"):
        check_alarms(client, "fn", "live", "ops-alerts")
    assert _alarms(aws) == {}


def test_alarm_states_for_status(aws: Account) -> None:
    client = _aws(aws)
    assert alarm_states(client, "fn") == []
    assert render.alarm_lines([]) == ["alarms: none (deploy --alarms creates them)"]
    ensure_alarms(client, "fn", "live", None)
    aws.client("cloudwatch").set_alarm_state(
        AlarmName="fn-mlayer-errors", StateValue="ALARM", StateReason="3 errors in 5 minutes"
    )
    states = alarm_states(_aws(aws), "fn")
    assert [s.name for s in states] == alarm_names("fn")
    by_name = {s.name: s.state for s in states}
    assert by_name["fn-mlayer-errors"] == "ALARM"
    lines = render.alarm_lines(states)
    assert lines[0] == "alarms:"
    errors_line = next(line for line in lines if "fn-mlayer-errors" in line)
    assert errors_line.rstrip().endswith("ALARM: 3 errors in 5 minutes")
    assert render.alarms_json(states)[1] == {
        "name": "fn-mlayer-errors",
        "state": "ALARM",
        "reason": "3 errors in 5 minutes",
    }


# --- deploy --alarms and status, end to end on the moto server -------------------------------


def test_deploy_alarms_creates_the_three_and_status_shows_their_states(deployed: Account) -> None:
    from conftest import run, run_json

    topic = deployed.client("sns").create_topic(Name="oncall")["TopicArn"]
    result = run_json("deploy", "--function-name", "fn", "--alarms", "--alarm-topic", topic)
    assert len(result["alarms"]) == 3 and result["steps"] == []  # the function is unchanged
    described = deployed.client("cloudwatch").describe_alarms(AlarmNamePrefix="fn-mlayer-")
    alarms = {a["AlarmName"]: a for a in described["MetricAlarms"]}
    assert sorted(alarms) == ["fn-mlayer-errors", "fn-mlayer-iterator-age", "fn-mlayer-throttles"]
    age = alarms["fn-mlayer-iterator-age"]
    assert age["MetricName"] == "IteratorAge" and age["AlarmActions"] == [topic]
    assert {"Name": "Resource", "Value": "fn:live"} in age["Dimensions"]
    again = run_json("deploy", "--function-name", "fn", "--alarms", "--alarm-topic", topic)
    assert all(line.startswith("alarm unchanged") for line in again["alarms"])
    states = run_json("status", "--function-name", "fn")["alarms"]
    assert [s["name"] for s in states] == [
        "fn-mlayer-iterator-age",
        "fn-mlayer-errors",
        "fn-mlayer-throttles",
    ]
    assert "alarms:" in run("status", "--function-name", "fn").stdout


def test_an_alarm_topic_without_alarms_is_refused_before_any_change(deployed: Account) -> None:
    from conftest import assert_one_line_error, run

    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"
    result = run("deploy", "--function-name", "fn", "--alarm-topic", topic)
    assert_one_line_error(result, "--alarm-topic", "pass --alarms")
    described = deployed.client("cloudwatch").describe_alarms(AlarmNamePrefix="fn-mlayer-")
    assert described["MetricAlarms"] == []
