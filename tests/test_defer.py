"""build-deps --defer-imports: the handler's stub modules (handler/mlayer_defer.py),
the choice of what to defer (mlayer.layerbuild.defer) and where it is recorded.

The stub tests run each scenario in a fresh isolated interpreter (what the
handler's init is), on a small package written to a temporary directory whose
modules count their own imports in a shared list; slow tests build a real layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import train as example_train
from conftest import EXAMPLES, ROOT, Account, run, run_json

from mlayer import contract
from mlayer.descriptions import deferred_of, deps_description, deps_fields
from mlayer.errors import UsageError
from mlayer.layerbuild import defer
from mlayer.layerbuild.archive import ZipSummary
from mlayer.layerbuild.build_options import BuildOptions, cache_inputs, check_options
from mlayer.layerbuild.manifest import deferred_modules
from mlayer.ops.invoke import LocalLayer, deferral_note
from mlayer.ops.model import deferred_named
from mlayer.render import deferred_line
from mlayer.settings import Settings
from mlayer.targets import resolve_target

HANDLER = ROOT / "handler"

# heavy/ is a package whose "stats" submodule is the one deferred; every module
# appends its name to log.IMPORTED when it runs, so a test sees what really ran.
PACKAGE = {
    "log.py": "IMPORTED = []\n",
    "heavy/__init__.py": "import log\nlog.IMPORTED.append('heavy')\n",
    "heavy/stats/__init__.py": """
        import log
        log.IMPORTED.append('heavy.stats')
        from heavy import stats as itself  # a cycle through the parent, as scipy.stats has
        from heavy.stats._impl import Base, Frozen, rank
        VERSION = '1.0'
        __all__ = ['Base', 'Frozen', 'rank', 'VERSION']
        def mode(values):
            return max(set(values), key=values.count)
        """,
    "heavy/stats/_impl.py": """
        import log
        log.IMPORTED.append('heavy.stats._impl')
        class Base:
            def describe(self):
                return 'real ' + type(self).__name__
        class Frozen(Base):
            pass
        def rank(values):
            return sorted(range(len(values)), key=values.__getitem__)
        """,
    "heavy/stats/lazy.py": "import log\nlog.IMPORTED.append('heavy.stats.lazy')\nX = 1\n",
    "heavy/broken.py": "raise ImportError('broken on purpose')\n",
    # What scikit-learn does: names from the deferred module, bound at import time.
    "user.py": """
        import heavy.stats
        from heavy.stats import Base, rank
        class Mine(Base):
            pass
        def use_module(values):
            return heavy.stats.mode(values)
        """,
}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    for name, text in PACKAGE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def fresh(
    package: Path, code: str, deferred: list[str], env: dict[str, str] | None = None
) -> dict[str, object]:
    """Run ``code`` in a fresh isolated interpreter with ``deferred`` listed in the
    package's DEFERRED_FILE and the handler's finder imported first; ``code``
    sets ``out`` to what the test checks."""
    listing = {"format": contract.DEFERRED_FORMAT, "modules": [{"name": n} for n in deferred]}
    (package / contract.DEFERRED_FILE).write_text(json.dumps(listing))
    script = (
        f"import sys, json\nsys.path[:0] = [{str(HANDLER)!r}, {str(package)!r}]\n"
        "import mlayer_defer, log\nout = {}\n"
        + textwrap.dedent(code)
        + "\nprint(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_from_imports_bind_proxies_and_import_nothing(package: Path) -> None:
    out = fresh(
        package,
        """
        import user
        out["imported"] = list(log.IMPORTED)
        out["stub"] = type(sys.modules["heavy.stats"]).__name__
        out["on_parent"] = sys.modules["heavy"].stats is sys.modules["heavy.stats"]
        """,
        ["heavy.stats"],
    )
    # the subclass (class Mine(Base)) is the one use at import: it needs the real Base
    assert out == {"imported": ["heavy", "heavy.stats", "heavy.stats._impl"],
                   "stub": "module", "on_parent": True}  # fmt: skip


def test_nothing_runs_until_a_call_and_then_the_real_module_replaces_the_stub(
    package: Path,
) -> None:
    out = fresh(
        package,
        """
        from heavy.stats import rank, VERSION
        import heavy.stats
        out["before"] = list(log.IMPORTED)
        stub = sys.modules["heavy.stats"]
        out["stub"] = type(stub).__name__
        out["rank"] = rank([3, 1, 2])
        out["after"] = list(log.IMPORTED)
        real = sys.modules["heavy.stats"]
        out["replaced"] = type(real).__name__
        out["on_parent"] = sys.modules["heavy"].stats is real
        out["via_stub"] = stub.mode([1, 2, 2])  # a reference kept to the stub still works
        out["version"] = str(VERSION)
        out["dunder"] = stub.__all__
        out["once"] = log.IMPORTED.count("heavy.stats")
        out["paid"] = sorted(mlayer_defer.FINDER.used_ms)
        """,
        ["heavy.stats"],
    )
    assert out["before"] == ["heavy"]
    assert out["stub"] == "DeferredModule"
    assert out["rank"] == [1, 2, 0]
    assert out["after"] == ["heavy", "heavy.stats", "heavy.stats._impl"]
    assert out["replaced"] == "module"
    assert out["on_parent"] is True
    assert out["via_stub"] == 2
    assert out["version"] == "1.0"
    assert out["dunder"] == ["Base", "Frozen", "rank", "VERSION"]
    assert out["once"] == 1
    assert out["paid"] == ["heavy.stats"]


def test_isinstance_issubclass_and_base_classes_see_the_real_class(package: Path) -> None:
    out = fresh(
        package,
        """
        from heavy.stats import Base, Frozen
        out["untouched"] = "heavy.stats._impl" not in log.IMPORTED
        real_frozen = sys.modules["heavy.stats._impl"].Frozen() if False else None
        class Mine(Base):
            pass
        out["mro"] = [k.__name__ for k in Mine.__mro__]
        out["describe"] = Mine().describe()
        impl = sys.modules["heavy.stats._impl"]
        out["isinstance"] = isinstance(impl.Frozen(), Base)
        out["not_instance"] = isinstance(3, Frozen)
        out["issubclass"] = issubclass(impl.Frozen, Base)
        out["base_is_real"] = Mine.__mro__[1] is impl.Base
        out["proxy_eq"] = Base == impl.Base and hash(Base) == hash(impl.Base)
        out["name"] = Base.__name__
        """,
        ["heavy.stats"],
    )
    assert out == {
        "untouched": True,
        "mro": ["Mine", "Base", "object"],
        "describe": "real Mine",
        "isinstance": True,
        "not_instance": False,
        "issubclass": True,
        "base_is_real": True,
        "proxy_eq": True,
        "name": "Base",
    }


def test_a_function_or_pickle_reading_the_stub_gets_the_real_attribute(package: Path) -> None:
    """pickle builds instances of the class it looks up (cls.__new__(cls)): a proxy
    would fail there, so an attribute read outside a module's import is the real one
    (joblib unpickles inside its load function, as this test does)."""
    out = fresh(
        package,
        """
        import pickle, heavy.stats
        def lookup():
            return heavy.stats.Frozen
        out["real_class"] = type(lookup()) is type
        # protocol 0: GLOBAL heavy.stats Frozen, EMPTY_TUPLE, NEWOBJ, STOP
        blob = b"cheavy.stats\\nFrozen\\n)\\x81."
        def load():
            return pickle.loads(blob)
        obj = load()
        out["type"] = type(obj).__name__
        out["describe"] = obj.describe()
        """,
        ["heavy.stats"],
    )
    assert out == {"real_class": True, "type": "Frozen", "describe": "real Frozen"}


def test_a_submodule_of_a_stub_imports_under_the_real_parent_once(package: Path) -> None:
    out = fresh(
        package,
        """
        import heavy.stats.lazy
        import heavy.stats._impl
        out["lazy"] = heavy.stats.lazy.X
        out["parent_real"] = type(sys.modules["heavy.stats"]).__name__
        out["impl_once"] = log.IMPORTED.count("heavy.stats._impl")
        impl = sys.modules["heavy.stats._impl"]
        out["same_impl"] = impl is sys.modules["heavy.stats"]._impl
        out["spec_name"] = impl.__spec__.name
        out["spec_origin"] = impl.__spec__.origin.endswith("_impl.py")
        """,
        ["heavy.stats"],
    )
    assert out == {
        "lazy": 1,
        "parent_real": "module",
        "impl_once": 1,
        "same_impl": True,
        "spec_name": "heavy.stats._impl",
        "spec_origin": True,
    }


def test_a_module_that_fails_to_import_fails_at_first_use_every_time(package: Path) -> None:
    out = fresh(
        package,
        """
        from heavy.broken import anything
        errors = []
        for _ in range(2):
            try:
                anything()
            except ImportError as exc:
                errors.append(str(exc))
        out["errors"] = errors
        out["stub_back"] = type(sys.modules["heavy.broken"]).__name__
        """,
        ["heavy.broken"],
    )
    assert out == {"errors": ["broken on purpose"] * 2, "stub_back": "DeferredModule"}


@pytest.mark.parametrize(
    ("env", "deferred"),
    [
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, ["heavy.stats"]),  # SnapStart
        ({}, []),  # no list: nothing changes
    ],
)
def test_nothing_is_deferred_under_snapstart_or_without_a_list(
    package: Path, env: dict[str, str], deferred: list[str]
) -> None:
    out = fresh(
        package,
        """
        from heavy.stats import rank
        out["imported"] = list(log.IMPORTED)
        out["finder"] = mlayer_defer.FINDER is None
        out["meta_path"] = [type(f).__name__ for f in sys.meta_path][:1]
        """,
        deferred,
        env,
    )
    assert out["imported"] == ["heavy", "heavy.stats", "heavy.stats._impl"]
    assert out["finder"] is True
    assert out["meta_path"] != ["DeferringFinder"]


def test_listed_modules_reads_the_first_list_on_the_path(tmp_path: Path) -> None:
    sys.path.insert(0, str(HANDLER))
    try:
        import mlayer_defer
    finally:
        sys.path.remove(str(HANDLER))
    first, second = tmp_path / "a", tmp_path / "b"
    for directory, name in ((first, "x.y"), (second, "z")):
        directory.mkdir()
        listing = {"format": contract.DEFERRED_FORMAT, "modules": [{"name": name}]}
        (directory / contract.DEFERRED_FILE).write_text(json.dumps(listing))
    assert mlayer_defer.listed_modules([str(tmp_path), str(first), str(second)]) == ["x.y"]
    (first / contract.DEFERRED_FILE).write_text('{"format": "something else"}')
    assert mlayer_defer.listed_modules([str(first), str(second)]) == ["z"]
    assert mlayer_defer.listed_modules([str(tmp_path)]) == []


def test_the_handlers_deferral_module_is_the_one_the_contract_names() -> None:
    assert (HANDLER / f"{contract.DEFER_MODULE}.py").is_file()
    assert defer.deferral_module() == HANDLER / f"{contract.DEFER_MODULE}.py"
    handler = (HANDLER / contract.HANDLER_FILE).read_text()
    # installed before the model's loading imports anything heavy
    assert handler.index(f"import {contract.DEFER_MODULE}") < handler.index("from mlayer_loader")


# --- choosing what to defer (pure) ---------------------------------------------------

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       500 |        500 |   _frozen_importlib_external
import time:      1000 |     300000 | sklearn
import time:      2000 |     250000 |   sklearn.base
import time:      3000 |     200000 |     scipy.stats
import time:      1000 |     120000 |       scipy.stats._stats_py
import time:       800 |      40000 |     sklearn.metrics
import time:       100 |       9000 |   sklearn.tiny
import time:       900 |      60000 | json
some other line
"""


