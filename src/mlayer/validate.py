"""Local checks of names, regions, buckets and ARNs (pure: no I/O, no AWS calls).

Each ``check_*`` returns the value when AWS would accept it, else raises
``ValueError`` with a reason that reads after the value, e.g.
``'my fn' is not a Lambda function name: ...``. The callers add where the value
came from (a flag, a key of mlayer.toml): click option types in ``options``,
the config reader in ``settings``. The rules are AWS's documented ones, so a
refusal here is one AWS would give anyway, only later and less clearly.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Lambda's FunctionName and LayerName: letters, digits, hyphens, underscores.
FUNCTION_NAME_MAX = 64
LAYER_NAME_MAX = 140  # PublishLayerVersion's LayerName
ROLE_NAME_MAX = 64  # IAM's RoleName
_LAMBDA_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ROLE_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
# eu-west-1, us-gov-west-1, ap-southeast-4, cn-north-1
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_PARTITION = re.compile(r"aws(-[a-z]+)*")
_ACCOUNT = re.compile(r"\d{12}")
# Kinesis stream, DynamoDB table, SQS queue and SNS topic names share this alphabet.
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_function_name(value: str) -> str:
    return _lambda_name(value, "function", FUNCTION_NAME_MAX)


def check_layer_name(value: str) -> str:
    return _lambda_name(value, "layer", LAYER_NAME_MAX)


ALIAS_NAME_MAX = 128


def check_alias_name(value: str) -> str:
    """A Lambda alias name: letters, digits, - and _, not all digits (a version's)."""
    if value.isdigit():
        raise ValueError("is a version number, not an alias name: use a name such as live")
    return _lambda_name(value, "alias", ALIAS_NAME_MAX)


def _lambda_name(value: str, kind: str, limit: int) -> str:
    if len(value) > limit or not _LAMBDA_NAME.fullmatch(value):
        raise ValueError(
            f"is not a Lambda {kind} name: use 1-{limit} letters, digits, hyphens or underscores"
        )
    return value


def check_role_name(value: str) -> str:
    if len(value) > ROLE_NAME_MAX or not _ROLE_NAME.fullmatch(value):
        raise ValueError(
            f"is not an IAM role name: use 1-{ROLE_NAME_MAX} letters, digits or +=,.@_-"
        )
    return value


def check_region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError("is not an AWS region: use a region code such as eu-west-1")
    return value


def check_endpoint_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("is not an endpoint URL: use http://HOST:PORT or https://HOST")
    return value


def check_bucket(value: str) -> str:
    """S3's bucket naming rules for general purpose buckets."""
    reason = None
    if not 3 <= len(value) <= 63:
        reason = "use 3-63 characters"
    elif not _BUCKET.fullmatch(value):
        reason = (
            "use lowercase letters, digits, dots and hyphens, starting and ending with "
            "a letter or digit"
        )
    elif ".." in value or ".-" in value or "-." in value:
        reason = "no two dots, or a dot and a hyphen, may be adjacent"
    elif _is_ip(value):
        reason = "it must not look like an IP address"
    elif value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        reason = "the prefixes xn--, sthree- and the suffixes -s3alias, --ol-s3 are reserved"
    if reason:
        raise ValueError(f"is not an S3 bucket name: {reason}")
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Arn:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(value: str) -> Arn:
    """The parts of a well-formed ARN without wildcards; ValueError otherwise."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not _PARTITION.fullmatch(parts[1]):
        raise ValueError("is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)")
    if "*" in value or "?" in value:
        # A wildcard would grant the role far more than the one resource.
        raise ValueError("has a wildcard: name exactly one resource")
    _, partition, service, region, account, resource = parts
    if region and not _REGION.fullmatch(region):
        raise ValueError(f"has {region!r} where a region belongs (such as eu-west-1)")
    if account and not _ACCOUNT.fullmatch(account):
        raise ValueError(f"has {account!r} where a 12-digit account ID belongs")
    if not resource:
        raise ValueError("names no resource")
    return Arn(partition, service, region, account, resource)


_STREAM_SOURCE = (
    "is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME) nor a "
    "DynamoDB table stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)"
)


def check_stream_source(value: str) -> str:
    """A Kinesis stream or DynamoDB table stream ARN, as a trigger's source."""
    try:
        arn = parse_arn(value)
    except ValueError as exc:
        if "wildcard" in str(exc):
            raise
        raise ValueError(_STREAM_SOURCE) from None
    kind, _, rest = arn.resource.partition("/")
    if not (arn.region and arn.account):
        raise ValueError(_STREAM_SOURCE)
    if arn.service == "kinesis" and kind == "stream" and _RESOURCE_NAME.fullmatch(rest):
        return value
    table, _, label = rest.partition("/stream/")
    if arn.service == "dynamodb" and kind == "table" and _RESOURCE_NAME.fullmatch(table) and label:
        return value
    raise ValueError(_STREAM_SOURCE)


def check_role_arn(value: str) -> str:
    """An IAM role ARN: arn:aws:iam::ACCOUNT:role/[PATH/]NAME."""
    usage = "is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
    try:
        arn = parse_arn(value)
    except ValueError as exc:
        raise ValueError(str(exc) if "wildcard" in str(exc) else usage) from None
    kind, _, path = arn.resource.partition("/")
    if arn.service != "iam" or arn.region or not arn.account or kind != "role" or not path:
        raise ValueError(usage)
    check_role_name(path.rsplit("/", 1)[-1])
    return value


def check_destination(value: str) -> str:
    """An on-failure destination: an SQS queue, SNS topic or S3 bucket ARN."""
    usage = (
        "is not an SQS queue, SNS topic or S3 bucket ARN "
        "(arn:aws:sqs:REGION:ACCOUNT:NAME, arn:aws:sns:REGION:ACCOUNT:NAME, arn:aws:s3:::BUCKET)"
    )
    try:
        arn = parse_arn(value)
    except ValueError as exc:
        raise ValueError(str(exc) if "wildcard" in str(exc) else usage) from None
    if arn.service == "s3":
        if arn.region or arn.account:
            raise ValueError(usage)
        check_bucket(arn.resource)
        return value
    named = _RESOURCE_NAME.fullmatch(arn.resource)
    if arn.service in ("sqs", "sns") and arn.region and arn.account and named:
        return value
    raise ValueError(usage)


def check_resource_name(value: str) -> str:
    """A DynamoDB table or Kinesis stream name (the sink's)."""
    if not _RESOURCE_NAME.fullmatch(value) or len(value) > 255:
        raise ValueError("is not a table or stream name: use letters, digits, _ . and -")
    return value


def region_mismatch(flag: str, arn: str, region: str) -> str | None:
    """Why a stream trigger's source cannot be used from a function in ``region``, or None.

    Lambda's event source mappings read streams in the function's own region only.
    """
    other = parse_arn(arn).region
    if other == region:
        return None
    return (
        f"{flag} {arn} is in region {other} but the function is in {region}: Lambda's "
        f"stream triggers must be in the function's region; pass --region {other} or a "
        f"stream in {region}"
    )


def account_mismatch(flag: str, arn: str, account: str) -> str | None:
    """Why a source in another account is unusable with these credentials, or None."""
    other = parse_arn(arn).account
    if other == account:
        return None
    return (
        f"{flag} {arn} is in account {other} but your credentials are for account "
        f"{account}: deploy with credentials of account {other} (--profile), or grant "
        f"account {account} access to the stream with a resource policy"
    )
