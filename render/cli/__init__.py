"""The ``lyria-render`` command line: one module per command, a thin shell mapping errors to exit codes.

May import anything in render; nothing in render imports it.
"""

from __future__ import annotations

import os
import sys

from ..errors import EXIT_INTERRUPTED, RenderError
from . import console
from .root import app, as_render_error

__all__ = ["app", "main"]


def _register() -> None:
    from . import plan, schema, validate  # noqa: F401  (registers commands)

    for module in (validate, plan, schema):
        app.add_typer(module.app)
    for optional in ("render_cmd", "inspect_cmd", "serve", "batch"):
        try:
            module = __import__(f"{__name__}.{optional}", fromlist=["app"])
        except ModuleNotFoundError as exc:  # a command module still being written
            if exc.name != f"{__name__}.{optional}":
                raise
            continue
        app.add_typer(module.app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the app and map library errors to exit codes."""
    try:
        app(args=argv, prog_name="lyria-render")
    except RenderError as exc:
        console.error(f"Error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.error("Aborted.")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug, not bad input: one line, the traceback only on request
        err = as_render_error(exc)  # an OS refusal or a missing extra is bad input, not a bug
        if err is not None:
            console.error(f"Error: {err}")
            sys.exit(err.exit_code)
        if os.environ.get("LYRIA_RENDER_DEBUG"):
            raise
        console.error(f"Error: internal error ({type(exc).__name__}): {exc}")
        console.error("  hint: please report it; set LYRIA_RENDER_DEBUG=1 to see the traceback")
        sys.exit(1)
