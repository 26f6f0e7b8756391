"""The deploy and rollback planner: a snapshot of AWS in, a plan or a refusal out.

Pure units, no server: each test builds a ``RemoteState`` with the small
factories below, asks ``plan_function`` (deploy) or ``plan_rollback``, and
checks the plan's steps, environment and notes, or the one-line refusal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from mlayer.contract import MISMATCH_ENV, MODEL_SHA256_ENV, PINNED_ENV, SHADOW_MODEL_ENV, SINK_ENV
from mlayer.descriptions import alias_description
from mlayer.errors import AwsError, NotFound, UsageError
from mlayer.gate import VersionMismatch
from mlayer.plan import (
    DeployRequest,
    RollbackRequest,
    plan_function,
    plan_rollback,
)
from mlayer.policy import SinkSpec
from mlayer.state import (
    AliasState,
    FunctionState,
    LayerVersion,
    RemoteState,
    RoleState,
    SinkState,
    SourceState,
    TriggerState,
)
from mlayer.steps import (
    CreateFunction,
    CreateTrigger,
    FunctionSpec,
    PointAlias,
    PublishVersion,
    PutRole,
    TriggerSpec,
    UpdateConfiguration,
    UpdateTrigger,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/reviews"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/inference"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
LIVE_ARN = f"{FUNCTION_ARN}:live"
TODAY = date(2026, 11, 25)  # AWS's runtime dates are compared with it, never with the clock


# --- factories -----------------------------------------------------------------------


def layer_arn(name: str, version: int) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{version}"


def deps(version: int = 1, *, sklearn: str = "1.7.2", unzipped: int = 150_000_000) -> LayerVersion:
    description = (
        f"mlayer-deps runtime=python3.11 arch=x86_64 python=3.11 sklearn={sklearn} "
        f"numpy=2.2.6 unzipped={unzipped} sha256=0123456789abcdef"
    )
    return LayerVersion("fn-deps", version, layer_arn("fn-deps", version), description)


def model(
    version: int, *, sklearn: str = "1.7.2", unzipped: int = 1_000_000, own_dir: bool = True
) -> LayerVersion:
    description = (
        f"mlayer-model sha256={version:016x} files=3{' dir=1' if own_dir else ''} "
        f"unzipped={unzipped} numpy=2.2.6 python=3.11.9 sklearn={sklearn} label=v{version}"
    )
    return LayerVersion("fn-model", version, layer_arn("fn-model", version), description)


def models(*numbers: int, **kwargs: Any) -> tuple[LayerVersion, ...]:
    """Model layer versions, newest first, as ListLayerVersions gives them."""
    return tuple(model(n, **kwargs) for n in sorted(numbers, reverse=True))


def function(
    model_version: int = 1, *, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> FunctionState:
    """A deployed function linking deps:1 and model ``model_version`` (as deploy left it)."""
    environment = {
        "MLAYER_TEXT_FIELD": "textblob",
        "MLAYER_TEXT_IS_JSON": "0",
        SINK_ENV: "log",
        MODEL_SHA256_ENV: f"{model_version:016x}",
        **(env or {}),
    }
    return FunctionState(
        name="fn",
        arn=FUNCTION_ARN,
        role=ROLE,
        runtime="python3.11",
        handler="mlayer_handler.lambda_handler",
        architecture="x86_64",
        memory=1024,
        timeout=60,
        code_sha256="code",
        layers=(layer_arn("fn-deps", 1), layer_arn("fn-model", model_version), *extra),
        environment=environment,
        revision_id="rev-1",
    )


def trigger(**changes: Any) -> TriggerState:
    """The trigger as mlayer's defaults make it."""
    made = TriggerState(
        uuid="u-1",
        source_arn=STREAM,
        batch_size=100,
        starting_position="LATEST",
        response_types=("ReportBatchItemFailures",),
        state="Enabled",
        bisect_on_error=True,
        maximum_retries=3,
        maximum_record_age=86400,
        metrics=("EventCount",),
    )
    return replace(made, **changes)


def published(current: FunctionState, number: int) -> FunctionState:
    """``current`` as published version ``number``."""
    return replace(current, version=str(number), arn=f"{FUNCTION_ARN}:{number}")


