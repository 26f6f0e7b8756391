"""mlayer logs: REPORT and shadow lines summarised (pure), and the command against
the moto server's CloudWatch Logs (events written with boto3 by the test)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from conftest import REGION, Account, assert_one_line_error, run, run_json

from mlayer.aws import Aws
from mlayer.errors import NotFound
from mlayer.logsummary import (
    LogEvent,
    filter_pattern,
    parse_report,
    parse_shadow,
    parse_since,
    percentile,
    summarise,
)
from mlayer.ops.logs import LATE_ARRIVAL_MS, follow, log_group, read_logs
from mlayer.settings import Settings

GROUP = "/aws/lambda/fn"


def report(request: str, duration: float, memory_used: int = 80, init: float | None = None) -> str:
    """A REPORT line as Lambda writes it."""
    line = (
        f"REPORT RequestId: {request}\tDuration: {duration:.2f} ms\tBilled Duration: "
        f"{int(duration) + 1} ms\tMemory Size: 192 MB\tMax Memory Used: {memory_used} MB\t"
    )
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    return line + "\n"


def shadow(records: int, agreements: int, live: str = "aaaa", shadow: str = "bbbb") -> str:
    """The handler's shadow line (handler/mlayer_shadow.py), as print() logs it."""
    line = {
        "mlayer": "shadow",
        "live": live,
        "shadow": shadow,
        "records": records,
        "agreements": agreements,
        "disagreements": [{"id": "r1", "live": "positive", "shadow": "negative"}],
    }
    return json.dumps(line, separators=(",", ":")) + "\n"


def events(*messages: str) -> list[LogEvent]:
    return [LogEvent(1_000 + i, message) for i, message in enumerate(messages)]


# --- pure ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), (" 5m ", 300)]
)
def test_since(text: str, seconds: int) -> None:
    assert parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["10", "m", "0m", "-5m", "1w", "1.5h", "10 m", ""])
def test_since_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time span"):
        parse_since(text)


def test_report_line_text_and_json_formats() -> None:
    cold = parse_report(report("r1", 12.5, 80, init=1500.25))
    assert cold is not None
    assert (cold.duration_ms, cold.billed_ms, cold.memory_mb, cold.max_memory_mb) == (
        12.5,
        13.0,
        192,
        80,
    )
    assert cold.init_ms == 1500.25
    warm = parse_report(report("r2", 7.0))
    assert warm is not None and warm.init_ms is None
    as_json = json.dumps(
        {
            "time": "2026-11-25T09:00:00.000Z",
            "type": "platform.report",
            "record": {
                "requestId": "r3",
                "metrics": {
                    "durationMs": 9.5,
                    "billedDurationMs": 10,
                    "memorySizeMB": 256,
                    "maxMemoryUsedMB": 90,
                    "initDurationMs": 800.0,
                },
            },
        }
    )
    parsed = parse_report(as_json)
    assert parsed is not None
    assert (parsed.duration_ms, parsed.memory_mb, parsed.init_ms) == (9.5, 256, 800.0)
    for other in ("START RequestId: r1 Version: 1", "END RequestId: r1", shadow(3, 3), "{}"):
        assert parse_report(other) is None


def test_shadow_lines_printed_logged_and_failed() -> None:
    line = parse_shadow(shadow(10, 9))
    assert line is not None and (line.records, line.agreements, line.error) == (10, 9, None)
    # Through the logging module, Lambda prefixes level, time and request id.
    logged = parse_shadow("[INFO]\t2026-11-25T09:00:00.000Z\tr1\t" + shadow(4, 2))
    assert logged is not None and logged.agreements == 2
    failed = parse_shadow(
        json.dumps(
            {"mlayer": "shadow", "live": "a", "shadow": "b", "records": 5, "error": "BadZip: x"}
        )
    )
    assert failed is not None and failed.error == "BadZip: x" and failed.agreements == 0
    for other in (report("r", 1.0), '{"mlayer": "metrics"}', '{"_aws": {}}', "not { json"):
        assert parse_shadow(other) is None


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([7.0], 0.95) == 7.0


