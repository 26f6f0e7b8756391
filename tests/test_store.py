"""mlayer's local store of published zips, and finding a published version's bytes
(the store, then S3, then the download URL) against the moto server."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import REGION, Account, run

from mlayer.aws import Aws
from mlayer.errors import MlayerError, NotFound
from mlayer.layerbuild.archive import lambda_sha256, sha256_file
from mlayer.store import ArtifactStore, default_root, fetch_layer_zip, store_key


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store lives under this test's own cache directory."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def make_zip(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mlayer-model/note.txt", text)
    return path


def test_put_then_get_by_sha256(tmp_path: Path, cache_home: Path) -> None:
    store = ArtifactStore()
    assert store.root == cache_home / "mlayer" / "layers" == default_root()
    source = make_zip(tmp_path / "a.zip", "one")
    digest = sha256_file(source)
    assert store.get(digest) is None
    kept = store.put(source)
    assert kept.read_bytes() == source.read_bytes()
    source.write_bytes(b"rebuilt later")  # the build dir changes; the stored copy does not
    assert store.get(digest) == kept
    assert sha256_file(kept) == digest


def test_a_corrupt_stored_zip_is_not_served(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    source = make_zip(tmp_path / "a.zip", "one")
    kept = store.put(source)
    kept.write_bytes(b"bit rot")
    assert store.get(sha256_file(source)) is None
    assert not kept.exists()


def test_publish_model_keeps_the_zip_in_the_store(
    aws: Account, project: Path, model_v1: list[Path]
) -> None:
    result = run("publish-model", *map(str, model_v1), "--function-name", "fn", "--json")
    assert result.exit_code == 0, result.stderr
    sha = sha256_file(project / "build" / "model-layer.zip")
    stored = ArtifactStore().get(sha)
    assert stored is not None
    published = aws.client("lambda").get_layer_version(LayerName="fn-model", VersionNumber=1)
    assert published["Content"]["CodeSha256"] == lambda_sha256(sha)


def test_store_location_from_config(aws: Account, project: Path, model_v1: list[Path]) -> None:
    (project / "mlayer.toml").write_text('store = "my-store"\n')
    assert run("publish-model", *map(str, model_v1), "--function-name", "fn").exit_code == 0
    sha = sha256_file(project / "build" / "model-layer.zip")
    assert (project / "my-store" / f"{sha}.zip").is_file()


def published_layer(aws: Account, source: Path) -> tuple[Aws, str, int]:
    lam = aws.client("lambda")
    reply = lam.publish_layer_version(
        LayerName="fn-model", Content={"ZipFile": source.read_bytes()}
    )
    return Aws(REGION, endpoint_url=aws.endpoint), reply["Content"]["CodeSha256"], reply["Version"]


def test_fetch_from_s3_then_from_the_store(aws: Account, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "model.zip", "from s3")
    client, code_sha256, version = published_layer(aws, source)
    sha = sha256_file(source)
    aws.client("s3").upload_file(str(source), aws.bucket, store_key("fn-model", sha))
    store = ArtifactStore(tmp_path / "store")
    layer = client.layer_version_by_arn(
        f"arn:aws:lambda:{REGION}:123456789012:layer:fn-model:{version}"
    )
    assert layer.code_sha256 == code_sha256

    def fetch() -> tuple[Path, str]:
        got = fetch_layer_zip(
            client,
            store,
            layer_name="fn-model",
            version=version,
            code_sha256=layer.code_sha256,
            location=layer.location,
            bucket=aws.bucket,
        )
        return got.path, got.source

    path, where = fetch()
    assert where == f"s3://{aws.bucket}/mlayer/fn-model/{sha}.zip"
    assert path.read_bytes() == source.read_bytes()
    calls = client.calls
    path, where = fetch()
    assert where == "store" and client.calls == calls  # no AWS call the second time


def test_fetch_refuses_bytes_that_do_not_match(aws: Account, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "model.zip", "published")
    client, code_sha256, version = published_layer(aws, source)
    other = make_zip(tmp_path / "other.zip", "something else")
    key = store_key("fn-model", sha256_file(source))
    aws.client("s3").upload_file(str(other), aws.bucket, key)  # replaced behind our back
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(MlayerError, match="corrupt or the object was replaced"):
        fetch_layer_zip(
            client,
            store,
            layer_name="fn-model",
            version=version,
            code_sha256=code_sha256,
            location="s3://",
            bucket=aws.bucket,
        )
    assert list(store.root.iterdir()) == []  # nothing half-written is left


def test_fetch_says_where_it_looked(aws: Account, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "model.zip", "nowhere")
    client, code_sha256, version = published_layer(aws, source)
    layer = client.layer_version("fn-model", version)
    assert layer.location.startswith("s3://")  # moto offers nothing to download
    with pytest.raises(NotFound) as caught:
        fetch_layer_zip(
            client,
            ArtifactStore(tmp_path / "store"),
            layer_name="fn-model",
            version=version,
            code_sha256=code_sha256,
            location=layer.location,
            bucket=aws.bucket,
        )
    message = str(caught.value)
    assert f"fn-model:{version}" in message
    assert "local store" in message and f"s3://{aws.bucket}/" in message
    assert "--model-zip" in message
    # the s3:// location was not fetched, and the message does not say it was
    tried = message.split("tried ", 1)[1].split(" (", 1)[0]
    assert "download URL" not in tried
    assert "Lambda gave no download URL: s3://" in message


def presigned_http_url(aws: Account, source: Path) -> str:
    """A plain-http download URL, as an emulator's Lambda gives for a layer."""
    s3 = aws.client("s3")
    s3.upload_file(str(source), aws.bucket, "elsewhere/layer.zip")
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": aws.bucket, "Key": "elsewhere/layer.zip"}
    )
    assert url.startswith("http://")
    return url


