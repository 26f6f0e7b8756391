"""CloudWatch alarms: read their states and definitions, create or replace them; and
whether the SNS topic they notify exists."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import botocore.exceptions

from mlayer.alarms import AlarmSpec
from mlayer.aws._client import AwsClient
from mlayer.state import AlarmState

# DescribeAlarms takes at most 100 alarm names per call.
NAMES_PER_CALL = 100


class CloudWatchCalls(AwsClient):
    @cached_property
    def _cloudwatch(self) -> Any:
        return self._client("cloudwatch")

    def alarms(self, names: list[str]) -> dict[str, AlarmState]:
        """The metric alarms among ``names`` that exist, by name (read-only)."""
        found: dict[str, AlarmState] = {}
        with self._translate("CloudWatch alarms " + ", ".join(names)):
            for start in range(0, len(names), NAMES_PER_CALL):
                pages = self._cloudwatch.get_paginator("describe_alarms").paginate(
                    AlarmNames=names[start : start + NAMES_PER_CALL], AlarmTypes=["MetricAlarm"]
                )
                for page in pages:
                    for alarm in page.get("MetricAlarms", []):
                        found[alarm["AlarmName"]] = _alarm_state(alarm)
        return found

    def put_alarm(self, spec: AlarmSpec) -> None:
        """Create the alarm, or replace the one of that name whole (PutMetricAlarm)."""
        with self._translate(f"CloudWatch alarm {spec.name}"):
            self._cloudwatch.put_metric_alarm(**spec.request())

    def topic_exists(self, topic_arn: str) -> bool:
        """Whether the SNS topic exists (read-only check)."""
        with self._translate(f"SNS topic {topic_arn}"):
            try:
                self._client("sns").get_topic_attributes(TopicArn=topic_arn)
            except botocore.exceptions.ClientError as exc:
                # SNS says NotFound, a code the other services do not use.
                if exc.response.get("Error", {}).get("Code") == "NotFound":
                    return False
                raise
        return True


def _alarm_state(alarm: dict[str, Any]) -> AlarmState:
    return AlarmState(
        name=alarm["AlarmName"],
        state=alarm.get("StateValue", ""),
        reason=alarm.get("StateReason", ""),
        description=alarm.get("AlarmDescription", ""),
        namespace=alarm.get("Namespace", ""),
        metric=alarm.get("MetricName", ""),
        statistic=alarm.get("Statistic", ""),
        dimensions=tuple((d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])),
        period=int(alarm.get("Period", 0)),
        evaluation_periods=int(alarm.get("EvaluationPeriods", 0)),
        threshold=float(alarm.get("Threshold", 0.0)),
        comparison=alarm.get("ComparisonOperator", ""),
        treat_missing_data=alarm.get("TreatMissingData", ""),
        alarm_actions=tuple(alarm.get("AlarmActions", [])),
        ok_actions=tuple(alarm.get("OKActions", [])),
    )
