"""The CloudWatch alarms ``deploy --alarms`` keeps on a function (pure: no I/O).

Three alarms, named after the function:

- ``<function>-mlayer-iterator-age``: the trigger falls behind the stream
  (``IteratorAge`` Maximum over 5 minutes above a minute, by default);
- ``<function>-mlayer-errors``: any invocation failed (``Errors`` Sum > 0);
- ``<function>-mlayer-throttles``: any invocation was throttled (``Throttles`` Sum > 0).

``alarm_specs`` says what they should be, ``alarm_action`` compares one with what
CloudWatch holds. PutMetricAlarm creates or replaces an alarm whole, so mlayer
marks its alarms (``MANAGED_MARK`` starts their description) and never replaces
one of the same name that it did not create.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mlayer.errors import UsageError
from mlayer.state import AlarmState
from mlayer.validate import parse_arn

NAMESPACE = "AWS/Lambda"
# The start of the AlarmDescription of every alarm mlayer manages.
MANAGED_MARK = "mlayer:"
ALARM_SUFFIXES = {
    "IteratorAge": "iterator-age",
    "Errors": "errors",
    "Throttles": "throttles",
}
# A record waiting a minute means the function no longer keeps up with the stream
# (AWS's stream guidance alarms on a growing IteratorAge; a minute is well past
# the batching window and a warm batch).
DEFAULT_ITERATOR_AGE_MS = 60_000
PERIOD_SECONDS = 300


class AlarmAction(Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm as mlayer wants it: the arguments of PutMetricAlarm."""

    name: str
    metric: str
    statistic: str
    dimensions: tuple[tuple[str, str], ...]
    threshold: float
    description: str
    actions: tuple[str, ...] = ()  # an SNS topic, notified on ALARM and on OK
    comparison: str = "GreaterThanThreshold"
    period: int = PERIOD_SECONDS
    evaluation_periods: int = 1
    # No data means no invocation: nothing failed and nothing falls behind.
    treat_missing_data: str = "notBreaching"
    namespace: str = NAMESPACE

    def request(self) -> dict[str, object]:
        """The keyword arguments of CloudWatch's PutMetricAlarm."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Statistic": self.statistic,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
            "ActionsEnabled": True,
            "AlarmActions": list(self.actions),
            "OKActions": list(self.actions),
        }

    def matches(self, alarm: AlarmState) -> bool:
        """Whether ``alarm`` (as CloudWatch reports it) is this spec already."""
        return (
            alarm.description == self.description
            and alarm.namespace == self.namespace
            and alarm.metric == self.metric
            and alarm.statistic == self.statistic
            and sorted(alarm.dimensions) == sorted(self.dimensions)
            and alarm.period == self.period
            and alarm.evaluation_periods == self.evaluation_periods
            and alarm.threshold == self.threshold
            and alarm.comparison == self.comparison
            and alarm.treat_missing_data == self.treat_missing_data
            and sorted(alarm.alarm_actions) == sorted(self.actions)
            and sorted(alarm.ok_actions) == sorted(self.actions)
        )


def alarm_name(function_name: str, metric: str) -> str:
    """``fn-mlayer-iterator-age`` for ``IteratorAge`` of ``fn``."""
    return f"{function_name}-mlayer-{ALARM_SUFFIXES[metric]}"


def alarm_names(function_name: str) -> list[str]:
    return [alarm_name(function_name, metric) for metric in ALARM_SUFFIXES]


def alarm_specs(
    function_name: str,
    alias: str | None = None,
    topic: str | None = None,
    iterator_age_ms: int = DEFAULT_ITERATOR_AGE_MS,
) -> list[AlarmSpec]:
    """The three alarms of ``function_name``; with ``alias``, IteratorAge is the alias's.

    Lambda reports a metric of an invocation through an alias (the trigger invokes
    alias ``live``) under FunctionName alone and under FunctionName plus
    ``Resource`` = ``FUNCTION:ALIAS`` (the Lambda developer guide, "Types of
    metrics": by Resource, a version or alias; AWS CDK's ``Alias.metric`` builds
    the same pair). The trigger's IteratorAge is watched on the alias it
    invokes; Errors and Throttles on the function as a whole, so that a failure
    through any version or alias counts.
    """
    actions = (topic,) if topic else ()
    function = (("FunctionName", function_name),)
    iterator = (*function, ("Resource", f"{function_name}:{alias}")) if alias else function
    seconds = iterator_age_ms / 1000
    return [
        AlarmSpec(
            name=alarm_name(function_name, "IteratorAge"),
            metric="IteratorAge",
            statistic="Maximum",
            dimensions=iterator,
            threshold=float(iterator_age_ms),
            description=f"{MANAGED_MARK} the trigger of {function_name}"
            f"{':' + alias if alias else ''} is more than {seconds:g} s behind its stream",
            actions=actions,
        ),
        AlarmSpec(
            name=alarm_name(function_name, "Errors"),
            metric="Errors",
            statistic="Sum",
            dimensions=function,
            threshold=0.0,
            description=f"{MANAGED_MARK} invocations of {function_name} failed",
            actions=actions,
        ),
        AlarmSpec(
            name=alarm_name(function_name, "Throttles"),
            metric="Throttles",
            statistic="Sum",
            dimensions=function,
            threshold=0.0,
            description=f"{MANAGED_MARK} invocations of {function_name} were throttled",
            actions=actions,
        ),
    ]


def alarm_action(spec: AlarmSpec, existing: AlarmState | None) -> AlarmAction:
    """What to do so that CloudWatch holds ``spec``; refuses to replace an alarm of
    that name that mlayer did not create (PutMetricAlarm would overwrite it whole)."""
    if existing is None:
        return AlarmAction.CREATE
    if not existing.description.startswith(MANAGED_MARK):
        raise UsageError(
            f"CloudWatch alarm {spec.name} exists and was not created by mlayer (its "
            f"description does not start with {MANAGED_MARK!r}): rename or delete it, then "
            "run deploy --alarms again"
        )
    return AlarmAction.UNCHANGED if spec.matches(existing) else AlarmAction.UPDATE


def check_topic_arn(value: str) -> str:
    """An SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), for --alarm-topic."""
    usage = "is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
    try:
        arn = parse_arn(value)
    except ValueError as exc:
        raise ValueError(str(exc) if "wildcard" in str(exc) else usage) from None
    name = arn.resource.removesuffix(".fifo")
    named = (
        bool(name)
        and len(arn.resource) <= 256
        and all((c.isascii() and c.isalnum()) or c in "-_" for c in name)
    )
    if arn.service != "sns" or not (arn.region and arn.account) or not named:
        raise ValueError(usage)
    return value


def topic_refusal(topic: str, region: str, account: str) -> str | None:
    """Why the alarms in ``region`` of ``account`` cannot notify ``topic``, or None."""
    arn = parse_arn(topic)
    if arn.region != region:
        return (
            f"--alarm-topic {topic} is in region {arn.region} but the alarms are in {region}: "
            f"CloudWatch alarms notify SNS topics of their own region; pass a topic in {region}"
        )
    if arn.account != account:
        return (
            f"--alarm-topic {topic} is in account {arn.account} but your credentials are for "
            f"account {account}: pass a topic of account {account}"
        )
    return None
