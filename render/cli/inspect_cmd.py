"""``lyria-render inspect``: show a rendered file's manifest, tags and measured loudness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import UsageError
from ..files import jsonable, require_regular, same_file
from . import console
from .options import JsonFlag

app = typer.Typer()


def _table(info: dict[str, Any]) -> Any:
    """A two-column rich table: format, loudness, loop, tags and the manifest's events."""
    from rich.table import Table

    table = Table(title=str(info.get("path")), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    fmt = info.get("format") or {}
    table.add_row("format", ", ".join(f"{k}={v}" for k, v in fmt.items() if v is not None))
    loud = info.get("measured") or info.get("loudness") or {}
    if loud:
        table.add_row("loudness", f"{loud.get('integrated_lufs')} LUFS, LRA {loud.get('lra_lu')} LU, "
                      f"true peak {loud.get('true_peak_dbtp')} dBTP, sample peak {loud.get('sample_peak_dbfs')} dBFS")
    table.add_row("loop", _loop_text(info.get("loop"), fmt.get("sample_rate")))
    for family, values in (info.get("tags") or {}).items():
        frames = values.get("frames", values) if isinstance(values, dict) else values
        for key, value in (frames.items() if isinstance(frames, dict) else []):
            table.add_row(f"tag {family} {key}", str(value))
    for line in _manifest_lines(info.get("manifest")):
        head, _, rest = line.strip().partition(":")
        table.add_row(head, rest.strip())
    return table


def _loop_text(loop: Any, sample_rate: Any) -> str:
    if not isinstance(loop, dict):
        return "none"
    if "error" in loop:
        return str(loop["error"])
    start, length = loop.get("start_frame"), loop.get("length_frames")
    if isinstance(start, int) and isinstance(length, int) and isinstance(sample_rate, int) and sample_rate:
        return (f"frames {start}..{start + length - 1} ({length} frames, "
                f"{start / sample_rate:.3f} s to {(start + length) / sample_rate:.3f} s)")
    return str(loop)


def _field(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None where a level is missing or not an object (manifests are untrusted)."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _manifest_lines(manifest: Any) -> list[str]:
    if not isinstance(manifest, dict):
        return []
    if "error" in manifest:
        return [f"manifest: {manifest['error']}"]
    backend = _field(manifest, "backend", "backend") or _field(manifest, "backend", "name")
    out = [f"manifest: job {str(manifest.get('job_hash', ''))[:12]}, backend {backend}, "
           f"seed {manifest.get('seed')}, timeline {_field(manifest, 'timeline', 'source')}"]
    events = manifest.get("events")
    for ev in events if isinstance(events, list) else []:
        if not isinstance(ev, dict):
            continue
        eff = ev.get("effective_s")
        out.append(f"  event {ev.get('index')} {ev.get('label') or ''}: requested {ev.get('requested_s')} s"
                   + (f", effective {eff} s{' (estimated)' if ev.get('estimated') else ''}" if eff is not None else ""))
    return out


@app.command("inspect")
def inspect(
    file: Annotated[Path, typer.Argument(help="A rendered .wav, .mp3 or .flac (its NAME.manifest.json is read too).")],
    as_json: JsonFlag = False,
    png: Annotated[Optional[Path], typer.Option("--png", help="Also draw the file (waveform, spectrogram, loudness, events, seams, loop) into this PNG; needs lyria-render[plot].", dir_okay=False)] = None,
) -> None:
    """Show a rendered file's format, tags, measured loudness/true peak and manifest.

    \b
    Example:
      lyria-render inspect out/seed_example.mp3
      lyria-render inspect out/battle_loop.flac --json | jq .tags
      lyria-render inspect out/seed_example.wav --png seed_example.png
    """
    require_regular(file, "audio file")  # before the heavy imports: a FIFO is refused at once
    from render.export.inspect import inspect_file

    info = inspect_file(file)
    if png is not None:
        from render.export.inspect import write_picture

        if same_file(png, file):
            raise UsageError(f"--png {png} is the input file", hint="give another path for the picture")
        write_picture(file, png)
    if as_json:
        console.result(json.dumps(jsonable(info), indent=2, default=str, allow_nan=False))
        return
    console.out.print(_table(info))
