"""Lambda's Amazon Linux 2023 runtimes (python3.12, python3.13) end to end, with
this machine's interpreters and today's wheels.

A python3.13 virtualenv is made once per session (scikit-learn 1.9.1 and this
checkout), a model is trained in it, and the installed ``mlayer`` of that venv
runs against the moto server: build-deps --publish, publish-model, deploy,
invoke --local and cost --measure. python3.11 with the 1.7.2 stack is covered by
test_build_pip.py and test_flow.py. A test whose interpreter is missing skips,
saying which one and where it was looked for (PATH, then pyenv's versions).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, Account, run

from mlayer.descriptions import deps_description
from mlayer.errors import MlayerError
from mlayer.layerbuild.archive import directory_entries, write_zip
from mlayer.local import find_interpreter
from mlayer.targets import resolve_target

pytestmark = pytest.mark.slow

# Today's stack for Amazon Linux 2023 (glibc 2.34), owned by the example's file.
REQUIREMENTS_313 = (EXAMPLES / "requirements-al2023.txt").read_text()
STACK_313 = dict(line.split("==", 1) for line in REQUIREMENTS_313.splitlines() if "==" in line)

# Run in the training venv: the predictions of the saved pipeline on the event's
# well-formed records, as the training process computes them.
PREDICT = """
import base64, json, sys
import joblib
event, files = sys.argv[1], sys.argv[2:]
steps = [joblib.load(f) for f in files]
out = []
for record in json.load(open(event))["Records"]:
    try:
        text = json.loads(base64.b64decode(record["kinesis"]["data"]))["textblob"]
    except ValueError:
        continue
    x = [text]
    for step in steps[:-1]:
        x = step.transform(x)
    out.append(str(steps[-1].predict(x)[0]))