def test_parse_importtime_reads_each_module_once() -> None:
    timings = defer.parse_importtime(IMPORTTIME)
    assert timings["scipy.stats"] == defer.ImportTiming("scipy.stats", 3000, 200000)
    assert set(timings) == {
        "_frozen_importlib_external", "sklearn", "sklearn.base", "scipy.stats",
        "scipy.stats._stats_py", "sklearn.metrics", "sklearn.tiny", "json",
    }  # fmt: skip


def test_candidates_are_the_heaviest_layer_subtrees_none_inside_another() -> None:
    timings = defer.parse_importtime(IMPORTTIME)
    layer = [n for n in timings if n.split(".")[0] in ("sklearn", "scipy")]
    # json is not the layer's; sklearn.tiny is under the threshold; nested ones wait
    assert defer.choose_candidates(timings, layer, []) == ["sklearn", "scipy.stats"]
    assert defer.choose_candidates(timings, layer, {"sklearn"}) == [
        "sklearn.base",
        "scipy.stats",
        "sklearn.metrics",
    ]
    # the sample used sklearn and sklearn.base: their heavy submodules become the choice
    used = {"sklearn", "sklearn.base"}
    assert defer.choose_candidates(timings, layer, used) == ["scipy.stats", "sklearn.metrics"]
    used |= {"scipy.stats"}
    assert defer.choose_candidates(timings, layer, used) == [
        "scipy.stats._stats_py",
        "sklearn.metrics",
    ]


