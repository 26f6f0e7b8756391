"""The model lifecycle through the CLI against the moto server: the compatibility
gate, versions, rollback, cleanup, event sources, sinks, the role. Every refusal
is one line, exits non-zero and leaves AWS exactly as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import Account, one_line_error, run, run_json
from test_handler_lifecycle import OTHER_SKLEARN, with_sklearn_version

DEPS_DESCRIPTION = (
    "mlayer-deps runtime=python3.11 arch=x86_64 python=3.11 sklearn=1.7.2 numpy=2.2.6 "
    "scipy=1.16.3 joblib=1.5.2 sha256=0123456789abcdef"
)
FN = ("--function-name", "fn")


def publish_deps(aws: Account, zip_path: Path, description: str = DEPS_DESCRIPTION) -> str:
    reply = aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Content={"ZipFile": zip_path.read_bytes()}, Description=description
    )
    return str(reply["LayerVersionArn"])


def config(aws: Account) -> dict:  # type: ignore[type-arg]
    """What serves the trigger: the version alias live points at."""
    reply = aws.served()
    return {k: reply.get(k) for k in ("Layers", "Environment", "Role", "CodeSha256")}


def model_versions(aws: Account) -> list[int]:
    reply = aws.client("lambda").list_layer_versions(LayerName="fn-model")
    return sorted(v["Version"] for v in reply["LayerVersions"])


@pytest.fixture
def gated(aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]) -> Account:
    """deps:1 described as build-deps describes it, model:1 (v1), the function deployed."""
    publish_deps(aws, small_deps_zip)
    run_json("publish-model", *map(str, model_v1), *FN, "--label", "v1")
    result = run("deploy", *FN, "--role", aws.role_arn, "--stream-arn", aws.stream_arn)
    assert result.exit_code == 0, result.stderr
    return aws


@pytest.fixture
def old_model(tmp_path_factory: pytest.TempPathFactory, model_v1: list[Path]) -> list[Path]:
    return with_sklearn_version(model_v1, tmp_path_factory.mktemp("old"), OTHER_SKLEARN)


def test_publish_model_refuses_a_model_the_deps_layer_cannot_load(
    gated: Account, old_model: list[Path]
) -> None:
    error = one_line_error(run("publish-model", *map(str, old_model), *FN, "--label", "old"))
    assert "scikit-learn 1.6.1" in error and "scikit-learn 1.7.2" in error
    assert "fn-deps:1" in error and "scikit-learn==1.6.1" in error and "retrain" in error
    assert model_versions(gated) == [1]
    published = run_json(
        "publish-model", *map(str, old_model), *FN, "--label", "old", "--allow-version-mismatch"
    )
    assert published["version"] == 2 and model_versions(gated) == [1, 2]


def test_deploy_refuses_a_mismatch_and_accepts_it_with_the_override(
    gated: Account, old_model: list[Path]
) -> None:
    run_json(
        "publish-model", *map(str, old_model), *FN, "--label", "old", "--allow-version-mismatch"
    )
    before = config(gated)
    refused = run("deploy", *FN)
    error = one_line_error(refused)
    print("deploy, mismatched model:", error)
    assert "model fn-model:2 was saved with scikit-learn 1.6.1" in error
    assert "deps layer fn-deps:1 has scikit-learn 1.7.2" in error
    assert "rebuild the deps layer" in error and "retrain the model" in error
    assert config(gated) == before  # nothing changed

    accepted = run("deploy", *FN, "--allow-version-mismatch")
    assert accepted.exit_code == 0, accepted.stderr
    print("deploy --allow-version-mismatch:", accepted.stdout)
    assert "version mismatch allowed" in accepted.stdout
    env = config(gated)["Environment"]["Variables"]
    assert env["MLAYER_ALLOW_VERSION_MISMATCH"] == "scikit-learn 1.6.1 (model) vs 1.7.2 (deps)"
    status = run("status", *FN)
    print("status:", status.stdout)
    assert "VERSION MISMATCH ALLOWED: scikit-learn 1.6.1 (model) vs 1.7.2 (deps)" in status.stdout
    assert run_json("status", *FN)["version_mismatch_allowed"]

    # Back to a model that matches: the override is gone from the function.
    assert run("deploy", *FN, "--model-version", "1").exit_code == 0
    assert "MLAYER_ALLOW_VERSION_MISMATCH" not in config(gated)["Environment"]["Variables"]
    assert run_json("status", *FN)["version_mismatch_allowed"] is None


def test_deploy_model_version_and_rollback_run_the_gate(
    gated: Account, old_model: list[Path], model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, old_model), *FN, "--allow-version-mismatch")  # 2
    before = config(gated)
    assert "1.6.1" in one_line_error(run("deploy", *FN, "--model-version", "2"))
    assert "1.6.1" in one_line_error(run("rollback", *FN, "--version", "2"))
    assert config(gated) == before
    result = run_json("rollback", *FN, "--version", "2", "--allow-version-mismatch")
    assert result["changed"]
    assert "MLAYER_ALLOW_VERSION_MISMATCH" in config(gated)["Environment"]["Variables"]
    run_json("rollback", *FN, "--version", "1")
    env = config(gated)["Environment"]["Variables"]
    assert "MLAYER_ALLOW_VERSION_MISMATCH" not in env


def test_versions_after_three_publishes_and_a_rollback_mark_the_live_one(
    gated: Account, model_v2: list[Path], tmp_path: Path, model_v1: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), *FN, "--label", "v2")
    third = [tmp_path / p.name for p in model_v1]
    for src, dst in zip(model_v2, third, strict=True):
        dst.write_bytes(src.read_bytes())
    third[0], third[1] = third[1], third[0]  # another order is another model
    run_json("publish-model", *map(str, third), *FN, "--label", "v3")
    assert run("deploy", *FN).exit_code == 0  # function version 2 serves model 3
    assert run("rollback", *FN, "--version", "2").exit_code == 0  # version 3: model 2

    listing = run("versions", *FN)
    print("versions:\n" + listing.stdout)
    lines = listing.stdout.splitlines()
    assert "PYTHON" in lines[0] and "SKLEARN" in lines[0] and "NUMPY" in lines[0]
    live = [line for line in lines[1:] if line.startswith("*")]
    assert len(live) == 1 and live[0].split()[1:3] == ["2", "v2"]
    assert "alias live" in live[0] and "3.11" in live[0] and "1.7.2" in live[0]
    rows = run_json("versions", *FN)["versions"]
    assert [(r["version"], r["label"], r["live"]) for r in rows] == [
        (3, "v3", False),
        (2, "v2", True),
        (1, "v1", False),
    ]
    assert all(r["trained_with"]["sklearn"] == "1.7.2" for r in rows)
    assert all(len(r["sha256"]) == 16 and r["created"] for r in rows)


def test_rollback_dry_run_and_to_previous(gated: Account, model_v2: list[Path]) -> None:
    run_json("publish-model", *map(str, model_v2), *FN, "--label", "v2")
    run_json("deploy", *FN)
    before = config(gated)
    dry = run_json("rollback", *FN, "--to-previous", "--dry-run")
    assert dry["dry_run"] and dry["steps"] and "fn-model:1" in dry["steps"][0]
    assert config(gated) == before
    run_json("rollback", *FN, "--to-previous")
    assert config(gated)["Layers"][1]["Arn"].endswith("fn-model:1")
    # --to-previous goes where the alias pointed before: back to model 2, like `cd -`
    run_json("rollback", *FN, "--to-previous")
    assert config(gated)["Layers"][1]["Arn"].endswith("fn-model:2")


def test_a_plain_deploy_after_a_rollback_keeps_the_rolled_back_model(
    gated: Account, model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), *FN, "--label", "v2")
    run_json("deploy", *FN)
    rolled = run_json("rollback", *FN, "--version", "1")
    assert any("pinned" in n and "--model-version 2" in n for n in rolled["notes"])
    assert run_json("status", *FN)["pinned_model_version"] == 1

    # a later deploy for something else (memory) must not bring model 2 back
    kept = run_json("deploy", *FN, "--memory", "256")
    assert config(gated)["Layers"][1]["Arn"].endswith("fn-model:1")
    assert any("pinned" in n and "--model-version 2" in n for n in kept["notes"])
    run_json("publish-model", *map(str, model_v2), *FN, "--force")  # 3: still pinned
    run_json("deploy", *FN)
    assert config(gated)["Layers"][1]["Arn"].endswith("fn-model:1")

    # choosing a version explicitly moves the pin, and the newest unpins
    run_json("deploy", *FN, "--model-version", "2")
    assert run_json("status", *FN)["pinned_model_version"] == 2
    run_json("deploy", *FN, "--model-version", "3")
    assert run_json("status", *FN)["pinned_model_version"] is None
    run_json("rollback", *FN, "--version", "3")  # already live and newest: nothing to pin
    assert "MLAYER_PINNED_MODEL_VERSION" not in config(gated)["Environment"]["Variables"]


def test_deploy_and_rollback_refuse_layers_over_lambdas_unzipped_limit(
    aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]
) -> None:
    big_deps = DEPS_DESCRIPTION.replace(" sha256=", " unzipped=262140000 sha256=")
    publish_deps(aws, small_deps_zip, big_deps)
    model = run_json("publish-model", *map(str, model_v1), *FN, "--label", "v1")
    error = one_line_error(
        run("deploy", *FN, "--role", aws.role_arn, "--stream-arn", aws.stream_arn)
    )
    assert "deps fn-deps:1 262.1 MB + model fn-model:1" in error and "--prune" in error
    assert aws.client("lambda").list_functions()["Functions"] == []

    # a deps layer that fits: deploy works; a rollback to a model too big for it does not
    small_deps = DEPS_DESCRIPTION.replace(" sha256=", " unzipped=1000 sha256=")
    publish_deps(aws, small_deps_zip, small_deps)
    run_json("deploy", *FN, "--role", aws.role_arn, "--stream-arn", aws.stream_arn)
    lam = aws.client("lambda")
    v1 = lam.get_layer_version(LayerName="fn-model", VersionNumber=model["version"])
    big_model = re.sub(r"unzipped=\d+", "unzipped=262143500", v1["Description"])
    content = {"ZipFile": small_deps_zip.read_bytes()}
    lam.publish_layer_version(LayerName="fn-model", Content=content, Description=big_model)
    run_json("publish-model", *map(str, model_v1), *FN, "--force")  # 3, linked next
    run_json("deploy", *FN)
    before = config(aws)
    error = one_line_error(run("rollback", *FN, "--version", "2"))
    assert "model fn-model:2 262.1 MB" in error and "over Lambda's 262,144,000 bytes" in error
    assert config(aws) == before


def test_rollback_to_a_deleted_version_is_refused(gated: Account, model_v2: list[Path]) -> None:
    run_json("publish-model", *map(str, model_v2), *FN)
    run_json("publish-model", *map(str, model_v2), *FN, "--force")  # 3
    gated.client("lambda").delete_layer_version(LayerName="fn-model", VersionNumber=2)
    before = config(gated)
    error = one_line_error(run("rollback", *FN, "--version", "2"))
    assert "no version 2 (existing: 1, 3" in error
    assert config(gated) == before


def test_cleanup_keeps_the_newest_and_everything_linked_saying_why(
    gated: Account, model_v2: list[Path]
) -> None:
    lam = gated.client("lambda")
    # Version 1 of the function (alias prod) keeps linking model:1.
    published = lam.publish_version(FunctionName="fn")["Version"]
    lam.create_alias(FunctionName="fn", Name="prod", FunctionVersion=published)
    for _ in range(3):  # model:2..4
        run_json("publish-model", *map(str, model_v2), *FN, "--force")
    run_json("rollback", *FN, "--version", "3")  # $LATEST links model:3

    # Deleting a linked version by name is refused, and nothing is deleted.
    error = one_line_error(run("cleanup", *FN, "--version", "1"))
    assert f"fn-model:1 is linked by version {published}, alias prod" in error
    assert model_versions(gated) == [1, 2, 3, 4]

    dry = run_json("cleanup", *FN, "--keep", "1", "--dry-run")
    assert dry["would_delete"] == ["delete fn-model:2"] and model_versions(gated) == [1, 2, 3, 4]
    result = run("cleanup", *FN, "--keep", "1")
    print("cleanup --keep 1:\n" + result.stdout)
    assert result.exit_code == 0
    assert model_versions(gated) == [1, 3, 4]
    assert "keep fn-model:4: one of the 1 newest" in result.stdout
    assert "keep fn-model:3: linked by $LATEST" in result.stdout
    assert f"keep fn-model:1: linked by version {published}, linked by alias prod" in result.stdout
    assert "nothing to delete" in run("cleanup", *FN, "--keep", "1").stdout


def test_dynamodb_trigger_with_stream_options_is_idempotent(
    gated: Account,
) -> None:
    ddb = gated.client("dynamodb")
    table = ddb.create_table(
        TableName="reviews",
        KeySchema=[{"AttributeName": "review_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "review_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    stream = table["TableDescription"]["LatestStreamArn"]
    sqs = gated.client("sqs")
    queue = sqs.create_queue(QueueName="failed")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    options = [
        "--table-stream-arn", stream, "--bisect-on-error", "--maximum-retries", "3",
        "--maximum-record-age", "3600", "--parallelization-factor", "4", "--on-failure", dlq,
    ]  # fmt: skip
    dry = run_json("deploy", *FN, *options, "--dry-run")
    (create,) = [s for s in dry["steps"] if s.startswith("create trigger")]
    for words in ("bisect on error", "3 retries", "record age 3600 s", "4 batches per shard", dlq):
        assert words in create
    assert len(gated.mappings()) == 1
    run_json("deploy", *FN, *options)
    mappings = {m["EventSourceArn"]: m for m in gated.mappings()}
    mapping = mappings[stream]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 3
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["ParallelizationFactor"] == 4
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == dlq
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    again = run_json("deploy", *FN, *options)
    assert again["steps"] == [] and not again["changed"]
    changed = run_json("deploy", *FN, *options[:-2], "--maximum-retries", "5")
    assert any("MaximumRetryAttempts 3 -> 5" in s for s in changed["steps"])
    status = run("status", *FN).stdout
    assert f"trigger {stream} (batch 100" in status and "5 retries" in status


def test_deploy_refuses_missing_sink_and_missing_table_stream(gated: Account) -> None:
    before = config(gated)
    error = one_line_error(run("deploy", *FN, "--sink", "dynamodb:nope"))
    assert "sink table nope not found" in error
    error = one_line_error(run("deploy", *FN, "--sink", "kinesis:nope"))
    assert "sink stream nope not found" in error
    error = one_line_error(run("deploy", *FN, "--sink", "s3:bucket"))
    assert "--sink 's3:bucket' is not a sink" in error
    missing = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2024-01-01T00:00:00.000"
    error = one_line_error(run("deploy", *FN, "--table-stream-arn", missing))
    assert "table stream" in error and "not found" in error
    assert config(gated) == before


def test_deploy_with_a_dynamodb_sink_sets_the_handler_environment(gated: Account) -> None:
    gated.client("dynamodb").create_table(
        TableName="wrong-key",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    error = one_line_error(run("deploy", *FN, "--sink", "dynamodb:wrong-key"))
    assert "keyed by pk" in error
    gated.client("dynamodb").create_table(
        TableName="predictions",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    run_json("deploy", *FN, "--sink", "dynamodb:predictions")
    assert config(gated)["Environment"]["Variables"]["MLAYER_SINK"] == "dynamodb:predictions"
    assert "sink dynamodb:predictions" in run("status", *FN).stdout


def test_iam_policy_is_scoped_to_the_trigger_and_sink(gated: Account) -> None:
    result = run("iam-policy", *FN, "--sink", "kinesis:out")
    assert result.exit_code == 0, result.stderr
    policy = json.loads(result.stdout)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadKinesisTrigger"]["Resource"] == [gated.stream_arn]
    assert "kinesis:GetRecords" in by_sid["ReadKinesisTrigger"]["Action"]
    assert by_sid["WriteSinkStream"]["Resource"] == [
        "arn:aws:kinesis:eu-west-1:123456789012:stream/out"
    ]
    assert by_sid["WriteLogs"]["Resource"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fn:*"
    ]
    assert all(r != "*" for s in policy["Statement"] for r in s["Resource"])


def test_deploy_create_role_creates_the_least_privilege_role(
    aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]
) -> None:
    publish_deps(aws, small_deps_zip)
    run_json("publish-model", *map(str, model_v1), *FN)
    dry = run_json("deploy", *FN, "--create-role", "--stream-arn", aws.stream_arn, "--dry-run")
    assert dry["steps"][0].startswith("create role fn-mlayer")
    run_json("deploy", *FN, "--create-role", "--stream-arn", aws.stream_arn)
    iam = aws.client("iam")
    role = iam.get_role(RoleName="fn-mlayer")["Role"]
    assert config(aws)["Role"] == role["Arn"]
    document = iam.get_role_policy(RoleName="fn-mlayer", PolicyName="mlayer-least-privilege")
    expected = json.loads(run("iam-policy", *FN).stdout)
    assert document["PolicyDocument"] == expected
    again = run_json("deploy", *FN, "--create-role")
    assert again["steps"] == []
