"""Options shared by several commands, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
Paths = Annotated[list[str], typer.Argument(help="Timeline files, folders (searched recursively) or globs.")]
TimelinePath = Annotated[Path, typer.Argument(help="A timeline file (.yaml, .yml or .json).", dir_okay=False)]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
ControlInterval = Annotated[
    Optional[float],
    typer.Option("--control-interval", help="Ramp step in seconds (default: the timeline's, 0.5 s).", min=0.01),
]
