"""Every check runs before the first AWS call or change, and nothing of the user's
is deleted: mlayer.toml values get the flags' own types and ranges, names,
regions, buckets and ARNs are checked locally, a stream in another region or
account is named as such, and --out never removes what mlayer did not create.
Against the moto server, as a user's AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ACCOUNT, REGION, Account, assert_one_line_error, one_line_error, run

from mlayer import cli as cli_module


@pytest.fixture
def ready(aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]) -> Account:
    """A deps layer and a model layer published, no function yet."""
    aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()}
    )
    assert run("publish-model", *map(str, model_v1), "--function-name", "fn").exit_code == 0
    return aws


def no_function(aws: Account) -> bool:
    return aws.client("lambda").list_functions()["Functions"] == []


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command gets as far as connecting to AWS."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command reached AWS before refusing")

    monkeypatch.setattr(cli_module, "Aws", refuse)


# --- mlayer.toml gets the flags' types and ranges ------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("batch-size = 0", "batch-size 0 is not in the range 1<=x<=10000"),
        ("memory = 1", "memory 1 is not in the range 128<=x<=10240"),
        ("timeout = 0", "timeout 0 is not in the range 1<=x<=900"),
        (
            'starting-position = "AT_TIMESTAMP"',
            "starting-position 'AT_TIMESTAMP' is not one of 'LATEST', 'TRIM_HORIZON'",
        ),
        ("maximum-record-age = 30", "maximum-record-age 30 is not -1"),
        ("maximum-retries = -2", "maximum-retries -2 is not in the range"),
        ("parallelization-factor = 11", "parallelization-factor 11 is not in the range"),
        ('function-name = "my fn"', "function-name 'my fn' is not a Lambda function name"),
        ('region = "eu west 1"', "region 'eu west 1' is not an AWS region"),
        ('bucket = "My_Bucket"', "bucket 'My_Bucket' is not an S3 bucket name"),
        ('stream-arn = "reviews"', "stream-arn 'reviews' is not a Kinesis stream ARN"),
        ('arch = "sparc"', "arch 'sparc' is not one of 'x86_64', 'arm64'"),
        ('deps-layer-name = "my deps"', "deps-layer-name 'my deps' is not a Lambda layer name"),
    ],
)
def test_a_bad_mlayer_toml_value_is_refused_before_any_aws_call(
    ready: Account, no_aws: None, line: str, message: str
) -> None:
    Path("mlayer.toml").write_text(f"{line}\n")
    result = run("deploy", "--function-name", "fn", "--role", ready.role_arn)
    error = one_line_error(result)
    assert f"mlayer.toml: {message}" in error, error
    assert "reached AWS" not in result.stderr
    assert no_function(ready)


def test_batch_size_zero_in_the_file_no_longer_creates_the_function(ready: Account) -> None:
    """The reported failure: the function was created, then the trigger refused."""
    Path("mlayer.toml").write_text(f'batch-size = 0\nstream-arn = "{ready.stream_arn}"\n')
    result = run("deploy", "--function-name", "fn", "--role", ready.role_arn)
    assert_one_line_error(result, "mlayer.toml: batch-size 0 is not in the range 1<=x<=10000")
    assert no_function(ready)


def test_a_file_value_is_checked_even_when_this_command_has_no_such_flag(
    project: Path, no_aws: None
) -> None:
    Path("mlayer.toml").write_text("batch-size = 0\n")
    result = run("status", "--function-name", "fn")
    assert_one_line_error(result, "mlayer.toml: batch-size 0 is not in the range")


def test_invoke_checks_the_files_batch_size_as_the_triggers_and_keeps_it_apart(
    project: Path, no_aws: None
) -> None:
    """The file's batch-size is the trigger's: invoke refuses a bad one like every
    command, and a good one is only the default of --texts, not a --batch-size
    given with --event."""
    Path("mlayer.toml").write_text("batch-size = 0\n")
    result = run("invoke", "--local", "--event", "missing.json")
    assert_one_line_error(result, "mlayer.toml: batch-size 0 is not in the range 1<=x<=10000")
    Path("mlayer.toml").write_text("batch-size = 100\n")
    result = run("invoke", "--local", "--event", "missing.json")
    assert_one_line_error(result, "event file missing.json does not exist")


def test_good_file_values_still_fill_in(ready: Account) -> None:
    Path("mlayer.toml").write_text(
        f'function-name = "fn"\nrole = "{ready.role_arn}"\nstream-arn = "{ready.stream_arn}"\n'
        'memory = 256\nstarting-position = "TRIM_HORIZON"\nmaximum-record-age = 3600\n'
    )
    result = run("deploy", "--json")
    assert result.exit_code == 0, result.stderr
    config = ready.client("lambda").get_function_configuration(FunctionName="fn")
    assert config["MemorySize"] == 256
    assert ready.mappings()[0]["MaximumRecordAgeInSeconds"] == 3600


# --- names, regions, buckets, ARNs from flags --------------------------------------


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--function-name", "my fn"], "'my fn' is not a Lambda function name"),
        (["--function-name", "f" * 65], "1-64 letters"),
        (["--function-name", "fn", "--region", "eu west 1"], "is not an AWS region"),
        (["--function-name", "fn", "--endpoint-url", "localhost:5000"], "not an endpoint URL"),
        (
            ["--function-name", "fn", "--stream-arn", f"arn:aws:kinesis:{REGION}:1:stream/s"],
            "not a Kinesis stream ARN",
        ),
        (
            ["--function-name", "fn", "--on-failure", f"arn:aws:lambda:{REGION}:{ACCOUNT}:f"],
            "not an SQS queue, SNS topic or S3 bucket ARN",
        ),
        (["--function-name", "fn", "--role", "inference"], "is not an IAM role ARN"),
        (["--function-name", "fn", "--maximum-record-age", "30"], "30 is not -1"),
    ],
)
def test_bad_names_and_arns_are_refused_before_any_aws_call(
    project: Path, no_aws: None, flags: list[str], fragment: str
) -> None:
    result = run("deploy", *flags)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr and "reached AWS" not in result.stderr


def test_publish_refuses_a_bad_bucket_name_before_any_aws_call(
    project: Path, no_aws: None, model_v1: list[Path]
) -> None:
    result = run("publish-model", *map(str, model_v1), "--function-name", "fn", "--bucket", "B")
    assert result.exit_code == 2 and "'B' is not an S3 bucket name" in result.stderr


def test_a_region_from_the_environment_is_checked_too(
    aws: Account, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu west 1")
    result = run("status", "--function-name", "fn")
    assert_one_line_error(
        result, "AWS region 'eu west 1' (from AWS_REGION, AWS_DEFAULT_REGION or your AWS config)"
    )


def test_a_stream_in_another_region_says_so(ready: Account) -> None:
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/reviews"
    result = run("deploy", "--function-name", "fn", "--role", ready.role_arn, "--stream-arn", arn)
    assert_one_line_error(
        result,
        f"--stream-arn {arn} is in region us-east-1 but the function is in {REGION}: "
        "Lambda's stream triggers must be in the function's region; pass --region us-east-1 "
        f"or a stream in {REGION}",
    )
    assert no_function(ready)


def test_a_stream_in_another_account_says_so(ready: Account) -> None:
    arn = f"arn:aws:kinesis:{REGION}:111122223333:stream/reviews"
    result = run("deploy", "--function-name", "fn", "--role", ready.role_arn, "--stream-arn", arn)
    assert_one_line_error(
        result, f"--stream-arn {arn} is in account 111122223333", f"account {ACCOUNT}"
    )
    assert no_function(ready)


def test_iam_policy_refuses_the_wildcards_deploy_refuses(aws: Account, project: Path) -> None:
    wildcard = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/*"
    for command in ("iam-policy", "deploy"):
        result = run(command, "--function-name", "fn", "--stream-arn", wildcard)
        assert result.exit_code == 2 and "has a wildcard" in result.stderr, result.stderr
    result = run("iam-policy", "--function-name", "fn", "--sink", "kinesis:*")
    assert_one_line_error(result, "--sink 'kinesis:*'", "is not a table or stream name")
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:*"
    result = run("iam-policy", "--function-name", "fn", "--on-failure", dlq)
    assert result.exit_code == 2 and "has a wildcard" in result.stderr
    # an exact policy is still printed
    result = run("iam-policy", "--function-name", "fn", "--stream-arn", aws.stream_arn)
    assert result.exit_code == 0, result.stderr
    resources = [r for s in json.loads(result.stdout)["Statement"] for r in s["Resource"]]
    assert aws.stream_arn in resources and not any("*" in r for r in resources[2:])


def test_create_role_refuses_a_function_name_too_long_for_its_role(ready: Account) -> None:
    name = "f" * 60  # a Lambda name, but f...-mlayer is over IAM's 64 characters
    result = run("deploy", "--function-name", name, "--create-role", "--stream-arn",
                 ready.stream_arn, "--dry-run")  # fmt: skip
    assert_one_line_error(result, "--create-role would name the role", "at most 57 characters")


# --- nothing of the user's is deleted ------------------------------------------------


def test_publish_model_out_dot_leaves_the_users_model_directory(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:
    own = project / "model"
    own.mkdir()
    (own / "PreProc1.joblib").write_bytes(b"the user's trained file")
    (project / "notes.txt").write_text("mine")
    before = sorted(p.name for p in project.iterdir())
    result = run("publish-model", *map(str, model_v1), "--function-name", "fn", "--out", ".")
    assert result.exit_code == 0, result.stderr
    assert (own / "PreProc1.joblib").read_bytes() == b"the user's trained file"
    assert sorted(p.name for p in project.iterdir()) == sorted([*before, "model-layer.zip"])


def test_package_model_replaces_only_its_own_zip(project: Path, model_v1: list[Path]) -> None:
    from mlayer.ops.model import MODEL_ZIP_NAME, package_model

    (project / "model").mkdir()
    (project / "model" / "keep.txt").write_text("mine")
    _, first = package_model(model_v1, "v1", project)
    _, second = package_model(model_v1[-1:], "v2", project)
    assert first.path == second.path == project / MODEL_ZIP_NAME
    assert (project / "model" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in project.iterdir()) == ["model", MODEL_ZIP_NAME]
