"""The command line: parse, plan, apply, report. Nothing else lives here.

Every error a user can fix is an ``MlayerError``; ``MlayerGroup.invoke``
turns it into one line on stderr and a non-zero exit code. A traceback is
shown only with ``--debug``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from mlayer import __version__, actions, local
from mlayer.aws import Aws, TriggerState, layer_name_of
from mlayer.errors import MlayerError, UsageError
from mlayer.layerbuild.budget import UNZIPPED_LIMIT, size_lines
from mlayer.layerbuild.layer import Progress
from mlayer.layerbuild.manifest import MANIFEST_FILE
from mlayer.options import (
    DESTINATION_ARN,
    RECORD_AGE,
    ROLE_ARN,
    STREAM_ARN,
    bucket_option,
    dry_run_option,
    file_value_converter,
    global_options,
    global_values,
    layer_name_option,
    out_option,
)
from mlayer.plan import short_arn
from mlayer.settings import (
    SAFE_BISECT_ON_ERROR,
    SAFE_MAXIMUM_RECORD_AGE,
    SAFE_MAXIMUM_RETRIES,
    Settings,
    load_settings,
)
from mlayer.targets import ARCHITECTURES, resolve_target
from mlayer.validate import check_region


class MlayerGroup(click.Group):
    """Translates errors into one-line messages, once, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlayerError as exc:
            if global_values(ctx).get("debug"):
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if global_values(ctx).get("debug"):
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} "
                "(rerun with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


