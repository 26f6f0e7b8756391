"""The model manifest and its layer description (pure, on the example's files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_handler_lifecycle import OTHER_SKLEARN, with_sklearn_version

from mlayer.errors import UsageError
from mlayer.model import DESCRIPTION_LIMIT, ModelManifest, build_manifest, parse_description


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
