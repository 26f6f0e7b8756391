"""What ``mlayer logs`` makes of a function's log events (pure: no I/O).

Lambda ends every invocation with a ``REPORT`` line (duration, billed duration,
memory, and ``Init Duration`` after a cold start); the handler logs one JSON
shadow line per batch when a shadow model is linked (its format:
``contract.LOG_KIND_KEY``). ``summarise`` turns a window of events into the
p50/p95 duration, the cold starts and their INIT time, the largest memory used,
and each live/shadow pair's agreement rate. ``parse_since`` reads ``--since``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlayer.contract import LOG_KIND_KEY, SHADOW_LOG_KIND

SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SINCE = re.compile(r"(\d+)([smhd])")


def parse_since(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d`` -> that long; ValueError otherwise."""
    match = _SINCE.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError("is not a time span: use a number and s, m, h or d, such as 10m or 2h")
    return timedelta(seconds=int(match[1]) * SINCE_UNITS[match[2]])


def filter_pattern(text: str) -> str:
    """``--filter TEXT`` as a CloudWatch Logs filter pattern: the text as one phrase
    (unquoted, its words would match apart), unless it is a pattern already
    (quoted, ``{ $.json }`` or ``[space delimited]``)."""
    text = text.strip()
    if text.startswith(('"', "{", "[")):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch Logs event of the function."""

    timestamp: int  # milliseconds since the epoch
    message: str
    stream: str = ""
    event_id: str = ""


@dataclass(frozen=True)
class InvocationReport:
    """A ``REPORT`` line: one invocation."""

    duration_ms: float
    billed_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None  # only after a cold start


# REPORT RequestId: ID\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 192 MB\t
# Max Memory Used: 80 MB\tInit Duration: 1500.12 ms
_REPORT_FIELDS = {
    "duration_ms": re.compile(r"\tDuration: ([\d.]+) ms"),
    "billed_ms": re.compile(r"Billed Duration: ([\d.]+) ms"),
    "memory_mb": re.compile(r"Memory Size: (\d+) MB"),
    "max_memory_mb": re.compile(r"Max Memory Used: (\d+) MB"),
    "init_ms": re.compile(r"Init Duration: ([\d.]+) ms"),
}
# The same in Lambda's JSON log format: a platform.report record.
_JSON_REPORT_FIELDS = {
    "duration_ms": "durationMs",
    "billed_ms": "billedDurationMs",
    "memory_mb": "memorySizeMB",
    "max_memory_mb": "maxMemoryUsedMB",
    "init_ms": "initDurationMs",
}


def parse_report(message: str) -> InvocationReport | None:
    """The REPORT line's figures (text or JSON log format), or None for any other line."""
    if message.startswith("REPORT "):
        found = {name: regex.search(message) for name, regex in _REPORT_FIELDS.items()}
        if any(found[name] is None for name in ("duration_ms", "memory_mb", "max_memory_mb")):
            return None
        values = {name: m[1] for name, m in found.items() if m is not None}
    else:
        record = _json_object(message)
        if not record or record.get("type") != "platform.report":
            return None
        metrics = (record.get("record") or {}).get("metrics") or {}
        values = {n: metrics[key] for n, key in _JSON_REPORT_FIELDS.items() if key in metrics}
        if not {"duration_ms", "memory_mb", "max_memory_mb"} <= values.keys():
            return None
    init = values.get("init_ms")
    return InvocationReport(
        duration_ms=float(values["duration_ms"]),
        billed_ms=float(values.get("billed_ms", values["duration_ms"])),
        memory_mb=int(values["memory_mb"]),
        max_memory_mb=int(values["max_memory_mb"]),
        init_ms=float(init) if init is not None else None,
    )


@dataclass(frozen=True)
class ShadowLine:
    """The handler's shadow line for one batch."""

    live: str
    shadow: str
    records: int
    agreements: int
    error: str | None = None  # the shadow failed to load or predict


