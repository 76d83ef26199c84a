"""A render job: its options, results, and :func:`prepare` (load, override, plan, pick the backend).

Preparing is cheap and renders nothing; :mod:`render.pipeline.render` runs a prepared job.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping

from render.audio import BYTES_PER_FRAME, CHANNELS, SAMPLE_RATE, Waveform
from render.backends import BackendChoice, LyriaSettings, select_backend
from render.backends.base import Backend
from render.errors import RenderError, UsageError
from render.files import jsonable
from render.schedule import Schedule, plan
from render.timeline.loader import LoadedTimeline, load_timeline, timeline_from_data
from render.timeline.model import Timeline, check_output_name
from render.timeline.resolve import resolve
from render.version import __version__

__all__ = ["RenderOptions", "RenderResult", "OutputFile", "RenderInterrupted", "prepare", "Prepared",
           "job_hash", "audio_hash", "spool_dir", "estimate_bytes", "check_free_space", "soundfont_path",
           "soundfont_sha256", "SOUNDFONT_ENV"]

KEEP = "timeline"
WORK_DIR_NAME = ".lyria-render"
SOUNDFONT_ENV = "LYRIA_RENDER_SOUNDFONT"


class RenderInterrupted(RenderError):
    """Ctrl-C during a render: the spool is kept for ``--resume``."""

    exit_code = 130


@dataclass(frozen=True, kw_only=True)
class RenderOptions:
    """Everything that can change how a timeline renders (CLI flags map 1:1).

    ``formats``, ``loudness_lufs``, ``seed`` and ``name`` override the timeline's own
    values; ``loudness_lufs=None`` turns normalisation off, ``"timeline"`` keeps it.
    """

    backend: BackendChoice = "auto"
    lyria: LyriaSettings = field(default_factory=LyriaSettings)
    formats: tuple[str, ...] | None = None
    loudness_lufs: float | None | Literal["timeline"] = KEEP
    seed: int | None = None
    name: str | None = None
    resume: bool = False
    fresh: bool = False
    keep_spool: bool = False
    dry_run: bool = False
    strict: bool = False
    control_interval_s: float | None = None
    session_limit_s: float = 540.0
    stall_timeout_s: float = 20.0
    max_reconnects: int = 5
    overlap_s: float | None = None
    seam_align_ms: float = 0.0
    offline_chunk_frames: int = 96_000
    soundfont: Path | None = None
    work_dir: Path | None = None
    stems: tuple[str, ...] | None = None
    command_line: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class OutputFile:
    format: str
    path: Path
    frames: int
    sample_rate: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class RenderResult:
    """What a render produced. ``manifest`` is the JSON written beside the audio."""

    name: str
    out_dir: Path
    files: tuple[OutputFile, ...]
    manifest_path: Path | None
    duration_s: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    backend: str
    backend_reason: str
    job_hash: str
    wall_s: float
    dry_run: bool = False
    manifest: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def audio(self, fmt: str | None = None) -> Waveform:
        """The rendered audio as a :class:`render.Waveform`, decoded from the file of
        format ``fmt`` (default: the first format written)."""
        from render.export import read_audio

        files = [f for f in self.files if fmt is None or f.format == fmt]
        if not files:
            raise UsageError(f"{self.name}: no {fmt or 'audio'} file was written" + (" (dry run)" if self.dry_run else ""))
        return read_audio(files[0].path)


@dataclass
class Prepared:
    """A timeline ready to render: overrides applied, schedule planned, backend chosen."""

    loaded: LoadedTimeline
    schedule: Schedule
    backend: Backend
    backend_reason: str
    name: str
    out_dir: Path
    job_hash: str
    audio_hash: str
    options: RenderOptions
    original: LoadedTimeline | None = None  # as loaded, before the options' overrides


def _load(source: str | Path | Timeline | LoadedTimeline | Mapping[str, Any]) -> LoadedTimeline:
    if isinstance(source, LoadedTimeline):
        return source
    if isinstance(source, Timeline):
        return timeline_from_data(source.model_dump(mode="json", exclude_unset=True))
    if isinstance(source, Mapping):
        return timeline_from_data(source)
    return load_timeline(source)


def _apply_overrides(loaded: LoadedTimeline, options: RenderOptions) -> LoadedTimeline:
    tl = loaded.timeline
    out_update: dict[str, Any] = {}
    if options.formats is not None:
        from render.export.writers import FORMATS  # lazy: `--help` loads no audio library

        bad = sorted(set(options.formats) - set(FORMATS))
        if bad or not options.formats:
            raise UsageError(f"--format {','.join(options.formats)}: use one or more of {', '.join(FORMATS)}")
        out_update["formats"] = list(dict.fromkeys(options.formats))
    if options.loudness_lufs != KEEP:
        value = options.loudness_lufs
        if value is not None and not -40 <= float(value) <= -5:
            raise UsageError(f"--loudness {value}: must be between -40 and -5 LUFS, or 'off'")
        out_update["loudness_lufs"] = value
    if options.name is not None:
        try:
            out_update["name"] = check_output_name(options.name)
        except ValueError as exc:
            raise UsageError(f"--name: {exc}") from None
    if options.stems is not None:
        bad = sorted(set(options.stems) - {"drums", "bass", "other"})
        if bad:
            raise UsageError(f"--stems {','.join(options.stems)}: use drums, bass and/or other")
        out_update["stems"] = list(dict.fromkeys(options.stems))
    top: dict[str, Any] = {}
    if out_update:
        top["output"] = tl.output.model_copy(update=out_update)
    if options.seed is not None:
        if not 0 <= options.seed <= 2_147_483_647:
            raise UsageError(f"--seed {options.seed}: must be 0 to 2147483647")
        top["seed"] = options.seed
        if tl.config.seed is not None:
            top["config"] = tl.config.model_copy(update={"seed": options.seed})
    if not top:
        return loaded
    new_tl = tl.model_copy(update=top)
    resolved = resolve(new_tl)
    if resolved.errors:
        raise UsageError("; ".join(i.message for i in resolved.errors))
    return replace(loaded, timeline=new_tl, resolved=resolved)


def _digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _bank_part(loaded: LoadedTimeline, backend: Backend, options: RenderOptions) -> dict[str, str | None]:
    """The bank's SHA-256 for the hashes (the offline engine only; nothing without a bank)."""
    if backend.name != "offline":
        return {}
    sha = soundfont_sha256(soundfont_path(loaded, options))
    return {"soundfont": sha} if sha else {}


