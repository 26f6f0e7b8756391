"""invoke --local and cost --measure: run the handler on this machine, on real layer files.

Which zips: ``local_zips`` (a path given, a published version, the version
the deployed function links, or the local build), and a shadow model layer when
asked for (``shadow_environment`` tells the handler which model is which).
How: ``mlayer.local`` (the /opt sandbox, the runtime's interpreter, the REPORT
line), with the same handler environment a deploy sets
(``contract.handler_environment``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer import local
from mlayer.arns import layer_name_of
from mlayer.aws import Aws
from mlayer.contract import (
    DEFERRED_FILE,
    HANDLER,
    MODEL_SHA256_ENV,
    SHADOW_MODEL_ENV,
    handler_environment,
)
from mlayer.errors import MlayerError, UsageError
from mlayer.layerbuild.defer import read_layer_file
from mlayer.layerbuild.manifest import DEPS_ZIP_NAME
from mlayer.model import layer_model
from mlayer.ops.code import function_zip
from mlayer.ops.layers import artifact_store
from mlayer.ops.model import MODEL_ZIP_NAME
from mlayer.policy import parse_sink
from mlayer.settings import Settings
from mlayer.state import LayerVersion
from mlayer.store import fetch_layer_zip
from mlayer.targets import resolve_target


@dataclass(frozen=True)
class LocalLayer:
    path: Path
    origin: str  # said to the user: where these bytes came from
    kind: str = ""  # deps, model or shadow


def local_zips(
    settings: Settings,
    *,
    deps_zip: str | None = None,
    model_zip: str | None = None,
    deps_version: int | None = None,
    model_version: int | None = None,
    shadow_zip: str | None = None,
    shadow_version: int | None = None,
    aws: Callable[[], Aws] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> list[LocalLayer]:
    """The deps and model layer zips for invoke --local, in Lambda's layer order,
    then the shadow model's when ``shadow_zip`` or ``shadow_version`` names one.

    Per layer: a zip given by path; else a published version given by number;
    else the version the deployed function links; else the local build output.
    A published version's bytes come from the local store, S3 or its URL.
    """
    if shadow_zip is not None and shadow_version is not None:
        raise UsageError("give either --shadow-model-zip FILE or --shadow-model N, not both")
    out = Path(settings.out)
    wanted = {
        "deps": (deps_zip, deps_version, out / DEPS_ZIP_NAME),
        "model": (model_zip, model_version, out / MODEL_ZIP_NAME),
    }
    client: list[Aws] = []

    def connect() -> Aws:
        if aws is None:
            raise UsageError("a published layer version needs AWS: pass --deps-zip/--model-zip")
        if not client:
            client.append(aws())
        return client[0]

    linked: dict[str, str] = {}
    shadow_linked: str | None = None  # a second model layer the function links: its shadow
    undecided = any(path is None and version is None for path, version, _ in wanted.values())
    if undecided and settings.function_name and aws is not None:
        try:
            # What serves: the version the alias points at; $LATEST before versions.
            lam, name = connect(), settings.function_name
            function = lam.function(name, settings.alias) or lam.function(name)
        except MlayerError as exc:  # no credentials or no endpoint: still runnable locally
            on_message(f"not asking AWS which layers {settings.function_name} links ({exc})")
            function = None
        # The first of a name: a shadow model layer comes after the live one.
        linked = {}
        for arn in function.layers if function else ():
            first = linked.setdefault(layer_name_of(arn), arn)
            if first != arn and layer_name_of(arn) == settings.model_layer:
                shadow_linked = arn  # flags naming a shadow win over it

    layers = []
    for kind, (path, version, built) in wanted.items():
        if path is not None:
            layers.append(LocalLayer(Path(path), f"--{kind}-zip", kind))
            continue
        # Only a published layer needs its name (which may need --function-name).
        layer_name = (
            (settings.deps_layer if kind == "deps" else settings.model_layer)
            if version is not None or linked
            else ""
        )
        if version is not None:
            published = connect().layer_version(layer_name, version)
        elif layer_name in linked:
            published = connect().layer_version_by_arn(linked[layer_name])
        else:
            layers.append(LocalLayer(built, "local build output", kind))
            continue
        linked_note = " (linked by the function)" if version is None else ""
        layers.append(_fetch(settings, connect(), layer_name, published, kind, linked_note))
    if shadow_zip is not None:
        layers.append(LocalLayer(Path(shadow_zip), "--shadow-model-zip", "shadow"))
    elif shadow_linked is not None and shadow_version is None:
        published = connect().layer_version_by_arn(shadow_linked)
        note = " (linked by the function)"
        layers.append(_fetch(settings, connect(), settings.model_layer, published, "shadow", note))
    elif shadow_version is not None:
        published = connect().layer_version(settings.model_layer, shadow_version)
        layers.append(_fetch(settings, connect(), settings.model_layer, published, "shadow"))
    return layers


def _fetch(
    settings: Settings,
    aws: Aws,
    layer_name: str,
    published: LayerVersion,
    kind: str,
    note: str = "",
) -> LocalLayer:
    """A published layer version's zip, from the local store, S3 or its URL."""
    fetched = fetch_layer_zip(
        aws,
        artifact_store(settings),
        layer_name=layer_name,
        version=published.version,
        code_sha256=published.code_sha256,
        location=published.location,
        bucket=settings.bucket,
        allow_http=settings.endpoint_url is not None,  # an emulator serves plain http
    )
    origin = f"{layer_name}:{published.version}{note} from {fetched.source}"
    return LocalLayer(fetched.path, origin, kind)