def state(
    current: FunctionState | None = None,
    *,
    model_versions: tuple[LayerVersion, ...] = models(1),
    triggers: tuple[TriggerState, ...] | None = None,
    released: bool = True,
    pinned: int | None = None,
    **changes: Any,
) -> RemoteState:
    """What AWS holds: deps:1, the model versions, the stream, and ``current``
    with its trigger (mlayer's) unless ``triggers`` says otherwise. ``released``:
    as this mlayer's deploy leaves it, published as version 1 behind alias live
    (with the model version ``pinned``), the trigger on the alias; else as an
    mlayer from before versions left it, the trigger on the function."""
    released = released and current is not None
    if triggers is None:
        target = LIVE_ARN if released else FUNCTION_ARN
        triggers = (trigger(function_arn=target),) if current else ()
    if released:
        assert current is not None
        changes.setdefault("versions", (published(current, 1),))
        description = alias_description(pinned, None)
        changes.setdefault("alias", AliasState("live", LIVE_ARN, "1", description))
    snapshot = RemoteState(
        region=REGION,
        function_name="fn",
        function=current,
        triggers=triggers,
        deps_versions=(deps(1),),
        model_versions=model_versions,
        linked_deps=deps(1) if current else None,
        sources=(SourceState(STREAM, exists=True),),
    )
    return replace(snapshot, **changes)


def request(**changes: Any) -> DeployRequest:
    """``mlayer deploy --function-name fn --role ROLE --stream-arn STREAM``."""
    made = DeployRequest(
        function_name="fn",
        deps_layer="fn-deps",
        model_layer="fn-model",
        runtime="python3.11",
        arch="x86_64",
        memory=1024,
        timeout=60,
        code_sha256="code",
        code_bytes=20_000,
        trigger=TriggerSpec("", 100, "LATEST"),
        text_field="textblob",
        sink=SinkSpec("log"),
        role=ROLE,
        sources=(("--stream-arn", STREAM),),
        today=TODAY,
    )
    return replace(made, **changes)


def rollback_to(version: int | None, **changes: Any) -> RollbackRequest:
    return replace(RollbackRequest("fn", "fn-model", version), **changes)


def environment_of(spec: FunctionSpec) -> dict[str, str]:
    return dict(spec.environment)


# --- the planner is pure -----------------------------------------------------------


