"""What a command says: human text on stderr while it works, its result on stdout
(one JSON object with ``--json``). The lines themselves are drawn by ``render``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from mlayer import render
from mlayer.layerbuild.layer import Progress
from mlayer.settings import Settings


class Output:
    """Human text on stderr while working; the result on stdout (JSON with --json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._first: list[str] = []

    def first(self, message: str) -> None:
        """Said before the command's first message, warning or result, so that a
        refusal before any work stays one line."""
        self._first.append(message)

    def _say_first(self) -> None:
        for message in self._first:
            click.echo(message, err=True)
        self._first.clear()

    def info(self, message: str) -> None:
        self._say_first()
        click.echo(message, err=True)

    def detail(self, message: str) -> None:
        self._say_first()
        click.secho(f"  {message}", err=True, dim=True)

    def warning(self, message: str) -> None:
        self._say_first()
        click.secho(f"Warning: {message}", err=True, fg="yellow")

    def step(self, step: str) -> None:
        self.info(f"-> {step}")

    def result(self, report: render.Report) -> None:
        self._say_first()
        if self.as_json:
            click.echo(json.dumps(report.data, indent=2, default=str))
        else:
            for line in report.lines:
                click.echo(line)

    def progress(self) -> Progress:
        return Progress(
            message=self.info, detail=self.detail, warning=self.warning, bar=self.bytes_bar
        )

    def say_runtime(self, settings: Settings) -> None:
        """For a command that uses the runtime: which one, and why, when no flag or
        file named it (said before the command's first line); refuses a running
        Python Lambda has no runtime for."""
        line = settings.runtime_line()
        if line:
            self.first(line)

    @contextmanager
    def bytes_bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A click progress bar on stderr for uploads; silent when not a terminal."""
        enabled = sys.stderr.isatty()
        with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
            yield bar.update if enabled else (lambda _: None)
