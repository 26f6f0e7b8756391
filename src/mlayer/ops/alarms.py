"""deploy --alarms and status's alarm states: the function's CloudWatch alarms.

``check_alarms`` reads and decides, changing nothing (deploy calls it with its
other checks, before the first change on AWS); ``apply_alarms`` puts what it
decided; ``ensure_alarms`` does both. ``alarm_states`` reads the states for
``status``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlayer.alarms import (
    AlarmAction,
    AlarmSpec,
    alarm_action,
    alarm_names,
    alarm_specs,
    check_topic_arn,
    topic_refusal,
)
from mlayer.aws import Aws
from mlayer.errors import NotFound, UsageError
from mlayer.state import AlarmState


@dataclass(frozen=True)
class AlarmPlan:
    """The function's alarms and what to do about each."""

    changes: tuple[tuple[AlarmSpec, AlarmAction], ...]

    @property
    def to_put(self) -> list[AlarmSpec]:
        return [spec for spec, action in self.changes if action is not AlarmAction.UNCHANGED]


def check_alarms(aws: Aws, function_name: str, alias: str | None, topic: str | None) -> AlarmPlan:
    """What ``deploy --alarms`` would put, after every check (read-only): the topic
    is an SNS topic of this region and account that exists, and no alarm of the
    names mlayer uses was made by someone else."""
    if topic is not None:
        try:
            check_topic_arn(topic)
        except ValueError as exc:
            raise UsageError(f"--alarm-topic {topic!r} {exc}") from None
        refusal = topic_refusal(topic, aws.region, aws.account_id())
        if refusal:
            raise UsageError(refusal)
        if not aws.topic_exists(topic):
            raise NotFound(f"--alarm-topic {topic} does not exist: create the SNS topic first")
    specs = alarm_specs(function_name, alias, topic)
    existing = aws.alarms([spec.name for spec in specs])
    return AlarmPlan(tuple((spec, alarm_action(spec, existing.get(spec.name))) for spec in specs))


def describe(spec: AlarmSpec) -> str:
    """``fn-mlayer-errors (Errors Sum > 0 per 300 s, notifies TOPIC)``."""
    dimensions = ", ".join(f"{name}={value}" for name, value in spec.dimensions)
    notifies = f", notifies {', '.join(spec.actions)}" if spec.actions else ""
    return (
        f"{spec.name} ({spec.metric} {spec.statistic} > {spec.threshold:g} per "
        f"{spec.period} s on {dimensions}{notifies})"
    )


def apply_alarms(aws: Aws, plan: AlarmPlan, dry_run: bool = False) -> list[str]:
    """Put the alarms that ``plan`` creates or updates; the lines saying so."""
    lines = []
    for spec, action in plan.changes:
        if action is AlarmAction.UNCHANGED:
            lines.append(f"alarm unchanged: {spec.name}")
            continue
        if not dry_run:
            aws.put_alarm(spec)
        verb = {AlarmAction.CREATE: "create", AlarmAction.UPDATE: "update"}[action]
        lines.append(f"{'would ' if dry_run else ''}{verb} alarm {describe(spec)}")
    return lines


def ensure_alarms(
    aws: Aws, function_name: str, alias: str | None, topic: str | None, dry_run: bool = False
) -> list[str]:
    """``deploy --alarms``: the three alarms of the function, created or brought up
    to date, never one mlayer did not create; the lines to print."""
    return apply_alarms(aws, check_alarms(aws, function_name, alias, topic), dry_run)


def alarm_states(aws: Aws, function_name: str) -> list[AlarmState]:
    """The function's mlayer alarms that exist, in mlayer's order (for ``status``)."""
    names = alarm_names(function_name)
    found = aws.alarms(names)
    return [found[name] for name in names if name in found]
