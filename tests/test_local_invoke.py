"""mlayer invoke --local: the handler in a fresh interpreter on real layer files,
as Lambda runs it; published versions by their sha256; and the refusals."""

from __future__ import annotations

import base64
import json
import math
import re
import stat
import zipfile
from pathlib import Path

import joblib
import pytest
from conftest import EXAMPLES, Account, assert_one_line_error, run

from mlayer.errors import MlayerError
from mlayer.layerbuild.archive import safe_extract, sha256_file
from mlayer.ops.model import package_model
from mlayer.store import ArtifactStore, store_key

EVENT = EXAMPLES / "event.json"


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def expected_predictions(model_files: list[Path], event: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """What the model predicts for each decodable record, computed here in-process."""
    steps = [joblib.load(path) for path in model_files]
    ids, texts = [], []
    for record in event["Records"]:
        try:
            payload = json.loads(base64.b64decode(record["kinesis"]["data"], validate=True))
        except ValueError:
            continue
        ids.append(record["kinesis"]["sequenceNumber"])
        texts.append(payload["textblob"])
    features = texts
    for step in steps[:-1]:
        features = step.transform(features)
    return dict(zip(ids, steps[-1].predict(features).tolist(), strict=True))


# --- on a real layer built by the pip builder (slow) --------------------------------


@pytest.fixture(scope="module")
def real_layers(
    tmp_path_factory: pytest.TempPathFactory, model_v1: list[Path]
) -> tuple[Path, Path]:
    """The example's deps layer built by pip from the package index, and model v1 zipped."""
    out = tmp_path_factory.mktemp("layers")
    requirements = str(EXAMPLES / "requirements.txt")
    result = run("build-deps", "-r", requirements, "--builder", "pip", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    _, model_zip = package_model(model_v1, "v1", out)
    return out / "deps-layer.zip", model_zip.path


@pytest.mark.slow
def test_invoke_on_real_layers_predicts_as_the_model_does(
    project: Path, real_layers: tuple[Path, Path], model_v1: list[Path]
) -> None:
    deps_zip, model_zip = real_layers
    args = ("invoke", "--local", "--event", str(EVENT))
    args += ("--deps-zip", str(deps_zip), "--model-zip", str(model_zip))
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    event = json.loads(EVENT.read_text())
    got = {item["id"]: item["prediction"] for item in data["result"]["predictions"]}
    assert got == expected_predictions(model_v1, event)
    # the example's last record is not JSON: reported for retry, not predicted
    assert [f["itemIdentifier"] for f in data["result"]["batchItemFailures"]] == [
        event["Records"][-1]["kinesis"]["sequenceNumber"]
    ]
    report = data["report"]
    assert set(report) == {"init_ms", "duration_ms", "billed_ms", "max_memory_mb"}
    # importing scikit-learn and loading the model is the init; a prediction is quick
    assert 50 < report["init_ms"] < 60_000
    assert 0 < report["duration_ms"] < report["init_ms"]
    # a cold start bills init + duration, rounded up to the millisecond (since 2025-08)
    assert report["billed_ms"] == math.ceil(report["init_ms"] + report["duration_ms"])
    # numpy + scipy + scikit-learn need tens of MB; far less than a GB
    assert 40 <= report["max_memory_mb"] < 1024


@pytest.mark.slow
def test_report_line_and_warm_repeats(project: Path, real_layers: tuple[Path, Path]) -> None:
    deps_zip, model_zip = real_layers
    args = ("invoke", "--local", "--event", str(EVENT), "--repeat", "3", "--memory", "256")
    args += ("--deps-zip", str(deps_zip), "--model-zip", str(model_zip))
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    reports = [line for line in result.stdout.splitlines() if line.startswith("REPORT")]
    assert len(reports) == 3
    pattern = (
        r"REPORT Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\t"
        r"Max Memory Used: \d+ MB"
    )
    assert re.fullmatch(pattern + r"\tInit Duration: [\d.]+ ms", reports[0])
    for line in reports[1:]:  # warm: no init
        assert re.fullmatch(pattern, line)

    data = json.loads(run(*args, "--json").stdout)
    assert len(data["repeats"]) == 2
    for warm in data["repeats"]:
        assert set(warm) == {"duration_ms", "billed_ms"}
        assert warm["billed_ms"] == math.ceil(warm["duration_ms"])
        assert warm["billed_ms"] < data["report"]["billed_ms"]


@pytest.mark.slow
def test_texts_become_kinesis_batches(
    project: Path, real_layers: tuple[Path, Path], model_v1: list[Path]
) -> None:
    deps_zip, model_zip = real_layers
    texts = ["great fast love it", "broken and late", "perfect", "awful refund", "happy"]
    (project / "texts.txt").write_text("\n".join(texts) + "\n\n")
    args = ("invoke", "--local", "--texts", "texts.txt", "--batch-size", "2")
    args += ("--deps-zip", str(deps_zip), "--model-zip", str(model_zip))
    data = json.loads(run(*args, "--json").stdout)
    assert [len(batch["predictions"]) for batch in data["result"]] == [2, 2, 1]
    steps = [joblib.load(path) for path in model_v1]
    features = texts
    for step in steps[:-1]:
        features = step.transform(features)
    predicted = [p["prediction"] for batch in data["result"] for p in batch["predictions"]]
    assert predicted == steps[-1].predict(features).tolist()


@pytest.mark.slow
def test_cost_measures_the_duration_per_batch_size(
    project: Path, real_layers: tuple[Path, Path]
) -> None:
    deps_zip, _ = real_layers
    (project / "texts.txt").write_text("great fast love it\nbroken and late\nperfect\n")
    result = run(
        "cost", "--records", "100", "--batch-size", "1", "--batch-size", "50",
        "--measure", "texts.txt", "--out", str(deps_zip.parent), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [(r["batch_size"], r["invocations_per_ingest"]) for r in rows] == [(1, 100), (50, 2)]
    for row in rows:
        assert 0 < row["duration_ms"] < 1000  # warm: the model is already loaded
        assert row["billed_ms"] == math.ceil(row["duration_ms"])
    assert "batch 50: warm" in result.stderr


# --- the sandbox, with a probing handler (fast) --------------------------------------

PROBE = """
import json, os, sys

def lambda_handler(event, context):
    imports = {}
    for name in ("boto3", "click", "pytest", "mlayer"):
        try:
            __import__(name)
            imports[name] = True
        except ImportError:
            imports[name] = False
    opt = os.path.dirname(os.environ["MLAYER_MODEL_DIR"])
    return {
        "imports": imports,
        "isolated": bool(sys.flags.isolated),
        "no_bytecode": sys.dont_write_bytecode,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_", "_"))},
        "opt": sorted(os.listdir(opt)),
        "records": len(event.get("Records", [])),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


@pytest.fixture
def probe(project: Path) -> tuple[Path, Path, Path]:
    """A handler dir with the probe, and two tiny layer zips."""
    handler = project / "probe"
    handler.mkdir()
    (handler / "mlayer_handler.py").write_text(PROBE)
    deps = project / "deps.zip"
    with zipfile.ZipFile(deps, "w") as archive:
        archive.writestr("python/deps_marker.py", "")
    model = project / "model.zip"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("mlayer-model/manifest.json", "{}")
    return handler, deps, model


def probe_args(probe: tuple[Path, Path, Path]) -> tuple[str, ...]:
    handler, deps, model = probe
    return ("--handler-dir", str(handler), "--deps-zip", str(deps), "--model-zip", str(model))


def test_boto3_is_there_as_on_lambda_and_the_host_packages_are_not(
    probe: tuple[Path, Path, Path],
) -> None:
    result = run("invoke", "--local", "--event", str(EVENT), *probe_args(probe), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["result"]
    assert data["imports"] == {"boto3": True, "click": False, "pytest": False, "mlayer": False}
    assert data["isolated"] and data["no_bytecode"]
    assert data["opt"] == ["mlayer-model", "python"]
    assert data["records"] == 5
    env = data["env"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "mlayer_handler.lambda_handler"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"]
    assert Path(env["LAMBDA_TASK_ROOT"]).name == "task"
    assert "AWS_SECRET_ACCESS_KEY" not in env  # the host's credentials stay on the host
    assert 0 < data["remaining_ms"] <= 60_000


def test_another_runtime_runs_its_own_python(probe: tuple[Path, Path, Path]) -> None:
    from mlayer.local import find_interpreter
    from mlayer.targets import resolve_target

    try:
        find_interpreter(resolve_target("python3.12", "x86_64"))
    except MlayerError:
        pytest.skip("no Python 3.12 on this machine")
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--runtime", "python3.12",
        *probe_args(probe), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"]["env"]["AWS_EXECUTION_ENV"] == (
        "AWS_Lambda_python3.12"
    )


# --- zips that try to escape ------------------------------------------------------


def test_safe_extract_refuses_parent_entries(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("python/ok.py", "")
        archive.writestr("python/../../escaped.py", "print('owned')")
    with pytest.raises(MlayerError, match="escapes the layer directory"):
        safe_extract(evil, tmp_path / "opt")
    assert not (tmp_path / "escaped.py").exists()


def test_safe_extract_refuses_links(tmp_path: Path) -> None:
    evil = tmp_path / "link.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        info = zipfile.ZipInfo("python/passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(MlayerError, match="symbolic link"):
        safe_extract(evil, tmp_path / "opt")
    assert not (tmp_path / "opt" / "python" / "passwd").exists()


def test_invoke_refuses_a_layer_escaping_opt(probe: tuple[Path, Path, Path], project: Path) -> None:
    evil = project / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escaped.py", "")
    handler, _, model = probe
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--handler-dir", str(handler),
        "--deps-zip", str(evil), "--model-zip", str(model),
    )  # fmt: skip
    assert_one_line_error(result, "evil.zip", "'../escaped.py'", "escapes")


# --- bad input: one line, exit != 0 -------------------------------------------------


def test_event_that_is_not_json(probe: tuple[Path, Path, Path], project: Path) -> None:
    (project / "bad.json").write_text("{'Records': nope")
    result = run("invoke", "--local", "--event", "bad.json", *probe_args(probe))
    assert_one_line_error(result, "bad.json", "is not JSON")


def test_empty_texts_file(probe: tuple[Path, Path, Path], project: Path) -> None:
    (project / "texts.txt").write_text("\n  \n")
    result = run("invoke", "--local", "--texts", "texts.txt", *probe_args(probe))
    assert_one_line_error(result, "texts.txt", "is empty")


@pytest.mark.parametrize("size", ["0", "-2"])
def test_batch_size_must_be_positive(
    probe: tuple[Path, Path, Path], project: Path, size: str
) -> None:
    (project / "texts.txt").write_text("good\n")
    result = run(
        "invoke", "--local", "--texts", "texts.txt", "--batch-size", size, *probe_args(probe)
    )
    assert_one_line_error(result, "--batch-size", size)


def test_event_and_texts_exclude_each_other(probe: tuple[Path, Path, Path]) -> None:
    result = run("invoke", "--local", *probe_args(probe))
    assert_one_line_error(result, "--event", "--texts")


def test_missing_layer_zip(probe: tuple[Path, Path, Path]) -> None:
    handler, deps, _ = probe
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--handler-dir", str(handler),
        "--deps-zip", str(deps), "--model-zip", "nowhere/model-layer.zip",
    )  # fmt: skip
    assert_one_line_error(result, "nowhere/model-layer.zip", "does not exist")


def test_missing_interpreter_names_what_was_looked_for(
    probe: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(empty))
    result = run("invoke", "--local", "--event", str(EVENT), "--runtime", "python3.9",
                 *probe_args(probe))  # fmt: skip
    assert_one_line_error(result, "Python 3.9", "python3.9", f"{empty}/versions")


def test_repeat_must_be_positive(probe: tuple[Path, Path, Path]) -> None:
    result = run("invoke", "--local", "--event", str(EVENT), "--repeat", "0", *probe_args(probe))
    assert_one_line_error(result, "--repeat")


# --- published versions -------------------------------------------------------------


def test_published_model_version_comes_from_the_store(
    deployed: Account, probe: tuple[Path, Path, Path]
) -> None:
    handler, deps, _ = probe
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--function-name", "fn",
        "--handler-dir", str(handler), "--deps-zip", str(deps), "--model-version", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "fn-model:1 from store" in result.stderr
    assert json.loads(result.stdout)["result"]["opt"] == ["mlayer-model", "python"]


def test_linked_version_by_default_fetched_from_s3(
    deployed: Account, probe: tuple[Path, Path, Path], project: Path, tmp_path: Path
) -> None:
    handler, deps, _ = probe
    # A fresh machine: the store is empty, the zip sits in the bucket it was published through.
    model_zip = project / "build" / "model-layer.zip"
    sha = sha256_file(model_zip)
    deployed.client("s3").upload_file(str(model_zip), deployed.bucket, store_key("fn-model", sha))
    ArtifactStore().path_for(sha).unlink()
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--function-name", "fn",
        "--bucket", deployed.bucket, "--handler-dir", str(handler), "--deps-zip", str(deps),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"fn-model:1 (linked by the function) from s3://{deployed.bucket}/" in result.stderr
    assert ArtifactStore().get(sha) is not None  # kept for next time


def test_published_version_nowhere_to_be_found(
    deployed: Account, probe: tuple[Path, Path, Path], project: Path
) -> None:
    handler, _, model = probe
    # fn-deps:1 was published straight to Lambda by the fixture: no store copy, no S3 copy.
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--function-name", "fn",
        "--handler-dir", str(handler), "--deps-version", "1", "--model-zip", str(model),
    )  # fmt: skip
    assert_one_line_error(result, "fn-deps:1", "local store", "download URL")


def test_unknown_published_version(deployed: Account, probe: tuple[Path, Path, Path]) -> None:
    handler, deps, _ = probe
    result = run(
        "invoke", "--local", "--event", str(EVENT), "--function-name", "fn",
        "--handler-dir", str(handler), "--deps-zip", str(deps), "--model-version", "7",
    )  # fmt: skip
    assert_one_line_error(result, "fn-model", "7")
