"""``lyria-render render``: render one timeline (or a one-line prompt) to finished files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from render.pipeline import RenderOptions, RenderResult, prepare, render_prepared

from ..audio import SAMPLE_RATE
from ..errors import UsageError
from ..files import require_regular
from . import console
from .options import (
    ApiKeyFile,
    ApiVersion,
    Backend,
    BaseUrl,
    CaCert,
    ControlInterval,
    Formats,
    JsonFlag,
    MaxReconnects,
    Model,
    OutDir,
    Png,
    SeamAlignMs,
    SessionLimit,
    SoundFont,
    StallTimeout,
    Strict,
    complete_scales,
    env,
    lyria_settings,
)
from .progress import RenderProgress

app = typer.Typer()

_QUICK = "Quick render (no timeline file)"
Loudness = Annotated[Optional[str], typer.Option("--loudness", help="Target LUFS (e.g. -14) or 'off'. Default: the timeline's.", **env("LOUDNESS"))]


def parse_formats(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip().lower() for item in values for v in item.split(",") if v.strip())


def parse_loudness(value: str | None) -> float | None | str:
    if value is None:
        return "timeline"
    if value.strip().lower() in ("off", "none", "null"):
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"--loudness {value!r}: give LUFS like -14, or 'off'") from None


def _source(timeline: Path | None, prompt: str | None, duration: str, seed: int | None, name: str | None,
            config: dict[str, Any]) -> Any:
    if timeline is not None and prompt is not None:
        raise UsageError("give a TIMELINE file or --prompt, not both")
    if timeline is None and prompt is None:
        raise UsageError("nothing to render: give a TIMELINE file or --prompt", hint="see lyria-render render --help")
    if timeline is not None:
        require_regular(timeline, "timeline file", missing_ok=True)  # the loader reports a missing one
        return timeline
    from render.timeline.quick import quick_timeline

    return quick_timeline(prompt or "", duration, seed=seed or 0, name=name or slugify(prompt or ""), config=config)


def slugify(prompt: str, limit: int = 48) -> str:
    """A file stem from a quick prompt: ``"Indie Pop:0.6, Sitar:2"`` -> ``indie-pop-sitar``."""
    import re
    import unicodedata

    words = [part.rpartition(":")[0] if re.search(r":\s*[-+.\d]+\s*$", part) else part for part in prompt.split(",")]
    text = unicodedata.normalize("NFKD", " ".join(words)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "quick"


def refuse_overwrite(out_dir: Path, name: str) -> None:
    """A quick render never silently replaces an earlier output of the same name."""
    taken = sorted(p.name for p in out_dir.glob(f"{name}.*") if p.suffix.lower() in (".wav", ".mp3", ".flac", ".ogg", ".opus", ".png"))
    if taken:
        raise UsageError(f"{out_dir / taken[0]} already exists; a --prompt render does not overwrite it",
                         hint="pass --name NAME for another file, or --force to replace it")


def show_warnings(prepared: Any, quiet: bool) -> None:
    """Timeline warnings and the offline engine's unmatched prompt words, on stderr."""
    for w in prepared.loaded.warnings:
        console.info(w.format(), quiet=quiet)
    if prepared.backend.describe().get("backend") != "offline":
        return
    from .plan import unmatched_lines

    for line in unmatched_lines(prepared.schedule):
        console.info(line, quiet=quiet)


def summary(result: RenderResult) -> str:
    lufs = f"{result.loudness_lufs:.1f} LUFS" if result.loudness_lufs is not None else "loudness n/a"
    peak = f"{result.true_peak_dbtp:.2f} dBTP" if result.true_peak_dbtp is not None else "peak n/a"
    speed = result.duration_s / result.wall_s if result.wall_s else 0
    return (f"{result.name}: {result.duration_s:.2f} s, {lufs}, true peak {peak}, "
            f"{result.wall_s:.1f} s wall ({speed:.1f}x real time), backend {result.backend}")


