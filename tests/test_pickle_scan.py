"""A hostile model is refused, unrun: the static scan of joblib files (and skops').

The hostile files are real ``joblib.dump`` output whose objects ``__reduce__``
to a marker-creating call: loading them would create the marker, so "the marker
does not exist" proves the scan ran nothing.
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from conftest import ROOT, Account, assert_one_line_error, run
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, LabelEncoder, StandardScaler

from mlayer import pickle_scan
from mlayer.ops.model import package_model
from mlayer.pickle_scan import TooLarge, scan_joblib, untrusted_globals

TEXTS = ["great product love it", "broken and slow refund", "love it fast", "awful slow"] * 5
LABELS = ["positive", "negative", "positive", "negative"] * 5


class OpensMarker:
    """Unpickled, it creates (opens for writing) the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


class RunsShell:
    """Unpickled, it runs ``touch marker`` through os.system (pickled as posix.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class Harmless:
    """A user's own class: harmless, but not on mlayer's allowlist."""


class Lowercase(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A user's own transformer, for the skops trust test."""

    def fit(self, texts: list[str], labels: object = None) -> Lowercase:
        return self

    def transform(self, texts: list[str]) -> list[str]:
        return [text.lower() for text in texts]


def hostile_classifier(marker: Path) -> LogisticRegression:
    """A fitted classifier whose ``classes_`` is an object array holding the hostile
    object: joblib writes it as a nested pickle, which joblib.load reads with pickle.load."""
    model = LogisticRegression().fit([[0.0], [1.0], [0.0], [1.0]], ["a", "b", "a", "b"])
    model.classes_ = np.array([OpensMarker(marker), "b"], dtype=object)
    return model


