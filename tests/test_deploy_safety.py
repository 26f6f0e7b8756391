"""Deploys that stay consistent under concurrency and interruption.

Against the moto server where moto behaves as Lambda does; with botocore's
Stubber where it does not (moto keeps no RevisionId for a function and lets a
stream have two mappings to one function: real Lambda refuses both).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import REGION, Account, run, run_json

from mlayer import executor, lock
from mlayer.aws import Aws
from mlayer.descriptions import parse_description
from mlayer.errors import AwsError, Conflict, PartiallyApplied
from mlayer.ops.deploy import deploy, deploy_request, plan_deploy_now, rollback
from mlayer.settings import Settings
from mlayer.steps import CreateTrigger, Plan, TriggerSpec, UpdateConfiguration

MLAYER = str(Path(sys.executable).with_name("mlayer"))
ACCOUNT_ARN = f"arn:aws:lambda:{REGION}:123456789012"


def real_aws(aws: Account) -> Aws:
    return Aws(REGION, endpoint_url=aws.endpoint)


def publish_layers(aws: Account, deps_zip: Path, model: list[Path]) -> None:
    lam = aws.client("lambda")
    lam.publish_layer_version(LayerName="fn-deps", Content={"ZipFile": deps_zip.read_bytes()})
    assert run("publish-model", *map(str, model), "--function-name", "fn").exit_code == 0


def mappings(aws: Account, name: str = "fn") -> list[dict[str, Any]]:
    return aws.mappings(name)


def snapshot(aws: Account, name: str) -> dict[str, Any]:
    """What a deploy sets on the function and its trigger (names made neutral)."""
    lam = aws.client("lambda")
    config = lam.get_function_configuration(FunctionName=name)
    served = aws.served(name)
    return {
        "alias": lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"],
        "published": [
            v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]
        ],
        "served": [layer["Arn"] for layer in served["Layers"]]
        == [layer["Arn"] for layer in config["Layers"]],
        "triggered": [m["FunctionArn"].split(":")[-1] for m in mappings(aws, name)],
        "layers": [layer["Arn"] for layer in config["Layers"]],
        "environment": config["Environment"]["Variables"],
        "role": config["Role"].replace(f"role/{name}-", "role/NAME-"),
        "code": config["CodeSha256"],
        "settings": [config[k] for k in ("Handler", "Runtime", "MemorySize", "Timeout")],
        "triggers": [
            (
                m["EventSourceArn"],
                m["BatchSize"],
                m["BisectBatchOnFunctionError"],
                m["MaximumRetryAttempts"],
                m["MaximumRecordAgeInSeconds"],
                m["FunctionResponseTypes"],
            )
            for m in mappings(aws, name)
        ],
    }


# --- a user's settings survive ---------------------------------------------------


def test_deploy_and_rollback_keep_the_users_variable_and_extra_layer(
    deployed: Account, model_v2: list[Path], small_deps_zip: Path
) -> None:
    lam = deployed.client("lambda")
    extension = lam.publish_layer_version(
        LayerName="otherlayer", Content={"ZipFile": small_deps_zip.read_bytes()}
    )["LayerVersionArn"]
    config = lam.get_function_configuration(FunctionName="fn")
    variables = {**config["Environment"]["Variables"], "LOG_LEVEL": "debug"}
    lam.update_function_configuration(
        FunctionName="fn",
        Layers=[*(layer["Arn"] for layer in config["Layers"]), extension],
        Environment={"Variables": variables},
    )
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")

    result = run_json("deploy", "--function-name", "fn")
    assert (
        "keeps what mlayer does not own: environment LOG_LEVEL; layer otherlayer:1"
        in result["notes"]
    )
    step = result["steps"][0]  # then publish, point the alias
    assert "environment MLAYER_MODEL_SHA256 " in step
    after = deployed.served()
    assert [layer["Arn"].split(":")[-2:] for layer in after["Layers"]] == [
        ["fn-deps", "1"], ["fn-model", "2"], ["otherlayer", "1"],
    ]  # fmt: skip
    assert after["Environment"]["Variables"]["LOG_LEVEL"] == "debug"
    assert result["layers"] == [layer["Arn"] for layer in after["Layers"]]

    run_json("rollback", "--version", "1", "--function-name", "fn")
    rolled = deployed.served()
    assert [layer["Arn"].split(":")[-2:] for layer in rolled["Layers"]] == [
        ["fn-deps", "1"], ["fn-model", "1"], ["otherlayer", "1"],
    ]  # fmt: skip
    assert rolled["Environment"]["Variables"]["LOG_LEVEL"] == "debug"


# --- safe mapping defaults -------------------------------------------------------


def test_a_new_trigger_bisects_and_gives_up_and_the_plan_warns(deployed: Account) -> None:
    (mapping,) = mappings(deployed)
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 3
    assert mapping["MaximumRecordAgeInSeconds"] == 86400
    notes = run_json("deploy", "--function-name", "fn", "--dry-run")["notes"]
    assert any("are dropped: pass --on-failure ARN (SQS/SNS/S3) to keep them" in n for n in notes)


def test_a_trigger_left_by_an_older_mlayer_is_moved_to_the_safe_defaults(
    deployed: Account,
) -> None:
    lam = deployed.client("lambda")
    (mapping,) = mappings(deployed)
    lam.update_event_source_mapping(
        UUID=mapping["UUID"],
        BisectBatchOnFunctionError=False,
        MaximumRetryAttempts=-1,
        MaximumRecordAgeInSeconds=-1,
    )
    result = run_json("deploy", "--function-name", "fn")
    assert result["steps"] == [
        f"update trigger {deployed.stream_arn}: BisectBatchOnFunctionError False -> True; "
        "MaximumRetryAttempts -1 -> 3; MaximumRecordAgeInSeconds -1 -> 86400"
    ]
    assert any("moves from Lambda's defaults" in note for note in result["notes"])
    (mapping,) = mappings(deployed)
    assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (3, 86400)


# --- trigger creation checks again ---------------------------------------------


def test_a_trigger_created_since_the_plan_is_not_created_twice(deployed: Account) -> None:
    """moto would map the stream twice; the executor lists the mappings again
    right before creating one, and brings the one it finds to the plan's spec."""
    lam = deployed.client("lambda")
    for mapping in mappings(deployed):
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    client = real_aws(deployed)
    settings = Settings(function_name="fn", stream_arn=deployed.stream_arn)
    plan, _, _ = plan_deploy_now(client, deploy_request(settings, None))
    assert [type(step) for step in plan.steps] == [CreateTrigger]
    # Another deploy, elsewhere, creates the trigger meanwhile, with other settings.
    lam.create_event_source_mapping(
        FunctionName="fn", EventSourceArn=deployed.stream_arn, StartingPosition="LATEST",
        BatchSize=7,
    )  # fmt: skip
    seen: list[str] = []
    executor.apply(plan, client, code=bytes, on_step=seen.append)
    (mapping,) = mappings(deployed)
    assert mapping["BatchSize"] == 100 and mapping["MaximumRetryAttempts"] == 3
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert seen[-1].endswith("exists already (made since the plan): updated it")