def parse_shadow(message: str) -> ShadowLine | None:
    """The shadow line's figures, or None for any other line."""
    line = _json_object(message)
    if not line or line.get(LOG_KIND_KEY) != SHADOW_LOG_KIND:
        return None
    try:
        error = line.get("error")
        return ShadowLine(
            live=str(line.get("live", "")),
            shadow=str(line.get("shadow", "")),
            records=int(line.get("records", 0)),
            agreements=0 if error else int(line["agreements"]),
            error=str(error) if error else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _json_object(message: str) -> dict[str, Any] | None:
    # A print() is logged as is; a logging call gets a "[INFO]\ttime\trequest id\t"
    # prefix: the object starts at the first brace either way.
    start = message.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(message[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class ShadowSummary:
    """How one shadow model agreed with one live model over the window."""

    live: str
    shadow: str
    batches: int
    records: int
    agreements: int
    failed_batches: int  # batches the shadow failed to load for or predict
    failed_records: int

    @property
    def agreement_rate(self) -> float | None:
        compared = self.records - self.failed_records
        return self.agreements / compared if compared else None

    def to_json(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "shadow": self.shadow,
            "batches": self.batches,
            "records": self.records,
            "agreements": self.agreements,
            "agreement_rate": self.agreement_rate,
            "failed_batches": self.failed_batches,
        }


@dataclass(frozen=True)
class LogSummary:
    invocations: int = 0
    duration_p50_ms: float | None = None
    duration_p95_ms: float | None = None
    billed_ms: float = 0.0
    cold_starts: int = 0
    init_mean_ms: float | None = None
    init_max_ms: float | None = None
    max_memory_mb: int | None = None
    memory_mb: int | None = None  # the configured size (of the newest REPORT)
    shadows: tuple[ShadowSummary, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "duration_p50_ms": self.duration_p50_ms,
            "duration_p95_ms": self.duration_p95_ms,
            "billed_ms": self.billed_ms,
            "cold_starts": self.cold_starts,
            "init_mean_ms": self.init_mean_ms,
            "init_max_ms": self.init_max_ms,
            "max_memory_mb": self.max_memory_mb,
            "memory_mb": self.memory_mb,
            "shadows": [shadow.to_json() for shadow in self.shadows],
        }


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 for p50) of non-empty ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarise(events: Iterable[LogEvent]) -> LogSummary:
    """The REPORT and shadow lines of ``events`` (oldest first), summarised."""
    reports: list[InvocationReport] = []
    shadows: dict[tuple[str, str], list[ShadowLine]] = {}
    for event in events:
        report = parse_report(event.message)
        if report is not None:
            reports.append(report)
            continue
        shadow = parse_shadow(event.message)
        if shadow is not None:
            shadows.setdefault((shadow.live, shadow.shadow), []).append(shadow)
    durations = [r.duration_ms for r in reports]
    inits = [r.init_ms for r in reports if r.init_ms is not None]
    return LogSummary(
        invocations=len(reports),
        duration_p50_ms=percentile(durations, 0.5) if durations else None,
        duration_p95_ms=percentile(durations, 0.95) if durations else None,
        billed_ms=sum(r.billed_ms for r in reports),
        cold_starts=len(inits),
        init_mean_ms=sum(inits) / len(inits) if inits else None,
        init_max_ms=max(inits) if inits else None,
        max_memory_mb=max((r.max_memory_mb for r in reports), default=None),
        memory_mb=reports[-1].memory_mb if reports else None,
        shadows=tuple(
            ShadowSummary(
                live=live,
                shadow=shadow,
                batches=len(lines),
                records=sum(line.records for line in lines),
                agreements=sum(line.agreements for line in lines),
                failed_batches=sum(1 for line in lines if line.error),
                failed_records=sum(line.records for line in lines if line.error),
            )
            for (live, shadow), lines in shadows.items()
        ),
    )
