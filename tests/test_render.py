"""What the user reads: render's lines and JSON from results built by hand (pure: no
AWS, no files, no click)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mlayer import render
from mlayer.ops.cost import CostRequest, estimate
from mlayer.ops.inspect import ModelVersionInfo, Status
from mlayer.settings import Settings
from mlayer.state import FunctionState, TriggerState

PREFIX = "arn:aws:lambda:eu-west-1:123456789012"
STREAM = "arn:aws:kinesis:eu-west-1:123456789012:stream/reviews"
DLQ = "arn:aws:sqs:eu-west-1:123456789012:dlq"


def function(*layers: str) -> FunctionState:
    return FunctionState(
        name="fn", arn=f"{PREFIX}:function:fn", role="r", runtime="python3.11", handler="h",
        architecture="x86_64", memory=192, timeout=60, code_sha256="c", layers=layers,
    )  # fmt: skip


def trigger(**options: Any) -> TriggerState:
    return TriggerState(
        **{
            "uuid": "u",
            "source_arn": STREAM,
            "batch_size": 100,
            "starting_position": "LATEST",
            "response_types": (),
            "state": "Enabled",
            **options,
        }
    )


def test_status_lines_show_layers_sizes_model_pin_sink_and_trigger_options() -> None:
    state = Status(
        function(f"{PREFIX}:layer:fn-deps:3", f"{PREFIX}:layer:fn-model:7"),
        [
            trigger(
                response_types=("ReportBatchItemFailures",),
                bisect_on_error=True,
                maximum_retries=3,
                maximum_record_age=86400,
                on_failure=DLQ,
            ),
            trigger(batch_size=10, state="Disabled", parallelization_factor=2),
        ],
        model={"version": "7", "label": "v7", "sha256": "abc", "sklearn": "1.6.1"},
        sink="dynamodb:predictions",
        pinned_model_version=7,
        layer_unzipped_bytes={"fn-model:7": 2_500_000},
    )
    report = render.status(state, "fn")
    assert report.lines == [
        f"function fn  {PREFIX}:function:fn",
        "  no alias: the trigger runs $LATEST (mlayer deploy moves it onto versions)",
        "  state Active, python3.11/x86_64, 192 MB, 60 s",
        "  layer fn-deps:3",
        "  layer fn-model:7",
        "  layers unzipped: fn-model:7 2.5 MB = 2.5 MB of Lambda's 262.1 MB "
        "(not every layer records its size)",
        "  model version 7 label v7 sha256 abc (python ?, scikit-learn 1.6.1, numpy ?)",
        "  model pinned to version 7: plain deploys keep it; deploy --model-version N moves it",
        "  sink dynamodb:predictions",
        f"  trigger {STREAM} (batch 100, Enabled, bisect on error, 3 retries, "
        f"record age 86400 s, on failure -> {DLQ}, ReportBatchItemFailures)",
        f"  trigger {STREAM} (batch 10, Disabled, 2 batches per shard, no partial batch response)",
        "  alarms: none (deploy --alarms creates them)",
    ]
    # --json names each layer by the name and version its ARN holds
    assert [(lay["name"], lay["version"]) for lay in report.data["function"]["layers"]] == [
        ("fn-deps", 3),
        ("fn-model", 7),
    ]
    assert report.data["triggers"][0]["on_failure"] == DLQ


def test_status_of_a_missing_function_says_what_to_run() -> None:
    report = render.status(Status(None), "fn")
    assert report.lines == ["function fn does not exist (run mlayer deploy)"]
    assert report.data == {"function": None}


def test_a_mismatch_allowed_on_the_function_is_shouted_and_no_trigger_said() -> None:
    state = Status(function(), version_mismatch_allowed="sklearn 1.5.2 != 1.6.1")
    assert render.status(state, "fn").lines[-3:-1] == [
        "  VERSION MISMATCH ALLOWED: sklearn 1.5.2 != 1.6.1",
        "  no trigger",
    ]


def test_versions_table_marks_the_live_version_and_what_links_each() -> None:
    rows = [
        ModelVersionInfo(
            version=2, arn=f"{PREFIX}:layer:fn-model:2", created="2026-11-25T07:18:32.000+0000",
            label="v2", sha256="0123456789abcdef", live=True, details={},
            trained_with={"python": "3.11", "sklearn": "1.6.1"},
            linked_by=("$LATEST", "version 4", "alias prod"), function_versions=("4",),
        ),
        ModelVersionInfo(
            version=1, arn=f"{PREFIX}:layer:fn-model:1", created="2026-11-24T07:00:00.000+0000",
            label="-", sha256="-", live=False, details={},
        ),
    ]  # fmt: skip
    header, live, old = render.versions(rows, "fn-model").lines
    assert header.split() == [
        "VERSION", "LABEL", "SHA256", "CREATED", "PYTHON", "SKLEARN", "NUMPY", "FUNCTION",
        "VERSIONS", "LINKED", "BY",
    ]  # fmt: skip
    assert live.split() == [
        "*", "2", "v2", "0123456789abcdef", "2026-11-25T07:18:32", "3.11", "1.6.1", "-", "4",
        "$LATEST,", "alias", "prod",
    ]  # fmt: skip
    assert old.startswith("        1  -") and old.endswith(" -")
    assert render.versions([], "fn-model").lines == [
        "layer fn-model has no versions (run mlayer publish-model)"
    ]


@pytest.mark.parametrize("ingests_per_day", [None, 3.0])
def test_cost_table_rows_and_the_monthly_column_only_when_asked(
    ingests_per_day: float | None,
) -> None:
    request = CostRequest(
        records=50_000, batch_sizes=(1, 100), duration_ms=4000, price_per_100ms=0.000000313,
        request_price=0, ingests_per_day=ingests_per_day,
    )  # fmt: skip
    said: list[str] = []
    lines = render.cost(estimate(Settings(), request, on_message=said.append)).lines
    assert said == []  # nothing measured, nothing plotted
    assert lines[0].startswith("50,000 records per ingest, 192 MB, x86_64: $0.000000313 per 100 ms")
    assert lines[1] == "always-on endpoint: $50.40 a month"
    assert lines[3].split()[:3] == ["BATCH", "BILLED", "MS"]
    assert lines[3].endswith("$/MONTH") == (ingests_per_day is not None)
    # 500 invocations of 40 x $0.000000313; $50.40 / $0.00626 = 8,051 ingests a month
    row = ["100", "4,000", "500", "0.00001252", "0.006260", "8,051", "268.4"]
    assert lines[5].split()[:7] == row
    assert len(lines) == 6


def test_deploy_report_says_what_would_run_and_when_nothing_changes() -> None:
    layers = (f"{PREFIX}:layer:fn-deps:1", f"{PREFIX}:layer:fn-model:2")

    def result(*steps: str) -> SimpleNamespace:
        plan = SimpleNamespace(describe=lambda: list(steps), changed=bool(steps), notes=("n",))
        return SimpleNamespace(
            function_arn="ARN", layers=layers, plan=plan, applied=False, alarms=()
        )

    dry = render.deployed(result("update layers"), dry_run=True)  # type: ignore[arg-type]
    assert dry.lines == ["Would:", "  update layers", "  layer fn-deps:1", "  layer fn-model:2",
                         "  note: n"]  # fmt: skip
    assert dry.data["changed"] is False and dry.data["steps"] == ["update layers"]
    same = render.deployed(result(), dry_run=False)  # type: ignore[arg-type]
    assert same.lines[0] == "ARN: nothing to change"
