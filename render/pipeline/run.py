"""The running part of a render: spool, conductor, master/export and manifest.

Kept apart from :mod:`render.pipeline.job` (options, planning, hashing) so each stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from render.conductor.conductor import Conductor, ConductorOptions
from render.errors import EXIT_FAILED, BackendError, FileSystemError, RenderError
from render.export.finish import finish
from render.export.writers import ExportSettings, TagSet
from render.files import atomic_write_text, jsonable, manifest_path
from render.master.stitch import MasterSettings
from render.spool.store import Spool, SpoolMeta, schedule_digest
from render.timeline.timecode import to_frames

from .job import OutputFile, Prepared, RenderResult, spool_dir
from .manifest import build_manifest
from .outputs import check_outputs, clean_part_files

__all__ = ["run_render", "master_settings", "export_settings", "tag_set"]

_WAV_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


def master_settings(p: Prepared) -> MasterSettings:
    r, out, s = p.loaded.resolved, p.loaded.timeline.output, p.schedule
    return MasterSettings(
        duration_frames=s.duration_frames,
        lead_in_frames=s.lead_in_frames,
        fade_in_frames=to_frames(r.fade_in_s),
        fade_out_frames=to_frames(r.fade_out_s),
        target_lufs=out.loudness_lufs,
        true_peak_dbtp=out.true_peak_dbtp,
        loop_crossfade_frames=s.tail_frames,
        seam_crossfade_frames=max(1, to_frames(r.seam_crossfade_s)),
        seam_align_max_lag_frames=int(p.options.seam_align_ms * s.sample_rate / 1000),
    )


def export_settings(p: Prepared) -> ExportSettings:
    out = p.loaded.timeline.output
    return ExportSettings(
        formats=tuple(out.formats),
        sample_rate=out.sample_rate,
        wav_subtype=_WAV_SUBTYPES[out.bit_depth],
        flac_subtype="PCM_16" if out.bit_depth == 16 else "PCM_24",
        mp3_mode=out.mp3.mode,
        mp3_bitrate_kbps=out.mp3.bitrate_kbps,
        mp3_vbr_quality=out.mp3.quality,
    )


def tag_set(p: Prepared) -> TagSet:
    tl = p.loaded.timeline
    tags = tl.output.tags
    prompts = ", ".join(f"{q.text}:{q.weight:g}" for q in p.schedule.initial_prompts)
    extra = dict(tags.custom)
    if tags.year:
        extra.setdefault("YEAR", tags.year)
    extra.update({
        "LYRIA_RENDER_TIMELINE_SHA256": p.loaded.sha256,
        "LYRIA_RENDER_JOB_HASH": p.job_hash,
        "LYRIA_RENDER_PROMPTS": prompts[:500],
        "LYRIA_RENDER_BACKEND": f"{p.backend.name} {p.backend.model}",
        "LYRIA_RENDER_SEED": str(tl.seed),
    })
    return TagSet(
        title=tags.title or tl.title or p.name,
        artist=tags.artist,
        album=tags.album,
        genre=tags.genre,
        comment=tags.comment or f"Rendered by lyria-render with the {p.backend.name} backend",
        extra=extra,
    )


def _open_spool(p: Prepared) -> tuple[Spool, bool]:
    where = spool_dir(p.out_dir, p.name, p.options)
    if p.options.resume:
        return Spool.open(where, timeline_sha256=p.audio_hash), True
    meta = SpoolMeta(name=p.name, timeline_sha256=p.audio_hash, schedule_digest=schedule_digest(p.schedule))
    return Spool.create(where, meta, replace=p.options.fresh or _holds_no_audio(where)), False


def _holds_no_audio(where: Path) -> bool:
    """A spool left by a run that received nothing (e.g. a refused connect) is reused silently."""
    if not (where / "meta.json").is_file():
        return False
    try:
        with Spool.open(where) as old:
            return old.received_end == 0
    except Exception:  # noqa: BLE001 - unreadable: leave the decision to Spool.create
        return False


def _conductor_options(p: Prepared) -> ConductorOptions:
    o = p.options
    kwargs: dict[str, Any] = dict(
        session_limit_s=o.session_limit_s, stall_timeout_s=o.stall_timeout_s,
        max_reconnects=o.max_reconnects, strict=o.strict,
    )
    if o.overlap_s is not None:
        kwargs["overlap_s"] = o.overlap_s
    if not getattr(p.backend, "supports_at_sample", True) and p.backend.name == "lyria":
        kwargs["control_lead_s"] = 0.0
    return ConductorOptions(**kwargs)


async def _conduct(conductor: Conductor, resume: bool, progress: Callable[[Any], None] | None) -> Any:
    # aclosing: if the loop body raises (e.g. Ctrl-C), the conductor's generator still runs
    # its cleanup (closing sessions) before the event loop goes away.
    async with contextlib.aclosing(conductor.run(resume=resume)) as events:
        async for event in events:
            if progress is not None:
                progress(event)
    return conductor.result


def run_render(p: Prepared, *, progress: Callable[[Any], None] | None = None, session_gate: Any = None) -> RenderResult:
    """Conduct into the spool, then master and export; write the manifest last."""
    started = time.perf_counter()
    formats = tuple(p.loaded.timeline.output.formats)
    check_outputs(p.out_dir, p.name, formats, [p.loaded.path] if p.loaded.path else [],
                  own_work_dir=p.options.work_dir is None)
    try:
        p.out_dir.mkdir(parents=True, exist_ok=True)
        clean_part_files(p.out_dir, p.name, formats)
        spool, resumed = _open_spool(p)
    except OSError as exc:
        raise FileSystemError.from_os(exc) from None
    refused = False
    try:
        manifest, written = _produce(p, spool, resumed, progress, session_gate, started)
    except OSError as exc:
        raise FileSystemError.from_os(exc, spool=spool.path) from None
    except RenderError as exc:
        if exc.exit_code == EXIT_FAILED and "--resume" not in str(exc) and not _nothing_received(spool, resumed):
            exc.hint = (f"{exc.hint.removesuffix(' and re-run')}, then" if exc.hint else "fix the cause, then") + \
                f" continue with the same command plus --resume (the audio so far is kept in {spool.path})"
        refused = isinstance(exc, BackendError)  # not a Ctrl-C or a batch stop: those keep the spool
        raise
    finally:
        empty = refused and _nothing_received(spool, resumed)
        spool.close()
        if empty:  # nothing received (wrong key, bad model, TLS...): leave nothing to block the next run
            spool.remove()
            _remove_if_empty(spool_dir(p.out_dir, p.name, p.options).parent)
    if not p.options.keep_spool:
        spool.remove()
        _remove_if_empty(spool_dir(p.out_dir, p.name, p.options).parent)
    return _result(p, manifest, written, time.perf_counter() - started)


def _produce(p: Prepared, spool: Spool, resumed: bool, progress: Callable[[Any], None] | None, session_gate: Any,
             started: float) -> tuple[dict[str, Any], Path]:
    """Conduct into the spool, master and export, then write the manifest (last)."""
    timings: dict[str, float] = {}
    conductor = Conductor(p.backend, p.schedule, spool, _conductor_options(p), session_gate=session_gate)
    conduct = asyncio.run(_conduct(conductor, resumed, progress))
    timings["conduct"] = time.perf_counter() - started
    t1 = time.perf_counter()
    stage_cb = (lambda stage, frac: progress(("master", stage, frac))) if progress else None
    report = finish(spool.segments(), master_settings(p), export_settings(p), p.out_dir, p.name, tag_set(p),
                    progress=stage_cb)
    timings["master_export"] = time.perf_counter() - t1
    timings.update({f"master.{k}": v for k, v in (jsonable(report).get("timings_s") or {}).items()})
    timings["total"] = time.perf_counter() - started
    manifest = build_manifest(p, conduct=conduct, finish=report, timings=timings, resumed=resumed)
    written = manifest_path(p.out_dir, p.name)
    atomic_write_text(written, json.dumps(manifest, indent=2) + "\n")
    return manifest, written


def _nothing_received(spool: Spool, resumed: bool) -> bool:
    return not resumed and spool.received_end == 0


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (other spools) or already gone


def _result(p: Prepared, manifest: dict[str, Any], written: Path, wall_s: float) -> RenderResult:
    after = (manifest.get("master") or {}).get("loudness_after") or {}
    files = tuple(
        OutputFile(format=f["format"], path=Path(f["path"]), frames=int(f["frames"]),
                   sample_rate=int(f["sample_rate"]), sha256=f["sha256"])
        for f in manifest.get("files", [])
    )
    return RenderResult(
        name=p.name, out_dir=p.out_dir, files=files, manifest_path=written,
        duration_s=p.schedule.duration_frames / p.schedule.sample_rate,
        loudness_lufs=after.get("integrated_lufs"), true_peak_dbtp=after.get("true_peak_dbtp"),
        backend=p.backend.name, backend_reason=p.backend_reason, job_hash=p.job_hash, wall_s=wall_s,
        manifest=manifest, warnings=tuple(w.format() for w in p.loaded.warnings),
    )