class FakePython:
    """Answers the sample runs: the model uses ``needed``; deferring ``breaks`` changes
    its predictions without loading anything (the one-at-a-time path)."""

    description = "fake python"

    def __init__(self, needed: set[str], breaks: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.needed, self.breaks, self.runs = needed, breaks, 0

    def run(self, arguments: list[str], *, timeout: float) -> tuple[int, str]:
        self.runs += 1
        deferred = set(json.loads(arguments[arguments.index(str(PROBE_MARK)) - 1]))
        spec = json.loads(Path(arguments[-2]).read_text())
        broken = bool(deferred & self.breaks)
        Path(spec["out"]).write_text(
            json.dumps(
                {
                    "predictions": ["x" if broken else "ok"],
                    "error": None,
                    "failed": {},
                    "modules": ["sklearn", "sklearn.base", "scipy.stats", "sklearn.metrics"],
                }
            )
        )
        loaded = sorted(deferred & self.needed)
        Path(arguments[-1]).write_text(json.dumps({"seconds": 0.5, "loaded": loaded}))
        return 0, IMPORTTIME if "importtime" in arguments else ""


PROBE_MARK = defer.PROBE


def sample(tmp_path: Path) -> defer.Sample:
    model, event = tmp_path / "m.joblib", tmp_path / "e.json"
    model.write_bytes(b"")
    event.write_text("[]")
    return defer.Sample((model,), event, "textblob", False)


def test_find_deferral_drops_what_the_sample_used_and_keeps_the_rest(tmp_path: Path) -> None:
    python = FakePython(needed={"sklearn", "sklearn.base"})
    site = tmp_path / "site"
    site.mkdir()
    found = defer.find_deferral(python, site, sample(tmp_path), repeats=1)
    assert found.names == ["scipy.stats", "sklearn.metrics"]
    assert [m.saved_ms for m in found.modules] == [200.0, 40.0]
    # trace; rounds: sklearn used, sklearn.base used, none used; verification; one
    # measurement each way
    assert (found.rounds, python.runs) == (3, 7)


def test_find_deferral_tries_one_at_a_time_when_predictions_change(tmp_path: Path) -> None:
    python = FakePython(needed={"sklearn", "sklearn.base"}, breaks={"sklearn.metrics"})
    site = tmp_path / "site"
    site.mkdir()
    found = defer.find_deferral(python, site, sample(tmp_path), repeats=1)
    assert found.names == ["scipy.stats"]


def test_the_layer_file_is_what_the_handler_reads(tmp_path: Path) -> None:
    found = defer.Deferral(
        (defer.DeferredModule("scipy.stats", 331.4), defer.DeferredModule("a.b", 20.0)),
        without_ms=650.0,
        with_ms=450.0,
        rounds=2,
    )
    path = defer.write_layer_file(tmp_path, found)
    assert path.name == contract.DEFERRED_FILE
    sys.path.insert(0, str(HANDLER))
    try:
        import mlayer_defer
    finally:
        sys.path.remove(str(HANDLER))
    assert mlayer_defer.listed_modules([str(tmp_path)]) == ["scipy.stats", "a.b"]
    assert found.manifest()["saved_ms"] == 200.0
    assert deferred_modules({"deferred": found.manifest()}) == ["scipy.stats", "a.b"]
    assert deferred_modules({"modules": None}) == []


# --- where it is recorded and said ----------------------------------------------------


SUMMARY = ZipSummary(Path("deps-layer.zip"), "ab" * 32, 64_000_000, 207_400_000, 9000)


def test_the_deps_description_names_the_deferred_modules_within_lambdas_limit() -> None:
    target = resolve_target("python3.13", "x86_64")
    versions = {"scikit-learn": "1.9.1", "numpy": "2.5.5", "scipy": "1.18.1", "joblib": "1.6.0"}
    names = ["scipy.stats", "joblib.externals.loky"] + [f"pkg{i}.module{i}" for i in range(20)]
    text = deps_description(target, versions, SUMMARY, pruned=True, deferred=names, saved_ms=382.6)
    assert len(text) <= 256
    fields = deps_fields(text)
    assert fields["sha256"] == "ab" * 8 and fields["saved-ms"] == "383"
    named, more = deferred_of(fields)
    assert named[:2] == ["scipy.stats", "joblib.externals.loky"]
    assert len(named) + more == len(names)
    plain = deps_description(target, versions, SUMMARY)
    assert "deferred" not in plain and deferred_of(deps_fields(plain)) == ([], 0)


def test_defer_imports_needs_the_sample_and_changes_the_cache_key(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.2.6\n")
    target = resolve_target("python3.11", "x86_64")
    asked = BuildOptions(requirements, target, tmp_path, defer_imports=True)
    with pytest.raises(UsageError, match="--defer-imports needs the model to trace"):
        check_options(asked)
    plain = cache_inputs(BuildOptions(requirements, target, tmp_path), "pip", None)
    assert "defer_imports" not in plain  # a build without the flag keeps its cache key
    assert cache_inputs(asked, "pip", None)["defer_imports"] is True


def test_publish_model_names_the_model_modules_a_layer_defers() -> None:
    modules = {
        "a.joblib": frozenset({"sklearn.neighbors._classification", "numpy"}),
        "b.joblib": frozenset({"scipy.stats._distn_infrastructure", "scipy.stats"}),
    }
    assert deferred_named(modules, ["scipy.stats", "sklearn.neighbors._classification.x"]) == [
        ("b.joblib", "scipy.stats", "scipy.stats"),
        ("b.joblib", "scipy.stats._distn_infrastructure", "scipy.stats"),
    ]
    assert deferred_named(modules, []) == []


def test_status_says_what_the_deps_layer_defers_and_the_saving() -> None:
    deferred = {"layer": "fn-deps:3", "modules": ["scipy.stats"], "more": 2, "saved_ms": 380}
    assert deferred_line(deferred) == (
        "  deps layer fn-deps:3 defers scipy.stats and 2 more until first use "
        "(-380 ms at init, measured at build)"
    )
    assert "not on SnapStart restores" in deferred_line(deferred, snapstart=True)


def test_invoke_local_says_what_the_deps_zip_defers(tmp_path: Path) -> None:
    found = defer.Deferral((defer.DeferredModule("scipy.stats", 331.0),), 650.0, 450.0, 1)
    listed = defer.write_layer_file(tmp_path, found)
    deps_zip = tmp_path / "deps-layer.zip"
    with zipfile.ZipFile(deps_zip, "w") as archive:
        archive.write(listed, f"python/{contract.DEFERRED_FILE}")
    settings = Settings(runtime="python3.11")
    layers = [LocalLayer(deps_zip, "--deps-zip", "deps")]
    assert deferral_note(settings, layers) == (
        "deps layer defers scipy.stats until first use; its build measured import + load + "
        "predict 650 -> 450 ms (a deferred module the model uses loads then; nothing is "
        "deferred on SnapStart restores)"
    )
    with zipfile.ZipFile(deps_zip, "w") as archive:
        archive.writestr("python/numpy/__init__.py", "")
    assert deferral_note(settings, layers) is None


def test_publish_model_warns_and_status_says_what_the_linked_deps_layer_defers(
    aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]
) -> None:
    """Against moto: the deps layer's description records the deferral (as build-deps
    --publish writes it); publish-model warns about a model module it defers, status
    says which modules and the saving."""
    import numpy
    import sklearn

    from mlayer.layerbuild.archive import summarize_zip

    target = resolve_target(f"python{sys.version_info[0]}.{sys.version_info[1]}", "x86_64")
    versions = {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__}
    description = deps_description(
        target,
        versions,
        summarize_zip(small_deps_zip),
        deferred=["scipy.stats", "sklearn.linear_model"],
        saved_ms=300,
    )
    aws.client("lambda").publish_layer_version(
        LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()},
        Description=description,
    )  # fmt: skip
    published = run("publish-model", *map(str, model_v1), "--function-name", "fn")
    assert published.exit_code == 0, published.stderr
    # the example's classifier is a LogisticRegression, from sklearn.linear_model._logistic
    assert "which fn-deps:1 defers (sklearn.linear_model)" in published.stderr
    deployed = run(
        "deploy", "--function-name", "fn", "--role", aws.role_arn, "--stream-arn", aws.stream_arn
    )
    assert deployed.exit_code == 0, deployed.stderr
    status = run_json("status", "--function-name", "fn")
    assert status["deferred"] == {
        "layer": "fn-deps:1",
        "modules": ["scipy.stats", "sklearn.linear_model"],
        "more": 0,
        "saved_ms": 300,
    }
    text = run("status", "--function-name", "fn").stdout
    assert "deps layer fn-deps:1 defers scipy.stats, sklearn.linear_model until first use" in text


