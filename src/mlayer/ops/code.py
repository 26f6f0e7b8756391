"""The function's code: the handler directory and its reproducible zip."""

from __future__ import annotations

from pathlib import Path

from mlayer.contract import HANDLER_FILE
from mlayer.errors import UsageError
from mlayer.layerbuild.archive import ZipSummary, directory_entries, write_zip
from mlayer.settings import Settings

FUNCTION_ZIP_NAME = "function.zip"
PACKAGE = Path(__file__).resolve().parents[1]  # src/mlayer, or site-packages/mlayer


def handler_dir(settings: Settings) -> Path:
    """handler/ of the checkout, or the copy shipped inside the installed package."""
    if settings.handler_dir:
        path = Path(settings.handler_dir)
        if not (path / HANDLER_FILE).is_file():
            raise UsageError(f"--handler-dir {path} holds no {HANDLER_FILE}")
        return path
    packaged = PACKAGE / "_handler"
    checkout = PACKAGE.parents[1] / "handler"
    for path in (checkout, packaged):
        if (path / HANDLER_FILE).is_file():
            return path
    raise UsageError("cannot find the handler code: pass --handler-dir")


def function_zip(settings: Settings) -> ZipSummary:
    """Zip the handler's .py files reproducibly, so an unchanged handler is not redeployed."""
    source = handler_dir(settings)
    entries = [(name, path) for name, path in directory_entries(source) if name.endswith(".py")]
    return write_zip(entries, Path(settings.out) / FUNCTION_ZIP_NAME)