def stubbed() -> tuple[Aws, Stubber]:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    client = session.client("lambda")
    return Aws(session=session, lambda_client=client, sleep=lambda _: None), Stubber(client)


def test_lambdas_already_exists_on_create_trigger_converges_instead() -> None:
    """Stubbed: moto lets a Kinesis stream map twice to one function; real Lambda
    answers ResourceConflictException, which mlayer takes as 'made since the plan'."""
    client, stub = stubbed()
    source = f"arn:aws:kinesis:{REGION}:123456789012:stream/s"
    spec = TriggerSpec(source, 100, "LATEST")
    existing = {
        "UUID": "00000000-0000-0000-0000-000000000001",
        "EventSourceArn": source,
        "BatchSize": 100,
        "StartingPosition": "LATEST",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 86400,
        "ParallelizationFactor": 1,
        "MetricsConfig": {"Metrics": ["EventCount"]},
    }
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []})
    stub.add_client_error(
        "create_event_source_mapping",
        "ResourceConflictException",
        f"The event source arn ({source}) and function (fn) provided mapping already exists.",
        http_status_code=409,
    )
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [existing]})
    seen: list[str] = []
    with stub:
        executor.apply(Plan((CreateTrigger("fn", spec),)), client, code=bytes, on_step=seen.append)
    stub.assert_no_pending_responses()
    assert seen[-1].endswith("exists already (made since the plan): kept")


# --- RevisionId ----------------------------------------------------------------------


def test_updates_carry_the_planned_revision_and_a_stale_one_stops_the_deploy() -> None:
    """Stubbed: moto keeps no RevisionId for a function, so the exact requests are
    checked here, and Lambda's answer to a stale one (PreconditionFailedException)
    is replayed."""
    client, stub = stubbed()
    update = UpdateConfiguration("fn", (("MemorySize", 192, 256),))
    trigger = CreateTrigger(
        "fn", TriggerSpec("arn:aws:kinesis:eu-west-1:1:stream/s", 100, "LATEST")
    )
    plan = Plan((update, trigger), revision_id="rev-planned")
    stub.add_client_error(
        "update_function_configuration",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={"FunctionName": "fn", "MemorySize": 256, "RevisionId": "rev-planned"},
    )
    with stub, pytest.raises(PartiallyApplied) as stopped:
        executor.apply(plan, client, code=bytes)
    stub.assert_no_pending_responses()
    assert str(stopped.value) == (
        "function fn was changed by someone else since the plan; applied: nothing; "
        f"failed: {update.describe()}; not applied: {trigger.describe()}; "
        "re-run mlayer deploy to converge"
    )