# --- a real layer (slow) -------------------------------------------------------------


# Run with the handler's finder and only the layer on the path: the model loads with
# scipy.stats still a stub, predicts (k-nearest neighbours calls scipy.stats.mode),
# and the module is real afterwards.
ON_FIRST_USE = """
import json, sys
handler, site, texts, *files = sys.argv[1:]
sys.path[:0] = [handler, site]
import mlayer_defer, joblib
steps = [joblib.load(f) for f in files]
before = type(sys.modules.get("scipy.stats")).__name__
features = json.loads(texts)
for step in steps[:-1]:
    features = step.transform(features)
predictions = steps[-1].predict(features).tolist()
print(json.dumps({"before": before, "after": type(sys.modules["scipy.stats"]).__name__,
                  "paid": sorted(mlayer_defer.FINDER.used_ms), "predictions": predictions}))
"""


@pytest.mark.slow
def test_a_model_whose_predict_calls_a_deferred_module_works(
    project: Path, tmp_path: Path, model_v1: list[Path]
) -> None:
    """A deps layer built with --defer-imports on the example model defers scipy.stats;
    a k-nearest-neighbours model, whose predict calls scipy.stats.mode, runs through
    the handler (invoke --local: a separate interpreter on the real layer files) and
    predicts what it predicts here: the module loads on first use."""
    import joblib
    from sklearn.neighbors import KNeighborsClassifier
    from test_local_invoke import EVENT, expected_predictions

    from mlayer.ops.model import package_model

    out = tmp_path / "build"
    samples = [arg for path in model_v1 for arg in ("--sample-model", str(path))]
    built = run_json(
        "build-deps", "-r", str(EXAMPLES / "requirements.txt"), "--builder", "pip",
        "--out", str(out), "--defer-imports", *samples, "--sample-event", str(EVENT),
    )  # fmt: skip
    manifest = json.loads((out / "deps-build.json").read_text())
    assert "scipy.stats" in deferred_modules(manifest), manifest.get("deferred")
    assert manifest["deferred"]["saved_ms"] > 0
    assert built["zip"].endswith("deps-layer.zip")

    # the same pre-processors, and a classifier whose predict uses scipy.stats
    vectorizer, tfidf = (joblib.load(p) for p in model_v1[:2])
    texts, labels = example_train.make_reviews(300, seed=5)
    # metric="euclidean" on sparse input takes the path through scipy.stats.mode
    # (sklearn disables its Cython shortcut there); the default "minkowski" skips it.
    features = tfidf.transform(vectorizer.transform(texts))
    knn = KNeighborsClassifier(n_neighbors=3, metric="euclidean").fit(features, labels)
    knn_files = [*model_v1[:2], tmp_path / "3_knn.joblib"]
    joblib.dump(knn, knn_files[-1])
    _, model_zip = package_model(knn_files, "knn", tmp_path / "model")

    result = run_json(
        "invoke", "--local", "--event", str(EVENT),
        "--deps-zip", str(out / "deps-layer.zip"), "--model-zip", str(model_zip.path),
    )  # fmt: skip
    got = {item["id"]: item["prediction"] for item in result["result"]["predictions"]}
    expected = expected_predictions(knn_files, json.loads(EVENT.read_text()))
    assert got == expected

    site = tmp_path / "layer"
    with zipfile.ZipFile(out / "deps-layer.zip") as archive:
        archive.extractall(site)
    sample_texts = ["great product, fast delivery", "awful, broke after a day"]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", ON_FIRST_USE, str(HANDLER), str(site / "python"),
         json.dumps(sample_texts), *map(str, knn_files)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first_use = json.loads(done.stdout.strip().splitlines()[-1])
    steps = [joblib.load(p) for p in knn_files]
    features = sample_texts
    for step in steps[:-1]:
        features = step.transform(features)
    assert "scipy.stats" in first_use.pop("paid")
    assert first_use == {
        "before": "DeferredModule",
        "after": "module",
        "predictions": steps[-1].predict(features).tolist(),
    }
