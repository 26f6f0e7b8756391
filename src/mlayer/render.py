"""What each command tells its user: the lines for people and the ``--json`` object.

Pure functions: an operation's result in, a ``Report`` out (the JSON data and the
lines, both from the same values). The CLI prints one or the other; nothing here
prints, reads a file or calls AWS.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.arns import layer_name_of, layer_version_of, short_arn
from mlayer.layerbuild.budget import UNZIPPED_LIMIT, size_lines

if TYPE_CHECKING:
    from mlayer.layerbuild.archive import ZipSummary
    from mlayer.local import Invocation
    from mlayer.model import ModelManifest
    from mlayer.ops.cleanup import CleanupResult
    from mlayer.ops.cost import CostEstimate
    from mlayer.ops.deploy import DeployResult
    from mlayer.ops.deps import LayerBuild
    from mlayer.ops.inspect import ModelVersionInfo, Status
    from mlayer.ops.layers import Published
    from mlayer.state import TriggerState


@dataclass(frozen=True)
class Report:
    """A command's result: ``data`` for --json, ``lines`` for people."""

    data: dict[str, Any]
    lines: list[str]


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def build_deps(built: LayerBuild, manifest_path: Path, dry_run: bool) -> Report:
    """The zip, its budget and largest packages, and the published version if any."""
    zipped, published, build = built.zip, built.published, built.build
    lines = [
        f"{zipped.path}: {mb(zipped.zipped_bytes)} zipped, {mb(zipped.unzipped_bytes)} unzipped"
        + (" (reused from the cache)" if build and build.cached else "")
    ]
    details: dict[str, Any] = {}
    if build:
        manifest = build.manifest
        lines.append(f"budget: {build.budget.summary()}")
        packages = manifest["packages"].items()
        sizes = {name: p["bytes"] for name, p in sorted(packages, key=lambda kv: -kv[1]["bytes"])}
        lines += ["largest packages:"] + [f"  {line}" for line in size_lines(sizes)]
        lines.append(f"build manifest: {manifest_path}")
        modules = manifest["modules"]
        details = {
            "cached": build.cached,
            "versions": build.versions,
            "upload": build.budget.upload,
            "headroom_bytes": build.budget.headroom_bytes,
            "package_bytes": sizes,
            "manifest": str(manifest_path),
            "pruned_modules": len(modules) if modules is not None else None,
            "warnings": build.warnings,
        }
    if published:
        verb = "published" if published.new else "unchanged, still"
        lines.append(f"{verb} {short_arn(published.arn)}  {published.arn}")
    data = {
        "zip": str(zipped.path),
        "sha256": zipped.sha256,
        "zipped_bytes": zipped.zipped_bytes,
        "unzipped_bytes": zipped.unzipped_bytes,
        **details,
        **({"for_model_pins": built.pins} if built.pins is not None else {}),
        "published": {"version": published.version, "arn": published.arn, "new": published.new}
        if published
        else None,
        "dry_run": dry_run,
    }
    return Report(data, lines)


def published_model(
    manifest: ModelManifest, zipped: ZipSummary, published: Published | None, dry_run: bool
) -> Report:
    """The version published (or found unchanged); nothing on a dry run, whose
    messages said what would happen."""
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
        return Report(data, [])
    verb = "published" if published.new else "unchanged, still"
    arn = published.arn
    return Report(data, [f"{verb} {short_arn(arn)} (version {published.version})  {arn}"])


def deployed(result: DeployResult, dry_run: bool) -> Report:
    """deploy and rollback: the steps done (or that would be), the layers, the notes."""
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
    data = {
        "function_arn": result.function_arn,
        "layers": list(result.layers),
        "changed": result.plan.changed and result.applied,
        "dry_run": dry_run,
        "steps": steps,
        "notes": list(result.plan.notes),
    }
    return Report(data, lines)


def invocation(result: Invocation, memory_mb: int) -> Report:
    """invoke --local: the handler's result and Lambda's REPORT line(s)."""
    data: dict[str, Any] = {"result": result.result, "report": result.report}
    if len(result.runs) > 1:
        data["repeats"] = result.repeats
    return Report(data, [json.dumps(result.result, indent=2), *result.report_lines(memory_mb)])