def audio_hash(loaded: LoadedTimeline, backend: Backend, options: RenderOptions) -> str:
    """Hash of everything that shapes the generated audio (not the output settings)."""
    content = loaded.timeline.model_dump(mode="json", exclude={"output"})
    trim = loaded.timeline.output.trim_start, loaded.timeline.output.loop
    return _digest({"timeline": content, "trim_loop": jsonable(trim), "backend": backend.name,
                    "model": backend.model, "control_interval_s": options.control_interval_s,
                    **_bank_part(loaded, backend, options)})


def job_hash(loaded: LoadedTimeline, backend: Backend, options: RenderOptions) -> str:
    """Content hash of a job: the resolved timeline, effective options, backend and model,
    and the tool's major version. Equal hashes mean identical inputs (batch skips them)."""
    return _digest({
        "timeline": loaded.timeline.model_dump(mode="json"),
        "backend": backend.name,
        "model": backend.model,
        "control_interval_s": options.control_interval_s,
        "seam_align_ms": options.seam_align_ms,
        "tool_major": __version__.split(".")[0],
        **_bank_part(loaded, backend, options),
    })


def soundfont_path(loaded: LoadedTimeline, options: RenderOptions) -> Path | None:
    """The bank the offline engine plays through: ``--soundfont``, else the timeline's
    ``engine.soundfont`` (relative to the timeline file), else ``LYRIA_RENDER_SOUNDFONT``."""
    if options.soundfont is not None:
        return Path(options.soundfont).expanduser()
    own = loaded.timeline.engine.soundfont
    if own:
        p = Path(own).expanduser()
        return p if p.is_absolute() or loaded.path is None else loaded.path.parent / p
    env = os.environ.get(SOUNDFONT_ENV, "").strip()
    return Path(env).expanduser() if env else None


