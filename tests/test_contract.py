"""The handler's copies of the contract equal ``mlayer.contract``, and nothing
else in mlayer re-types it.

The handler (handler/*.py) never imports mlayer, so it keeps its own copies
of the names it shares with mlayer; this test is what ties them. The copies
are read from the source (importing mlayer_handler would load a model).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

from mlayer import contract

HANDLER = ROOT / "handler"
SRC = ROOT / "src" / "mlayer"
# The child interpreter of invoke --local runs isolated (-I -S): it cannot import mlayer either.
LOCAL_RUNTIME = SRC / "_lambda_runtime.py"


def constants(path: Path) -> dict[str, object]:
    """The module-level ``NAME = literal`` assignments of a source file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a source file, with its line (docstrings included)."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


HANDLER_COPIES = [
    ("mlayer_handler.py", "MODEL_DIR_ENV", contract.MODEL_DIR_ENV),
    ("mlayer_handler.py", "TEXT_FIELD_ENV", contract.TEXT_FIELD_ENV),
    ("mlayer_handler.py", "TEXT_IS_JSON_ENV", contract.TEXT_IS_JSON_ENV),
    ("mlayer_handler.py", "SINK_ENV", contract.SINK_ENV),
    ("mlayer_handler.py", "MODEL_SHA256_ENV", contract.MODEL_SHA256_ENV),
    ("mlayer_handler.py", "MISMATCH_ENV", contract.MISMATCH_ENV),
    ("mlayer_handler.py", "DEFAULT_MODEL_PATH", contract.DEFAULT_MODEL_PATH),
    ("mlayer_handler.py", "DEFAULT_TEXT_FIELD", contract.DEFAULT_TEXT_FIELD),
    ("mlayer_handler.py", "DEFAULT_SINK", contract.DEFAULT_SINK),
    ("mlayer_loader.py", "MANIFEST_NAME", contract.MANIFEST_NAME),
    ("mlayer_loader.py", "MANIFEST_FORMAT", contract.MANIFEST_FORMAT),
    ("mlayer_loader.py", "MODEL_SUFFIXES", contract.MODEL_SUFFIXES),
    ("mlayer_sinks.py", "KEY_ATTRIBUTE", contract.SINK_KEY),
    ("mlayer_defer.py", "DEFERRED_FILE", contract.DEFERRED_FILE),
    ("mlayer_defer.py", "DEFERRED_FORMAT", contract.DEFERRED_FORMAT),
    ("mlayer_handler.py", "SHADOW_MODEL_ENV", contract.SHADOW_MODEL_ENV),
    ("mlayer_loader.py", "CONTENT_ID_CHARS", contract.CONTENT_ID_CHARS),
    ("mlayer_shadow.py", "LOG_KIND_KEY", contract.LOG_KIND_KEY),
    ("mlayer_shadow.py", "SHADOW_LOG_KIND", contract.SHADOW_LOG_KIND),
    ("mlayer_shadow.py", "SHADOW_DISAGREEMENTS_LOGGED", contract.SHADOW_DISAGREEMENTS_LOGGED),
    *(
        ("mlayer_metrics.py", name, getattr(contract, name))
        for name in dir(contract)
        if name.startswith("METRIC") or name == "MAX_CLASS_METRICS"
    ),
]


@pytest.mark.parametrize(("file", "name", "value"), HANDLER_COPIES)
def test_the_handlers_copy_equals_the_contract(file: str, name: str, value: object) -> None:
    assert constants(HANDLER / file).get(name) == value


def test_the_handler_entry_point_is_the_contracts() -> None:
    module, function = contract.HANDLER.rsplit(".", 1)
    source = HANDLER / f"{module}.py"
    assert source.name == contract.HANDLER_FILE
    defined = {n.name for n in ast.parse(source.read_text()).body if isinstance(n, ast.FunctionDef)}
    assert function in defined


def test_the_local_runtime_reads_the_timeout_the_contract_names() -> None:
    assert contract.LOCAL_TIMEOUT_ENV in {text for _, text in string_literals(LOCAL_RUNTIME)}


ENV_NAME = re.compile(r"MLAYER_[A-Z0-9_]+")


def test_every_variable_the_handler_reads_is_in_the_contract() -> None:
    """No variable name is typed twice in the handler: each is one constant, and
    each is one the contract knows."""
    owned = {v for k, v in vars(contract).items() if k.endswith("_ENV") and isinstance(v, str)}
    for path in sorted(HANDLER.glob("*.py")):
        names = [text for _, text in string_literals(path) if ENV_NAME.fullmatch(text)]
        assert len(names) == len(set(names)), (path.name, names)
        assert set(names) <= owned, (path.name, set(names) - owned)


@pytest.mark.parametrize(
    "value",
    [
        *(v for k, v in vars(contract).items() if k.endswith("_ENV") and isinstance(v, str)),
        contract.MANIFEST_FORMAT,
        contract.MANIFEST_NAME,
        contract.MODEL_DIR,
        contract.HANDLER,
        contract.DEFERRED_FILE,
        contract.DEFERRED_FORMAT,
    ],
)
def test_mlayer_writes_each_contract_value_only_in_the_contract(value: str) -> None:
    """Every other module imports the name: a string literal equal to the value
    anywhere else in src/mlayer is a second owner."""
    allowed = {SRC / "contract.py", LOCAL_RUNTIME}
    if value == contract.MODEL_DIR:
        # Another fact spelled alike: the first word of a model layer's description.
        allowed.add(SRC / "descriptions.py")
    typed = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if path not in allowed
        for line, text in string_literals(path)
        if text == value
    ]
    assert typed == []