def test_an_http_url_is_followed_when_an_endpoint_url_is_configured(
    aws: Account, tmp_path: Path
) -> None:
    source = make_zip(tmp_path / "model.zip", "served over http")
    client, code_sha256, version = published_layer(aws, source)
    got = fetch_layer_zip(
        client,
        ArtifactStore(tmp_path / "store"),
        layer_name="fn-model",
        version=version,
        code_sha256=code_sha256,
        location=presigned_http_url(aws, source),
        bucket=None,
        allow_http=True,
    )
    assert got.source == "url" and got.path.read_bytes() == source.read_bytes()


def test_an_http_url_is_not_followed_without_an_endpoint_url(aws: Account, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "model.zip", "over http")
    client, code_sha256, version = published_layer(aws, source)
    url = presigned_http_url(aws, source)
    with pytest.raises(NotFound) as caught:
        fetch_layer_zip(
            client,
            ArtifactStore(tmp_path / "store"),
            layer_name="fn-model",
            version=version,
            code_sha256=code_sha256,
            location=url,
            bucket=None,
        )
    message = str(caught.value)
    assert "tried the local store" in message and "followed only with --endpoint-url" in message
    assert "X-Amz-Signature" not in message  # a presigned URL's credentials stay out


def test_invoke_local_follows_the_emulators_http_url(
    aws: Account, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """local_zips tells the store that an endpoint URL is configured."""
    from dataclasses import replace

    from mlayer.ops.invoke import local_zips
    from mlayer.settings import load_settings

    source = make_zip(project / "model.zip", "linked model")
    _, _, version = published_layer(aws, source)
    url = presigned_http_url(aws, source)

    class Emulator(Aws):
        def layer_version(self, name: str, number: int):  # type: ignore[no-untyped-def]
            return replace(super().layer_version(name, number), location=url)

    settings = load_settings({"function_name": "fn", "endpoint_url": aws.endpoint}, cwd=project)
    layers = local_zips(
        settings,
        deps_zip=str(source),
        model_version=version,
        aws=lambda: Emulator(REGION, endpoint_url=aws.endpoint),
    )
    assert layers[1].path.read_bytes() == source.read_bytes()
    assert layers[1].origin == f"fn-model:{version} from url"