@app.command("render")
def render(
    ctx: typer.Context,
    timeline: Annotated[Optional[Path], typer.Argument(help="Timeline file (.yaml/.yml/.json). Omit with --prompt.")] = None,
    out: OutDir = Path("out"),
    backend: Backend = "auto",
    formats: Formats = None,
    loudness: Loudness = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Override the timeline seed.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Output file name stem (a --prompt render: its slugified prompt).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let a --prompt render replace an existing output.")] = False,
    png: Png = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted render from its spool.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard a leftover spool and start over.")] = False,
    keep_spool: Annotated[bool, typer.Option("--keep-spool", help="Keep the raw chunk spool after success.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate, plan and pick the backend; render nothing.")] = False,
    control_interval: ControlInterval = None,
    soundfont: SoundFont = None,
    seam_align_ms: SeamAlignMs = 0.0,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help='Prompts as "text:weight, text:weight".', rich_help_panel=_QUICK)] = None,
    duration: Annotated[str, typer.Option("--duration", help="Length, e.g. 20s or 1:30.", rich_help_panel=_QUICK)] = "20s",
    bpm: Annotated[Optional[int], typer.Option("--bpm", help="Tempo, 60-200.", rich_help_panel=_QUICK)] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", help='e.g. "F major", "Dm", F_MAJOR_D_MINOR.', autocompletion=complete_scales, rich_help_panel=_QUICK)] = None,
    density: Annotated[Optional[float], typer.Option("--density", help="0-1.", rich_help_panel=_QUICK)] = None,
    brightness: Annotated[Optional[float], typer.Option("--brightness", help="0-1.", rich_help_panel=_QUICK)] = None,
    api_key_file: ApiKeyFile = None,
    model: Model = "models/lyria-realtime-exp",
    api_version: ApiVersion = "v1alpha",
    base_url: BaseUrl = None,
    ca_cert: CaCert = None,
    session_limit: SessionLimit = 540.0,
    stall_timeout: StallTimeout = 20.0,
    max_reconnects: MaxReconnects = 5,
    strict: Strict = False,
    as_json: JsonFlag = False,
    stems: Annotated[Optional[list[str]], typer.Option("--stems", help="Also write stems: drums, bass, other (repeat or comma-separate).")] = None,
    from_manifest: Annotated[Optional[Path], typer.Option("--from-manifest", help="Re-render what a manifest (NAME.manifest.json) describes.", dir_okay=False)] = None,
) -> None:
    """Render a timeline to WAV/MP3/FLAC plus a JSON manifest (NAME.manifest.json).

    \b
    Example:
      lyria-render render timelines/seed_example.yaml -o out/
      lyria-render render timelines/trailer.yaml --format wav,flac --loudness -16
      lyria-render render --prompt "Indie Pop:0.6, Sitar:2, Danceable:1.4" --duration 20s --bpm 140 --scale F_MAJOR_D_MINOR
      lyria-render render timelines/seed_example.yaml --soundfont /usr/share/sounds/sf3/MuseScore_General.sf3
      lyria-render render timelines/seed_example.yaml --resume     # after Ctrl-C or a crash
      lyria-render render --from-manifest out/seed_example.manifest.json -o again/
    """
    quiet = bool((ctx.obj or {}).get("quiet"))
    argv = tuple(sys.argv)
    if from_manifest is not None:
        if timeline is not None or prompt is not None:
            raise UsageError("give a TIMELINE, --prompt or --from-manifest, not more than one")
        lyria = lyria_settings(api_key_file, model, api_version, base_url, ca_cert)
        source, options = replay_options(from_manifest, lyria, resume, fresh, keep_spool, dry_run, argv)
        return _run(source, out, options, quiet, as_json, png=png)
    config = {"bpm": bpm, "scale": scale, "density": density, "brightness": brightness}
    source = _source(timeline, prompt, duration, seed, name, config)
    options = RenderOptions(
        backend=backend, lyria=lyria_settings(api_key_file, model, api_version, base_url, ca_cert),  # type: ignore[arg-type]
        formats=parse_formats(formats), loudness_lufs=parse_loudness(loudness), seed=seed, name=name,
        resume=resume, fresh=fresh, keep_spool=keep_spool, dry_run=dry_run, strict=strict,
        control_interval_s=control_interval, session_limit_s=session_limit, stall_timeout_s=stall_timeout,
        max_reconnects=max_reconnects, seam_align_ms=seam_align_ms, soundfont=soundfont,
        stems=parse_formats(stems), command_line=argv,
    )
    _run(source, out, options, quiet, as_json, png=png, guard_overwrite=prompt is not None and not force)


def replay_options(manifest: Path, lyria: Any, resume: bool, fresh: bool, keep_spool: bool, dry_run: bool,
                   argv: tuple[str, ...]) -> tuple[Any, RenderOptions]:
    """The timeline and options of ``--from-manifest`` (how to connect and run still come from this command)."""
    from render.pipeline.replay import from_manifest

    return from_manifest(manifest, lyria=lyria, resume=resume, fresh=fresh, keep_spool=keep_spool, dry_run=dry_run,
                         command_line=argv)


def _run(source: Any, out: Path, options: RenderOptions, quiet: bool, as_json: bool, *, png: bool = False,
         guard_overwrite: bool = False) -> None:
    dry_run = options.dry_run
    if png:
        from render.export.picture import require_plot

        require_plot()  # before rendering: a missing [plot] extra is exit 2 at once
    prepared = prepare(source, out, options)
    if guard_overwrite and not dry_run:
        refuse_overwrite(out, prepared.name)
    console.info(f"backend: {prepared.backend_reason}", quiet=quiet)
    show_warnings(prepared, quiet)
    bar = RenderProgress(prepared.schedule.total_frames / SAMPLE_RATE, label=prepared.name, quiet=quiet or dry_run)
    try:
        result = render_prepared(prepared, progress=bar)
    finally:
        bar.close()
    if png and not result.dry_run:
        draw_pictures(result.files, quiet=quiet)
    _report(result, as_json, quiet)


def draw_pictures(files: Any, *, quiet: bool) -> list[Path]:
    """NAME.png beside the first rendered file (the manifest beside it gives the marks)."""
    from render.export.inspect import write_picture

    first = next(iter(files), None)
    if first is None:
        return []
    path = Path(first.path)
    png = write_picture(path, path.with_suffix(".png"))
    console.info(f"picture: {png}", quiet=quiet)
    return [png]


def _report(result: RenderResult, as_json: bool, quiet: bool) -> None:
    if as_json:
        payload = {"name": result.name, "dry_run": result.dry_run, "backend": result.backend,
                   "files": [{"format": f.format, "path": str(f.path), "frames": f.frames,
                              "sample_rate": f.sample_rate, "sha256": f.sha256} for f in result.files],
                   "manifest": str(result.manifest_path) if result.manifest_path else None,
                   "duration_s": result.duration_s, "loudness_lufs": result.loudness_lufs,
                   "true_peak_dbtp": result.true_peak_dbtp, "wall_s": result.wall_s, "job_hash": result.job_hash}
        console.result(json.dumps(payload, indent=2))
        return
    if result.dry_run:
        schedule = result.manifest.get("schedule", {})
        console.result(f"dry run: {result.name} would render {result.duration_s:.2f} s with "
                       f"{len(schedule.get('messages', []))} control messages; backend {result.backend}")
        return
    for f in result.files:
        console.result(str(f.path))
    if result.manifest_path:
        console.result(str(result.manifest_path))
    console.info(summary(result), quiet=quiet)
