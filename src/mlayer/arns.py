"""Reading Lambda layer version ARNs (pure, no I/O): the one place that knows their shape.

A layer version ARN is ``arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION``.
"""

from __future__ import annotations


def layer_name_of(arn: str) -> str:
    """``arn:aws:lambda:R:A:layer:NAME:V`` -> ``NAME`` (anything else is returned as is)."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 8 and parts[5] == "layer" else arn


def layer_version_of(arn: str) -> int:
    """``…:layer:NAME:7`` -> ``7``."""
    return int(arn.rsplit(":", 1)[1])


def short_arn(arn: str) -> str:
    """``…:layer:NAME:7`` -> ``NAME:7`` for messages; any other ARN as is."""
    parts = arn.split(":")
    return ":".join(parts[-2:]) if ":layer:" in arn else arn