class Output:
    """Human text on stderr while working; the result on stdout (JSON with --json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def info(self, message: str) -> None:
        click.echo(message, err=True)

    def detail(self, message: str) -> None:
        click.secho(f"  {message}", err=True, dim=True)

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            for line in lines:
                click.echo(line)

    def progress(self) -> Progress:
        return Progress(message=self.info, detail=self.detail)


def _settings(ctx: click.Context, **flags: Any) -> tuple[Settings, Output]:
    values = dict(global_values(ctx))
    config = values.pop("config", None)
    # mlayer.toml's values go through the flags' own types and ranges (names, ARNs,
    # IntRange, Choice), so a bad file is refused before any work or AWS call.
    settings = load_settings({**values, **flags}, config, convert=file_value_converter(ctx))
    return settings, Output(settings.json)


def _aws(settings: Settings) -> Aws:
    aws = Aws(settings.region, settings.profile, settings.endpoint_url)
    if settings.region is None:  # from AWS_REGION or the AWS config: not checked yet
        try:
            check_region(aws.region)
        except ValueError as exc:
            raise UsageError(
                f"AWS region {aws.region!r} (from AWS_REGION, AWS_DEFAULT_REGION or your "
                f"AWS config) {exc}"
            ) from None
    return aws


@contextmanager
def _bytes_bar(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A click progress bar on stderr for uploads; silent when not a terminal."""
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
        yield bar.update if enabled else (lambda _: None)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@click.group(cls=MlayerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlayer")
@global_options
def cli() -> None:
    """Serve scikit-learn models on AWS Lambda as layers.

    \b
    A typical first deployment:
      mlayer build-deps -r requirements.txt --publish --bucket my-bucket
      mlayer publish-model preproc1.joblib preproc2.joblib model.joblib --label v1
      mlayer deploy --role ROLE_ARN --stream-arn STREAM_ARN
    Then, for each new model: publish-model and deploy (only the model layer
    is relinked); mlayer rollback --version N goes back.

    Every option can also be set in ./mlayer.toml (same names, without dashes).
    """


@cli.command("build-deps", short_help="Build the dependency layer and optionally publish it.")
@click.option(
    "-r",
    "--requirements",
    type=click.Path(dir_okay=False),
    help="Pinned requirements of the model (numpy, scikit-learn, ...).",
)
@click.option("--runtime", help="Lambda runtime [default: python3.11].")
@click.option(
    "--arch", type=click.Choice(ARCHITECTURES), help="Lambda architecture [default: x86_64]."
)
@click.option(
    "--builder",
    type=click.Choice(["auto", "pip", "docker"]),
    help="How to build [default: auto: docker when an engine answers, else pip].",
)
@click.option("--image", help="Docker build image [default: public.ecr.aws/sam/build-<runtime>].")
@click.option(
    "--host-network", is_flag=True, default=None, help="Run build containers on the host network."
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False),
    help="CA bundle for the build container's pip (mounted read-only) [default: $PIP_CERT].",
)
@click.option(
    "--slim/--no-slim",
    default=None,
    help="Remove tests, sources, headers, stubs, docs [default: slim].",
)
@click.option(
    "--bytecode/--no-bytecode",
    default=None,
    help="Compile unchecked-hash .pyc for the target's Python [default: on].",
)
@click.option(
    "--sourceless", is_flag=True, default=None, help="Ship .pyc in place of .py (smallest)."
)
@click.option(
    "--keep-sources",
    is_flag=True,
    default=None,
    help="With --prune, keep the .py files (--prune alone ships sourceless bytecode).",
)
@click.option(
    "--no-deps",
    is_flag=True,
    default=None,
    help="Install exactly the listed pins, no dependencies (each must be name==version).",
)
@click.option(
    "--prune",
    is_flag=True,
    default=None,
    help="Keep only what the sample model uses (traced), verified by its predictions.",
)
@click.option(
    "--sample-model",
    "sample_models",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A joblib file of the model, for --prune (repeat, in pipeline order).",
)
@click.option(
    "--sample-event",
    type=click.Path(dir_okay=False),
    help="A sample event (Kinesis JSON, or a JSON list of texts) for --prune.",
)
@click.option(
    "--reserve-mb",
    type=click.IntRange(0),
    help="MB of Lambda's 262 MB to keep free besides the model layer [default: 0].",
)
@click.option("--no-cache", is_flag=True, help="Rebuild even if nothing changed.")
@out_option
@click.option("--publish", is_flag=True, help="Publish the zip as a new layer version.")
@layer_name_option("deps")
@bucket_option
@dry_run_option
@global_options
@click.pass_context
def build_deps(
    ctx: click.Context,
    requirements: str | None,
    runtime: str | None,
    arch: str | None,
    builder: str | None,
    image: str | None,
    host_network: bool | None,
    ca_bundle: str | None,
    slim: bool | None,
    bytecode: bool | None,
    sourceless: bool | None,
    keep_sources: bool | None,
    no_deps: bool | None,
    prune: bool | None,
    sample_models: tuple[str, ...],
    sample_event: str | None,
    reserve_mb: int | None,
    no_cache: bool,
    out: str | None,
    publish: bool,
    layer_name: str | None,
    bucket: str | None,
    dry_run: bool,
) -> None:
    """Build the dependency layer (python/ in build/deps-layer.zip) and optionally publish it.

    \b
    Installs for the Lambda target (wheel tags checked), slims, compiles
    unchecked-hash bytecode, verifies the imports in a fresh interpreter, checks
    the size budget and writes build/deps-build.json beside the zip.
    """
    settings, output = _settings(
        ctx,
        requirements=requirements,
        runtime=runtime,
        arch=arch,
        builder=builder,
        image=image,
        host_network=host_network,
        ca_bundle=ca_bundle,
        slim=slim,
        bytecode=bytecode,
        sourceless=sourceless,
        keep_sources=keep_sources,
        no_deps=no_deps,
        prune=prune,
        sample_models=sample_models,
        sample_event=sample_event,
        reserve_mb=reserve_mb,
        out=out,
        deps_layer_name=layer_name,
        bucket=bucket,
    )
    resolve_target(settings.runtime, settings.arch)  # refuse an unknown target before any work
    if publish:
        settings.deps_layer  # noqa: B018 - needs a function or layer name before building
    progress = Progress(
        message=output.info,
        detail=output.detail,
        warning=lambda text: click.secho(f"Warning: {text}", err=True, fg="yellow"),
        bar=lambda label, total: _bytes_bar(label, total, sys.stderr.isatty()),
    )
    built = actions.build_deps(
        settings,
        publish=publish,
        aws=lambda: _aws(settings),
        progress=progress,
        use_cache=not no_cache,
        dry_run=dry_run,
    )
    zipped = built.zip
    published = built.published
    lines = [
        f"{zipped.path}: {_mb(zipped.zipped_bytes)} zipped, {_mb(zipped.unzipped_bytes)} unzipped"
        + (" (reused from the cache)" if built.build and built.build.cached else "")
    ]
    details: dict[str, Any] = {}
    if built.build:
        budget = built.build.budget
        manifest = built.build.manifest
        lines.append(f"budget: {budget.summary()}")
        packages = manifest["packages"].items()
        sizes = {name: p["bytes"] for name, p in sorted(packages, key=lambda kv: -kv[1]["bytes"])}
        lines += ["largest packages:"] + [f"  {line}" for line in size_lines(sizes)]
        lines.append(f"build manifest: {Path(settings.out) / MANIFEST_FILE}")
        details = {
            "cached": built.build.cached,
            "versions": built.build.versions,
            "upload": budget.upload,
            "headroom_bytes": budget.headroom_bytes,
            "package_bytes": sizes,
            "manifest": str(Path(settings.out) / MANIFEST_FILE),
            "pruned_modules": len(manifest["modules"]) if manifest["modules"] is not None else None,
            "warnings": built.build.warnings,
        }
    if published:
        verb = "published" if published.new else "unchanged, still"
        lines.append(f"{verb} {short_arn(published.arn)}  {published.arn}")
    output.result(
        {
            "zip": str(zipped.path),
            "sha256": zipped.sha256,
            "zipped_bytes": zipped.zipped_bytes,
            "unzipped_bytes": zipped.unzipped_bytes,
            **details,
            "published": {"version": published.version, "arn": published.arn, "new": published.new}
            if published
            else None,
            "dry_run": dry_run,
        },
        lines,
    )


