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

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, hoist_globals(args))


def as_render_error(exc: BaseException) -> RenderError | None:
    """An OS refusal (a file operation outside a render) or a missing extra as a usage error (exit 2)."""
    if isinstance(exc, ModuleNotFoundError):
        return MissingExtraError.from_import(exc)
    if isinstance(exc, OSError):
        return FileSystemError.from_os(exc)
    return None


#: Flags of the root callback that may also be given after the subcommand.
GLOBAL_FLAGS = ("-q", "--quiet")
#: Flags of the subcommands that may also be given before the subcommand.
COMMAND_FLAGS = ("--json",)


def hoist_globals(args: list[str]) -> list[str]:
    """``render -q x.yaml`` -> ``-q render x.yaml`` and ``--json inspect f`` -> ``inspect --json f``.

    The subcommand is the first argument not starting with ``-`` (the root takes no
    option values); nothing after ``--`` moves.
    """
    command = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if command is None:
        return list(args)
    before, name, after = list(args[:command]), args[command], list(args[command + 1:])
    end = after.index("--") if "--" in after else len(after)
    moved = [a for a in after[:end] if a in GLOBAL_FLAGS]
    after = [a for a in after[:end] if a not in GLOBAL_FLAGS] + after[end:]
    late = [a for a in before if a in COMMAND_FLAGS]
    before = [a for a in before if a not in COMMAND_FLAGS]
    return before + moved + [name] + late + after


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
    add_completion=True,
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries on stderr (also after the command).", envvar="LYRIA_RENDER_QUIET", show_envvar=True)] = False,
) -> None:
    """Render timelines of text prompts into finished music files.

    Global options (-q, --json) work before or after the command; LYRIA_RENDER_* environment
    variables set defaults (shown in each command's --help).
    """
    ctx.obj = {"quiet": quiet}
