"""cleanup: delete old model layer versions, never one that anything links.

What links a version is read once (``inspect.linked_by``: every version and
alias of every function in the region); ``changes.plan_cleanup`` decides, and
the executor deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlayer import executor
from mlayer.aws import Aws
from mlayer.changes import plan_cleanup
from mlayer.errors import NotFound, UsageError
from mlayer.ops.inspect import linked_by
from mlayer.settings import Settings
from mlayer.steps import Kept, Plan


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
    """Delete old model layer versions: all but the ``keep`` newest, or exactly
    ``delete``; never one that any function version or alias links."""
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
        plan, kept = plan_cleanup([v.arn for v in existing], keep, links)
    if not dry_run:
        executor.apply(plan, aws, code=lambda: b"", on_step=on_step)
    return CleanupResult(plan, kept, applied=not dry_run)