def cost(estimate: CostEstimate) -> Report:
    """The prices, then one row per batch size: cost per invocation and per ingest,
    and how many ingests a month an always-on endpoint is worth."""
    prices, monthly = estimate.prices, estimate.ingests_per_day is not None
    lines = [
        f"{estimate.records:,} records per ingest, {estimate.memory_mb} MB, {estimate.arch}: "
        + prices.describe(estimate.memory_mb),
        f"always-on endpoint: ${estimate.endpoint_monthly:,.2f} a month",
        "",
        f"{'BATCH':>6} {'BILLED MS':>10} {'INVOCATIONS':>12} {'$/INVOCATION':>14} "
        f"{'$/INGEST':>12} {'BREAK-EVEN INGESTS /MONTH':>26} {'/DAY':>8} {'/HOUR':>7}"
        + (f" {'$/MONTH':>10}" if monthly else ""),
    ]
    for row in estimate.rows:
        lines.append(
            f"{row.batch_size:>6} {row.billed_ms:>10,} {row.invocations_per_ingest:>12,} "
            f"{row.cost_per_invocation:>14.8f} {row.cost_per_ingest:>12.6f} "
            f"{row.breakeven_ingests_per_month:>26,.0f} {row.breakeven_ingests_per_day:>8,.1f} "
            f"{row.breakeven_ingests_per_hour:>7,.1f}"
            + (f" {row.monthly_cost:>10.2f}" if row.monthly_cost is not None else "")
        )
    data = {
        "prices": dataclasses.asdict(prices),
        "endpoint_monthly": estimate.endpoint_monthly,
        "rows": [row.to_json() for row in estimate.rows],
    }
    return Report(data, lines)


def trigger_line(t: TriggerState) -> str:
    """One trigger and the options that differ from Lambda's defaults."""
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


def status(state: Status, function_name: str | None) -> Report:
    """The function, its layers and their sizes, the model, the pin, the sink and
    the triggers."""
    function = state.function
    if function is None:
        return Report(
            {"function": None}, [f"function {function_name} does not exist (run mlayer deploy)"]
        )
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
            + " + ".join(f"{name} {mb(size)}" for name, size in sizes.items())
            + f" = {mb(total)} of Lambda's {mb(UNZIPPED_LIMIT)}"
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
    lines += [trigger_line(t) for t in state.triggers] or ["  no trigger"]
    data = {
        "function": {
            "name": function.name,
            "arn": function.arn,
            "state": function.state,
            "runtime": function.runtime,
            "architecture": function.architecture,
            "memory": function.memory,
            "timeout": function.timeout,
            "layers": [
                {"arn": arn, "name": layer_name_of(arn), "version": layer_version_of(arn)}
                for arn in function.layers
            ],
        },
        "model": state.model,
        "sink": state.sink,
        "version_mismatch_allowed": state.version_mismatch_allowed,
        "pinned_model_version": state.pinned_model_version,
        "layer_unzipped_bytes": state.layer_unzipped_bytes,
        "triggers": [dataclasses.asdict(t) for t in state.triggers],
    }
    return Report(data, lines)


def versions(rows: list[ModelVersionInfo], layer_name: str) -> Report:
    """The model layer's versions, newest first; * marks the one $LATEST links."""
    data = {"versions": [dataclasses.asdict(row) for row in rows]}
    if not rows:
        return Report(data, [f"layer {layer_name} has no versions (run mlayer publish-model)"])
    lines = [
        f"{'':2}{'VERSION':>7}  {'LABEL':<16} {'SHA256':<16}  {'CREATED':<20} "
        f"{'PYTHON':<8} {'SKLEARN':<8} {'NUMPY':<8} LINKED BY"
    ]
    for row in rows:
        trained = row.trained_with
        lines.append(
            f"{'*' if row.live else ' ':2}{row.version:>7}  {row.label:<16} {row.sha256:<16}  "
            f"{row.created[:19]:<20} {trained.get('python', '-'):<8} "
            f"{trained.get('sklearn', '-'):<8} {trained.get('numpy', '-'):<8} "
            f"{', '.join(row.linked_by) or '-'}"
        )
    return Report(data, lines)


def cleanup(result: CleanupResult, dry_run: bool) -> Report:
    """What was deleted (or would be), and what was kept and why."""
    steps = result.plan.describe()
    if not steps:
        lines = ["nothing to delete"]
    elif dry_run:
        lines = ["Would:"] + [f"  {step}" for step in steps]
    else:
        lines = [f"deleted {len(steps)} version(s)"] + [f"  {step}" for step in steps]
    lines += [f"  {kept.describe()}" for kept in result.kept]
    data = {
        "deleted": [] if dry_run else steps,
        "would_delete": steps if dry_run else [],
        "kept": [{"arn": k.arn, "reasons": list(k.reasons)} for k in result.kept],
        "dry_run": dry_run,
    }
    return Report(data, lines)
