"""Render one timeline end to end: plan, conduct into a spool, master, export, manifest.

This is the library twin of ``lyria-render render``::

    from render import render_timeline
    result = render_timeline("timelines/seed_example.yaml", "out/")
    print(result.files[0].path, result.loudness_lufs)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from render.timeline import LoadedTimeline, Timeline

from .job import Prepared, RenderInterrupted, RenderOptions, RenderResult, prepare, spool_dir
from .manifest import build_manifest

__all__ = ["render_timeline", "render_prepared"]


def render_timeline(
    source: str | Path | Timeline | LoadedTimeline | Mapping[str, Any],
    out_dir: str | Path = "out",
    options: RenderOptions | None = None,
    *,
    progress: Callable[[Any], None] | None = None,
    session_gate: Any = None,
) -> RenderResult:
    """Render a timeline into finished files plus a JSON manifest in ``out_dir``.

    Args:
        source: a timeline path, a :class:`Timeline`, a loaded timeline, or a mapping.
        out_dir: the output folder (created if missing).
        options: see :class:`RenderOptions`.
        progress: called with each conductor progress event and ``("master", stage, fraction)``.
        session_gate: limits and staggers session starts across concurrent renders (batch).

    Returns:
        A :class:`RenderResult`.

    Raises:
        TimelineError: the timeline is invalid (exit code 2).
        BackendError: the generator failed; the spool is kept for ``resume``.
        RenderInterrupted: Ctrl-C; the spool is kept.
    """
    return render_prepared(prepare(source, out_dir, options), progress=progress, session_gate=session_gate)


def render_prepared(prepared: Prepared, *, progress: Callable[[Any], None] | None = None,
                    session_gate: Any = None) -> RenderResult:
    """Render a job made by :func:`render.pipeline.prepare` (so a caller prepares only once)."""
    if prepared.options.dry_run:
        return _dry_result(prepared)
    from .run import run_render

    try:
        return run_render(prepared, progress=progress, session_gate=session_gate)
    except KeyboardInterrupt:
        where = spool_dir(prepared.out_dir, prepared.name, prepared.options)
        raise RenderInterrupted(
            f"interrupted; the audio received so far is kept in {where}",
            hint="continue with the same command plus --resume",
        ) from None


def _dry_result(p: Prepared) -> RenderResult:
    manifest = build_manifest(p, conduct=None, finish=None, timings={}, dry_run=True)
    return RenderResult(
        name=p.name, out_dir=p.out_dir, files=(), manifest_path=None,
        duration_s=p.schedule.duration_frames / p.schedule.sample_rate, loudness_lufs=None,
        true_peak_dbtp=None, backend=p.backend.name, backend_reason=p.backend_reason,
        job_hash=p.job_hash, wall_s=0.0, dry_run=True, manifest=manifest,
        warnings=tuple(w.format() for w in p.loaded.warnings),
    )


