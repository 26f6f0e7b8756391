"""The one package that talks to AWS, a module per service.

``Aws`` gathers the calls: ``layers`` and ``s3`` (publish and fetch layer
zips), ``functions`` (the function and its triggers), ``streams`` (do the
trigger's sources and the sink exist), ``iam`` (the caller's account, the
execution role), ``cloudwatch`` (the function's alarms), ``logs`` (its log
events). ``snapshot`` reads, once, what a deploy or rollback must know.
Everything else sees the frozen values of ``mlayer.state``; botocore errors
become ``mlayer.errors`` with a message that names the resource and what to do.
"""

from __future__ import annotations

from mlayer.arns import layer_name_of, layer_version_of
from mlayer.aws.cloudwatch import CloudWatchCalls
from mlayer.aws.functions import FunctionCalls
from mlayer.aws.iam import IamCalls
from mlayer.aws.layers import LayerCalls, upload_route
from mlayer.aws.logs import LogCalls
from mlayer.aws.streams import StreamCalls
from mlayer.layerbuild.budget import DIRECT_UPLOAD_LIMIT
from mlayer.state import FunctionState, LayerVersion, LinkedLayers, TriggerState

__all__ = [
    "DIRECT_UPLOAD_LIMIT",
    "Aws",
    "FunctionState",
    "LayerVersion",
    "LinkedLayers",
    "TriggerState",
    "layer_name_of",
    "layer_version_of",
    "upload_route",
]


class Aws(LayerCalls, FunctionCalls, StreamCalls, IamCalls, CloudWatchCalls, LogCalls):
    """Thin, typed access to the AWS calls mlayer needs.

    Pass ``session`` (or clients through it) to point at any endpoint; tests
    point it at a local moto server exactly as a user points the CLI at one.
    ``lambda_client`` and ``sleep`` replace the defaults, for tests that stub
    replies moto cannot give (IAM propagation delays) without waiting.
    """