class ChangedBehindTheBack:
    """The real Aws; right after mlayer's configuration update lands, another
    machine's deploy sets another model hash (what no RevisionId can stop when
    it comes after the last update)."""

    def __init__(self, real: Aws, aws: Account) -> None:
        self.real, self.aws = real, aws

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_function_configuration(self, name: str, *args: Any, **kwargs: Any) -> str:
        revision = self.real.update_function_configuration(name, *args, **kwargs)
        lam = self.aws.client("lambda")
        variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        variables["MLAYER_MODEL_SHA256"] = "0000000000000000"
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        return revision


def test_a_change_by_someone_else_while_deploying_is_caught_by_the_read_back(
    deployed: Account, model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")
    settings = Settings(function_name="fn")
    with pytest.raises(Conflict) as caught:
        deploy(
            settings,
            ChangedBehindTheBack(real_aws(deployed), deployed),  # type: ignore[arg-type]
            model_version=None,
            dry_run=False,
            on_step=lambda _: None,
        )
    assert str(caught.value) == (
        "function fn was changed by someone else while deploying (fn:live serves other "
        "layers): re-run mlayer deploy"
    )


# --- one deploy of a function at a time on this machine ---------------------------


def test_a_second_deploy_waits_for_the_lock_and_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    waiting, done = threading.Event(), threading.Event()

    def second() -> None:
        def on_wait(message: str) -> None:
            said.append(message)
            waiting.set()

        with lock.function_lock("http://e", "eu-west-1", "fn", on_wait=on_wait, root=tmp_path):
            done.set()

    with lock.function_lock("http://e", "eu-west-1", "fn", on_wait=said.append, root=tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(60)
        assert not done.is_set()  # still waiting while the first holds the lock
    thread.join(60)
    assert done.is_set()
    assert said == ["waiting for another mlayer deploy of fn on this machine"]
    # another function, region or endpoint has a lock of its own
    paths = {
        lock.lock_path(*key, root=tmp_path)
        for key in [("http://e", "eu-west-1", "fn"), ("http://e", "eu-west-1", "fn2"),
                    ("http://e", "us-east-1", "fn"), ("https://f", "eu-west-1", "fn")]
    }  # fmt: skip
    assert len(paths) == 4


def mlayer_process(project: Path, stream: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MLAYER, *args, "--function-name", "fn", "--stream-arn", stream, "--json"],
        cwd=project,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_deploys_never_mix_layer_and_hash(
    deployed: Account, project: Path, model_v1: list[Path], model_v2: list[Path]
) -> None:
    """The race of the issue, 20 times, as separate mlayer processes against the
    moto server: --model-version 2 and --model-version 3 --text-field body at once,
    on a function missing its trigger. Afterwards the function is exactly one of
    the two deploys (layer, hash, text field and pin agree) with one trigger."""
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")  # 2
    run_json("publish-model", *map(str, model_v1), "--function-name", "fn", "--force")  # 3
    lam = deployed.client("lambda")
    shas = {
        v: parse_description(lam.get_layer_version(LayerName="fn-model", VersionNumber=v)[
            "Description"
        ])["sha256"]
        for v in (2, 3)
    }  # fmt: skip
    expected = {
        2: {"MLAYER_MODEL_SHA256": shas[2], "MLAYER_TEXT_FIELD": "textblob"},
        3: {"MLAYER_MODEL_SHA256": shas[3], "MLAYER_TEXT_FIELD": "body"},
    }  # fmt: skip
    pins = {2: "pinned=2", 3: None}  # on the alias: 2 is older than the newest
    stream, waited = deployed.stream_arn, 0
    for _ in range(20):
        for mapping in mappings(deployed):
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
        both = [
            mlayer_process(project, stream, "deploy", "--model-version", "2"),
            mlayer_process(
                project, stream, "deploy", "--model-version", "3", "--text-field", "body"
            ),
        ]
        for process in both:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr
            waited += "waiting for another mlayer deploy of fn on this machine" in stderr
        config = deployed.served()  # what the alias serves
        model = int(config["Layers"][1]["Arn"].rsplit(":", 1)[1])
        variables = config["Environment"]["Variables"]
        assert variables["MLAYER_MODEL_SHA256"] == shas[model]
        mine = {k: v for k, v in variables.items() if k in expected[2] or k in expected[3]}
        assert mine == expected[model]
        pin = lam.get_alias(FunctionName="fn", Name="live")["Description"]
        assert (pins[model] in pin) if pins[model] else "pinned" not in pin
        assert len(mappings(deployed)) == 1
    print(f"in {waited} of 20 trials one deploy waited for the other's lock")


# --- interrupted deploys converge -------------------------------------------------

MUTATING = {
    "put_role",
    "create_function",
    "update_function_code",
    "update_function_configuration",
    "publish_version",
    "point_alias",
    "create_trigger",
    "update_trigger",
    "delete_layer_version",
}


class Interrupting:
    """The real Aws, but its ``fail_at``-th call that changes something raises
    AwsError, as a lost connection would: before the call is made, or (``after``)
    once it has been made, its answer lost."""

    def __init__(self, real: Aws, fail_at: int, *, after: bool) -> None:
        self.real, self.fail_at, self.after, self.count = real, fail_at, after, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if name not in MUTATING:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.count == self.fail_at and not self.after:
                raise AwsError("cannot reach the endpoint (before the call)")
            result = attribute(*args, **kwargs)
            if self.count == self.fail_at:
                raise AwsError("cannot reach the endpoint (its answer lost)")
            return result

        return call


def first_deploy_settings(aws: Account, name: str) -> Settings:
    """A first deploy with every step: a role to create, the function, a trigger, a sink."""
    return Settings(
        function_name=name,
        deps_layer_name="fn-deps",
        model_layer_name="fn-model",
        create_role=True,
        stream_arn=aws.stream_arn,
        sink="dynamodb:predictions",
        out=f"build-{name}",
    )


def deploy_with(settings: Settings, client: Any, seen: Callable[[str], None]) -> Plan:
    return deploy(settings, client, model_version=None, dry_run=False, on_step=seen).plan


@pytest.mark.parametrize("after", [False, True], ids=["before-the-call", "answer-lost"])
@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_a_deploy_interrupted_at_each_step_says_what_was_applied_and_converges(
    aws: Account,
    project: Path,
    small_deps_zip: Path,
    model_v1: list[Path],
    fail_at: int,
    after: bool,
) -> None:
    publish_layers(aws, small_deps_zip, model_v1)
    aws.client("dynamodb").create_table(
        TableName="predictions",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # What an uninterrupted first deploy leaves, on a function of another name.
    reference = deploy_with(first_deploy_settings(aws, "ref"), real_aws(aws), print)
    assert [type(step).__name__ for step in reference.steps] == [
        "PutRole", "CreateFunction", "PublishVersion", "PointAlias", "CreateTrigger",
    ]  # fmt: skip

    settings = first_deploy_settings(aws, "fn")
    planned = deploy(
        settings, real_aws(aws), model_version=None, dry_run=True, on_step=print
    ).plan.describe()
    with pytest.raises(PartiallyApplied) as stopped:
        deploy_with(settings, Interrupting(real_aws(aws), fail_at, after=after), print)
    message = str(stopped.value)
    print(message)
    applied = " | ".join(planned[: fail_at - 1]) or "nothing"
    not_applied = " | ".join(planned[fail_at:]) or "nothing"
    assert f"; applied: {applied}; failed: {planned[fail_at - 1]}; " in message
    assert message.endswith(f"; not applied: {not_applied}; re-run mlayer deploy to converge")
    assert "\n" not in message

    rerun = deploy_with(settings, real_aws(aws), print)
    print("re-run:", rerun.describe())
    assert snapshot(aws, "fn") == snapshot(aws, "ref")
    assert deploy_with(settings, real_aws(aws), print).steps == ()  # converged


def test_an_interrupted_rollback_names_the_command_that_converges(
    deployed: Account, model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")
    run_json("deploy", "--function-name", "fn")
    settings = Settings(function_name="fn")
    with pytest.raises(PartiallyApplied) as stopped:
        rollback(
            settings,
            Interrupting(real_aws(deployed), 1, after=False),  # type: ignore[arg-type]
            version=None,
            to_previous=True,
            dry_run=False,
            on_step=print,
        )
    message = str(stopped.value)
    assert message.startswith("cannot reach the endpoint (before the call); applied: nothing; ")
    assert message.endswith(
        "; not applied: nothing; re-run mlayer rollback --version 1 to converge"
    )
    run_json("rollback", "--version", "1", "--function-name", "fn")
    assert deployed.served()["Layers"][1]["Arn"].endswith(":fn-model:1")
