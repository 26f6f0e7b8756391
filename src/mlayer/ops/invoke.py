"""invoke --local and cost --measure: run the handler on this machine, on real layer files.

Which zips: ``local_zips`` (a path given, a published version, the version
the deployed function links, or the local build). How: ``mlayer.local`` (the
/opt sandbox, the runtime's interpreter, the REPORT line), with the same
handler environment a deploy sets (``contract.handler_environment``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer import local
from mlayer.arns import layer_name_of
from mlayer.aws import Aws
from mlayer.contract import HANDLER, handler_environment
from mlayer.errors import MlayerError, UsageError
from mlayer.layerbuild.manifest import DEPS_ZIP_NAME
from mlayer.ops.code import function_zip
from mlayer.ops.layers import artifact_store
from mlayer.ops.model import MODEL_ZIP_NAME
from mlayer.policy import parse_sink
from mlayer.settings import Settings
from mlayer.store import fetch_layer_zip
from mlayer.targets import resolve_target


@dataclass(frozen=True)
class LocalLayer:
    path: Path
    origin: str  # said to the user: where these bytes came from


def local_zips(
    settings: Settings,
    *,
    deps_zip: str | None = None,
    model_zip: str | None = None,
    deps_version: int | None = None,
    model_version: int | None = None,
    aws: Callable[[], Aws] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> list[LocalLayer]:
    """The deps and model layer zips for invoke --local, in Lambda's layer order.

    Per layer: a zip given by path; else a published version given by number;
    else the version the deployed function links; else the local build output.
    A published version's bytes come from the local store, S3 or its URL.
    """
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
    undecided = any(path is None and version is None for path, version, _ in wanted.values())
    if undecided and settings.function_name and aws is not None:
        try:
            function = connect().function(settings.function_name)
        except MlayerError as exc:  # no credentials or no endpoint: still runnable locally
            on_message(f"not asking AWS which layers {settings.function_name} links ({exc})")
            function = None
        linked = {layer_name_of(arn): arn for arn in function.layers} if function else {}

    layers = []
    for kind, (path, version, built) in wanted.items():
        if path is not None:
            layers.append(LocalLayer(Path(path), f"--{kind}-zip"))
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
            layers.append(LocalLayer(built, "local build output"))
            continue
        fetched = fetch_layer_zip(
            connect(),
            artifact_store(settings),
            layer_name=layer_name,
            version=published.version,
            code_sha256=published.code_sha256,
            location=published.location,
            bucket=settings.bucket,
            allow_http=settings.endpoint_url is not None,  # an emulator serves plain http
        )
        linked_note = " (linked by the function)" if version is None else ""
        layers.append(
            LocalLayer(
                fetched.path, f"{layer_name}:{published.version}{linked_note} from {fetched.source}"
            )
        )
    return layers


def run_local(
    settings: Settings,
    events: list[Any],
    layer_zips: list[Path],
    *,
    repeat: int = 1,
    on_log: Callable[[str], None] | None = None,
) -> local.Invocation:
    """Run the handler on ``events`` in the local Lambda sandbox with these layers."""
    return local.invoke_local(
        target=resolve_target(settings.runtime, settings.arch),
        events=events,
        layer_zips=layer_zips,
        function_zip=function_zip(settings).path,
        handler=HANDLER,
        environment=handler_environment(
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
            sink=parse_sink(settings.sink).env,
        ),
        memory_mb=settings.memory,
        timeout_s=settings.timeout,
        repeat=repeat,
        function_name=settings.function_name or "local",
        region=settings.region or "us-east-1",
        on_log=on_log,
    )


def measure_durations(
    settings: Settings,
    texts: Path,
    batch_sizes: tuple[int, ...],
    on_message: Callable[[str], None],
) -> dict[int, float]:
    """The warm duration of one invocation per batch size, from the local build's layers."""
    lines = local.read_texts(texts)
    on_message(
        "measuring on this machine's CPU: Lambda gives a function a share of a vCPU in "
        f"proportion to memory (one at 1,769 MB), so at {settings.memory} MB expect longer; "
        "the cold start's init (billed since August 2025) is not in the per-invocation cost"
    )
    layers = local_zips(settings, on_message=on_message)
    durations = {}
    for size in batch_sizes:
        local.check_batch_size(size)
        # Enough records for one full batch, reusing the lines as needed.
        batch = [lines[i % len(lines)] for i in range(size)]
        events = local.kinesis_events(
            batch,
            batch_size=size,
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
        )
        invocation = run_local(settings, events, [layer.path for layer in layers], repeat=4)
        warm = [run["duration_ms"] for run in invocation.runs[1:]]
        durations[size] = sum(warm) / len(warm)
        on_message(
            f"batch {size}: warm {durations[size]:.1f} ms per invocation "
            f"(cold: init {invocation.init_ms:.0f} ms, first call "
            f"{invocation.runs[0]['duration_ms']:.0f} ms)"
        )
    return durations