print(json.dumps(out))
"""


def interpreter_or_skip(runtime: str) -> Path:
    """The runtime's interpreter, found as mlayer finds it; skip (saying where it
    looked) when this machine has none."""
    try:
        return find_interpreter(resolve_target(runtime, "x86_64"))
    except MlayerError as exc:
        pytest.skip(str(exc))


@dataclass(frozen=True)
class Venv:
    root: Path

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def mlayer(self, cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """The venv's installed ``mlayer`` as a subprocess, with this test's environment."""
        done = subprocess.run(
            [self.bin("mlayer"), *args], cwd=cwd, capture_output=True, text=True,
            env=os.environ, check=False,
        )  # fmt: skip
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def mlayer_json(self, cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.mlayer(cwd, *args, "--json").stdout)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Trained:
    files: list[Path]
    expected: list[str]  # the training process's predictions on examples/event.json


@pytest.fixture(scope="session")
def venv313(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A python3.13 virtualenv with today's scikit-learn stack and this checkout."""
    python = interpreter_or_skip("python3.13")
    venv = Venv(tmp_path_factory.mktemp("venv313") / "venv")
    subprocess.run([str(python), "-m", "venv", str(venv.root)], check=True)
    pins = [f"{name}=={version}" for name, version in STACK_313.items()]
    done = subprocess.run(
        [venv.bin("pip"), "install", "--quiet", "--disable-pip-version-check", *pins,
         "-e", str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return venv


@pytest.fixture(scope="session")
def trained313(venv313: Venv, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The example model trained and saved in the python3.13 venv."""
    out = tmp_path_factory.mktemp("model313")
    subprocess.run(
        [venv313.bin("python"), str(EXAMPLES / "train.py"), "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    files = sorted(out.glob("*.joblib"))
    assert len(files) == 3
    predicted = subprocess.run(
        [venv313.bin("python"), "-c", PREDICT, str(EXAMPLES / "event.json"), *map(str, files)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Trained(files, json.loads(predicted.stdout))


def write_project(project: Path, aws: Account) -> None:
    """requirements.txt for python3.13 and an mlayer.toml that names no runtime:
    mlayer takes the runtime of the Python that runs it."""
    (project / "requirements.txt").write_text(REQUIREMENTS_313)
    (project / "mlayer.toml").write_text(
        f'function-name = "fn"\nregion = "eu-west-1"\nbucket = "{aws.bucket}"\n'
        f'builder = "pip"\nrole = "{aws.role_arn}"\nstream-arn = "{aws.stream_arn}"\n'
    )


def test_a_model_trained_on_python313_is_served_by_a_python313_function(
    aws: Account, project: Path, venv313: Venv, trained313: Trained
) -> None:
    write_project(project, aws)

    built = venv313.mlayer_json(project, "build-deps", "-r", "requirements.txt", "--publish")
    assert {n: built["versions"][n] for n in STACK_313} == STACK_313
    manifest = json.loads((project / "build" / "deps-build.json").read_text())
    assert manifest["runtime"] == "python3.13"
    described = aws.client("lambda").get_layer_version(LayerName="fn-deps", VersionNumber=1)
    assert "runtime=python3.13" in described["Description"]
    with zipfile.ZipFile(built["zip"]) as archive:
        names = archive.namelist()
    # bytecode compiled by the 3.13 interpreter, extension modules for cp313
    assert any(n.endswith(".cpython-313.pyc") for n in names)
    assert not any(".cpython-311" in n for n in names)
    assert any(n.endswith(".cpython-313-x86_64-linux-gnu.so") for n in names)

    # the gate: model saved under 3.13 with 1.9.1 vs the deps layer for 3.13 passes
    files = list(map(str, trained313.files))
    published = venv313.mlayer_json(project, "publish-model", *files, "--label", "v1")
    assert published["version"] == 1

    deployed = venv313.mlayer_json(project, "deploy")
    assert deployed["layers"][0].endswith(":layer:fn-deps:1")
    function = aws.client("lambda").get_function(FunctionName="fn")["Configuration"]
    assert function["Runtime"] == "python3.13"

    # the child interpreter can only load this layer's cp313 extension modules if it
    # is python3.13: the predictions are those of the training process
    invoked = venv313.mlayer_json(
        project, "invoke", "--local", "--event", str(EXAMPLES / "event.json")
    )
    predictions = [p["prediction"] for p in invoked["result"]["predictions"]]
    assert predictions == trained313.expected
    assert len(predictions) == 4

    cost = venv313.mlayer_json(
        project, "cost", "--measure", str(EXAMPLES / "texts.txt"), "--records", "1000",
        "--batch-size", "10", "--batch-size", "100",
    )  # fmt: skip
    assert [row["batch_size"] for row in cost["rows"]] == [10, 100]
    assert all(row["duration_ms"] > 0 and row["billed_ms"] >= 1 for row in cost["rows"])


@pytest.mark.parametrize(("deps_runtime", "refused"), [("python3.13", False), ("python3.11", True)])
def test_the_gate_compares_the_python_the_model_was_saved_with(
    aws: Account,
    project: Path,
    venv313: Venv,
    trained313: Trained,
    deps_runtime: str,
    refused: bool,
) -> None:
    """A deps layer with the model's library versions, described as mlayer describes
    one built for ``deps_runtime``: only the Python differs."""
    write_project(project, aws)
    zip_path = project / "deps.zip"
    (project / "stand-in" / "python").mkdir(parents=True)
    (project / "stand-in" / "python" / "placeholder.py").write_text("")
    summary = write_zip(directory_entries(project / "stand-in"), zip_path)
    description = deps_description(resolve_target(deps_runtime, "x86_64"), STACK_313, summary)
    aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Description=description, Content={"ZipFile": zip_path.read_bytes()}
    )

    files = list(map(str, trained313.files))
    done = venv313.mlayer(project, "publish-model", *files, ok=not refused)
    published = aws.client("lambda").list_layer_versions(LayerName="fn-model")["LayerVersions"]
    if not refused:
        assert len(published) == 1
        return
    assert done.returncode != 0 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    assert "Python 3.13" in errors[0] and "Python 3.11" in errors[0], errors[0]
    assert "--runtime python3.13" in errors[0], errors[0]
    assert published == []


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_pruned_layer_of_todays_stack_predicts_in_the_runtimes_interpreter(
    project: Path, trained313: Trained, runtime: str
) -> None:
    """Built from this (3.11) process for another runtime: pip takes that runtime's
    wheels, the build verifies and traces the model in that runtime's interpreter."""
    interpreter = interpreter_or_skip(runtime)
    (project / "requirements.txt").write_text(REQUIREMENTS_313)
    samples = [arg for path in trained313.files for arg in ("--sample-model", str(path))]
    result = run(
        "build-deps", "-r", "requirements.txt", "--runtime", runtime, "--builder", "pip",
        "--prune", *samples, "--sample-event", str(EXAMPLES / "event.json"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    version = runtime.removeprefix("python")
    assert f"in a fresh {interpreter}" in result.stderr, result.stderr  # the verification
    assert f"tracing the sample model in {interpreter}" in result.stderr, result.stderr
    assert "the pruned layer predicts the same 4 results" in result.stderr
    built = json.loads(result.stdout)
    assert built["versions"]["scikit-learn"] == STACK_313["scikit-learn"]
    assert built["pruned_modules"] > 0
    tag = "cpython-" + version.replace(".", "")
    with zipfile.ZipFile(built["zip"]) as archive:
        names = archive.namelist()
    # sourceless bytecode, and the extension modules of the runtime's CPython only
    assert not [n for n in names if n.endswith(".py")]
    assert any(n.endswith(f".{tag}-x86_64-linux-gnu.so") for n in names)
    assert not [n for n in names if ".cpython-3" in n and f".{tag}" not in n]