@cli.command("publish-model", short_help="Publish the model's joblib files as a new layer version.")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@layer_name_option("model")
@click.option("--label", help="A label for this model version, e.g. 20190105v1.")
@bucket_option
@out_option
@click.option(
    "--force", is_flag=True, help="Publish even if the newest version has the same files."
)
@click.option(
    "--allow-version-mismatch",
    is_flag=True,
    default=None,
    help="Publish although the model was saved with other versions than the deps layer has.",
)
@click.option(
    "--trust-global",
    multiple=True,
    metavar="MODULE.NAME",
    help="Accept a global (joblib) or type (skops) outside mlayer's allowlist that you vouch "
    "for; repeatable; recorded in the manifest.",
)
@dry_run_option
@global_options
@click.pass_context
def publish_model(
    ctx: click.Context,
    files: tuple[str, ...],
    layer_name: str | None,
    label: str | None,
    bucket: str | None,
    out: str | None,
    force: bool,
    allow_version_mismatch: bool | None,
    trust_global: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Zip the model's .joblib FILES (pre-processors first, the model last) into
    a layer under /opt/mlayer-model and publish a new version, after checking
    them against the deps layer's Python, scikit-learn and numpy versions."""
    settings, output = _settings(
        ctx,
        model_files=files,
        model_layer_name=layer_name,
        label=label,
        bucket=bucket,
        out=out,
        allow_version_mismatch=allow_version_mismatch,
        trust_global=trust_global,
    )
    if not settings.model_files:
        raise UsageError("no model files given: mlayer publish-model PRE1.joblib ... MODEL.joblib")
    settings.model_layer  # noqa: B018 - refuse a missing name before any work
    manifest, zipped, published = actions.publish_model(
        settings,
        [Path(f) for f in settings.model_files],
        aws=_aws(settings),
        force=force,
        progress=output.progress(),
        dry_run=dry_run,
    )
    data = {
        "zip": str(zipped.path),
        "sha256": zipped.sha256,
        "content_sha256": manifest.content_sha256,
        "version": published.version if published else None,
        "arn": published.arn if published else None,
        "new": published.new if published else True,
        "dry_run": dry_run,
    }
    if published is None:
        output.result(data, [])  # the dry run's message said what would happen
        return
    verb = "published" if published.new else "unchanged, still"
    output.result(
        data, [f"{verb} {short_arn(published.arn)} (version {published.version})  {published.arn}"]
    )


def _report_deploy(output: Output, result: actions.DeployResult, dry_run: bool) -> None:
    steps = result.plan.describe()
    lines = []
    if not result.plan.changed:
        lines.append(f"{result.function_arn}: nothing to change")
    elif dry_run:
        lines += ["Would:"] + [f"  {step}" for step in steps]
    else:
        lines.append(f"{result.function_arn}: done ({len(steps)} step(s))")
    lines += [f"  layer {short_arn(arn)}" for arn in result.layers]
    lines += [f"  note: {note}" for note in result.plan.notes]
    output.result(
        {
            "function_arn": result.function_arn,
            "layers": list(result.layers),
            "changed": result.plan.changed and result.applied,
            "dry_run": dry_run,
            "steps": steps,
            "notes": list(result.plan.notes),
        },
        lines,
    )


def allow_mismatch_option(func: Any) -> Any:
    return click.option(
        "--allow-version-mismatch",
        is_flag=True,
        default=None,
        help="Go ahead although the model was saved with other Python/scikit-learn/numpy "
        "versions than the deps layer has (recorded on the function; status shows it).",
    )(func)


@cli.command(short_help="Create or update the function, link the layers, wire the trigger.")
@click.option("--role", type=ROLE_ARN, help="Execution role ARN (needed to create the function).")
@click.option(
    "--create-role",
    is_flag=True,
    default=None,
    help="Create (or update) the role <function>-mlayer with the least-privilege policy.",
)
@click.option(
    "--stream-arn", type=STREAM_ARN, help="Kinesis stream ARN that triggers the function."
)
@click.option(
    "--table-stream-arn",
    type=STREAM_ARN,
    help="DynamoDB table stream ARN that triggers the function.",
)
@click.option(
    "--sink",
    help="Where predictions go: log, dynamodb:TABLE or kinesis:STREAM [default: log].",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 10000), help="Records per invocation [default: 100]."
)
@click.option(
    "--starting-position",
    type=click.Choice(["LATEST", "TRIM_HORIZON"]),
    help="Where a new trigger starts reading [default: LATEST].",
)
@click.option(
    "--bisect-on-error/--no-bisect-on-error",
    default=None,
    help="Split a failing batch in two and retry each half (a split uses no retry) "
    f"[default: {'on' if SAFE_BISECT_ON_ERROR else 'off'}].",
)
@click.option(
    "--maximum-retries",
    type=click.IntRange(-1, 10000),
    help="Retries of a failing batch, then its records are dropped (or sent --on-failure); "
    f"-1 until they expire, the shard blocked meanwhile [default: {SAFE_MAXIMUM_RETRIES}].",
)
@click.option(
    "--maximum-record-age",
    type=RECORD_AGE,
    help="Seconds after which a record is dropped, or sent --on-failure (60..604800); "
    f"-1 never [default: {SAFE_MAXIMUM_RECORD_AGE}, the streams' default retention].",
)
@click.option(
    "--parallelization-factor",
    type=click.IntRange(1, 10),
    help="Concurrent batches per shard [default: 1]; order per partition key is kept.",
)
@click.option(
    "--on-failure",
    type=DESTINATION_ARN,
    help="SQS/SNS/S3 ARN that receives records that exhausted their retries.",
)
@click.option("--memory", type=click.IntRange(128, 10240), help="Memory in MB [default: 192].")
@click.option("--timeout", type=click.IntRange(1, 900), help="Timeout in seconds [default: 60].")
@click.option(
    "--model-version", type=click.IntRange(1), help="Model layer version [default: newest]."
)
@click.option("--runtime", help="Lambda runtime [default: python3.11].")
@click.option(
    "--arch", type=click.Choice(ARCHITECTURES), help="Lambda architecture [default: x86_64]."
)
@click.option(
    "--text-field", help="JSON field of each record holding the text [default: textblob]."
)
@click.option(
    "--text-is-json",
    is_flag=True,
    default=None,
    help="The text field holds a JSON-encoded string (the seed's format).",
)
@click.option(
    "--handler-dir", type=click.Path(file_okay=False), help="Your own handler/ directory."
)
@allow_mismatch_option
@out_option
@dry_run_option
@global_options
@click.pass_context
def deploy(ctx: click.Context, /, model_version: int | None, dry_run: bool, **flags: Any) -> None:
    """Create or update the function from handler/, link the newest deps layer and
    the model layer version, and wire the Kinesis or DynamoDB stream trigger.
    Checks the model against the deps layer first. Idempotent."""
    settings, output = _settings(ctx, **flags)
    result = actions.deploy(
        settings,
        _aws(settings),
        model_version=model_version,
        dry_run=dry_run,
        on_step=lambda step: output.info(f"-> {step}"),
    )
    _report_deploy(output, result, dry_run)


