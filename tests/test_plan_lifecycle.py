"""Cleanup, relink and trigger plans: pure units."""

from __future__ import annotations

from mlayer.aws import FunctionState, TriggerState
from mlayer.plan import TriggerSpec, plan_cleanup, plan_deploy, plan_relink

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
    existing = TriggerState("u", "arn:k", 100, "LATEST", ("ReportBatchItemFailures",), "Enabled")
    spec = TriggerSpec("arn:k", 100, "LATEST")
    assert plan_deploy_steps(spec, existing) == []
    spec = TriggerSpec("arn:k", 100, "LATEST", parallelization_factor=2)
    assert plan_deploy_steps(spec, existing) == [
        "update trigger arn:k: ParallelizationFactor 1 -> 2"
    ]


def plan_deploy_steps(spec: TriggerSpec, existing: TriggerState) -> list[str]:
    from mlayer.plan import FunctionSpec

    current = function({})
    desired = FunctionSpec(
        "fn", "role", "python3.11", "h", "x86_64", 192, 60, "sha", current.layers, ()
    )
    return plan_deploy(desired, current, spec, [existing]).describe()
