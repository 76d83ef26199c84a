"""``lyria-render inspect``: show a rendered file's manifest, tags and measured loudness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..files import jsonable, require_regular
from . import console
from .options import JsonFlag

app = typer.Typer()


def _lines(info: dict[str, Any]) -> list[str]:
    out = [f"file: {info.get('path')}"]
    fmt = info.get("format") or {}
    if fmt:
        out.append("format: " + ", ".join(f"{k}={v}" for k, v in fmt.items()))
    measured = info.get("measured") or info.get("loudness") or {}
    if measured:
        out.append("measured: " + ", ".join(f"{k}={v}" for k, v in measured.items()))
    tags = info.get("tags") or {}
    for key, value in tags.items():
        out.append(f"tag {key}: {value}")
    if isinstance(info.get("loop"), dict) and "error" in info["loop"]:
        out.append(f"loop: {info['loop']['error']}")
    return out + _manifest_lines(info.get("manifest"))


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
) -> None:
    """Show a rendered file's format, tags, measured loudness/true peak and manifest.

    \b
    Example:
      lyria-render inspect out/seed_example.mp3
      lyria-render inspect out/battle_loop.flac --json | jq .tags
    """
    require_regular(file, "audio file")  # before the heavy imports: a FIFO is refused at once
    from render.export.inspect import inspect_file

    info = inspect_file(file)
    if as_json:
        console.result(json.dumps(jsonable(info), indent=2, default=str, allow_nan=False))
        return
    for line in _lines(info):
        console.result(line)