@cli.command(short_help="Relink the function to an earlier model layer version.")
@click.option(
    "--version",
    "version",
    type=click.IntRange(1),
    help="Model layer version to link.",
)
@click.option(
    "--to-previous",
    is_flag=True,
    help="Link the newest model layer version older than the live one.",
)
@allow_mismatch_option
@dry_run_option
@global_options
@click.pass_context
def rollback(
    ctx: click.Context,
    version: int | None,
    to_previous: bool,
    allow_version_mismatch: bool | None,
    dry_run: bool,
) -> None:
    """Relink the function to model layer version N (or the previous one); the deps
    layer stays. The model is checked against the linked deps layer first."""
    settings, output = _settings(ctx, allow_version_mismatch=allow_version_mismatch)
    result = actions.rollback(
        settings,
        _aws(settings),
        version=version,
        to_previous=to_previous,
        dry_run=dry_run,
        on_step=lambda step: output.info(f"-> {step}"),
    )
    _report_deploy(output, result, dry_run)


@cli.command(short_help="Run the handler locally as Lambda would, with a REPORT line.")
@click.option(
    "--local",
    "is_local",
    is_flag=True,
    required=True,
    help="Run on this machine (the only mode so far).",
)
@click.option("--event", type=click.Path(dir_okay=False), help="Event JSON file.")
@click.option(
    "--texts",
    type=click.Path(dir_okay=False),
    help="A file of texts, one per line: sent as Kinesis events instead of --event.",
)
@click.option("--batch-size", type=int, help="Records per event with --texts [default: 100].")
@click.option(
    "--repeat", type=int, default=1, help="Invoke N times: the first cold, the rest warm."
)
@click.option("--deps-zip", type=click.Path(dir_okay=False), help="A deps layer zip to use.")
@click.option("--model-zip", type=click.Path(dir_okay=False), help="A model layer zip to use.")
@click.option(
    "--deps-version", type=click.IntRange(1), help="A published deps layer version to use."
)
@click.option(
    "--model-version", type=click.IntRange(1), help="A published model layer version to use."
)
@click.option("--runtime", help="Lambda runtime [default: python3.11].")
@click.option("--memory", type=click.IntRange(128, 10240), help="Memory in MB [default: 192].")
@click.option(
    "--text-field", help="JSON field of each record holding the text [default: textblob]."
)
@click.option(
    "--text-is-json", is_flag=True, default=None, help="The text field holds a JSON-encoded string."
)
@click.option(
    "--handler-dir", type=click.Path(file_okay=False), help="Your own handler/ directory."
)
@bucket_option
@out_option
@global_options
@click.pass_context
def invoke(
    ctx: click.Context,
    is_local: bool,
    event: str | None,
    texts: str | None,
    batch_size: int | None,
    repeat: int,
    deps_zip: str | None,
    model_zip: str | None,
    deps_version: int | None,
    model_version: int | None,
    runtime: str | None,
    memory: int | None,
    text_field: str | None,
    text_is_json: bool | None,
    handler_dir: str | None,
    bucket: str | None,
    out: str | None,
) -> None:
    """Run the handler on an event as Lambda runs it, and print its result and REPORT line.

    \b
    Layers, per layer: --deps-zip/--model-zip; else --deps-version/--model-version
    (published); else the versions the deployed function links; else the zips in
    the build directory. Published zips come from mlayer's local store, S3 or
    the layer's download URL.
    """
    settings, output = _settings(
        ctx,
        runtime=runtime,
        memory=memory,
        text_field=text_field,
        text_is_json=text_is_json,
        handler_dir=handler_dir,
        bucket=bucket,
        out=out,
    )
    events = local.read_events(
        event=event,
        texts=texts,
        batch_size=batch_size,
        default_batch_size=settings.batch_size,
        text_field=settings.text_field,
        text_is_json=settings.text_is_json,
    )
    resolve_target(settings.runtime, settings.arch)  # refuse an unknown target before any work
    layers = actions.local_zips(
        settings,
        deps_zip=deps_zip,
        model_zip=model_zip,
        deps_version=deps_version,
        model_version=model_version,
        aws=lambda: _aws(settings),
        on_message=output.info,
    )
    invocation = actions.run_local(
        settings, events, [layer.path for layer in layers], repeat=repeat, on_log=output.detail
    )
    # Said after the run, so that a refusal stays one line.
    for kind, layer in zip(("deps", "model"), layers, strict=True):
        output.info(f"{kind} layer: {layer.path} ({layer.origin})")
    data: dict[str, Any] = {"result": invocation.result, "report": invocation.report}
    if len(invocation.runs) > 1:
        data["repeats"] = invocation.repeats
    output.result(
        data,
        [json.dumps(invocation.result, indent=2), *invocation.report_lines(settings.memory)],
    )


