"""cleanup: delete old function versions and model layer versions, never one in use.

With ``--keep K``, the function's versions go first (``changes.plan_version_cleanup``:
all but the K newest mlayer published, never one an alias points at), then the
model layer versions nothing left links (``changes.plan_cleanup``), so the layers
of every kept function version stay and a rollback to it still works. What links
a layer version is read once (``inspect.linked_by``: every version and alias of
every function in the region); the executor deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlayer import executor
from mlayer.aws import Aws
from mlayer.changes import plan_cleanup, plan_version_cleanup
from mlayer.errors import NotFound, UsageError
from mlayer.ops.inspect import linked_by
from mlayer.settings import Settings
from mlayer.steps import DeleteFunctionVersion, Kept, Plan


@dataclass(frozen=True)
class CleanupResult:
    plan: Plan
    kept: tuple[Kept, ...]
    applied: bool


def cleanup(
    settings: Settings,
    aws: Aws,
    *,
    keep: int | None,
    delete: tuple[int, ...] = (),
    dry_run: bool,
    on_step: Callable[[str], None],
) -> CleanupResult:
    """Delete old versions: with ``keep``, all but the ``keep`` newest function
    versions and model layer versions (never one an alias points at, nor a layer a
    kept version links); or exactly the model layer versions ``delete``."""
    if (keep is None) == (not delete):
        raise UsageError("pass --keep K (keep the K newest) or --version N (delete these)")
    layer_name = settings.model_layer
    existing = aws.layer_versions(layer_name)
    if not existing:
        raise NotFound(f"layer {layer_name} has no versions (run mlayer publish-model)")
    links = linked_by(aws, settings.require_function_name())
    by_number = {v.version: v.arn for v in existing}
    if delete:
        missing = sorted(set(delete) - set(by_number))
        if missing:
            listed = ", ".join(map(str, sorted(by_number)))
            raise NotFound(
                f"model layer {layer_name} has no version {missing[0]} (existing: {listed})"
            )
        for number in sorted(delete):
            who = links.get(by_number[number])
            if who:
                raise UsageError(
                    f"{layer_name}:{number} is linked by {', '.join(who)}: relink or "
                    "roll back first; nothing was deleted"
                )
        # Keep everything not named; the plan then deletes only what was named.
        arns = [by_number[n] for n in sorted(delete, reverse=True)]
        plan, kept = plan_cleanup(arns, 0, links)
    else:
        assert keep is not None
        if keep < 1:
            raise UsageError("--keep must be at least 1")
        name = settings.require_function_name()
        versions = aws.function_versions(name) if aws.function(name) else []
        aliased: dict[str, list[str]] = {}
        for row in aws.linked_layers():
            if row.function == name and row.aliases:
                aliased[row.version] = list(row.aliases)
        version_steps, version_kept = plan_version_cleanup(versions, keep, aliased)
        deleted = {
            f"version {s.version}" for s in version_steps if isinstance(s, DeleteFunctionVersion)
        }
        # A layer linked only by versions deleted here is no longer in use.
        links = {
            arn: [who for who in linking if who not in deleted] for arn, linking in links.items()
        }
        layer_plan, layer_kept = plan_cleanup([v.arn for v in existing], keep, links)
        kept = (*version_kept, *layer_kept)
        plan = Plan((*version_steps, *layer_plan.steps), tuple(k.describe() for k in kept))
    if not dry_run:
        executor.apply(plan, aws, code=lambda: b"", on_step=on_step)
    return CleanupResult(plan, kept, applied=not dry_run)
