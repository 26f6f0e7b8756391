"""The compatibility gate and the role policy: pure units."""

from __future__ import annotations

import pytest

from mlayer.gate import VersionMismatch, check, compare
from mlayer.policy import parse_sink, role_policy

DEPS = {"python": "3.11", "sklearn": "1.7.2", "numpy": "2.2.6", "scipy": "1.16.3"}


def test_same_python_minor_and_libraries_pass() -> None:
    model = {"python": "3.11.7", "scikit-learn": "1.7.2", "numpy": "2.2.6", "scipy": "1.15.0"}
    result = check(model, DEPS, model_ref="m:1", deps_ref="d:1")
    assert result.ok and result.notes() == ()  # scipy is recorded, not gated


@pytest.mark.parametrize(
    ("library", "value", "named"),
    [
        ("python", "3.12.1", "Python 3.12"),
        ("scikit-learn", "1.6.1", "scikit-learn 1.6.1"),
        ("numpy", "1.26.4", "numpy 1.26.4"),
    ],
)
def test_each_gated_difference_is_refused_naming_both_versions(
    library: str, value: str, named: str
) -> None:
    model = {"python": "3.11.7", "scikit-learn": "1.7.2", "numpy": "2.2.6", library: value}
    with pytest.raises(VersionMismatch) as refused:
        check(model, DEPS, model_ref="fn-model:3", deps_ref="fn-deps:1")
    message = str(refused.value)
    assert "\n" not in message
    assert named in message and "fn-model:3" in message and "fn-deps:1" in message
    assert "rebuild the deps layer" in message and "retrain" in message
    assert "--allow-version-mismatch" in message
    if library == "python":
        assert "--runtime python3.12" in message
    else:
        assert f"=={value}" in message


def test_override_lets_it_through_and_says_so() -> None:
    model = {"python": "3.11.7", "scikit-learn": "1.6.1", "numpy": "2.2.6"}
    result = check(model, DEPS, model_ref="m", deps_ref="d", allow=True)
    assert result.summary() == "scikit-learn 1.6.1 (model) vs 1.7.2 (deps)"
    assert "allowed" in result.notes()[0]


def test_unrecorded_versions_are_a_note_not_a_refusal() -> None:
    result = compare({"python": "3.11.7"}, {}, model_ref="m", deps_ref="fn-deps:1")
    assert result.ok and result.unchecked == ("python", "sklearn", "numpy")
    assert "cannot check" in result.notes()[0]


def test_sink_specs() -> None:
    assert parse_sink("log").env == "log"
    assert parse_sink("dynamodb:t").env == "dynamodb:t"
    assert parse_sink("arn:aws:dynamodb:eu-west-1:1:table/t").env == "dynamodb:t"
    assert parse_sink("arn:aws:kinesis:eu-west-1:1:stream/s").env == "kinesis:s"


def test_policy_for_a_table_stream_and_an_sqs_destination() -> None:
    stream = "arn:aws:dynamodb:eu-west-1:1:table/t/stream/2024"
    policy = role_policy(
        function_name="fn",
        region="eu-west-1",
        account="1",
        sources=[stream],
        sink=parse_sink("log"),
        on_failure="arn:aws:sqs:eu-west-1:1:dlq",
    )
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert set(sids) == {
        "CreateLogGroup",
        "WriteLogs",
        "ReadTableStreamTrigger",
        "SendFailedBatches",
    }
    assert sids["ReadTableStreamTrigger"]["Resource"] == [stream]
    assert sids["SendFailedBatches"]["Action"] == ["sqs:SendMessage"]