def manifest_in_zip(zip_path: Path) -> dict:  # type: ignore[type-arg]
    with zipfile.ZipFile(zip_path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/manifest.json")]
        return json.loads(archive.read(name))  # type: ignore[no-any-return]


# --- the acceptance tests, through the CLI against the moto server ------------------


def test_nested_object_array_with_a_hostile_element_is_refused_unrun(
    aws: Account, project: Path
) -> None:
    marker = project / "marker"
    joblib.dump(hostile_classifier(marker), project / "bad.joblib")
    result = run("publish-model", "bad.joblib", "--function-name", "fn", "--dry-run")
    # Before: the nested pickle was loaded with pickle.load, created the marker,
    # and the dry run went through.
    assert_one_line_error(
        result, "model file bad.joblib refers to io.open", "--trust-global io.open"
    )
    assert not marker.exists()


def test_top_level_reduce_to_os_system_is_refused_unrun(aws: Account, project: Path) -> None:
    marker = project / "marker"
    joblib.dump(RunsShell(marker), project / "bad.joblib")
    result = run("publish-model", "bad.joblib", "--function-name", "fn", "--dry-run")
    # Before: the inert stand-in swallowed the call and the file was accepted.
    assert_one_line_error(
        result,
        f"model file bad.joblib refers to {os.system.__module__}.system, which mlayer does "
        "not trust: a pickle runs what it names when loaded",
    )
    assert not marker.exists()
    lam = aws.client("lambda")
    assert lam.list_layer_versions(LayerName="fn-model")["LayerVersions"] == []


def test_trust_global_accepts_a_vouched_global_and_records_it(aws: Account, project: Path) -> None:
    joblib.dump({"model": LogisticRegression(), "extra": Harmless()}, project / "own.joblib")
    name = f"{Harmless.__module__}.Harmless"
    refused = run("publish-model", "own.joblib", "--function-name", "fn", "--dry-run")
    assert_one_line_error(refused, f"refers to {name}", f"--trust-global {name}")

    result = run(
        "publish-model", "own.joblib", "--function-name", "fn", "--dry-run",
        "--trust-global", name, "--trust-global", "other.Unused",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    manifest = manifest_in_zip(project / "build" / "model-layer.zip")
    assert manifest["trusted_globals"] == [name]  # what the model uses, sorted
    assert manifest["files"][0]["trusted_types"] == [name]

    # The same from mlayer.toml, under the flag's name.
    (project / "mlayer.toml").write_text(f'function-name = "fn"\ntrust-global = ["{name}"]\n')
    assert run("publish-model", "own.joblib", "--dry-run").exit_code == 0


@pytest.mark.parametrize("value", ["nodot", "has space.X"])
def test_trust_global_must_be_module_dot_name(aws: Account, project: Path, value: str) -> None:
    joblib.dump(LogisticRegression(), project / "m.joblib")
    result = run("publish-model", "m.joblib", "--function-name", "fn", "--trust-global", value)
    assert_one_line_error(result, f"--trust-global {value!r} is not MODULE.NAME")


def test_bomb_declaring_an_array_past_the_limit_is_refused_unread(
    aws: Account, project: Path
) -> None:
    """A 16 GB float64 array declared in the header of a small zlib-compressed
    file: refused from the header, naming the file and the limit."""
    data = io.BytesIO()
    joblib.dump(np.zeros(1_000_001), data)
    header = b"J" + (1_000_001).to_bytes(4, "little")  # BININT, the array's length
    raw = data.getvalue()
    assert raw.count(header) == 1
    raw = raw.replace(header, b"J" + (2_000_000_000).to_bytes(4, "little"))
    import zlib

    (project / "bomb.joblib").write_bytes(zlib.compress(raw, 9))  # joblib's zlib format
    result = run("publish-model", "bomb.joblib", "--function-name", "fn", "--dry-run")
    assert_one_line_error(
        result,
        "model file bomb.joblib was refused unread",
        f"more than {pickle_scan.MAX_EXPANDED_BYTES:,} bytes",
    )


# --- memory: arrays are streamed, never held -------------------------------------------


def test_compressed_array_past_the_limit_is_refused_without_allocating_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zeros.joblib"
    joblib.dump({"coef_": np.zeros(8_000_000)}, path, compress=3)  # 64 MB -> ~60 kB
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="more than 32,000,000 bytes"):
            scan_joblib(path, max_expanded_bytes=32_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # joblib's zlib reader inflates 8 KiB of input at a time: with zlib's largest
    # ratio (about 1000:1) that is the ~8 MB held at once, far below the 64 MB.
    assert peak < 16_000_000


def test_arrays_within_the_limit_are_streamed_not_loaded(tmp_path: Path) -> None:
    """Before, the scan loaded every array: 64 MB of memory for this file."""
    path = tmp_path / "zeros.joblib"
    joblib.dump({"coef_": np.zeros(8_000_000), "classes_": np.array(["a"], dtype=object)}, path,
                compress=("gzip", 3))  # fmt: skip
    tracemalloc.start()
    try:
        scan = scan_joblib(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000  # as above
    assert "numpy._core.multiarray._reconstruct" in scan.globals  # the nested pickle was read


# --- what passes ---------------------------------------------------------------------


def _spread() -> dict[str, object]:
    features = np.random.RandomState(0).rand(20, 4)
    return {
        "pipeline_tfidf_logreg": Pipeline(
            [("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())]
        ).fit(TEXTS, LABELS),
        "hashing_sgd": make_pipeline(
            HashingVectorizer(n_features=2**8), SGDClassifier(random_state=0)
        ).fit(TEXTS, LABELS),
        "random_forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(
            features, LABELS
        ),
        "standard_scaler": StandardScaler().fit(features),
        "csr_matrix": sparse.csr_matrix(features),
        "label_encoder_strings": LabelEncoder().fit(LABELS),
        # fitted on an object column, classes_ is an object array: a nested pickle
        "label_encoder_objects": LabelEncoder().fit(np.array(LABELS, dtype=object)),
        "function_transformer_ufunc": FunctionTransformer(np.log1p),
        "numpy_generator": np.random.default_rng(0),
        "structured_and_datetime": [
            np.zeros(2, dtype=[("a", "i8"), ("b", "U3"), ("c", "O")]),
            np.array(["2020-01-01"], dtype="M8[s]"),
        ],
    }


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("xz", 3)], ids=str)
def test_a_spread_of_estimators_passes_the_scan(tmp_path: Path, compress: object) -> None:
    for name, obj in _spread().items():
        path = tmp_path / f"{name}.joblib"
        joblib.dump(obj, path, compress=compress)
        scan = scan_joblib(path)
        assert untrusted_globals(scan.globals) == [], name
        if name == "label_encoder_objects":
            assert "numpy._core.multiarray._reconstruct" in scan.globals  # read, nested
        if isinstance(obj, BaseEstimator):
            assert scan.sklearn_versions == {__import__("sklearn").__version__}, name


def test_the_example_model_passes_the_scan(model_v1: list[Path]) -> None:
    for path in model_v1:
        scan = scan_joblib(path)
        assert untrusted_globals(scan.globals) == [], path.name
        assert scan.globals  # it did read them


@pytest.mark.parametrize(
    "name",
    [
        "builtins.eval", "builtins.exec", "builtins.getattr", "builtins.__import__",
        "builtins.compile", "builtins.open", "os.system", "subprocess.Popen",
        "numpy.memmap", "numpy.load", "numpy.lib._npyio_impl.NpzFile", "scipy.io.netcdf_file",
        "sklearn.utils._testing.TempMemmap", "numpy.f2py.__main__.main",
        "numpy._core._ufunc_reconstruct", "numpy.dtypes.Float64DType",
        "sklearn.base.clone", "joblib.numpy_pickle.NDArrayWrapper",
    ],
)  # fmt: skip
def test_gadgets_are_not_allowed(name: str) -> None:
    assert untrusted_globals([name]) == [name]
    assert untrusted_globals([name], trusted=[name]) == []


def test_a_wrapper_laundered_through_a_call_is_refused(tmp_path: Path) -> None:
    """numpy.object_(x) returns x: a NumpyArrayWrapper passed through it would be
    built by joblib (reading array bytes) where a walk that did not follow it would
    read opcodes. The walk refuses any wrapper used other than as joblib writes it."""
    path = tmp_path / "laundered.joblib"
    # REDUCE numpy.object_((NEWOBJ NumpyArrayWrapper (),)) then BUILD {}
    wrapper = b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81"
    pickle_bytes = b"\x80\x04\x8c\x05numpy\x8c\x07object_\x93" + wrapper + b"\x85R}b."
    path.write_bytes(pickle_bytes)
    with pytest.raises(pickle_scan.ScanError, match="NumpyArrayWrapper other than"):
        scan_joblib(path)


# --- skops -----------------------------------------------------------------------------


def test_skops_model_publishes_and_the_handler_loads_and_predicts_it(
    tmp_path: Path,
) -> None:
    skops_io = pytest.importorskip("skops.io")
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "events"))
    from lambda_child import run_handler

    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
    pipeline.fit(TEXTS, LABELS)
    path = tmp_path / "files" / "model.skops"
    path.parent.mkdir()
    skops_io.dump(pipeline, path)
    manifest, summary = package_model([path], "sk1", tmp_path / "out")
    assert [f.name for f in manifest.files] == ["model.skops"]
    assert manifest.trained_with["scikit-learn"] == __import__("sklearn").__version__
    layer = tmp_path / "opt"
    with zipfile.ZipFile(summary.path) as archive:
        archive.extractall(layer)
    texts = ["love it, great", "awful and slow"]
    result = run_handler(ROOT / "handler", layer / "mlayer-model", {"texts": texts})
    assert result.error is None, result.error
    assert [p["prediction"] for p in result.result["predictions"]] == list(pipeline.predict(texts))


