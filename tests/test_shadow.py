"""Model layers side by side, the shadow model and the handler's metrics.

The handler runs in a separate interpreter (``-I``) on real model layer files, as
``publish-model`` zips them and Lambda unpacks them under /opt: model v1 live,
model v2 its shadow. What the two models predict is computed here, in the
training process, and the handler's shadow line must agree with it. The last
tests run ``mlayer invoke --local`` against moto on a deps layer copied from
this environment's own numpy, scipy, scikit-learn and joblib (the example's pins).
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import joblib
import pytest
from conftest import EXAMPLES, ROOT, Account, assert_one_line_error, run, run_json

from mlayer import contract
from mlayer.layerbuild.archive import safe_extract
from mlayer.model import layer_model
from mlayer.ops.model import package_model

sys.path.insert(0, str(Path(__file__).parent / "events"))
sys.path.insert(0, str(ROOT / "handler"))
import train as example_train  # examples/, put on the path by conftest
from lambda_child import ChildRun, run_handler
from mlayer_metrics import Metrics

HANDLER = ROOT / "handler"
# Reviews that mix a positive and a negative word: models v1 and v2 disagree on many.
TEXTS = [f"{good} and {bad}" for good in example_train.POSITIVE for bad in example_train.NEGATIVE]


# --- helpers ----------------------------------------------------------------------


def predict_here(files: list[Path], texts: list[str]) -> list[Any]:
    """What the model predicts, computed in this (the training) process."""
    steps = [joblib.load(path) for path in files]
    features: Any = texts
    for step in steps[:-1]:
        features = step.transform(features)
    return list(steps[-1].predict(features).tolist())


def kinesis_event(texts: list[str], undecodable: int = 0) -> dict[str, Any]:
    """A Kinesis event of ``texts``, then ``undecodable`` records that are not base64."""
    records = []
    for index, text in enumerate(texts + [""] * undecodable):
        data = (
            base64.b64encode(json.dumps({"textblob": text}).encode()).decode()
            if index < len(texts)
            else "%%% not base64 %%%"
        )
        records.append(
            {
                "kinesis": {"sequenceNumber": f"{index:056d}", "data": data},
                "eventSource": "aws:kinesis",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/reviews",
            }
        )
    return {"Records": records}


def ids(count: int) -> list[str]:
    return [f"{index:056d}" for index in range(count)]


def model_zip(files: list[Path], out: Path, label: str) -> Path:
    _, summary = package_model(files, label, out)
    return summary.path


def content_id_of(files: list[Path], tmp: Path, label: str) -> str:
    return layer_model(model_zip(files, tmp / f"id-{label}", label)).content_id


def old_format(zip_path: Path, out: Path) -> Path:
    """The same layer as mlayer published it before model directories: files
    directly under mlayer-model/."""
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            parts = name.split("/")
            target.writestr("/".join([parts[0], *parts[2:]]), source.read(name))
    return out


def opt_with(*zips: Path, root: Path) -> Path:
    """An /opt holding these layers, later ones over earlier ones as Lambda does."""
    opt = root / "opt"
    for path in zips:
        safe_extract(path, opt)
    return opt


def json_lines(run: ChildRun, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in run.log if line.startswith("{")]
    return [line for line in lines if line.get(contract.LOG_KIND_KEY) == kind]


def emf_lines(run: ChildRun) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.log if line.startswith('{"_aws"')]


@pytest.fixture(scope="module")
def layers(
    tmp_path_factory: pytest.TempPathFactory, model_v1: list[Path], model_v2: list[Path]
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("layers")
    return {
        "v1": model_zip(model_v1, out / "v1", "v1"),
        "v2": model_zip(model_v2, out / "v2", "v2"),
    }


def run_live_and_shadow(
    opt: Path, live: str | None, shadow: str | None, event: dict[str, Any], **env: str
) -> ChildRun:
    environment = {**env}
    if live:
        environment[contract.MODEL_SHA256_ENV] = live
    if shadow:
        environment[contract.SHADOW_MODEL_ENV] = shadow
    return run_handler(HANDLER, opt / contract.MODEL_DIR, event, environment)


# --- the layout ---------------------------------------------------------------------


def test_a_model_layer_puts_its_files_under_its_content_id(
    layers: dict[str, Path], model_v1: list[Path]
) -> None:
    found = layer_model(layers["v1"])
    assert found.own_directory and len(found.content_id) == contract.CONTENT_ID_CHARS
    with zipfile.ZipFile(layers["v1"]) as archive:
        manifest = json.loads(archive.read(f"mlayer-model/{found.content_id}/manifest.json"))
        names = sorted(archive.namelist())
    assert manifest["content_sha256"].startswith(found.content_id)
    assert names == sorted(
        f"mlayer-model/{found.content_id}/{name}"
        for name in ["manifest.json", *(p.name for p in model_v1)]
    )


def test_an_old_format_layer_still_loads_alone(
    tmp_path: Path, layers: dict[str, Path], model_v1: list[Path]
) -> None:
    old = old_format(layers["v1"], tmp_path / "old.zip")
    assert not layer_model(old).own_directory
    opt = opt_with(old, root=tmp_path)
    assert (opt / "mlayer-model" / "manifest.json").is_file()
    live = layer_model(old).content_id
    for deployed_with in (live, None):  # as deployed, and with no model named
        run = run_live_and_shadow(opt, deployed_with, None, kinesis_event(TEXTS[:8]))
        assert run.error is None, run.error
        assert [p["prediction"] for p in run.result["predictions"]] == predict_here(
            model_v1, TEXTS[:8]
        )


def test_a_new_layer_loads_alone_without_being_named(
    tmp_path: Path, layers: dict[str, Path], model_v1: list[Path]
) -> None:
    """invoke --local and the tests run it so: one model under /opt/mlayer-model."""
    run = run_live_and_shadow(opt_with(layers["v1"], root=tmp_path), None, None, {"texts": TEXTS})
    assert run.error is None, run.error
    assert [p["prediction"] for p in run.result["predictions"]] == predict_here(model_v1, TEXTS)
    assert json_lines(run, "shadow") == []


def test_two_models_and_none_named_live_fails_init_saying_so(
    tmp_path: Path, layers: dict[str, Path]
) -> None:
    run = run_live_and_shadow(
        opt_with(layers["v1"], layers["v2"], root=tmp_path), None, None, {"texts": TEXTS}
    )
    assert run.error is not None and run.error["phase"] == "init"
    assert "holds several models" in run.error["message"]
    assert "which is live" in run.error["message"]


def test_the_live_model_is_the_one_named_whichever_layer_comes_first(
    tmp_path: Path, layers: dict[str, Path], model_v2: list[Path]
) -> None:
    live = layer_model(layers["v2"]).content_id
    opt = opt_with(layers["v2"], layers["v1"], root=tmp_path)
    run = run_live_and_shadow(opt, live, None, {"texts": TEXTS})
    assert run.error is None, run.error
    assert [p["prediction"] for p in run.result["predictions"]] == predict_here(model_v2, TEXTS)


def test_a_live_model_that_is_not_linked_fails_init_naming_what_is(
    tmp_path: Path, layers: dict[str, Path]
) -> None:
    present = layer_model(layers["v1"]).content_id
    run = run_live_and_shadow(opt_with(layers["v1"], root=tmp_path), "0" * 16, None, {"texts": []})
    assert run.error is not None and run.error["phase"] == "init"
    assert "model 0000000000000000 is not under" in run.error["message"]
    assert present in run.error["message"]


# --- the shadow ---------------------------------------------------------------------


def expected_shadow_line(
    live_files: list[Path], shadow_files: list[Path], texts: list[str]
) -> tuple[int, list[dict[str, Any]]]:
    live, shadow = predict_here(live_files, texts), predict_here(shadow_files, texts)
    agreements = sum(a == b for a, b in zip(live, shadow, strict=True))
    differ = [
        {"id": record_id, "live": a, "shadow": b}
        for record_id, a, b in zip(ids(len(texts)), live, shadow, strict=True)
        if a != b
    ]
    return agreements, differ[: contract.SHADOW_DISAGREEMENTS_LOGGED]


def test_shadow_predicts_beside_the_live_model_and_only_logs(
    tmp_path: Path, layers: dict[str, Path], model_v1: list[Path], model_v2: list[Path]
) -> None:
    live, shadow = layer_model(layers["v1"]).content_id, layer_model(layers["v2"]).content_id
    opt = opt_with(layers["v1"], layers["v2"], root=tmp_path)
    run = run_live_and_shadow(opt, live, shadow, kinesis_event(TEXTS, undecodable=2))
    assert run.error is None, run.error
    # The answer is the live model's alone: the contract does not change.
    assert run.result["predictions"] == [
        {"id": record_id, "prediction": value}
        for record_id, value in zip(ids(len(TEXTS)), predict_here(model_v1, TEXTS), strict=True)
    ]
    assert run.result["batchItemFailures"] == [
        {"itemIdentifier": record_id} for record_id in ids(len(TEXTS) + 2)[-2:]
    ]
    (predictions,) = json_lines(run, "predictions")  # the log sink: live predictions only
    assert predictions["model"] == live
    (line,) = json_lines(run, "shadow")
    agreements, disagreements = expected_shadow_line(model_v1, model_v2, TEXTS)
    assert 0 < agreements < len(TEXTS)  # the models do differ on these reviews
    assert line == {
        "mlayer": "shadow",
        "live": live,
        "shadow": shadow,
        "records": len(TEXTS),
        "agreements": agreements,
        "disagreements": disagreements,
    }
    assert list(line) == ["mlayer", "live", "shadow", "records", "agreements", "disagreements"]


@pytest.mark.parametrize("old_one", ["live", "shadow"])
def test_a_layer_of_the_old_layout_beside_a_new_one(
    tmp_path: Path,
    layers: dict[str, Path],
    model_v1: list[Path],
    model_v2: list[Path],
    old_one: str,
) -> None:
    """One layer published before model directories (its files in /opt/mlayer-model
    itself), the other in its own directory: both load, whichever is live."""
    live_zip, shadow_zip = layers["v1"], layers["v2"]
    if old_one == "live":
        live_zip = old_format(live_zip, tmp_path / "old.zip")
    else:
        shadow_zip = old_format(shadow_zip, tmp_path / "old.zip")
    live, shadow = layer_model(live_zip).content_id, layer_model(shadow_zip).content_id
    opt = opt_with(live_zip, shadow_zip, root=tmp_path)
    run = run_live_and_shadow(opt, live, shadow, {"texts": TEXTS[:10]})
    assert run.error is None, run.error
    assert [p["prediction"] for p in run.result["predictions"]] == predict_here(
        model_v1, TEXTS[:10]
    )
    (line,) = json_lines(run, "shadow")
    assert "error" not in line, line
    assert line["agreements"] == expected_shadow_line(model_v1, model_v2, TEXTS[:10])[0]


def tamper(zip_path: Path, out: Path) -> Path:
    """The layer with one byte of its classifier changed, its manifest kept."""
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("3_classifier.joblib"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.writestr(name, data)
    return out


def test_a_tampered_shadow_never_fails_the_batch(
    tmp_path: Path, layers: dict[str, Path], model_v1: list[Path]
) -> None:
    tampered = tamper(layers["v2"], tmp_path / "tampered.zip")
    live, shadow = layer_model(layers["v1"]).content_id, layer_model(tampered).content_id
    opt = opt_with(layers["v1"], tampered, root=tmp_path)
    event = {"Records": kinesis_event(TEXTS[:6])["Records"]}
    run = run_live_and_shadow(opt, live, shadow, event, AWS_LAMBDA_FUNCTION_NAME="fn")
    assert run.error is None, run.error
    assert [p["prediction"] for p in run.result["predictions"]] == predict_here(model_v1, TEXTS[:6])
    assert run.result["batchItemFailures"] == []
    (batch,) = json_lines(run, "shadow")  # one line per batch, the error in it
    assert batch["error"].startswith("not loaded: ModelLayerError: ")
    assert "does not match its sha256" in batch["error"] and "3_classifier.joblib" in batch["error"]
    assert batch["records"] == 6 and "agreements" not in batch
    (metrics,) = [line for line in emf_lines(run) if "Records" in line]
    assert metrics["ShadowErrors"] == 1 and metrics["ShadowAgreements"] == 0


def test_a_shadow_that_is_not_linked_is_logged_not_fatal(
    tmp_path: Path, layers: dict[str, Path]
) -> None:
    live = layer_model(layers["v1"]).content_id
    opt = opt_with(layers["v1"], root=tmp_path)
    run = run_live_and_shadow(opt, live, "f" * 16, {"texts": TEXTS[:3]})
    assert run.error is None, run.error
    assert len(run.result["predictions"]) == 3
    (batch,) = json_lines(run, "shadow")
    assert batch["shadow"] == "f" * 16 and "is not under" in batch["error"]


def test_a_shadow_that_fails_to_predict_is_logged_not_fatal(tmp_path: Path) -> None:
    """In process: the shadow's predict raises; the handler returns the live answer."""
    import mlayer_shadow
    from mlayer_events import Record

    class Broken:
        def predict(self, texts: list[str]) -> list[str]:
            raise MemoryError("out of memory in the shadow")

    shadow = mlayer_shadow.Shadow("live", "shadow", Broken())  # type: ignore[arg-type]
    records = [(Record("1", "great", 0), "positive")]
    line = shadow.compare(records)
    assert line["error"] == "MemoryError: out of memory in the shadow"
    assert line["records"] == 1 and "agreements" not in line


# --- metrics ------------------------------------------------------------------------


def test_the_handler_writes_emf_metrics_per_batch_and_at_init(
    tmp_path: Path, layers: dict[str, Path], model_v1: list[Path], model_v2: list[Path]
) -> None:
    live, shadow = layer_model(layers["v1"]).content_id, layer_model(layers["v2"]).content_id
    opt = opt_with(layers["v1"], layers["v2"], root=tmp_path)
    event = kinesis_event(TEXTS, undecodable=3)
    run = run_live_and_shadow(opt, live, shadow, event, AWS_LAMBDA_FUNCTION_NAME="fn")
    assert run.error is None, run.error
    init, batch = emf_lines(run)
    for document in (init, batch):
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == contract.METRICS_NAMESPACE == "mlayer"
        assert directive["Dimensions"] == [["Function", "Model"]]
        assert document["Function"] == "fn" and document["Model"] == "v1"  # the label
        assert isinstance(document["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:  # each metric named has its value at the root
            assert isinstance(document[metric["Name"]], int | float)
    assert init["ModelLoadMs"] > 0 and "Records" not in init
    counts = Counter(predict_here(model_v1, TEXTS))
    agreements, _ = expected_shadow_line(model_v1, model_v2, TEXTS)
    assert {k: v for k, v in batch.items() if k not in ("_aws", "BatchMs")} == {
        "Function": "fn",
        "Model": "v1",
        "Records": len(TEXTS) + 3,
        "Failures": 3,
        "Predictions.negative": counts["negative"],
        "Predictions.positive": counts["positive"],
        "ShadowAgreements": agreements,
        "ShadowDisagreements": len(TEXTS) - agreements,
        "ShadowErrors": 0,
    }
    assert batch["BatchMs"] > 0


def test_no_metrics_outside_lambda(tmp_path: Path, layers: dict[str, Path]) -> None:
    run = run_live_and_shadow(opt_with(layers["v1"], root=tmp_path), None, None, {"texts": TEXTS})
    assert run.error is None and emf_lines(run) == []


def test_per_class_metrics_are_bounded_and_a_regressor_has_none() -> None:
    lines: list[str] = []
    classes = [f"c{index:02d}" for index in range(contract.MAX_CLASS_METRICS + 5)]
    metrics = Metrics("fn", "v1", classes, clock=lambda: 1.5, write=lines.append)
    predictions = ["c00", "c00", "c01", classes[-1], classes[-2]]
    metrics.batch(records=6, failures=1, batch_ms=2.5, predictions=predictions)
    (document,) = map(json.loads, lines)
    assert document["_aws"]["Timestamp"] == 1500
    names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    per_class = [name for name in names if name.startswith("Predictions.")]
    assert per_class == [f"Predictions.{c}" for c in classes[: contract.MAX_CLASS_METRICS]]
    assert document["Predictions.c00"] == 2 and document["Predictions.c02"] == 0
    assert document["PredictionsOther"] == 2
    assert len(names) <= 100  # one EMF directive holds at most 100 metrics

    regressor = Metrics("fn", "v1", None, write=lines.append)
    values = regressor.batch_values(records=2, failures=0, batch_ms=1.0, predictions=[0.5, 1.5])
    assert set(values) == {"Records", "Failures", "BatchMs"}


# --- invoke --local with a shadow (moto, a deps layer copied from this environment) ---

DEPS_PACKAGES = (
    "numpy", "numpy.libs", "scipy", "scipy.libs", "sklearn", "scikit_learn.libs", "joblib"
)  # fmt: skip


@pytest.fixture(scope="module")
def host_deps_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deps layer of this environment's numpy, scipy, scikit-learn and joblib (the
    example's pins), stored uncompressed: quicker than building one with pip."""
    import sklearn
    import threadpoolctl

    site = Path(sklearn.__file__).parents[1]
    path = tmp_path_factory.mktemp("host-deps") / "deps-layer.zip"
    prefix = f"python/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in DEPS_PACKAGES:
            root = site / name
            if not root.is_dir():
                continue
            for file in sorted(root.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    archive.write(file, f"{prefix}/{file.relative_to(site)}")
        archive.write(threadpoolctl.__file__, f"{prefix}/threadpoolctl.py")
    return path


def invoke_json(*args: str) -> tuple[dict[str, Any], str]:
    result = run("invoke", "--local", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def shadow_lines(stderr: str) -> list[dict[str, Any]]:
    """The handler's shadow lines, as invoke --local passes its log on."""
    return [
        json.loads(line[line.index("{") :])
        for line in stderr.splitlines()
        if '"mlayer":"shadow"' in line
    ]


@pytest.mark.slow
def test_invoke_local_with_a_shadow_version_returns_the_live_models_answer(
    deployed: Account,
    project: Path,
    host_deps_zip: Path,
    model_v1: list[Path],
    model_v2: list[Path],
    tmp_path: Path,
) -> None:
    """The acceptance: function on model 1, model 2 published; invoke --local with
    --shadow-model 2 returns model 1's predictions, and the shadow line's agreements
    are what the two models predict here; a tampered shadow layer fails nothing."""
    published = run("publish-model", *map(str, model_v2), "--function-name", "fn")
    assert published.exit_code == 0, published.stderr
    event_path = project / "event.json"
    event_path.write_text(json.dumps(kinesis_event(TEXTS, undecodable=1)))
    common = ("--event", str(event_path), "--function-name", "fn", "--deps-zip", str(host_deps_zip))

    data, stderr = invoke_json(*common, "--shadow-model", "2")
    expected = dict(zip(ids(len(TEXTS)), predict_here(model_v1, TEXTS), strict=True))
    assert {p["id"]: p["prediction"] for p in data["result"]["predictions"]} == expected
    (line,) = shadow_lines(stderr)
    agreements, disagreements = expected_shadow_line(model_v1, model_v2, TEXTS)
    assert (line["agreements"], line["disagreements"]) == (agreements, disagreements)
    assert "model layer: " in stderr and "fn-model:1 (linked by the function)" in stderr
    assert "shadow layer: " in stderr and "fn-model:2 from" in stderr

    # The same shadow, tampered, given as a zip: the batch still succeeds.
    tampered = tamper(project / "build" / "model-layer.zip", tmp_path / "tampered.zip")
    data, stderr = invoke_json(*common, "--shadow-model-zip", str(tampered))
    assert {p["id"]: p["prediction"] for p in data["result"]["predictions"]} == expected
    assert data["result"]["batchItemFailures"] == [{"itemIdentifier": ids(len(TEXTS) + 1)[-1]}]
    assert all("does not match its sha256" in line["error"] for line in shadow_lines(stderr))


@pytest.mark.slow
def test_deploy_shadow_model_links_it_beside_the_live_one_and_invoke_local_runs_both(
    deployed: Account, project: Path, host_deps_zip: Path, model_v1: list[Path],
    model_v2: list[Path],
) -> None:  # fmt: skip
    """The issue's acceptance against moto: deploy with model 1 and --shadow-model 2
    links deps, model 1 and model 2 on what serves; invoke --local (no shadow flag)
    runs the function's shadow; --no-shadow removes it."""
    assert run("publish-model", *map(str, model_v2), "--function-name", "fn").exit_code == 0
    result = run_json("deploy", "--function-name", "fn", "--model-version", "1",
                      "--shadow-model", "2")  # fmt: skip
    served = deployed.served()
    assert [layer["Arn"].split(":")[-2:] for layer in served["Layers"]] == [
        ["fn-deps", "1"], ["fn-model", "1"], ["fn-model", "2"],
    ]  # fmt: skip
    variables = served["Environment"]["Variables"]
    assert variables["MLAYER_SHADOW_MODEL"] != variables["MLAYER_MODEL_SHA256"]
    assert any("shadow model fn-model:2 predicts every batch" in n for n in result["notes"])
    status = run_json("status", "--function-name", "fn")
    assert status["model"]["version"] == "1" and status["shadow_model"]["version"] == "2"

    event_path = project / "event.json"
    event_path.write_text(json.dumps(kinesis_event(TEXTS)))
    data, stderr = invoke_json(
        "--event", str(event_path), "--function-name", "fn", "--deps-zip", str(host_deps_zip)
    )
    expected = dict(zip(ids(len(TEXTS)), predict_here(model_v1, TEXTS), strict=True))
    assert {p["id"]: p["prediction"] for p in data["result"]["predictions"]} == expected
    (line,) = shadow_lines(stderr)
    agreements, disagreements = expected_shadow_line(model_v1, model_v2, TEXTS)
    assert (line["agreements"], line["disagreements"]) == (agreements, disagreements)

    kept = run_json("deploy", "--function-name", "fn")  # a plain deploy keeps it
    assert kept["steps"] == []
    removed = run_json("deploy", "--function-name", "fn", "--no-shadow")
    assert any("shadow model fn-model:2 removed" in n for n in removed["notes"])
    assert len(deployed.served()["Layers"]) == 2


def test_invoke_local_refuses_the_live_model_as_its_own_shadow(
    project: Path, layers: dict[str, Path], tmp_path: Path
) -> None:
    deps = tmp_path / "deps.zip"
    with zipfile.ZipFile(deps, "w") as archive:
        archive.writestr("python/marker.py", "")
    result = run(
        "invoke", "--local", "--texts", str(EXAMPLES / "event.json"), "--deps-zip", str(deps),
        "--model-zip", str(layers["v1"]), "--shadow-model-zip", str(layers["v1"]),
    )  # fmt: skip
    assert_one_line_error(result, "is the live model", "--shadow-model-zip")


def test_invoke_local_refuses_two_old_format_layers(
    project: Path, layers: dict[str, Path], tmp_path: Path
) -> None:
    old1 = old_format(layers["v1"], tmp_path / "old1.zip")
    old2 = old_format(layers["v2"], tmp_path / "old2.zip")
    deps = tmp_path / "deps.zip"
    shutil.copyfile(old1, deps)  # never read: the refusal comes first
    result = run(
        "invoke", "--local", "--texts", str(EXAMPLES / "event.json"), "--deps-zip", str(deps),
        "--model-zip", str(old1), "--shadow-model-zip", str(old2),
    )  # fmt: skip
    assert_one_line_error(result, "publish-model", "--force")
