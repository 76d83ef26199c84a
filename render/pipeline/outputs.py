"""Where a render writes, checked before anything is written (``render`` and ``batch`` share it).

Nothing may resolve outside the output folder (a symbolic link leading out), replace an
input file, or carry a name the file system cannot hold; leftovers of a killed export
(``.NAME.*.part.EXT``) are cleaned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from render.errors import UsageError
from render.files import inside, manifest_path, same_file

from .job import WORK_DIR_NAME

__all__ = ["output_paths", "escape_problem", "check_outputs", "clean_part_files"]

_TEMP_EXTRA = 16  # mkstemp's ".", 8 random characters, ".part" and a leading "."


def output_paths(out_dir: Path, name: str, formats: Iterable[str]) -> list[Path]:
    """The manifest and every audio file a job named ``name`` writes into ``out_dir``."""
    return [manifest_path(out_dir, name)] + [out_dir / f"{name}.{fmt}" for fmt in formats]


def escape_problem(out_dir: Path, name: str, formats: Iterable[str], out_root: Path, *,
                   work_dir: bool = True) -> str | None:
    """Why an output (or the ``.lyria-render`` work folder) would land outside ``out_root``, or None."""
    targets = output_paths(out_dir, name, formats) + ([out_dir / WORK_DIR_NAME] if work_dir else [])
    for target in targets:
        if not inside(target, out_root):
            return (f"{target} resolves to {os.path.realpath(target)}, outside {out_root}/ "
                    f"(a symbolic link leads out; remove it)")
    return None


def _name_max(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_outputs(out_dir: Path, name: str, formats: Iterable[str], inputs: Iterable[Path], *,
                  own_work_dir: bool = True) -> None:
    """Refuse, before anything is written, a render whose outputs cannot or must not be written.

    Raises:
        UsageError: ``out_dir`` is not a folder, a name is too long for the file system,
            an output is an input file, or an output or the work folder leads outside ``out_dir``.
    """
    formats = tuple(formats)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: not a folder (a file of that name exists)",
                         hint="give a folder to write into")
    longest = max(len(p.name.encode()) for p in output_paths(out_dir, name, formats)) + _TEMP_EXTRA
    limit = _name_max(out_dir)
    if longest > limit:
        raise UsageError(f"output name {name[:40]!r}... is too long: its files would have names of "
                         f"{longest} bytes, more than this file system's {limit}",
                         hint=f"use a shorter --name (at most {limit - longest + len(name.encode())} bytes)")
    for out in output_paths(out_dir, name, formats):
        for src in inputs:
            if same_file(out, src):
                raise UsageError(f"{out} is the input file {src}; the render would overwrite it",
                                 hint="write elsewhere (-o) or rename the output (--name)")
    problem = escape_problem(out_dir, name, formats, out_dir, work_dir=own_work_dir)
    if problem:
        raise UsageError(problem)


def clean_part_files(out_dir: Path, name: str, formats: Iterable[str]) -> list[Path]:
    """Delete this job's temp files (``.NAME.*.part.EXT``) left in ``out_dir`` by a killed export.

    Only names matching the job's own pattern, for its own formats and manifest, are touched.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return removed
    for final in output_paths(out_dir, name, formats):
        prefix, suffix = f".{final.stem}.", f".part{final.suffix}"
        for entry in entries:
            rest = entry.name[len(prefix):-len(suffix)] if entry.name.endswith(suffix) else ""
            if entry.name.startswith(prefix) and len(rest) == 8 and "." not in rest and not entry.is_dir():
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed
