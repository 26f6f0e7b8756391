"""Carry out a ``Plan`` against AWS, one step after another.

The executor decides nothing: every choice was made by ``plan.py``. Each step
waits for Lambda to settle before the next one, since Lambda refuses an update
while another is in progress.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from mlayer.aws import Aws, layer_name_of, layer_version_of
from mlayer.plan import (
    CreateFunction,
    CreateTrigger,
    DeleteLayerVersion,
    Plan,
    PutRole,
    UpdateCode,
    UpdateConfiguration,
    UpdateTrigger,
)
from mlayer.policy import LAMBDA_TRUST_POLICY

ROLE_POLICY_NAME = "mlayer-least-privilege"


def apply(
    plan: Plan,
    aws: Aws,
    *,
    code: Callable[[], bytes],
    on_step: Callable[[str], None] = lambda _: None,
) -> None:
    """Apply ``plan``; ``code`` returns the function's zip when a step needs it."""
    for step in plan.steps:
        on_step(step.describe())
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
                aws.update_function_code(name, code(), arch)
            case UpdateConfiguration(name):
                aws.update_function_configuration(name, step.request(), on_wait=on_step)
            case CreateTrigger(function_name, spec):
                aws.create_trigger(function_name, spec.create_request(), on_wait=on_step)
            case UpdateTrigger(uuid):
                aws.update_trigger(uuid, step.request())
            case DeleteLayerVersion(arn):
                aws.delete_layer_version(layer_name_of(arn), layer_version_of(arn))
