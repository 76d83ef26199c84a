"""The root Typer app and its global options (stored in ``ctx.obj``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
import typer.core

from ..errors import FileSystemError, MissingExtraError, RenderError
from ..version import __version__
from . import console


class RenderGroup(typer.core.TyperGroup):
    """Maps library errors to ``Error: ...`` on stderr and their exit code, for every entry point."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except RenderError as exc:
            console.error(f"Error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except (OSError, ModuleNotFoundError) as exc:
            err = as_render_error(exc)
            if err is None:
                raise
            console.error(f"Error: {err}")
            raise typer.Exit(err.exit_code) from None


def as_render_error(exc: BaseException) -> RenderError | None:
    """An OS refusal (a file operation outside a render) or a missing extra as a usage error (exit 2)."""
    if isinstance(exc, ModuleNotFoundError):
        return MissingExtraError.from_import(exc)
    if isinstance(exc, OSError):
        return FileSystemError.from_os(exc)
    return None

app = typer.Typer(
    name="lyria-render",
    cls=RenderGroup,
    help=(
        "Render timelines of text prompts into finished music files, with Lyria RealTime "
        "or the embedded offline (procedural) engine.\n\n"
        "Example:\n\n"
        "  lyria-render render timelines/seed_example.yaml -o out/"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lyria-render {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries on stderr.")] = False,
) -> None:
    """Render timelines of text prompts into finished music files."""
    ctx.obj = {"quiet": quiet}
