"""``python -m render.server``: the ``serve`` command without the rest of the CLI."""

import sys

import typer

from ..cli.serve import app
from ..errors import RenderError


def main() -> None:
    """Run ``serve`` with library errors shown as ``Error: ...`` and their exit code."""
    app.pretty_exceptions_enable = False
    try:
        app(prog_name="python -m render.server")
    except RenderError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
