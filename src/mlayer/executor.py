"""Carry out a ``Plan`` against AWS, one step after another.

The executor decides nothing: every choice was made by ``mlayer.plan``, and it
never reads AWS to decide what to do (only to check, after applying, that the
function is as planned, and to find a trigger created since the plan). Each step
waits for Lambda to settle before the next one, since Lambda refuses an update
while another is in progress. Function updates carry the RevisionId the plan
was made from (then the one each update leaves), so a change by someone else
in between stops the deploy instead of mixing two states. When a step fails,
the error says what was applied and what was not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import botocore.exceptions

from mlayer.arns import layer_name_of, layer_version_of
from mlayer.aws import Aws
from mlayer.changes import trigger_changes_of
from mlayer.errors import Conflict, MlayerError, PartiallyApplied
from mlayer.policy import LAMBDA_TRUST_POLICY, ROLE_POLICY_NAME
from mlayer.steps import (
    CreateFunction,
    CreateTrigger,
    DeleteFunctionVersion,
    DeleteLayerVersion,
    Plan,
    PointAlias,
    PublishVersion,
    PutRole,
    SetProvisionedConcurrency,
    Step,
    UpdateCode,
    UpdateConfiguration,
    UpdateTrigger,
)

# What a step may raise besides MlayerError (``mlayer.aws`` translates most of these).
BOTOCORE_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def apply(
    plan: Plan,
    aws: Aws,
    *,
    code: Callable[[], bytes],
    on_step: Callable[[str], None] = lambda _: None,
    rerun: str = "mlayer deploy",
) -> None:
    """Apply ``plan``; ``code`` returns the function's zip when a step needs it.

    A failed step raises ``PartiallyApplied`` (naming ``rerun``, the command
    that converges); a function that reads back other than planned raises
    ``Conflict``.
    """
    run = _Run(plan.revision_id)
    for index, step in enumerate(plan.steps):
        on_step(step.describe())
        try:
            _apply_step(step, aws, code, on_step, run)
        except (MlayerError, *BOTOCORE_ERRORS) as exc:
            raise PartiallyApplied(
                str(exc),
                applied=[s.describe() for s in plan.steps[:index]],
                failed=step.describe(),
                not_applied=[s.describe() for s in plan.steps[index + 1 :]],
                rerun=rerun,
            ) from exc
    # The read-back catches what the RevisionId cannot: a change by another
    # machine that landed between two of these steps or after the last one.
    outcome = plan.outcome
    if not (plan.steps and outcome):
        return
    if outcome.differs(aws.function(outcome.function_name, outcome.qualifier)):
        served = f"{outcome.function_name}:{outcome.qualifier}" if outcome.qualifier else ""
        raise Conflict(
            f"function {outcome.function_name} was changed by someone else "
            f"while deploying{f' ({served} serves other layers)' if served else ''}: "
            f"re-run {rerun}"
        )


@dataclass
class _Run:
    """What the steps of one apply hand on to the next."""

    revision: str  # the function's RevisionId: each update carries it
    published: str | None = None  # the version PublishVersion made
    alias_arn: str | None = None  # the alias the triggers target


def _apply_step(
    step: Step,
    aws: Aws,
    code: Callable[[], bytes],
    on_step: Callable[[str], None],
    run: _Run,
) -> None:
    """Carry out one step, recording in ``run`` what later steps need."""
    revision = run.revision
    match step:
        case PutRole(name, policy, create):
            aws.put_role(
                name, json.dumps(LAMBDA_TRUST_POLICY), ROLE_POLICY_NAME, policy, create=create
            )
        case CreateFunction(spec):
            aws.create_function(
                {
                    "FunctionName": spec.name,
                    "Architectures": [spec.arch],
                    "PackageType": "Zip",
                    **spec.configuration(),
                },
                code(),
                on_wait=on_step,
            )
        case UpdateCode(name, arch):
            run.revision = aws.update_function_code(name, code(), arch, revision_id=revision)
        case UpdateConfiguration(name):
            run.revision = aws.update_function_configuration(
                name, step.request(), revision_id=revision, on_wait=on_step
            )
        case PublishVersion(name, code_sha256, description):
            # CodeSha256 and RevisionId: publish what this deploy wrote, or nothing.
            run.published = aws.publish_version(
                name, code_sha256=code_sha256, revision_id=revision, description=description
            )
            on_step(f"  published version {run.published}")
        case PointAlias(name, alias, version, description, create):
            target = version or run.published
            if target is None:
                raise ValueError("the plan points the alias at a version it did not publish")
            moved = aws.point_alias(
                name, alias, target, description, create=create, revision_id=step.revision_id
            )
            run.alias_arn = moved.arn
        case SetProvisionedConcurrency(name, alias, count):
            aws.set_provisioned_concurrency(name, alias, count)
        case CreateTrigger():
            _create_trigger(step, aws, on_step, run)
        case UpdateTrigger(uuid):
            aws.update_trigger(uuid, step.request())
        case DeleteLayerVersion(arn):
            aws.delete_layer_version(layer_name_of(arn), layer_version_of(arn))
        case DeleteFunctionVersion(name, version):
            aws.delete_function_version(name, version)


def _create_trigger(
    step: CreateTrigger, aws: Aws, on_step: Callable[[str], None], run: _Run
) -> None:
    """Create the mapping, unless one from that source appeared since the plan:
    then bring that one to the spec instead of adding a second."""
    target = step.function_name
    if step.alias:
        if run.alias_arn is None:  # the alias existed before this deploy
            alias = aws.alias(step.function_name, step.alias)
            if alias is None:
                raise ValueError(f"alias {step.target} does not exist")
            run.alias_arn = alias.arn
        target = run.alias_arn
    if _converge_existing(step, aws, on_step, target):
        return
    try:
        aws.create_trigger(target, step.spec.create_request(), on_wait=on_step)
    except Conflict:
        # Lambda's ResourceConflictException: created in the moment since we looked.
        if not _converge_existing(step, aws, on_step, target):
            raise


def _converge_existing(
    step: CreateTrigger, aws: Aws, on_step: Callable[[str], None], target: str
) -> bool:
    source = step.spec.source_arn
    existing = next(
        (t for t in aws.triggers(step.function_name, target) if t.source_arn == source), None
    )
    if existing is None:
        return False
    changes = trigger_changes_of(step.spec, existing)
    if existing.function_arn and existing.function_arn != target:
        changes = (("FunctionName", existing.function_arn, target), *changes)
    if not changes:
        on_step(f"  a trigger from {source} exists already (made since the plan): kept")
        return True
    aws.update_trigger(existing.uuid, UpdateTrigger(existing.uuid, source, changes).request())
    on_step(f"  a trigger from {source} exists already (made since the plan): updated it")
    return True
