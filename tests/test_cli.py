"""Each command's success path and refusals, through the CLI, against moto over HTTP."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import Account, assert_one_line_error, run, run_json


def function_config(aws: Account, name: str = "fn") -> dict:  # type: ignore[type-arg]
    return aws.client("lambda").get_function_configuration(FunctionName=name)  # type: ignore[no-any-return]


def layer_arns(aws: Account, name: str = "fn") -> list[str]:
    """The layers of what serves the trigger: the version alias live points at."""
    return [layer["Arn"] for layer in aws.served(name)["Layers"]]


def test_help_lists_every_command() -> None:
    result = run("--help")
    for command in (
        "build-deps",
        "publish-model",
        "deploy",
        "rollback",
        "invoke",
        "status",
        "versions",
    ):
        assert command in result.stdout


def test_publish_model_publishes_a_new_version_each_time_the_model_changes(
    aws: Account, project: Path, model_v1: list[Path], model_v2: list[Path]
) -> None:
    first = run_json("publish-model", *map(str, model_v1), "--function-name", "fn", "--label", "v1")
    assert first["version"] == 1 and first["arn"].endswith(":layer:fn-model:1")
    assert (project / first["zip"]).samefile(project / "build" / "model-layer.zip")
    second = run_json("publish-model", *map(str, model_v2), "--function-name", "fn")
    assert second["version"] == 2
    versions = aws.client("lambda").list_layer_versions(LayerName="fn-model")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]


def test_publish_model_skips_an_identical_model_unless_forced(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:
    files = [*map(str, model_v1), "--function-name", "fn"]
    run_json("publish-model", *files)
    again = run_json("publish-model", *files)
    assert (again["version"], again["new"]) == (1, False)
    forced = run_json("publish-model", *files, "--force")
    assert (forced["version"], forced["new"]) == (2, True)


def test_publish_model_dry_run_checks_and_publishes_nothing(
    aws: Account, project: Path, model_v1: list[Path], model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v1), "--function-name", "fn")
    files = [*map(str, model_v2), "--function-name", "fn"]
    result = run("publish-model", *files, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert "would publish" in result.stderr
    assert "directly as a new version of fn-model" in result.stderr
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["version"] is None and data["content_sha256"]
    versions = aws.client("lambda").list_layer_versions(LayerName="fn-model")["LayerVersions"]
    assert [v["Version"] for v in versions] == [1]
    # the checks still run: a file that is not joblib is refused as without --dry-run
    (project / "bad.joblib").write_text("not a pickle")
    assert_one_line_error(
        run("publish-model", "bad.joblib", "--function-name", "fn", "--dry-run"), "bad.joblib"
    )


def test_publish_model_zip_holds_files_in_order_with_manifest(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:

    result = run_json("publish-model", *map(str, model_v1), "--function-name", "fn")
    with zipfile.ZipFile(result["zip"]) as archive:
        names = sorted(archive.namelist())
        (manifest_name,) = [name for name in names if name.endswith("/manifest.json")]
        manifest = json.loads(archive.read(manifest_name))
    model_dir = f"mlayer-model/{manifest['content_sha256'][:16]}"  # the model's own directory
    assert names == sorted(
        [f"{model_dir}/manifest.json"] + [f"{model_dir}/{p.name}" for p in model_v1]
    )
    assert [f["name"] for f in sorted(manifest["files"], key=lambda f: f["order"])] == [
        p.name for p in model_v1
    ]
    assert manifest["files"][-1]["role"] == "predict"


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda d: d / "missing.joblib", "does not exist"),
        (
            lambda d: (d / "notes.joblib").write_text("hello") and d / "notes.joblib",
            "not a joblib file",
        ),
    ],
)
def test_publish_model_refuses_bad_files(aws: Account, project: Path, make_file, message) -> None:  # type: ignore[no-untyped-def]
    path = make_file(project)
    result = run("publish-model", str(path), "--function-name", "fn")
    assert_one_line_error(result, str(path), message)
    assert aws.client("lambda").list_layer_versions(LayerName="fn-model")["LayerVersions"] == []


def test_deploy_creates_function_layers_and_trigger(deployed: Account) -> None:
    config = function_config(deployed)
    assert config["Handler"] == "mlayer_handler.lambda_handler"
    assert (config["MemorySize"], config["Timeout"], config["Runtime"]) == (192, 60, "python3.11")
    assert [arn.split(":")[-2:] for arn in layer_arns(deployed)] == [
        ["fn-deps", "1"],
        ["fn-model", "1"],
    ]
    (mapping,) = deployed.mappings()
    assert mapping["EventSourceArn"] == deployed.stream_arn
    assert mapping["BatchSize"] == 100
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_deploy_again_changes_nothing_and_says_so(deployed: Account) -> None:
    before = function_config(deployed)["LastModified"]
    result = run_json("deploy", "--function-name", "fn")
    assert result["changed"] is False and result["steps"] == []
    assert function_config(deployed)["LastModified"] == before
    assert "nothing to change" in run("deploy", "--function-name", "fn").stdout


def test_new_model_relinks_only_the_model_layer(deployed: Account, model_v2: list[Path]) -> None:
    deps_before = layer_arns(deployed)[0]
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")
    result = run_json("deploy", "--function-name", "fn")
    assert result["changed"] is True
    # $LATEST relinked, published, the alias moved: three steps, one of them on the function
    update, publish, point = result["steps"]
    assert "fn-model:1] -> [" in update.replace("fn-deps:1, ", "") and "MemorySize" not in update
    assert "model fn-model:2" in publish and "fn:live at the new version" in point
    assert layer_arns(deployed) == [deps_before, deps_before.replace("fn-deps:1", "fn-model:2")]


def test_deploy_dry_run_changes_nothing(
    aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]
) -> None:
    aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()}
    )
    run_json("publish-model", *map(str, model_v1), "--function-name", "fn")
    result = run_json(
        "deploy",
        "--function-name",
        "fn",
        "--role",
        aws.role_arn,
        "--stream-arn",
        aws.stream_arn,
        "--dry-run",
    )
    assert result["changed"] is False
    assert result["steps"][0].startswith("create function fn")
    assert any(step.startswith("create trigger") for step in result["steps"])
    assert aws.client("lambda").list_functions()["Functions"] == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--stream-arn", "STREAM"], "pass --role"),
        (["--role", "ROLE"], "pass --stream-arn"),
        (
            [
                "--role",
                "ROLE",
                "--stream-arn",
                "arn:aws:kinesis:eu-west-1:123456789012:stream/nope",
            ],
            "not found",
        ),
    ],
)
def test_deploy_refuses_missing_role_or_stream(
    aws: Account,
    project: Path,
    small_deps_zip: Path,
    model_v1: list[Path],
    flags: list[str],
    message: str,
) -> None:
    aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()}
    )
    run_json("publish-model", *map(str, model_v1), "--function-name", "fn")
    flags = [aws.role_arn if f == "ROLE" else aws.stream_arn if f == "STREAM" else f for f in flags]
    assert_one_line_error(run("deploy", "--function-name", "fn", *flags), message)
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_deploy_without_deps_layer_says_what_to_run(aws: Account, project: Path) -> None:
    result = run(
        "deploy", "--function-name", "fn", "--role", aws.role_arn, "--stream-arn", aws.stream_arn
    )
    assert_one_line_error(result, "fn-deps", "mlayer build-deps --publish")


def test_rollback_relinks_the_model_and_keeps_deps(deployed: Account, model_v2: list[Path]) -> None:
    run_json("publish-model", *map(str, model_v2), "--function-name", "fn")
    run_json("deploy", "--function-name", "fn")
    result = run_json("rollback", "--version", "1", "--function-name", "fn")
    assert result["changed"] is True
    assert [a.split(":")[-2:] for a in layer_arns(deployed)] == [
        ["fn-deps", "1"],
        ["fn-model", "1"],
    ]
    assert result["layers"] == layer_arns(deployed)


def test_rollback_dry_run_and_missing_version_change_nothing(deployed: Account) -> None:
    before = layer_arns(deployed)
    assert_one_line_error(
        run("rollback", "--version", "7", "--function-name", "fn"),
        "fn-model has no version 7",
        "existing: 1",
    )
    assert layer_arns(deployed) == before
    already = run_json("rollback", "--version", "1", "--function-name", "fn", "--dry-run")
    assert already["changed"] is False and already["steps"] == []


def test_status_and_versions_report_the_live_model(deployed: Account, project: Path) -> None:
    status = run_json("status", "--function-name", "fn")
    assert [(layer["name"], layer["version"]) for layer in status["function"]["layers"]] == [
        ("fn-deps", 1), ("fn-model", 1),
    ]  # fmt: skip
    assert status["triggers"][0]["source_arn"] == deployed.stream_arn
    # the model layer mlayer published records its unzipped size; this deps layer does not
    with zipfile.ZipFile(project / "build" / "model-layer.zip") as archive:
        model_bytes = sum(info.file_size for info in archive.infolist())
    assert status["layer_unzipped_bytes"] == {"fn-model:1": model_bytes}
    text = run("status", "--function-name", "fn").stdout
    assert "of Lambda's 262.1 MB (not every layer records its size)" in text
    versions = run_json("versions", "--function-name", "fn")["versions"]
    assert [(v["version"], v["live"]) for v in versions] == [(1, True)]
    assert len(versions[0]["sha256"]) == 16


def test_global_options_work_before_and_after_the_command(deployed: Account) -> None:
    before = json.loads(run("--json", "--function-name", "fn", "status").stdout)
    after = json.loads(run("status", "--function-name", "fn", "--json").stdout)
    assert before == after


def test_settings_come_from_mlayer_toml(deployed: Account, project: Path) -> None:
    (project / "mlayer.toml").write_text('function-name = "fn"\n')
    assert run_json("status")["function"]["name"] == "fn"


def test_build_deps_refusals(project: Path) -> None:
    (project / "requirements.txt").write_text("numpy==2.2.6\n")
    assert_one_line_error(run("build-deps", "-r", "nope.txt"), "nope.txt", "does not exist")
    assert_one_line_error(
        run("build-deps", "-r", "requirements.txt", "--runtime", "python2.7"),
        "python2.7",
        "supported:",
    )
    result = run("build-deps", "-r", "requirements.txt", "--arch", "sparc")
    assert result.exit_code == 2 and "sparc" in result.stderr


def test_no_credentials_is_one_clear_error(
    project: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run(
        "status", "--function-name", "fn", "--region", "eu-west-1", "--endpoint-url", moto_endpoint
    )
    assert_one_line_error(result, "no AWS credentials")


def test_unexpected_errors_hide_the_traceback_unless_debug(
    deployed: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlayer.ops import inspect

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(inspect, "status", explode)
    assert_one_line_error(run("status", "--function-name", "fn"), "RuntimeError: boom", "--debug")
    with pytest.raises(RuntimeError):
        run("status", "--function-name", "fn", "--debug")