@cli.command(short_help="Cost per invocation, per ingest and break-even vs an endpoint.")
@click.option("--records", type=int, required=True, help="Records per ingest (e.g. 50000).")
@click.option(
    "--batch-size",
    "batch_sizes",
    type=int,
    multiple=True,
    required=True,
    help="Records per invocation; repeat for several (--batch-size 1 --batch-size 100).",
)
@click.option("--duration-ms", type=float, help="Duration of one invocation in ms.")
@click.option(
    "--measure",
    type=click.Path(dir_okay=False),
    help="Measure the duration per batch size instead: invoke the local layers on "
    "this texts file (one text per line).",
)
@click.option("--memory", type=int, help="Memory in MB [default: 192].")
@click.option("--arch", type=click.Choice(ARCHITECTURES), help="[default: x86_64]")
@click.option("--price-per-gb-second", type=float, help="Override the price per GB-second.")
@click.option(
    "--price-per-100ms",
    type=float,
    help="The price of 100 ms at --memory, as AWS listed it before 2020 (implies 100 ms billing).",
)
@click.option("--request-price", type=float, help="Price per request [default: $0.0000002].")
@click.option("--granularity-ms", type=int, help="Billing step: 1 (today) or 100 (before 2020).")
@click.option(
    "--endpoint-monthly",
    type=float,
    help="Monthly price of the always-on endpoint [default: $50.40 = $0.07/h].",
)
@click.option("--ingests-per-day", type=float, help="Also show the monthly cost at this rate.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Draw monthly cost against ingests per day to FILE.png (needs mlayer[plot]).",
)
@out_option
@global_options
@click.pass_context
def cost(
    ctx: click.Context,
    records: int,
    batch_sizes: tuple[int, ...],
    duration_ms: float | None,
    measure: str | None,
    memory: int | None,
    arch: str | None,
    price_per_gb_second: float | None,
    price_per_100ms: float | None,
    request_price: float | None,
    granularity_ms: int | None,
    endpoint_monthly: float | None,
    ingests_per_day: float | None,
    plot: str | None,
    out: str | None,
) -> None:
    """What an ingest of RECORDS costs on Lambda per batch size, and the break-even
    number of ingests against an always-on endpoint."""
    from mlayer import cost as pricing

    settings, output = _settings(
        ctx, memory=memory, arch=arch, endpoint_monthly=endpoint_monthly, out=out
    )
    if (duration_ms is None) == (measure is None):
        raise UsageError("give either --duration-ms D or --measure TEXTS_FILE")
    prices = pricing.price_table(
        settings.arch,
        per_gb_second=price_per_gb_second,
        per_100ms=price_per_100ms,
        per_request=request_price,
        granularity_ms=granularity_ms,
    )
    durations = (
        {size: duration_ms for size in batch_sizes}
        if duration_ms is not None
        else actions.measure_durations(settings, Path(str(measure)), batch_sizes, output.info)
    )
    rows = [
        pricing.cost_row(
            records=records,
            batch_size=size,
            duration_ms=durations[size],
            memory_mb=settings.memory,
            prices=prices,
            endpoint_monthly=settings.endpoint_monthly,
            ingests_per_day=ingests_per_day,
        )
        for size in batch_sizes
    ]
    if plot:
        from mlayer.plot import plot_monthly_cost

        plot_monthly_cost(rows, settings.endpoint_monthly, Path(plot), ingests_per_day)
        output.info(f"wrote {plot}")
    lines = [
        f"{records:,} records per ingest, {settings.memory} MB, {settings.arch}: "
        + prices.describe(settings.memory),
        f"always-on endpoint: ${settings.endpoint_monthly:,.2f} a month",
        "",
        f"{'BATCH':>6} {'BILLED MS':>10} {'INVOCATIONS':>12} {'$/INVOCATION':>14} "
        f"{'$/INGEST':>12} {'BREAK-EVEN INGESTS /MONTH':>26} {'/DAY':>8} {'/HOUR':>7}"
        + (f" {'$/MONTH':>10}" if ingests_per_day is not None else ""),
    ]
    for row in rows:
        lines.append(
            f"{row.batch_size:>6} {row.billed_ms:>10,} {row.invocations_per_ingest:>12,} "
            f"{row.cost_per_invocation:>14.8f} {row.cost_per_ingest:>12.6f} "
            f"{row.breakeven_ingests_per_month:>26,.0f} {row.breakeven_ingests_per_day:>8,.1f} "
            f"{row.breakeven_ingests_per_hour:>7,.1f}"
            + (f" {row.monthly_cost:>10.2f}" if row.monthly_cost is not None else "")
        )
    output.result(
        {
            "prices": dataclasses.asdict(prices),
            "endpoint_monthly": settings.endpoint_monthly,
            "rows": [row.to_json() for row in rows],
        },
        lines,
    )