def test_importing_the_planner_imports_no_aws_sdk() -> None:
    """In a fresh interpreter: this one has boto3 already (conftest)."""
    code = (
        "import sys, mlayer.plan; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- first deploy and no-op redeploy -----------------------------------------------


def test_a_first_deploy_creates_the_function_and_its_trigger() -> None:
    plan, spec = plan_function(request(), state(model_versions=models(1, 2)))
    assert [type(step) for step in plan.steps] == [
        CreateFunction,
        PublishVersion,
        PointAlias,
        CreateTrigger,
    ]
    assert spec.layers == (layer_arn("fn-deps", 1), layer_arn("fn-model", 2))
    assert environment_of(spec) == {
        "MLAYER_TEXT_FIELD": "textblob",
        "MLAYER_TEXT_IS_JSON": "0",
        SINK_ENV: "log",
        MODEL_SHA256_ENV: f"{2:016x}",
    }
    assert plan.describe()[1:] == [
        "publish a version of fn (deps fn-deps:1, model fn-model:2)",
        "create alias fn:live -> the new version",
        f"create trigger {STREAM} -> fn:live (batch 100, LATEST, bisect on error, 3 retries, "
        "record age 86400 s, ReportBatchItemFailures)",
    ]
    publish = plan.steps[1]
    assert isinstance(publish, PublishVersion) and publish.code_sha256 == "code"
    assert publish.description == "mlayer-version deps=fn-deps:1 model=fn-model:2 label=v2"


def test_a_redeploy_with_nothing_changed_has_no_steps() -> None:
    plan, _ = plan_function(request(), state(function(2), model_versions=models(1, 2)))
    assert plan.steps == ()
    assert not plan.changed
    assert plan.revision_id == "rev-1"


# --- pins ---------------------------------------------------------------------------


def test_a_rollback_before_versions_relinks_in_place_and_pins_in_the_environment() -> None:
    old = state(function(2), model_versions=models(1, 2), released=False)
    plan, target = plan_rollback(rollback_to(1), old)
    assert target.version == 1
    (step,) = plan.steps
    assert isinstance(step, UpdateConfiguration)
    request_ = step.request()
    assert request_["Layers"] == [layer_arn("fn-deps", 1), layer_arn("fn-model", 1)]
    variables = request_["Environment"]["Variables"]  # type: ignore[index]
    assert variables[PINNED_ENV] == "1" and variables[MODEL_SHA256_ENV] == f"{1:016x}"
    assert (
        "pinned: plain deploys keep fn-model:1; deploy --model-version 2 moves to the newest"
        in plan.notes
    )


def test_a_plain_deploy_keeps_the_pinned_model_and_says_so() -> None:
    plan, spec = plan_function(request(), state(function(1), pinned=1, model_versions=models(1, 2)))
    assert spec.layers[1] == layer_arn("fn-model", 1)
    assert PINNED_ENV not in environment_of(spec)  # the pin is on the alias
    assert plan.steps == ()
    assert plan.notes[0] == (
        "model fn-model:1 stays linked: it was pinned (by rollback or --model-version); "
        "pass --model-version 2 to move to the newest"
    )


def test_deploy_model_version_moves_the_pin_on_the_alias() -> None:
    snapshot = state(function(1), pinned=1, model_versions=models(1, 2, 3))
    plan, spec = plan_function(request(model_version=2), snapshot)
    assert spec.layers[1] == layer_arn("fn-model", 2)
    update, publish, point = plan.steps
    assert isinstance(update, UpdateConfiguration) and isinstance(publish, PublishVersion)
    assert isinstance(point, PointAlias) and point.version is None  # the one just published
    assert point.description == "mlayer-alias pinned=2 previous=1"


def test_linking_the_newest_version_clears_the_pin() -> None:
    snapshot = state(function(1), pinned=1, model_versions=models(1, 3))
    plan, spec = plan_function(request(model_version=3), snapshot)
    assert spec.layers[1] == layer_arn("fn-model", 3)
    point = plan.steps[-1]
    assert isinstance(point, PointAlias) and point.description == "mlayer-alias previous=1"
    assert not any("pinned" in note for note in plan.notes)


def test_a_pin_left_in_the_environment_before_versions_still_holds() -> None:
    old = function(1, env={PINNED_ENV: "1"})
    plan, spec = plan_function(request(), state(old, model_versions=models(1, 2), released=False))
    assert spec.layers[1] == layer_arn("fn-model", 1)
    assert PINNED_ENV not in environment_of(spec)  # moved onto the alias
    point = next(s for s in plan.steps if isinstance(s, PointAlias))
    assert point.create and point.description == "mlayer-alias pinned=1"


def test_a_pinned_version_since_deleted_is_refused() -> None:
    with pytest.raises(NotFound) as refused:
        plan_function(request(), state(function(1), pinned=1, model_versions=models(2, 3)))
    assert str(refused.value) == (
        "model fn-model:1, pinned on the function, no longer exists: "
        "pass --model-version N (newest: 3)"
    )


# --- the gate and the size budget ----------------------------------------------------


def test_the_gate_refuses_a_model_the_deps_layer_cannot_load() -> None:
    with pytest.raises(VersionMismatch) as refused:
        plan_function(request(), state(model_versions=models(1, sklearn="1.6.1")))
    assert str(refused.value).startswith(
        "model fn-model:1 was saved with scikit-learn 1.6.1 but deps layer fn-deps:1 has "
        "scikit-learn 1.7.2: rebuild the deps layer with scikit-learn==1.6.1"
    )


def test_allow_version_mismatch_goes_ahead_and_records_the_mismatch() -> None:
    plan, spec = plan_function(
        request(allow_version_mismatch=True), state(model_versions=models(1, sklearn="1.6.1"))
    )
    mismatch = "scikit-learn 1.6.1 (model) vs 1.7.2 (deps)"
    assert environment_of(spec)[MISMATCH_ENV] == mismatch
    assert f"version mismatch allowed (--allow-version-mismatch): {mismatch}" in plan.notes


def test_layers_and_code_over_lambdas_unzipped_limit_are_refused() -> None:
    big = models(1, unzipped=120_000_000)
    with pytest.raises(UsageError) as refused:
        plan_function(request(), state(model_versions=big))
    assert str(refused.value).startswith(
        "deps fn-deps:1 150.0 MB + model fn-model:1 120.0 MB + function code 0.0 MB = "
        "270.0 MB unzipped, over Lambda's 262,144,000 bytes"
    )


# --- triggers ------------------------------------------------------------------------


def test_a_changed_trigger_option_updates_the_trigger() -> None:
    wanted = request(trigger=TriggerSpec("", 50, "LATEST"))
    plan, _ = plan_function(wanted, state(function(1)))
    (step,) = plan.steps
    assert isinstance(step, UpdateTrigger)
    assert step.request() == {"BatchSize": 50}


def test_a_mapping_with_lambdas_defaults_moves_to_mlayers_and_the_plan_says_so() -> None:
    old = trigger(
        bisect_on_error=False, maximum_retries=-1, maximum_record_age=-1, function_arn=LIVE_ARN
    )
    plan, _ = plan_function(request(), state(function(1), triggers=(old,)))
    assert plan.describe() == [
        f"update trigger {STREAM}: BisectBatchOnFunctionError False -> True; "
        "MaximumRetryAttempts -1 -> 3; MaximumRecordAgeInSeconds -1 -> 86400"
    ]
    assert any("moves from Lambda's defaults" in note for note in plan.notes)


def test_a_mapping_without_lambdas_event_count_metrics_gets_them() -> None:
    plan, _ = plan_function(
        request(), state(function(1), triggers=(trigger(metrics=(), function_arn=LIVE_ARN),))
    )
    (step,) = plan.steps
    assert isinstance(step, UpdateTrigger)
    assert step.request() == {"MetricsConfig": {"Metrics": ["EventCount"]}}


def test_no_stream_given_or_linked_is_refused() -> None:
    with pytest.raises(UsageError, match="no stream to trigger from: pass --stream-arn ARN"):
        plan_function(request(sources=()), state())


def test_a_missing_stream_in_another_account_says_which_account() -> None:
    other = f"arn:aws:kinesis:{REGION}:111122223333:stream/reviews"
    snapshot = state(sources=(SourceState(other, exists=False),), account_id=ACCOUNT)
    with pytest.raises(UsageError, match=f"is in account 111122223333 .* account {ACCOUNT}"):
        plan_function(request(sources=(("--stream-arn", other),)), snapshot)
    missing = state(sources=(SourceState(STREAM, exists=False),), account_id=ACCOUNT)
    with pytest.raises(NotFound, match=f"Kinesis stream {STREAM} not found"):
        plan_function(request(), missing)
    denied = state(sources=(SourceState(STREAM, False, "AWS denied access"),), account_id=ACCOUNT)
    with pytest.raises(AwsError, match="AWS denied access"):
        plan_function(request(), denied)


# --- what the user added is kept ----------------------------------------------------------


def test_the_users_variables_and_layers_are_kept_and_said() -> None:
    other = layer_arn("otherlayer", 3)
    current = function(1, env={"LOG_LEVEL": "debug"}, extra=(other,))
    plan, _ = plan_function(request(), state(current, model_versions=models(1, 2)))
    step = plan.steps[0]
    assert isinstance(step, UpdateConfiguration)
    assert step.request()["Layers"] == [layer_arn("fn-deps", 1), layer_arn("fn-model", 2), other]
    variables = step.request()["Environment"]["Variables"]  # type: ignore[index]
    assert variables["LOG_LEVEL"] == "debug"
    assert "keeps what mlayer does not own: environment LOG_LEVEL; layer otherlayer:3" in (
        plan.notes
    )


def test_more_layers_than_lambda_links_are_refused() -> None:
    extra = tuple(layer_arn(f"ext{n}", 1) for n in range(4))
    with pytest.raises(UsageError, match=r"would link 6 layers .* over Lambda's limit of 5"):
        plan_function(request(), state(function(1, extra=extra), model_versions=models(1, 2)))


def test_a_rollback_keeps_the_users_variables_and_moves_only_the_models() -> None:
    current = function(2, env={"LOG_LEVEL": "debug", MISMATCH_ENV: "x"})
    snapshot = state(current, model_versions=models(1, 2), released=False)
    plan, _ = plan_rollback(rollback_to(1), snapshot)
    (step,) = plan.steps
    variables = step.request()["Environment"]["Variables"]  # type: ignore[attr-defined]
    assert variables["LOG_LEVEL"] == "debug" and variables["MLAYER_TEXT_FIELD"] == "textblob"
    assert MISMATCH_ENV not in variables


# --- role and sink --------------------------------------------------------------------------


def test_a_new_function_without_a_role_is_refused() -> None:
    with pytest.raises(UsageError) as refused:
        plan_function(request(role=None), state())
    assert str(refused.value) == (
        "function fn does not exist yet: pass --role ARN (its execution role) or --create-role"
    )


def test_create_role_puts_the_policy_only_when_it_differs() -> None:
    wanted = request(role=None, create_role=True)
    absent = state(role=RoleState("fn-mlayer"), account_id=ACCOUNT)
    plan, spec = plan_function(wanted, absent)
    put = plan.steps[0]
    assert isinstance(put, PutRole) and put.create and put.name == "fn-mlayer"
    assert spec.role == f"arn:aws:iam::{ACCOUNT}:role/fn-mlayer"
    arn = f"arn:aws:iam::{ACCOUNT}:role/fn-mlayer"
    same = state(role=RoleState("fn-mlayer", arn, json.loads(put.policy)), account_id=ACCOUNT)
    assert not any(isinstance(s, PutRole) for s in plan_function(wanted, same)[0].steps)


def test_a_sink_table_keyed_otherwise_is_refused() -> None:
    wanted = request(sink=SinkSpec("dynamodb", "predictions"))
    with pytest.raises(UsageError, match="sink table predictions is keyed by pk \\(N\\)"):
        plan_function(wanted, state(sink=SinkState(table_key=("pk", "N"))))
    with pytest.raises(NotFound, match="sink table predictions not found"):
        plan_function(wanted, state(sink=SinkState(table_key=None)))


# --- rollback --------------------------------------------------------------------------


def test_a_rollback_to_a_version_that_does_not_exist_lists_those_that_do() -> None:
    with pytest.raises(NotFound) as refused:
        plan_rollback(rollback_to(7), state(function(2), model_versions=models(1, 2)))
    assert str(refused.value) == (
        "model layer fn-model has no version 7 (existing: 1, 2; "
        "deleted versions cannot come back: publish the model again)"
    )


def test_rollback_to_previous_before_versions_skips_deleted_model_versions() -> None:
    old = state(function(3), model_versions=models(1, 3), released=False)
    plan, target = plan_rollback(rollback_to(None), old)
    assert target.version == 1
    assert (
        plan.steps[0]
        .describe()
        .startswith("update fn: layers [fn-deps:1, fn-model:3] -> [fn-deps:1, fn-model:1]")
    )
    with pytest.raises(NotFound, match="no version of fn-model older than the live 1 exists"):
        plan_rollback(
            rollback_to(None), state(function(1), model_versions=models(1, 3), released=False)
        )


def test_a_rollback_runs_the_gate_against_the_linked_deps_layer() -> None:
    models_ = (model(2), model(1, sklearn="1.6.1"))
    snapshot = state(function(2), model_versions=models_, released=False)
    with pytest.raises(VersionMismatch):
        plan_rollback(rollback_to(1), snapshot)
    plan, _ = plan_rollback(rollback_to(1, allow_version_mismatch=True), snapshot)
    variables = plan.steps[0].request()["Environment"]["Variables"]  # type: ignore[attr-defined]
    assert variables[MISMATCH_ENV] == "scikit-learn 1.6.1 (model) vs 1.7.2 (deps)"


def test_a_rollback_of_a_function_that_does_not_exist_is_refused() -> None:
    with pytest.raises(NotFound, match="function fn does not exist: run mlayer deploy first"):
        plan_rollback(rollback_to(1), state(None))


# --- versions behind the alias -------------------------------------------------------------


def test_a_function_deployed_before_versions_moves_its_trigger_in_place() -> None:
    old = state(function(1), released=False)
    plan, _ = plan_function(request(), old)
    publish, point, move = plan.steps
    assert isinstance(publish, PublishVersion) and isinstance(point, PointAlias) and point.create
    assert isinstance(move, UpdateTrigger) and move.uuid == "u-1"  # never a new mapping
    assert move.request() == {"FunctionName": LIVE_ARN}
    assert any("UUID and stream position are kept" in note for note in plan.notes)


def test_a_version_that_already_holds_the_deploy_gets_the_alias_and_nothing_is_published() -> None:
    """After a rollback the alias serves version 1 (model 1); deploying model 2
    again finds version 2, which holds it, instead of publishing a third."""
    v1, v2 = published(function(1), 1), published(function(2), 2)
    snapshot = state(function(2), model_versions=models(1, 2), versions=(v2, v1), pinned=1)
    plan, _ = plan_function(request(model_version=2), snapshot)
    (point,) = plan.steps
    assert isinstance(point, PointAlias) and point.version == "2" and point.before == "1"
    assert point.description == "mlayer-alias previous=1"


def test_a_rollback_behind_the_alias_is_one_alias_update() -> None:
    v1, v2 = published(function(1), 1), published(function(2), 2)
    alias = AliasState("live", LIVE_ARN, "2", alias_description(None, "1"))
    snapshot = state(function(2), model_versions=models(1, 2), versions=(v2, v1), alias=alias)
    plan, target = plan_rollback(rollback_to(1), snapshot)
    (point,) = plan.steps
    assert target.version == 1
    assert isinstance(point, PointAlias) and (point.version, point.before) == ("1", "2")
    assert point.description == "mlayer-alias pinned=1 previous=2"
    assert point.describe() == "point alias fn:live at version 1 (model fn-model:1) (was version 2)"
    assert plan.outcome is not None and plan.outcome.qualifier == "live"


def test_a_rollback_to_a_model_no_version_carries_publishes_one() -> None:
    snapshot = state(function(2), model_versions=models(1, 2))  # only version 1: model 2
    plan, _ = plan_rollback(rollback_to(1), snapshot)
    update, publish, point = plan.steps
    assert isinstance(update, UpdateConfiguration)
    assert update.request()["Layers"] == [layer_arn("fn-deps", 1), layer_arn("fn-model", 1)]
    assert PINNED_ENV not in update.request()["Environment"]["Variables"]  # type: ignore[index]
    assert isinstance(publish, PublishVersion) and "model=fn-model:1" in publish.description
    assert isinstance(point, PointAlias) and point.version is None
    assert any("no version carries fn-model:1" in note for note in plan.notes)


def test_rollback_to_previous_goes_where_the_alias_pointed_before() -> None:
    v1, v2 = published(function(1), 1), published(function(2), 2)
    alias = AliasState("live", LIVE_ARN, "2", alias_description(None, "1"))
    snapshot = state(function(2), model_versions=models(1, 2), versions=(v2, v1), alias=alias)
    plan, target = plan_rollback(rollback_to(None), snapshot)
    (point,) = plan.steps
    assert target.version == 1 and isinstance(point, PointAlias) and point.version == "1"
    none_before = state(function(2), model_versions=models(1, 2))
    with pytest.raises(NotFound, match="records no version before this one: pass --version N"):
        plan_rollback(rollback_to(None), none_before)


def test_snapstart_is_refused_before_python312_in_one_line() -> None:
    with pytest.raises(UsageError) as refused:
        plan_function(request(snapstart=True), state())
    message = str(refused.value)
    assert message.startswith("--snapstart needs python3.12 or newer") and "\n" not in message
    _, spec = plan_function(request(snapstart=True, runtime="python3.13"), state())
    assert spec.configuration()["SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_provisioned_concurrency_is_set_on_the_alias_after_it_moves() -> None:
    plan, _ = plan_function(
        request(provisioned_concurrency=2), state(function(1), model_versions=models(1, 2))
    )
    *_, point, provision = plan.steps
    assert isinstance(point, PointAlias)
    assert provision.describe() == "provisioned concurrency on fn:live: 0 -> 2 warm environments"
    same, _ = plan_function(request(provisioned_concurrency=2), state(function(1), provisioned=2))
    assert same.steps == ()


# --- the shadow model ---------------------------------------------------------------------


def with_shadow(live: int, shadow: int) -> FunctionState:
    """What serves after ``deploy --model-version live --shadow-model shadow``."""
    current = function(live, env={SHADOW_MODEL_ENV: f"{shadow:016x}"})
    return replace(current, layers=(*current.layers, layer_arn("fn-model", shadow)))


def test_a_shadow_model_is_linked_after_the_live_one_and_named_to_the_handler() -> None:
    plan, spec = plan_function(
        request(model_version=1, shadow_model=2), state(function(1), model_versions=models(1, 2))
    )
    assert spec.layers == (
        layer_arn("fn-deps", 1), layer_arn("fn-model", 1), layer_arn("fn-model", 2)
    )  # fmt: skip
    assert environment_of(spec)[SHADOW_MODEL_ENV] == f"{2:016x}"
    assert environment_of(spec)[MODEL_SHA256_ENV] == f"{1:016x}"
    assert any(n.startswith("shadow model fn-model:2 predicts every batch") for n in plan.notes)


def test_a_shadow_that_is_the_live_model_is_refused() -> None:
    with pytest.raises(UsageError, match="--shadow-model 2 is the live model"):
        plan_function(request(shadow_model=2), state(function(1), model_versions=models(1, 2)))


def test_two_model_layers_of_the_old_layout_are_refused_side_by_side() -> None:
    old = models(1, 2, own_dir=False)
    with pytest.raises(UsageError, match="would overwrite each other's files"):
        plan_function(
            request(model_version=1, shadow_model=2), state(function(1), model_versions=old)
        )
    mixed = (model(2), model(1, own_dir=False))
    plan_function(
        request(model_version=1, shadow_model=2), state(function(1), model_versions=mixed)
    )


def test_a_plain_deploy_keeps_the_shadow_and_no_shadow_removes_it() -> None:
    snapshot = state(with_shadow(1, 2), model_versions=models(1, 2), pinned=1)
    plan, spec = plan_function(request(), snapshot)
    assert plan.steps == () and spec.layers[2] == layer_arn("fn-model", 2)
    plan, spec = plan_function(request(no_shadow=True), snapshot)
    assert SHADOW_MODEL_ENV not in environment_of(spec) and len(spec.layers) == 2
    assert "shadow model fn-model:2 removed" in plan.notes


def test_deploying_the_shadows_version_promotes_it() -> None:
    snapshot = state(with_shadow(1, 2), model_versions=models(1, 2), pinned=1)
    plan, spec = plan_function(request(model_version=2), snapshot)
    assert spec.layers == (layer_arn("fn-deps", 1), layer_arn("fn-model", 2))
    assert SHADOW_MODEL_ENV not in environment_of(spec)
    assert "model fn-model:2 promoted: it serves, the shadow is removed" in plan.notes


def test_a_rollback_serves_one_model_and_drops_the_shadow() -> None:
    snapshot = state(with_shadow(2, 3), model_versions=models(1, 2, 3))
    plan, _ = plan_rollback(rollback_to(1), snapshot)
    update = plan.steps[0]
    assert isinstance(update, UpdateConfiguration)
    assert update.request()["Layers"] == [layer_arn("fn-deps", 1), layer_arn("fn-model", 1)]
    assert SHADOW_MODEL_ENV not in update.request()["Environment"]["Variables"]  # type: ignore[index]


# --- runtimes AWS deprecated -----------------------------------------------------------


def test_a_new_function_on_a_runtime_past_awss_block_create_date_is_refused() -> None:
    with pytest.raises(UsageError) as refused:
        plan_function(request(runtime="python3.9"), state())
    message = str(refused.value)
    assert "python3.9" in message and "creating functions on it since 2026-02-03" in message
    assert "--allow-deprecated-runtime" in message and "\n" not in message


def test_allow_deprecated_runtime_creates_it_and_the_plan_says_why_not_to() -> None:
    plan, spec = plan_function(request(runtime="python3.9", allow_deprecated_runtime=True), state())
    assert type(plan.steps[0]) is CreateFunction and spec.runtime == "python3.9"
    assert "python3.9 was deprecated by AWS on 2025-12-15" in plan.notes[0]


def test_a_deprecated_runtime_before_its_block_date_deploys_with_a_warning() -> None:
    plan, spec = plan_function(request(runtime="python3.10"), state())
    assert spec.runtime == "python3.10"
    assert "python3.10 was deprecated by AWS on 2026-10-31" in plan.notes[0]
    assert "from 2026-11-30" in plan.notes[0]


def test_an_existing_function_is_updated_until_awss_block_update_date() -> None:
    on_310 = replace(function(1), runtime="python3.10")
    after_create = request(runtime="python3.10", today=date(2026, 12, 15))
    plan, _ = plan_function(after_create, state(on_310))  # updates still allowed: a warning
    assert "updating functions on it from 2027-01-15" in plan.notes[0]
    with pytest.raises(UsageError, match="updating functions on it since 2027-01-15"):
        plan_function(replace(after_create, today=date(2027, 1, 15)), state(on_310))
    with pytest.raises(UsageError, match="creating functions on it since 2026-11-30"):
        plan_function(after_create, state())  # a new function on it is refused already


def test_a_supported_runtime_adds_no_note() -> None:
    plan, _ = plan_function(request(runtime="python3.13"), state())
    assert not any("deprecated" in note for note in plan.notes)
