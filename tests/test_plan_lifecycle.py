"""Cleanup, relink and trigger plans: pure units."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlayer.changes import plan_cleanup, plan_deploy, plan_relink
from mlayer.errors import UsageError
from mlayer.state import FunctionState, TriggerState
from mlayer.steps import FunctionSpec, TriggerSpec, UpdateConfiguration

L = "arn:aws:lambda:eu-west-1:1:layer:fn-model:"


def test_cleanup_never_deletes_a_linked_version() -> None:
    arns = [f"{L}{n}" for n in (5, 4, 3, 2, 1)]
    plan, kept = plan_cleanup(arns, 2, {f"{L}2": ["alias prod"]})
    assert plan.describe() == ["delete fn-model:3", "delete fn-model:1"]
    assert [k.describe() for k in kept] == [
        "keep fn-model:5: one of the 2 newest",
        "keep fn-model:4: one of the 2 newest",
        "keep fn-model:2: linked by alias prod",
    ]


def function(env: dict[str, str]) -> FunctionState:
    return FunctionState(
        "fn", "arn", "role", "python3.11", "h", "x86_64", 192, 60, "sha",
        ("arn:aws:lambda:eu-west-1:1:layer:fn-deps:1", f"{L}2"), env,
    )  # fmt: skip


def test_relink_moves_the_model_hash_with_the_layer() -> None:
    plan = plan_relink(
        function({"MLAYER_MODEL_SHA256": "a"}), f"{L}1", {"MLAYER_MODEL_SHA256": "b"}
    )
    (step,) = plan.steps
    assert [name for name, _, _ in step.changes] == ["Layers", "Environment"]
    same = plan_relink(
        function({"MLAYER_MODEL_SHA256": "a"}), f"{L}2", {"MLAYER_MODEL_SHA256": "a"}
    )
    assert not same.changed


def test_trigger_options_missing_from_a_mapping_mean_lambda_defaults() -> None:
    existing = TriggerState(
        "u", "arn:k", 100, "LATEST", ("ReportBatchItemFailures",), "Enabled",
        metrics=("EventCount",),
    )  # fmt: skip
    lambdas = TriggerSpec(
        "arn:k", 100, "LATEST", bisect_on_error=False, maximum_retries=-1, maximum_record_age=-1
    )
    assert plan_deploy_steps(lambdas, existing) == []
    spec = replace(lambdas, parallelization_factor=2)
    assert plan_deploy_steps(spec, existing) == [
        "update trigger arn:k: ParallelizationFactor 1 -> 2"
    ]


def test_a_mapping_with_lambdas_defaults_moves_to_the_safe_ones_and_the_plan_says_so() -> None:
    """A mapping made by an older mlayer (Lambda's defaults: retry until expiry) is
    updated to bisect on error, finite retries and a finite record age."""
    existing = TriggerState(
        "u", "arn:k", 100, "LATEST", ("ReportBatchItemFailures",), "Enabled",
        metrics=("EventCount",),
    )  # fmt: skip
    plan = plan_deploy(*deploy_args(), TriggerSpec("arn:k", 100, "LATEST"), [existing])
    assert plan.describe() == [
        "update trigger arn:k: BisectBatchOnFunctionError False -> True; "
        "MaximumRetryAttempts -1 -> 3; MaximumRecordAgeInSeconds -1 -> 86400"
    ]
    moved = [n for n in plan.notes if "moves from Lambda's defaults" in n]
    assert moved == [
        "the trigger from arn:k moves from Lambda's defaults (retry a failing batch until its "
        "records expire) to mlayer's: batch 100, LATEST, bisect on error, 3 retries, "
        "record age 86400 s, ReportBatchItemFailures"
    ]


def test_the_plan_warns_when_dropped_records_go_nowhere() -> None:
    warning = (
        "records that exhaust their retries or outlive the record age are dropped: "
        "pass --on-failure ARN (SQS/SNS/S3) to keep them"
    )
    plan = plan_deploy(*deploy_args(), TriggerSpec("arn:k", 100, "LATEST"), [])
    assert warning in plan.notes
    kept = TriggerSpec("arn:k", 100, "LATEST", on_failure="arn:aws:sqs:eu-west-1:1:dlq")
    assert warning not in plan_deploy(*deploy_args(), kept, []).notes


def deploy_args() -> tuple[FunctionSpec, FunctionState]:
    current = function({})
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", current.layers, ()
    )
    return desired, current


def plan_deploy_steps(spec: TriggerSpec, existing: TriggerState) -> list[str]:
    return plan_deploy(*deploy_args(), spec, [existing]).describe()


OTHER = "arn:aws:lambda:eu-west-1:1:layer:otherlayer:3"
DEPS = "arn:aws:lambda:eu-west-1:1:layer:fn-deps:1"


def user_function(layers: tuple[str, ...]) -> FunctionState:
    """The function as the user left it: a layer and variables of their own."""
    env = {
        "LOG_LEVEL": "debug",
        "FOO": "bar",
        "MLAYER_MODEL_SHA256": "3f2a5b6c7d8e9f00",
        "MLAYER_PINNED_MODEL_VERSION": "1",
    }
    return replace(function(env), layers=layers)


def test_deploy_keeps_the_users_variables_and_layers_and_says_so() -> None:
    current = user_function((OTHER, DEPS, f"{L}1"))
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", (DEPS, f"{L}2"),
        (("MLAYER_MODEL_SHA256", "9c1d0e0f1a2b3c4d"), ("MLAYER_TEXT_FIELD", "textblob")),
    )  # fmt: skip
    plan = plan_deploy(desired, current, [], [])
    (step,) = plan.steps
    assert isinstance(step, UpdateConfiguration)
    request = step.request()
    # mlayer's layers first, the user's after them; the user's variables kept,
    # mlayer's own replaced (the pin it no longer wants is removed).
    assert request["Layers"] == [DEPS, f"{L}2", OTHER]
    assert request["Environment"] == {
        "Variables": {
            "LOG_LEVEL": "debug",
            "FOO": "bar",
            "MLAYER_MODEL_SHA256": "9c1d0e0f1a2b3c4d",
            "MLAYER_TEXT_FIELD": "textblob",
        }
    }
    assert "keeps what mlayer does not own: environment FOO, LOG_LEVEL; layer otherlayer:3" in (
        plan.notes
    )
    described = step.describe()
    assert (
        "environment MLAYER_MODEL_SHA256 3f2a5b6c7d8e9f00 -> 9c1d0e0f1a2b3c4d, "
        "MLAYER_PINNED_MODEL_VERSION 1 -> (unset), MLAYER_TEXT_FIELD (unset) -> textblob"
    ) in described
    assert "LOG_LEVEL" not in described  # unchanged: not listed


def test_a_plan_carries_the_revision_it_was_made_from() -> None:
    current = replace(user_function((DEPS, f"{L}1")), revision_id="rev-1")
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", (DEPS, f"{L}2"), ()
    )
    assert plan_deploy(desired, current, [], []).revision_id == "rev-1"
    assert plan_relink(current, f"{L}2").revision_id == "rev-1"


def test_deploy_refuses_more_layers_than_lambda_links_before_any_change() -> None:
    others = tuple(f"arn:aws:lambda:eu-west-1:1:layer:ext{n}:1" for n in range(4))
    current = user_function((DEPS, f"{L}1", *others))
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", (DEPS, f"{L}2"), ()
    )
    with pytest.raises(UsageError, match=r"would link 6 layers .* over Lambda's limit of 5"):
        plan_deploy(desired, current, [], [])
    three = replace(current, layers=(DEPS, f"{L}1", *others[:3]))
    assert plan_deploy(desired, three, [], []).changed  # five is fine


def test_the_outcome_spots_a_function_someone_else_changed() -> None:
    current = user_function((DEPS, f"{L}1", OTHER))
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", (DEPS, f"{L}2"),
        (("MLAYER_MODEL_SHA256", "9c1d"),),
    )  # fmt: skip
    outcome = plan_deploy(desired, current, [], []).outcome
    assert outcome is not None
    as_planned = replace(
        current,
        layers=(DEPS, f"{L}2", OTHER),
        environment={"LOG_LEVEL": "info", "MLAYER_MODEL_SHA256": "9c1d"},
    )
    assert not outcome.differs(as_planned)  # a user's own variable may change meanwhile
    assert outcome.differs(replace(as_planned, layers=(DEPS, f"{L}3", OTHER)))
    assert outcome.differs(replace(as_planned, environment={"MLAYER_MODEL_SHA256": "7777"}))
    assert outcome.differs(None)


def test_rollback_keeps_the_users_variables_and_layers() -> None:
    current = user_function((DEPS, f"{L}2", OTHER))
    environment = {**current.environment, "MLAYER_MODEL_SHA256": "aaaa"}
    (step,) = plan_relink(current, f"{L}1", environment).steps
    assert isinstance(step, UpdateConfiguration)
    assert step.request()["Layers"] == [DEPS, f"{L}1", OTHER]
    variables = step.request()["Environment"]["Variables"]  # type: ignore[index]
    assert variables["LOG_LEVEL"] == "debug" and variables["FOO"] == "bar"
