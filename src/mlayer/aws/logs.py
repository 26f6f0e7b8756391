"""CloudWatch Logs: a function's log events in a time window (read-only)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlayer.aws._client import AwsClient
from mlayer.logsummary import LogEvent

# Events kept from one window, the newest: a busy function logs far more in a day
# than anyone reads in a terminal; the summary covers what is kept.
MAX_EVENTS = 10_000


class LogCalls(AwsClient):
    @cached_property
    def _logs(self) -> Any:
        return self._client("logs")

    def log_events(
        self,
        group: str,
        start_ms: int,
        *,
        end_ms: int | None = None,
        pattern: str | None = None,
        limit: int = MAX_EVENTS,
    ) -> list[LogEvent]:
        """The group's events from ``start_ms`` (inclusive), matching the CloudWatch
        Logs filter ``pattern`` if given, oldest first; the newest ``limit`` of them.

        FilterLogEvents is paged (nextToken) across all the group's streams. A
        missing group is ``NotFound``, with the caller to say why it may be missing.
        """
        request: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if end_ms is not None:
            request["endTime"] = end_ms
        if pattern:
            request["filterPattern"] = pattern
        kept: list[LogEvent] = []
        with self._translate(f"log group {group}"):
            for page in self._logs.get_paginator("filter_log_events").paginate(**request):
                kept += [
                    LogEvent(
                        timestamp=int(event["timestamp"]),
                        message=event.get("message", ""),
                        stream=event.get("logStreamName", ""),
                        event_id=event.get("eventId", ""),
                    )
                    for event in page.get("events", [])
                ]
                if len(kept) > 2 * limit:  # pages are not in time order across streams
                    kept = _newest(kept, limit)
        return _newest(kept, limit)


def _newest(events: list[LogEvent], limit: int) -> list[LogEvent]:
    """The newest ``limit`` of ``events``, oldest first."""
    return sorted(events, key=lambda event: (event.timestamp, event.event_id))[-limit:]
