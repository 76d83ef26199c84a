"""Finish a render: master the spooled segments straight into the encoders, then publish.

Every encoder writes a hidden temp file in the output folder; when the mastering pass
meets its targets the files are tagged, hashed and only then ``os.replace``-d onto their
final names. On any error the temp files are deleted: no half-written file remains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from render.audio import SAMPLE_RATE, Segment
from render.errors import ExportError, RenderError
from render.master import MasterReport, MasterSettings, master_piece
from render.master.stems import stem_piece

from .tags import Loop, TagSet
from .writers import ExportSettings, Writer, open_writers

__all__ = ["finish", "FinishReport", "finish_stem"]


@dataclass(kw_only=True)
class FinishReport(MasterReport):
    """What :func:`finish` did: the mastering report, the loop points and the files written."""

    loop: dict[str, int] | None
    files: list[dict[str, Any]]

    @classmethod
    def of(cls, master: MasterReport, loop: dict[str, int] | None, files: list[dict[str, Any]]) -> "FinishReport":
        return cls(**master.as_dict(), loop=loop, files=files)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().as_dict().items() if k != "frames"}


def finish(
    segments: Sequence[Segment],
    master: MasterSettings,
    export: ExportSettings,
    out_dir: Path,
    name: str,
    tags: TagSet,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> FinishReport:
    """Stitch, master and write ``out_dir/name.{wav,mp3,flac,ogg,opus}`` atomically, streaming in blocks.

    Args:
        segments: the spooled sessions, in any order.
        master: :class:`render.master.MasterSettings`.
        export: formats, output rate and encoder settings.
        out_dir: existing directory for the files (temp files are made there too).
        name: file stem.
        tags: metadata for every file.
        progress: called with ``(stage, fraction)``; stages are measure, settle, write.

    Raises:
        MasterError: the segments cannot make the piece.
        ExportError: bad export settings or a file could not be written (no partial file remains).
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ExportError(f"output name {name!r}: must be a plain file stem (no directories, not hidden)")
    export.validate()
    callback = _Callback(progress)
    try:
        report, writers = master_piece(segments, master, lambda: open_writers(out_dir, name, export, tags),
                                       output_rate=export.sample_rate, progress=callback if progress else None)
    except Exception as exc:
        if isinstance(exc, RenderError) or exc is callback.raised:  # the caller's own stop is not a write error
            raise
        raise ExportError(f"writing {name} in {out_dir} failed: {exc}",
                          hint="no partial file was left; fix the cause and re-run") from exc
    loop = None
    if master.loop_crossfade_frames:
        start = round(master.loop_start_frames * export.sample_rate / SAMPLE_RATE)
        loop = Loop(start_frame=start, length_frames=report.frames - start)
    t = time.perf_counter()
    files = _publish(list(writers), tags, loop)  # type: ignore[arg-type]
    report.timings_s["tags"] = round(time.perf_counter() - t, 3)
    loop_d = {"start_frame": loop.start_frame, "length_frames": loop.length_frames} if loop else None
    return FinishReport.of(report, loop_d, files)


def _publish(writers: list[Writer], tags: TagSet, loop: Loop | None) -> list[dict[str, Any]]:
    """Tag and hash every temp file, then move them all onto their final names."""
    try:
        files = [w.prepare(tags, loop) for w in writers]
        for w in writers:
            w.publish()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return files


class _Callback:
    """The caller's progress callback, remembering what it raised (e.g. a batch stopping)."""

    def __init__(self, progress: Callable[[str, float], None] | None) -> None:
        self.progress, self.raised = progress, None

    def __call__(self, stage: str, fraction: float) -> None:
        try:
            self.progress(stage, fraction)  # type: ignore[misc]
        except BaseException as exc:
            self.raised = exc
            raise


def finish_stem(segments: Sequence[Segment], master: MasterSettings, export: ExportSettings, out_dir: Path,
                name: str, tags: TagSet, gain_db: float, loop: dict[str, int] | None) -> list[dict[str, Any]]:
    """Write one stem as ``out_dir/name.*`` with the mix's settings and gain (see :mod:`render.master.stems`).

    ``loop`` is the mix's loop points (from its :class:`FinishReport`), so every stem loops with it.
    """
    export.validate()
    try:
        _, writers = stem_piece(segments, master, gain_db, lambda: open_writers(out_dir, name, export, tags),
                                output_rate=export.sample_rate)
    except Exception as exc:
        if isinstance(exc, RenderError):
            raise
        raise ExportError(f"writing stem {name} in {out_dir} failed: {exc}",
                          hint="no partial file was left; fix the cause and re-run") from exc
    return _publish(list(writers), tags, Loop(**loop) if loop else None)  # type: ignore[arg-type]