def test_skops_untrusted_type_is_refused_unless_trusted(aws: Account, project: Path) -> None:
    skops_io = pytest.importorskip("skops.io")
    pipeline = make_pipeline(Lowercase(), TfidfVectorizer(), LogisticRegression())
    skops_io.dump(pipeline.fit(TEXTS, LABELS), project / "own.skops")
    name = f"{Lowercase.__module__}.Lowercase"
    refused = run("publish-model", "own.skops", "--function-name", "fn", "--dry-run")
    assert_one_line_error(
        refused,
        f"model file own.skops refers to {name}, which mlayer does not trust",
        f"--trust-global {name}",
    )
    result = run(
        "publish-model", "own.skops", "--function-name", "fn", "--dry-run", "--trust-global", name
    )
    assert result.exit_code == 0, result.stderr
    manifest = manifest_in_zip(project / "build" / "model-layer.zip")
    assert manifest["files"][0]["trusted_types"] == [name]  # what skops.io.load gets


@pytest.mark.parametrize("compressor", ["zlib", "gzip", "lzma", "xz"])
def test_a_corrupt_compressed_file_is_refused_naming_it(tmp_path: Path, compressor: str) -> None:
    """zlib.error / LZMAError escaped the scan: the CLI said "unexpected … please
    report it" instead of naming the file."""
    path = tmp_path / "model.joblib"
    model = StandardScaler().fit(np.arange(600.0).reshape(200, 3))
    joblib.dump(model, path, compress=(compressor, 3))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = b"\xff" * 16  # the compressed stream, not its header
    path.write_bytes(bytes(data))
    with pytest.raises(pickle_scan.ScanError, match="cannot be decompressed"):
        pickle_scan.scan_joblib(path)