def soundfont_sha256(path: Path | None) -> str | None:
    """SHA-256 of the bank (loaded and checked once per file state); None without a bank.

    Raises:
        SoundFontError: a missing or bad bank (exit 2).
    """
    if path is None:
        return None
    from render.backends.offline.bank_voices import open_voices  # soundfile: loaded only when a bank is used

    return open_voices(path).identity.sha256


def spool_dir(out_dir: Path, name: str, options: RenderOptions) -> Path:
    return (options.work_dir or out_dir / WORK_DIR_NAME) / f"{name}.spool"


def _safe_out(out_dir: Path, name: str) -> None:
    base = out_dir.resolve()
    target = (out_dir / name).resolve()
    if target.parent != base:
        raise UsageError(f"output name {name!r} would leave the output folder {out_dir}")


SPACE_MARGIN = 1.1  # 10 % over the estimate: manifests, temporary files, filesystem blocks


def estimate_bytes(loaded: LoadedTimeline, schedule: Schedule) -> tuple[int, int]:
    """(spool bytes, output bytes) a render writes at most.

    The spool holds every generated frame (lead-in, piece, loop tail) as PCM; WAV and FLAC
    are counted at the WAV size (FLAC is never larger in practice), MP3 at its bitrate
    (320 kbit/s for VBR, its ceiling), Ogg Vorbis and Opus at 500 kbit/s (above either's
    highest quality). Each stem is one more spool and one more set of files.
    """
    out = loaded.timeline.output
    copies = 1 + len(out.stems or ())
    spool = schedule.total_frames * BYTES_PER_FRAME
    seconds = schedule.duration_frames / SAMPLE_RATE
    pcm = math.ceil(seconds * out.sample_rate) * CHANNELS * (out.bit_depth // 8)
    kbps = out.mp3.bitrate_kbps if out.mp3.mode == "cbr" else 320
    lossy = math.ceil(seconds * 500 * 1000 / 8)
    sizes = {"wav": pcm, "flac": pcm, "mp3": math.ceil(seconds * kbps * 1000 / 8), "ogg": lossy, "opus": lossy}
    return spool * copies, sum(sizes[f] for f in out.formats) * copies


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(loaded: LoadedTimeline, schedule: Schedule, out_dir: Path, options: RenderOptions) -> None:
    """Refuse (exit 2) a render whose spool and files would not fit on their filesystems."""
    spool, files = estimate_bytes(loaded, schedule)
    needs: dict[Path, int] = {}
    for folder, size in ((out_dir, files), (options.work_dir or out_dir, spool)):
        root = _existing(folder)
        key = next((k for k in needs if k.stat().st_dev == root.stat().st_dev), root)
        needs[key] = needs.get(key, 0) + size
    for root, size in needs.items():
        free = shutil.disk_usage(root).free
        if size * SPACE_MARGIN > free:
            raise UsageError(f"not enough free space on {root}: this render needs about {size / 1e6:,.0f} MB "
                             f"(spool and files), {free / 1e6:,.0f} MB are free",
                             hint="free some space, choose another -o folder, or drop formats")


def prepare(source: Any, out_dir: str | Path, options: RenderOptions | None = None) -> Prepared:
    """Load, override, plan and pick the backend, without rendering anything."""
    options = options or RenderOptions()
    original = _load(source)
    loaded = _apply_overrides(original, options)
    schedule = plan(loaded, control_interval_s=options.control_interval_s)
    backend, reason = select_backend(options.backend, options.lyria, offline_chunk_frames=options.offline_chunk_frames,
                                     soundfont=soundfont_path(loaded, options))
    out = Path(out_dir)
    name = loaded.name
    _safe_out(out, name)
    if not options.dry_run:
        check_free_space(loaded, schedule, out, options)
    return Prepared(loaded, schedule, backend, reason, name, out, job_hash(loaded, backend, options),
                    audio_hash(loaded, backend, options), options, original)
