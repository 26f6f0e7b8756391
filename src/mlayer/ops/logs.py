"""mlayer logs: the function's CloudWatch Logs over a window, or followed.

Read only. The events come from the function's log group, newest last;
``logsummary`` summarises their REPORT and shadow lines.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from mlayer.aws import Aws
from mlayer.errors import NotFound
from mlayer.logsummary import LogEvent, LogSummary, filter_pattern, summarise
from mlayer.settings import Settings

FOLLOW_INTERVAL_SECONDS = 2.0
# CloudWatch Logs takes events up to some seconds after their timestamp: each
# poll of --follow reads this far back again, and skips what it printed.
LATE_ARRIVAL_MS = 30_000
# Events a follow keeps for its summary.
FOLLOW_KEPT = 10_000


def log_group(function_name: str) -> str:
    """Lambda's default log group of a function."""
    return f"/aws/lambda/{function_name}"


@dataclass(frozen=True)
class LogsResult:
    group: str
    since: timedelta
    pattern: str | None
    events: tuple[LogEvent, ...]  # oldest first
    summary: LogSummary


def _no_group(function_name: str, group: str) -> NotFound:
    return NotFound(
        f"log group {group} not found: function {function_name} has not run yet, or it "
        "has no log group (it logs elsewhere, or the group was deleted)"
    )


def read_logs(
    settings: Settings,
    aws: Aws,
    *,
    since: timedelta,
    text: str | None = None,
    now: Callable[[], float] = time.time,
) -> LogsResult:
    """The function's log events of the last ``since`` (matching ``text``), summarised."""
    name = settings.require_function_name()
    group = log_group(name)
    pattern = filter_pattern(text) if text else None
    start = int((now() - since.total_seconds()) * 1000)
    try:
        events = aws.log_events(group, start, pattern=pattern)
    except NotFound:
        raise _no_group(name, group) from None
    return LogsResult(group, since, pattern, tuple(events), summarise(events))


def follow(
    settings: Settings,
    aws: Aws,
    *,
    since: timedelta,
    text: str | None = None,
    on_events: Callable[[list[LogEvent]], None],
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] | None = None,
    now: Callable[[], float] = time.time,
    interval: float = FOLLOW_INTERVAL_SECONDS,
) -> LogsResult:
    """The events of the last ``since``, then every ``interval`` the new ones, each
    batch to ``on_events``, until ``stop()`` says so or Ctrl-C; the summary of all
    the events seen (the newest ``FOLLOW_KEPT``)."""
    name = settings.require_function_name()
    group = log_group(name)
    pattern = filter_pattern(text) if text else None
    start = int((now() - since.total_seconds()) * 1000)
    newest = start
    seen: dict[str, int] = {}  # event key -> timestamp, for the re-read window
    kept: deque[LogEvent] = deque(maxlen=FOLLOW_KEPT)
    sleep = sleep or time.sleep  # looked up now: a CLI test replaces time.sleep
    try:
        while True:
            window = max(start, newest - LATE_ARRIVAL_MS)
            try:
                events = aws.log_events(group, window, pattern=pattern)
            except NotFound:
                raise _no_group(name, group) from None
            new = [event for event in events if _key(event) not in seen]
            for event in new:
                seen[_key(event)] = event.timestamp
                newest = max(newest, event.timestamp)
            # What is older than the next window is never read again.
            edge = newest - LATE_ARRIVAL_MS
            seen = {key: ts for key, ts in seen.items() if ts >= edge}
            if new:
                kept.extend(new)
                on_events(new)
            if stop():
                break
            sleep(interval)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a follow; the summary of what was seen follows
    events_seen = sorted(kept, key=lambda event: event.timestamp)
    return LogsResult(group, since, pattern, tuple(events_seen), summarise(events_seen))


def _key(event: LogEvent) -> str:
    return event.event_id or f"{event.stream}/{event.timestamp}/{event.message}"
