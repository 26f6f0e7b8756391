"""moto's server (``python -m moto.server``), with one correction, documented here.

moto 5.2 resolves the alias an event source mapping's ``FunctionName`` names
to the version the alias points at, and reports that version's ARN as the
mapping's ``FunctionArn``. AWS keeps the alias ARN: that is what makes moving
the alias move what the mapping invokes, which ``mlayer deploy`` and
``rollback`` rely on (the trigger targets alias ``live``). This wrapper makes
moto keep the alias ARN too, for CreateEventSourceMapping and
UpdateEventSourceMapping; everything else is moto's own behaviour.

Usage: ``python scripts/moto_server.py -H 127.0.0.1 -p PORT`` (moto.server's arguments).
"""

from __future__ import annotations

import sys
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.server import main


def _alias_of(function_name: str) -> str | None:
    """The alias ``function_name`` names (``NAME:ALIAS`` or an alias ARN), if any."""
    parts = function_name.split(":")
    if function_name.startswith("arn:"):
        qualifier = parts[7] if len(parts) == 8 else None
    else:
        qualifier = parts[-1] if len(parts) in (2, 4) else None  # NAME:Q or ACCOUNT:function:NAME:Q
    if qualifier is None or qualifier.isdigit() or qualifier == "$LATEST":
        return None
    return qualifier


def _keep_alias(mapping: Any, function_name: str) -> Any:
    alias = _alias_of(function_name)
    if mapping is not None and alias:
        unqualified = ":".join(mapping.function_arn.split(":")[:7])
        mapping.function_arn = f"{unqualified}:{alias}"
    return mapping


_create = LambdaBackend.create_event_source_mapping
_update = LambdaBackend.update_event_source_mapping


def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    return _keep_alias(_create(self, spec), str(spec.get("FunctionName", "")))


def update_event_source_mapping(self: LambdaBackend, uuid: str, spec: dict[str, Any]) -> Any:
    mapping = _update(self, uuid, spec)
    if "FunctionName" in spec:
        mapping = _keep_alias(mapping, str(spec["FunctionName"]))
    return mapping


LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]
LambdaBackend.update_event_source_mapping = update_event_source_mapping  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