def test_summary_of_reports_and_shadow_lines() -> None:
    summary = summarise(
        events(
            "START RequestId: r1 Version: 1",
            shadow(10, 9),
            report("r1", 100.0, 80, init=1500.0),
            shadow(10, 10),
            report("r2", 10.0, 95),
            report("r3", 20.0, 85, init=1700.0),
            json.dumps(
                {"mlayer": "shadow", "live": "aaaa", "shadow": "bbbb", "records": 6, "error": "x"}
            ),
            shadow(5, 1, live="aaaa", shadow="cccc"),
        )
    )
    assert summary.invocations == 3
    assert (summary.duration_p50_ms, summary.duration_p95_ms) == (20.0, 100.0)
    assert (summary.cold_starts, summary.init_mean_ms, summary.init_max_ms) == (2, 1600.0, 1700.0)
    assert (summary.max_memory_mb, summary.memory_mb) == (95, 192)
    by_pair = {(s.live, s.shadow): s for s in summary.shadows}
    bbbb = by_pair["aaaa", "bbbb"]
    assert (bbbb.batches, bbbb.records, bbbb.agreements, bbbb.failed_batches) == (3, 26, 19, 1)
    assert bbbb.agreement_rate == 19 / 20  # the failed batch's records were not compared
    assert by_pair["aaaa", "cccc"].agreement_rate == 0.2


def test_summary_of_nothing() -> None:
    summary = summarise([])
    assert summary.invocations == 0 and summary.duration_p50_ms is None and not summary.shadows


def test_filter_text_is_one_phrase_unless_a_pattern() -> None:
    assert filter_pattern("model load") == '"model load"'
    assert filter_pattern('say "hi"') == '"say \\"hi\\""'
    assert filter_pattern('"exact"') == '"exact"'
    assert filter_pattern('{ $.mlayer = "shadow" }') == '{ $.mlayer = "shadow" }'


# --- against the moto server ----------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def write(account: Account, stream: str, *timed: tuple[int, str]) -> None:
    """Log events (timestamp ms, message) into stream of the function's group."""
    logs = account.client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=GROUP)
    if not logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    ordered = sorted(timed)  # PutLogEvents takes a stream's events in time order
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": message} for ts, message in ordered],
    )


def test_logs_prints_the_events_newest_last_and_the_summary(aws: Account, project: object) -> None:
    t = now_ms() - 60_000
    # Two containers, each with its own stream: their events interleave in time.
    write(
        aws,
        "2026/11/25/[5]first",
        (t, "START RequestId: r1"),
        (t + 30, report("r1", 12.5, 80, init=1500)),
    )
    write(
        aws,
        "2026/11/25/[5]second",
        (t + 10, "START RequestId: r2"),
        (t + 20, shadow(10, 9)),
        (t + 40, report("r2", 30.0, 90, init=1700)),
        (t + 50, report("r3", 20.0, 85)),
    )
    write(aws, "2026/11/25/[5]old", (now_ms() - 2 * 3600_000, report("r0", 999.0, 100)))
    result = run("logs", "--function-name", "fn")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    messages = [line.split("  ", 1)[1] for line in lines[:6]]
    assert [m.split("\t")[0] for m in messages] == [
        "START RequestId: r1",
        "START RequestId: r2",
        shadow(10, 9).strip(),
        "REPORT RequestId: r1",
        "REPORT RequestId: r2",
        "REPORT RequestId: r3",
    ]
    assert "r0" not in result.stdout  # two hours old: outside the default 10m
    assert f"6 event(s) in {GROUP} in the last 10m" in result.stdout
    assert (
        "REPORT: 3 invocation(s), duration p50 20.0 ms, p95 30.0 ms, billed 65 ms in all; "
        "max memory used 90 of 192 MB"
    ) in result.stdout
    assert "INIT: 2 cold start(s), 1,600 ms mean, 1,700 ms max" in result.stdout
    assert (
        "shadow bbbb vs live aaaa: 9 of 10 records agree (90.0%) over 1 batch(es)" in result.stdout
    )

    wider = run_json("logs", "--function-name", "fn", "--since", "3h")
    assert wider["events"][0]["message"].startswith("REPORT RequestId: r0\t")
    assert wider["summary"]["invocations"] == 4
    assert wider["summary"]["duration_p95_ms"] == 999.0
    assert wider["summary"]["shadows"][0]["agreement_rate"] == 0.9
    assert wider["group"] == GROUP and wider["since_seconds"] == 3 * 3600


