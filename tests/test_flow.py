"""End to end, as a user runs it: the installed ``mlayer`` as a subprocess, a real
deps layer built by pip from the package index, published through S3 to the
moto server, and the handler run on the real layer files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import EXAMPLES, Account

MLAYER = str(Path(sys.executable).with_name("mlayer"))


def mlayer(project: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MLAYER, *args], cwd=project, capture_output=True, text=True, env=os.environ, check=False
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def mlayer_json(project: Path, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(mlayer(project, *args, "--json").stdout)  # type: ignore[no-any-return]


def test_installed_cli_refuses_bad_input_in_one_line(aws: Account, project: Path) -> None:
    result = mlayer(project, "rollback", "--version", "3", "--function-name", "nope", ok=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: function nope does not exist: run mlayer deploy first"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_seed_flow_end_to_end(
    aws: Account, project: Path, model_v1: list[Path], model_v2: list[Path]
) -> None:
    shutil.copy(EXAMPLES / "requirements.txt", project / "requirements.txt")
    shutil.copy(EXAMPLES / "event.json", project / "event.json")
    (project / "mlayer.toml").write_text(
        f'function-name = "fn"\nregion = "eu-west-1"\nbucket = "{aws.bucket}"\nbuilder = "pip"\n'
        f'role = "{aws.role_arn}"\nstream-arn = "{aws.stream_arn}"\n'
    )

    built = mlayer_json(project, "build-deps", "-r", "requirements.txt", "--publish")
    assert built["published"]["version"] == 1
    assert built["zipped_bytes"] > 50 * 1024 * 1024  # so it went through S3, by its content hash
    key = f"mlayer/fn-deps/{built['sha256']}.zip"
    assert (
        aws.client("s3").head_object(Bucket=aws.bucket, Key=key)["ContentLength"]
        == built["zipped_bytes"]
    )
    described = aws.client("lambda").get_layer_version(LayerName="fn-deps", VersionNumber=1)
    assert f"unzipped={built['unzipped_bytes']} " in described["Description"]  # deploy's check

    # scikit-learn imports from the layer alone, in an isolated interpreter.
    layer = project / "layer"
    with zipfile.ZipFile(built["zip"]) as archive:
        archive.extractall(layer)
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c",
         f"import sys; sys.path.insert(0, {str(layer / 'python')!r}); "
         "import sklearn, numpy, scipy; print(sklearn.__version__, sklearn.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    version, location = probe.stdout.split()
    assert version == "1.7.2" and location.startswith(str(layer))

    assert (
        mlayer_json(project, "publish-model", *map(str, model_v1), "--label", "v1")["version"] == 1
    )
    deployed = mlayer_json(project, "deploy")
    deps_arn = deployed["layers"][0]
    assert deps_arn.endswith(":layer:fn-deps:1") and deployed["layers"][1].endswith(":fn-model:1")

    invoked = mlayer_json(project, "invoke", "--local", "--event", "event.json")
    predictions = [p["prediction"] for p in invoked["result"]["predictions"]]
    assert predictions == ["positive", "negative", "positive", "negative"]
    assert [f["itemIdentifier"] for f in invoked["result"]["batchItemFailures"]] == [
        json.loads((project / "event.json").read_text())["Records"][-1]["kinesis"]["sequenceNumber"]
    ]

    assert (
        mlayer_json(project, "publish-model", *map(str, model_v2), "--label", "v2")["version"] == 2
    )
    relinked = mlayer_json(project, "deploy")
    assert relinked["layers"] == [deps_arn, deps_arn.replace("fn-deps:1", "fn-model:2")]
    rolled = mlayer_json(project, "rollback", "--version", "1")
    assert rolled["layers"] == [deps_arn, deps_arn.replace("fn-deps:1", "fn-model:1")]
    live = [v["version"] for v in mlayer_json(project, "versions")["versions"] if v["live"]]
    assert live == [1]