def shadow_environment(layers: list[LocalLayer]) -> dict[str, str]:
    """What deploy tells the handler when a shadow is linked: which model is live
    (``MLAYER_MODEL_SHA256``) and which is the shadow; nothing without a shadow."""
    models = {layer.kind: layer for layer in layers if layer.kind in ("model", "shadow")}
    if "shadow" not in models:
        return {}
    live, shadow = layer_model(models["model"].path), layer_model(models["shadow"].path)
    if live.content_id == shadow.content_id:
        raise UsageError(
            f"the shadow model ({models['shadow'].origin}) is the live model "
            f"{live.content_id}: pick another version to compare with"
        )
    if not live.own_directory and not shadow.own_directory:
        raise UsageError(
            "the live and the shadow model layers were both published before model layers "
            "got their own directory, so one would overwrite the other under /opt: publish "
            "one of them again (mlayer publish-model … --force)"
        )
    return {MODEL_SHA256_ENV: live.content_id, SHADOW_MODEL_ENV: shadow.content_id}


def run_local(
    settings: Settings,
    events: list[Any],
    layer_zips: list[Path],
    *,
    repeat: int = 1,
    on_log: Callable[[str], None] | None = None,
    environment: dict[str, str] | None = None,
) -> local.Invocation:
    """Run the handler on ``events`` in the local Lambda sandbox with these layers;
    ``environment`` adds to (or overrides) the handler environment a deploy sets."""
    return local.invoke_local(
        target=resolve_target(settings.runtime, settings.arch),
        events=events,
        layer_zips=layer_zips,
        function_zip=function_zip(settings).path,
        handler=HANDLER,
        environment={
            **handler_environment(
                text_field=settings.text_field,
                text_is_json=settings.text_is_json,
                sink=parse_sink(settings.sink).env,
            ),
            **(environment or {}),
        },
        memory_mb=settings.memory,
        timeout_s=settings.timeout,
        repeat=repeat,
        function_name=settings.function_name or "local",
        region=settings.region or "us-east-1",
        on_log=on_log,
    )


def deferral_note(settings: Settings, layers: list[LocalLayer]) -> str | None:
    """What the deps layer defers until first use (build-deps --defer-imports) and the
    saving its build measured, read from the layer's list; None when it defers nothing."""
    deps = next((layer for layer in layers if layer.kind == "deps"), None)
    if deps is None:
        return None
    site = resolve_target(settings.runtime, settings.arch).site_packages
    try:
        with zipfile.ZipFile(deps.path) as archive:
            listing = read_layer_file(archive.read(f"{site}/{DEFERRED_FILE}").decode())
    except (KeyError, OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    if not listing or not listing.get("modules"):
        return None
    names = ", ".join(str(m.get("name")) for m in listing["modules"])
    measured = listing.get("measured_ms") or {}
    saving = (
        f"; its build measured import + load + predict {measured['without']} -> "
        f"{measured['with']} ms"
        if {"without", "with"} <= set(measured)
        else ""
    )
    return (
        f"deps layer defers {names} until first use{saving} (a deferred module the model "
        "uses loads then; nothing is deferred on SnapStart restores)"
    )
