"""Options shared by every command, defined once.

Global options are accepted before or after the command name
(``mlayer --json deploy`` and ``mlayer deploy --json``): each occurrence
records its value in the root context, and commands read them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

GLOBALS_KEY = "mlayer.globals"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value is not False:
        ctx.find_root().meta.setdefault(GLOBALS_KEY, {})[param.name] = value
    return value


def global_values(ctx: click.Context) -> dict[str, Any]:
    values: dict[str, Any] = ctx.find_root().meta.get(GLOBALS_KEY, {})
    return values


def _global(*names: str, **kwargs: Any) -> Callable[[F], F]:
    # The value only goes to the root context; the command function never sees it.
    return click.option(*names, expose_value=False, callback=_remember, **kwargs)


_GLOBAL_OPTIONS = [
    _global(
        "--config", type=click.Path(dir_okay=False), help="Settings file [default: ./mlayer.toml]."
    ),
    _global("--region", help="AWS region [default: from your AWS config]."),
    _global("--profile", help="AWS profile from your AWS config."),
    _global(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        show_envvar=True,
        help="Send AWS calls to this endpoint (LocalStack, moto).",
    ),
    _global("--function-name", help="The Lambda function; layer names default from it."),
    _global(
        "--json",
        "json",
        is_flag=True,
        default=None,
        help="Print one JSON object on stdout; messages go to stderr.",
    ),
    _global("--debug", is_flag=True, default=None, help="Show tracebacks."),
]


def global_options(func: F) -> F:
    """--config, --region, --profile, --endpoint-url, --function-name, --json, --debug."""
    for option in reversed(_GLOBAL_OPTIONS):
        func = option(func)
    return func


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Print the steps that would run; change nothing."
    )(func)


def layer_name_option(kind: str) -> Callable[[F], F]:
    return click.option(
        "--layer-name", help=f"Name of the {kind} layer [default: <function-name>-{kind}]."
    )


def bucket_option(func: F) -> F:
    return click.option(
        "--bucket", help="S3 bucket for zips over Lambda's 50 MB direct upload limit."
    )(func)


def out_option(func: F) -> F:
    return click.option(
        "--out", type=click.Path(file_okay=False), help="Build directory [default: build]."
    )(func)
