"""The model manifest, its layer description and its file name rule (on the example's files)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import joblib
import pytest
from conftest import Account, assert_one_line_error, run
from sklearn.linear_model import LogisticRegression
from test_handler_lifecycle import HANDLER, OTHER_SKLEARN, with_sklearn_version

from mlayer import contract, model
from mlayer.descriptions import DESCRIPTION_LIMIT, parse_description
from mlayer.errors import UsageError
from mlayer.model import ModelManifest, build_manifest


def test_manifest_records_files_roles_versions_and_label(model_v1: list[Path]) -> None:
    manifest = build_manifest(model_v1, "20190105v1")
    assert [(f.name, f.order, f.role) for f in manifest.files] == [
        ("1_vectorizer.joblib", 0, "transform"),
        ("2_tfidf.joblib", 1, "transform"),
        ("3_classifier.joblib", 2, "predict"),
    ]
    assert all(f.size == p.stat().st_size for f, p in zip(manifest.files, model_v1, strict=True))
    assert set(manifest.trained_with) >= {"python", "scikit-learn", "numpy", "scipy", "joblib"}
    again = ModelManifest.from_json(manifest.to_json())
    assert again.content_sha256 == manifest.content_sha256 and again.label == "20190105v1"


def test_description_fits_and_keeps_the_versions_with_the_longest_label(
    model_v1: list[Path],
) -> None:
    manifest = build_manifest(model_v1, "x" * 64)
    description = manifest.description()
    assert len(description) <= DESCRIPTION_LIMIT
    details = parse_description(description)
    assert details["sklearn"] == manifest.trained_with["scikit-learn"]
    assert (
        details["numpy"]
        and details["python"]
        and details["sha256"] == (manifest.content_sha256[:16])
    )
    assert details["label"] == "x" * 64


@pytest.mark.parametrize("label", ["has space", "a=b", "", "x" * 65])
def test_bad_labels_are_refused(model_v1: list[Path], label: str) -> None:
    with pytest.raises(UsageError, match="--label"):
        build_manifest(model_v1, label)


def test_estimator_version_beats_the_environment(tmp_path: Path, model_v1: list[Path]) -> None:
    old = with_sklearn_version(model_v1, tmp_path, OTHER_SKLEARN)
    assert build_manifest(old).trained_with["scikit-learn"] == "1.6.1"


def test_files_saved_with_different_sklearn_versions_are_refused(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    old = with_sklearn_version(model_v1, tmp_path, OTHER_SKLEARN)
    with pytest.raises(UsageError, match=r"1\.6\.1 \(1_vectorizer.joblib\), 1\.7\.2"):
        build_manifest([old[0], *model_v1[1:]])


def test_files_saved_with_different_sklearn_versions_pass_with_allow_version_mismatch(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    """Before, --allow-version-mismatch did not cover this refusal. Both versions are
    recorded, so no deps layer passes the gate (or the handler's check) unallowed."""
    old = with_sklearn_version(model_v1, tmp_path, OTHER_SKLEARN)
    manifest = build_manifest([old[0], *model_v1[1:]], allow_version_mismatch=True)
    assert manifest.trained_with["scikit-learn"] == "1.6.1,1.7.2"


def test_publish_model_allow_version_mismatch_covers_mixed_files(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:
    old = with_sklearn_version(model_v1, project / "old", OTHER_SKLEARN)
    files = [str(old[0]), *map(str, model_v1[1:])]
    refused = run("publish-model", *files, "--function-name", "fn", "--dry-run")
    assert_one_line_error(refused, "different scikit-learn versions", "--allow-version-mismatch")
    result = run(
        "publish-model", *files, "--function-name", "fn", "--dry-run", "--allow-version-mismatch"
    )
    assert result.exit_code == 0, result.stderr


BAD_NAMES = ["..\\x.joblib", "a\\b.joblib", "x\n.joblib", "x\x7f.joblib", "model.pkl"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_model_file_names_are_checked_at_publish(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    joblib.dump(LogisticRegression(), path)
    with pytest.raises(UsageError, match=r"rename the file to a plain name ending in \.joblib"):
        build_manifest([path])


def test_backslash_name_is_refused_by_publish_model(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:
    """Before, ``..\\x.joblib`` was published, and only ``invoke --local`` refused it."""
    shutil.copyfile(model_v1[2], project / "..\\x.joblib")
    result = run("publish-model", "..\\x.joblib", "--function-name", "fn", "--dry-run")
    assert_one_line_error(
        result, "model file name '..\\\\x.joblib' is not a plain file name", "rename the file"
    )


def _handler_loader() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mlayer_loader", HANDLER / "mlayer_loader.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_handler_copies_of_the_manifest_format_and_name_rule_match_mlayer() -> None:
    """The handler never imports mlayer: it keeps copies, tied here."""
    loader = _handler_loader()
    assert loader.MANIFEST_FORMAT == contract.MANIFEST_FORMAT
    assert loader.MANIFEST_NAME == contract.MANIFEST_NAME
    assert loader.MODEL_SUFFIXES == contract.MODEL_SUFFIXES
    names = [*BAD_NAMES, "", ".", "..", "a/b.joblib", "manifest.json", "ok.joblib", "ok.skops"]
    for name in names:
        assert loader.model_file_name_problem(name) == model.model_file_name_problem(name), name
    assert model.model_file_name_problem("ok.joblib") is None


def test_handler_refuses_a_manifest_naming_a_backslash_file(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    manifest = build_manifest(model_v1).to_json().replace("1_vectorizer.joblib", "..\\\\x.joblib")
    (tmp_path / "manifest.json").write_text(manifest)
    loader = _handler_loader()
    with pytest.raises(loader.ModelLayerError, match=r"invalid file '\.\.\\\\x\.joblib'"):
        loader.read_manifest(tmp_path)


def test_manifest_records_trusted_types_and_reads_older_manifests(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    manifest = build_manifest(model_v1)
    data = json.loads(manifest.to_json())
    assert data["trusted_globals"] == [] and data["files"][0]["trusted_types"] == []
    for item in data["files"]:  # as written before the field existed
        del item["trusted_types"]
    del data["trusted_globals"]
    again = ModelManifest.from_json(json.dumps(data))
    assert again.content_sha256 == manifest.content_sha256
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert _handler_loader().read_manifest(tmp_path)["format"] == contract.MANIFEST_FORMAT
