"""The click classes mlayer's commands are made of: mlayer.toml as click's
``default_map``, global options remembered at the root, errors as one line.

mlayer.toml is read before a command parses its options (``--config`` is eager)
and becomes the command's ``default_map``: a file value is converted by its
option's own type, so it gets the flag's range, rule and message, worded with
the file and key (``mlayer.toml: batch-size 0 is not in the range 1<=x<=10000``).
The values click does not convert (a flag won over them, or the running command
has no option of that name) go through the option of their name all the same,
so a bad file is refused by every command, before any work or AWS call.

Global options are accepted before or after the command name
(``mlayer --json deploy`` and ``mlayer deploy --json``): a value given on the
command line or in the environment is recorded in the root context, and
commands read them from there (``global_values``).
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any

import click
from click.core import ParameterSource

from mlayer.errors import MlayerError
from mlayer.settings import ConfigFile, read_config

GLOBALS_KEY = "mlayer.globals"
CONFIG_KEY = "mlayer.config"  # the command's ConfigFile (None without one) in ctx.meta


class MlayerCommand(click.Command):
    """A command whose mlayer.toml values are its options' defaults."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            rest = super().parse_args(ctx, args)
        except click.BadParameter as exc:
            name = exc.param.name if exc.param else None
            file = config_file(ctx)
            if file is None or name is None or not _from_file(ctx, name):
                raise
            raise file.refusal(name, _reason(exc)) from None
        _check_the_rest(ctx)
        return rest


class MlayerGroup(click.Group):
    """Translates errors into one-line messages, once, for every command."""

    command_class = MlayerCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlayerError as exc:
            if global_values(ctx).get("debug"):
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if global_values(ctx).get("debug"):
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} "
                "(rerun with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


def config_file(ctx: click.Context) -> ConfigFile | None:
    """The running command's mlayer.toml, its values as their options took them."""
    file: ConfigFile | None = ctx.meta.get(CONFIG_KEY)
    return file


def global_values(ctx: click.Context) -> dict[str, Any]:
    """The global options given on the command line or in the environment."""
    values: dict[str, Any] = ctx.find_root().meta.get(GLOBALS_KEY, {})
    return values


def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A global option's callback: records a value from a flag or the environment
    (a value from mlayer.toml reaches Settings with the file, below any flag
    given before the command name)."""
    given = ctx.get_parameter_source(str(param.name)) in (
        ParameterSource.COMMANDLINE,
        ParameterSource.ENVIRONMENT,
    )
    if given and value is not None and value is not False:
        ctx.find_root().meta.setdefault(GLOBALS_KEY, {})[param.name] = value
    return value


def load_config(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """--config's callback (eager, so the file is read before any other option):
    puts the file's values in the command's ``default_map``."""
    remember(ctx, param, value)
    if isinstance(ctx.command, click.Group) or ctx.resilient_parsing:
        return value  # the command reads it, once it knows its own options
    file = read_config(global_values(ctx).get("config"))
    ctx.meta[CONFIG_KEY] = file
    if file is not None:
        own = _options(ctx.command)
        ctx.default_map = {name: v for name, v in file.values.items() if name in own}
    return value


def _from_file(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP


def _reason(exc: click.BadParameter) -> str:
    return exc.message.rstrip(".")  # "0 is not in the range 1<=x<=10000"


def _options(command: click.Command) -> dict[str, click.Parameter]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def _check_the_rest(ctx: click.Context) -> None:
    """The file values click did not convert (a flag or the environment won, or
    this command has no option of their name) go through the option of their
    name: this command's, else the first command's that has one."""
    file = config_file(ctx)
    if file is None:
        return
    own = _options(ctx.command)
    root = ctx.find_root().command
    others = [_options(c) for c in root.commands.values()] if isinstance(root, click.Group) else []
    values = dict(file.values)
    for name, value in file.values.items():
        if _from_file(ctx, name):
            continue
        param = own.get(name) or next((o[name] for o in others if name in o), None)
        if param is None:
            continue  # a setting no option has: settings checked it
        try:
            values[name] = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise file.refusal(name, _reason(exc)) from None
    ctx.meta[CONFIG_KEY] = dataclasses.replace(file, values=values)