def _trigger_line(t: TriggerState) -> str:
    options = [f"batch {t.batch_size}", t.state]
    if t.bisect_on_error:
        options.append("bisect on error")
    if t.maximum_retries != -1:
        options.append(f"{t.maximum_retries} retries")
    if t.maximum_record_age != -1:
        options.append(f"record age {t.maximum_record_age} s")
    if t.parallelization_factor != 1:
        options.append(f"{t.parallelization_factor} batches per shard")
    if t.on_failure:
        options.append(f"on failure -> {t.on_failure}")
    options.append(",".join(t.response_types) or "no partial batch response")
    return f"  trigger {t.source_arn} ({', '.join(options)})"


@cli.command(short_help="Show the function, its layers, model and triggers.")
@global_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the function, its linked layer versions, model, sink and triggers."""
    settings, output = _settings(ctx)
    state = actions.status(settings, _aws(settings))
    function = state.function
    if function is None:
        output.result(
            {"function": None},
            [f"function {settings.function_name} does not exist (run mlayer deploy)"],
        )
        return
    lines = [
        f"function {function.name}  {function.arn}",
        f"  state {function.state}, {function.runtime}/{function.architecture}, "
        f"{function.memory} MB, {function.timeout} s",
    ]
    lines += [f"  layer {short_arn(arn)}" for arn in function.layers]
    sizes = state.layer_unzipped_bytes
    if sizes:
        total = sum(sizes.values())
        lines.append(
            "  layers unzipped: "
            + " + ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items())
            + f" = {total / 1e6:.1f} MB of Lambda's {UNZIPPED_LIMIT / 1e6:.1f} MB"
            + ("" if len(sizes) == len(function.layers) else " (not every layer records its size)")
        )
    if state.model:
        model = state.model
        lines.append(
            f"  model version {model.get('version')} label {model.get('label', '-')} "
            f"sha256 {model.get('sha256', '-')} (python {model.get('python', '?')}, "
            f"scikit-learn {model.get('sklearn', '?')}, numpy {model.get('numpy', '?')})"
        )
    if state.pinned_model_version is not None:
        lines.append(
            f"  model pinned to version {state.pinned_model_version}: "
            "plain deploys keep it; deploy --model-version N moves it"
        )
    lines.append(f"  sink {state.sink}")
    if state.version_mismatch_allowed:
        lines.append(f"  VERSION MISMATCH ALLOWED: {state.version_mismatch_allowed}")
    lines += [_trigger_line(t) for t in state.triggers] or ["  no trigger"]
    output.result(
        {
            "function": {
                "name": function.name,
                "arn": function.arn,
                "state": function.state,
                "runtime": function.runtime,
                "architecture": function.architecture,
                "memory": function.memory,
                "timeout": function.timeout,
                "layers": [
                    {"arn": arn, "name": layer_name_of(arn), "version": int(arn.rsplit(":", 1)[1])}
                    for arn in function.layers
                ],
            },
            "model": state.model,
            "sink": state.sink,
            "version_mismatch_allowed": state.version_mismatch_allowed,
            "pinned_model_version": state.pinned_model_version,
            "layer_unzipped_bytes": state.layer_unzipped_bytes,
            "triggers": [t.__dict__ for t in state.triggers],
        },
        lines,
    )


@cli.command(short_help="List the model layer versions; * marks the live one.")
@global_options
@click.pass_context
def versions(ctx: click.Context) -> None:
    """List the model layer versions, newest first; * marks the one the function links."""
    settings, output = _settings(ctx)
    rows = actions.versions(settings, _aws(settings))
    header = (
        f"{'':2}{'VERSION':>7}  {'LABEL':<16} {'SHA256':<16}  {'CREATED':<20} "
        f"{'PYTHON':<8} {'SKLEARN':<8} {'NUMPY':<8} LINKED BY"
    )
    lines = [header]
    for row in rows:
        trained = row.trained_with
        lines.append(
            f"{'*' if row.live else ' ':2}{row.version:>7}  {row.label:<16} {row.sha256:<16}  "
            f"{row.created[:19]:<20} {trained.get('python', '-'):<8} "
            f"{trained.get('sklearn', '-'):<8} {trained.get('numpy', '-'):<8} "
            f"{', '.join(row.linked_by) or '-'}"
        )
    if not rows:
        lines = [f"layer {settings.model_layer} has no versions (run mlayer publish-model)"]
    output.result({"versions": [row.__dict__ for row in rows]}, lines)


@cli.command(short_help="Delete old model layer versions that nothing links.")
@click.option("--keep", type=click.IntRange(1), help="Keep the K newest model layer versions.")
@click.option(
    "--version",
    "delete",
    type=click.IntRange(1),
    multiple=True,
    help="Delete exactly this version (repeatable); refused if anything links it.",
)
@dry_run_option
@global_options
@click.pass_context
def cleanup(ctx: click.Context, keep: int | None, delete: tuple[int, ...], dry_run: bool) -> None:
    """Delete old model layer versions, never one that any version or alias of a
    function links; says what it kept and why."""
    settings, output = _settings(ctx)
    result = actions.cleanup(
        settings,
        _aws(settings),
        keep=keep,
        delete=delete,
        dry_run=dry_run,
        on_step=lambda step: output.info(f"-> {step}"),
    )
    steps = result.plan.describe()
    if not steps:
        lines = ["nothing to delete"]
    elif dry_run:
        lines = ["Would:"] + [f"  {step}" for step in steps]
    else:
        lines = [f"deleted {len(steps)} version(s)"] + [f"  {step}" for step in steps]
    lines += [f"  {kept.describe()}" for kept in result.kept]
    output.result(
        {
            "deleted": [] if dry_run else steps,
            "would_delete": steps if dry_run else [],
            "kept": [{"arn": k.arn, "reasons": list(k.reasons)} for k in result.kept],
            "dry_run": dry_run,
        },
        lines,
    )


@cli.command("iam-policy", short_help="Print the least-privilege role policy of the function.")
@click.option(
    "--stream-arn", type=STREAM_ARN, help="Kinesis stream ARN that triggers the function."
)
@click.option(
    "--table-stream-arn",
    type=STREAM_ARN,
    help="DynamoDB table stream ARN that triggers the function.",
)
@click.option("--sink", help="log, dynamodb:TABLE or kinesis:STREAM [default: log].")
@click.option(
    "--on-failure",
    type=DESTINATION_ARN,
    help="SQS/SNS/S3 ARN for records that exhausted their retries.",
)
@global_options
@click.pass_context
def iam_policy(ctx: click.Context, /, **flags: Any) -> None:
    """Print the least-privilege policy of the function's execution role for its
    triggers, sink and failure destination (what deploy --create-role attaches)."""
    settings, _output = _settings(ctx, **flags)
    policy = actions.iam_policy(settings, _aws(settings))
    # The policy document is the result either way: it is JSON already.
    click.echo(json.dumps(policy, indent=2))


def main() -> None:
    cli(prog_name="mlayer")
