"""--for-model's pins (``layerbuild.pins``) on an injected metadata lookup, and the
CLI writing and building the installed versions of what the example model needs."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run

from mlayer.errors import UsageError
from mlayer.layerbuild.pins import Metadata, Source, pins_for_model, requirement_lines
from mlayer.targets import resolve_target

PY311 = resolve_target("python3.11", "x86_64")
PY313 = resolve_target("python3.13", "x86_64")

FAKE = {
    "scikit-learn": ("1.9.1", ["numpy>=1.22", "scipy>=1.8", "joblib>=1.2", "threadpoolctl>=3"]),
    "numpy": ("2.5.0", []),
    "scipy": ("1.18.0", ["numpy<2.6,>=1.25"]),
    "joblib": ("1.5.2", []),
    "threadpoolctl": ("3.6.0", []),
    # a marker for Pythons before 3.12, and one for Windows, and an extra
    "mylib": ("0.3", ["tomli; python_version < '3.12'", "pywin32; sys_platform == 'win32'",
                      "rich; extra == 'pretty'"]),
    "tomli": ("2.2.1", []),
    "skops": ("0.16.0", ["scikit-learn>=1.1"]),
}  # fmt: skip
PROVIDERS = {"sklearn": ["scikit-learn"], "numpy": ["numpy"], "mylib": ["mylib"]}


def fake() -> Metadata:
    return Metadata(
        PROVIDERS,
        lambda name: FAKE[name][0] if name in FAKE else None,
        lambda name: FAKE[name][1] if name in FAKE else [],
    )


def test_modules_map_to_their_distributions_and_dependencies_pinned_as_installed() -> None:
    modules = frozenset({"sklearn.linear_model._logistic", "numpy._core.multiarray", "builtins"})
    pins = pins_for_model([Source("m.joblib", modules)], fake(), PY311)
    assert pins == {
        "scikit-learn": "1.9.1",
        "numpy": "2.5.0",
        "scipy": "1.18.0",
        "joblib": "1.5.2",
        "threadpoolctl": "3.6.0",
    }


def test_markers_are_evaluated_for_the_target_python_not_the_running_one() -> None:
    source = [Source("m.joblib", frozenset({"mylib.model"}))]
    on_311 = pins_for_model(source, fake(), PY311)
    on_313 = pins_for_model(source, fake(), PY313)
    assert on_311 == {"mylib": "0.3", "tomli": "2.2.1", "joblib": "1.5.2"}
    assert on_313 == {"mylib": "0.3", "joblib": "1.5.2"}  # no tomli on 3.13, never pywin32


def test_a_skops_file_needs_skops() -> None:
    pins = pins_for_model([Source("m.skops", frozenset({"numpy"}))], fake(), PY311)
    assert pins["skops"] == "0.16.0" and pins["scikit-learn"] == "1.9.1"
    assert "joblib" in pins  # scikit-learn's dependency


def test_a_module_no_distribution_provides_names_it_and_the_file() -> None:
    with pytest.raises(UsageError) as raised:
        pins_for_model([Source("m.joblib", frozenset({"ourlib.features.Tok"}))], fake(), PY311)
    assert str(raised.value) == (
        "model file m.joblib names module ourlib.features.Tok, which no installed distribution "
        "provides: install it, or write requirements.txt by hand (-r)"
    )


def test_requirement_lines_are_a_header_and_sorted_pins() -> None:
    lines = requirement_lines({"scipy": "1.18.0", "numpy": "2.5.0"}, ["m.joblib"], PY313)
    assert lines[0].startswith("# pinned by mlayer build-deps --for-model m.joblib")
    assert "python3.13" in lines[1]
    assert lines[2:] == ["numpy==2.5.0", "scipy==1.18.0"]


def test_for_model_and_requirements_exclude_each_other(project: Path, model_v1: list[Path]) -> None:
    (project / "requirements.txt").write_text("numpy==2.2.6\n")
    result = run("build-deps", "-r", "requirements.txt", "--for-model", str(model_v1[0]))
    assert_one_line_error(result, "--for-model and -r exclude each other")


@pytest.mark.slow
def test_for_model_pins_and_builds_the_installed_versions(
    project: Path, model_v1: list[Path]
) -> None:
    flags = [arg for path in model_v1 for arg in ("--for-model", str(path))]
    result = run(
        "build-deps", *flags, "--builder", "pip", "--runtime", "python3.11", "--json"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    names = ["scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"]
    installed = {name: metadata.version(name) for name in names}
    written = (project / "build" / "for-model-requirements.txt").read_text().splitlines()
    assert written[0].startswith("# pinned by mlayer build-deps --for-model")
    assert {line for line in written if not line.startswith("#")} == {
        f"{name}=={version}" for name, version in installed.items()
    }
    data = json.loads(result.stdout)
    assert data["for_model_pins"] == installed
    assert all(data["versions"][name] == installed[name] for name in names)  # built as pinned
    assert f"scikit-learn=={installed['scikit-learn']}" in result.stderr
