"""The ``clusterscape`` command: a thin Typer adapter over the library functions.

Library errors become one red line and exit code 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from clusterscape import __version__
from clusterscape.errors import ClusterscapeError

app = typer.Typer(
    name="clusterscape",
    help="Find creative-industry clusters in a city, type them, and measure their effects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

_STATE: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"clusterscape {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """clusterscape: creative clusters, their forms, and what they do to the city."""
    _STATE["debug"] = debug


def friendly_errors(func: F) -> F:
    """Turn library and file errors into one red line and exit code 1 (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except (ClusterscapeError, OSError, ValueError) as exc:
            if _STATE["debug"]:
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def parse_columns(spec: str | None) -> dict[str, str] | None:
    """Parse ``name=col,lon=经度`` into a mapping canonical -> file column."""
    if not spec:
        return None
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ClusterscapeError(
                f"--columns: {part!r} is not of the form canonical=column, e.g. lon=经度"
            )
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


# Each command below lives in its own block; keep the markers so blocks can be added safely.

# --- command: validate ---
# --- end: validate ---

# --- command: classify ---
# --- end: classify ---

# --- command: detect ---
# --- end: detect ---

# --- command: run ---
# --- end: run ---

# --- command: serve ---
# --- end: serve ---


def _entry() -> None:  # pragma: no cover - console-script shim for `python -m`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

_ = Path  # re-exported for command blocks