def test_logs_filter(aws: Account, project: object) -> None:
    t = now_ms() - 5_000
    write(aws, "s", (t, "START RequestId: r1"), (t + 1, report("r1", 5.0)), (t + 2, "model loaded"))
    data = run_json("logs", "--function-name", "fn", "--filter", "REPORT")
    assert [e["message"].split("\t")[0] for e in data["events"]] == ["REPORT RequestId: r1"]
    assert data["filter"] == '"REPORT"'
    assert data["summary"]["invocations"] == 1


def test_logs_of_a_function_that_never_ran(aws: Account, project: object) -> None:
    result = run("logs", "--function-name", "fn")
    assert_one_line_error(result, GROUP, "has not run yet")


def test_logs_refuses_a_bad_since(aws: Account, project: object) -> None:
    result = run("logs", "--function-name", "fn", "--since", "yesterday")
    assert result.exit_code == 2 and "'yesterday' is not a time span" in result.stderr


def test_read_logs_through_ops(aws: Account) -> None:
    write(aws, "s", (now_ms() - 1000, report("r1", 5.0)))
    settings = Settings(function_name="fn", region=REGION)
    result = read_logs(settings, Aws(REGION), since=timedelta(minutes=1))
    assert result.group == log_group("fn") == GROUP
    assert result.summary.invocations == 1 and len(result.events) == 1


def test_follow_prints_each_event_once_until_stopped(aws: Account) -> None:
    settings = Settings(function_name="fn", region=REGION)
    t = now_ms()
    write(aws, "s1", (t - 5_000, "START RequestId: r1"), (t - 4_000, report("r1", 10.0, init=900)))
    batches: list[list[str]] = []
    polls = []

    def sleep(seconds: float) -> None:
        # Between polls the function logs more, the way a running function does.
        polls.append(seconds)
        if len(polls) == 1:
            write(aws, "s1", (t - 3_000, report("r2", 20.0)))
        elif len(polls) == 2:
            # A late arrival: its timestamp is older than the newest seen, inside the
            # window each poll reads again.
            write(aws, "s2", (t - 3_500, "late line"))

    result = follow(
        settings,
        Aws(REGION),
        since=timedelta(minutes=1),
        on_events=lambda new: batches.append([e.message.split("\t")[0] for e in new]),
        stop=lambda: len(polls) >= 3,
        sleep=sleep,
    )
    assert batches == [
        ["START RequestId: r1", "REPORT RequestId: r1"],
        ["REPORT RequestId: r2"],
        ["late line"],
    ]
    assert polls == [2.0, 2.0, 2.0]
    assert result.summary.invocations == 2 and result.summary.cold_starts == 1
    assert LATE_ARRIVAL_MS >= 3_500


def test_follow_ends_on_ctrl_c_with_the_summary(aws: Account) -> None:
    write(aws, "s", (now_ms() - 1000, report("r1", 5.0)))

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    result = follow(
        Settings(function_name="fn", region=REGION),
        Aws(REGION),
        since=timedelta(minutes=1),
        on_events=lambda new: None,
        sleep=interrupted,
    )
    assert result.summary.invocations == 1


def test_follow_of_a_function_that_never_ran(aws: Account) -> None:
    with pytest.raises(NotFound, match="has not run yet"):
        follow(
            Settings(function_name="fn", region=REGION),
            Aws(REGION),
            since=timedelta(minutes=1),
            on_events=lambda new: None,
            stop=lambda: True,
        )


def test_logs_follow_on_the_command_line_until_ctrl_c(
    aws: Account, project: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's --follow: the events, then on Ctrl-C (here: raised by the first
    wait between polls) the summary, exit code 0."""
    write(aws, "s", (now_ms() - 2000, "START RequestId: r1"), (now_ms() - 1000, report("r1", 5.0)))

    def ctrl_c(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", ctrl_c)
    result = run("logs", "--function-name", "fn", "--follow")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("START RequestId: r1")
    assert lines[1].split("  ", 1)[1].startswith("REPORT RequestId: r1")
    assert "REPORT: 1 invocation(s)" in result.stdout
    assert f"2 event(s) in {GROUP} in the last 10m" in result.stdout
