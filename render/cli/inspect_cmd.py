"""``lyria-render inspect``: show a rendered file's manifest, tags and measured loudness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

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
    manifest = info.get("manifest")
    if manifest:
        backend = (manifest.get("backend") or {}).get("backend") or (manifest.get("backend") or {}).get("name")
        out.append(f"manifest: job {manifest.get('job_hash', '')[:12]}, backend {backend}, "
                   f"seed {manifest.get('seed')}, timeline {manifest.get('timeline', {}).get('source')}")
        for ev in manifest.get("events", []):
            eff = ev.get("effective_s")
            out.append(f"  event {ev['index']} {ev.get('label') or ''}: requested {ev['requested_s']} s"
                       + (f", effective {eff} s{' (estimated)' if ev.get('estimated') else ''}" if eff is not None else ""))
    return out


@app.command("inspect")
def inspect(
    file: Annotated[Path, typer.Argument(help="A rendered .wav, .mp3 or .flac (its NAME.json is read too).", exists=True, dir_okay=False)],
    as_json: JsonFlag = False,
) -> None:
    """Show a rendered file's format, tags, measured loudness/true peak and manifest.

    \b
    Example:
      lyria-render inspect out/seed_example.mp3
      lyria-render inspect out/battle_loop.flac --json | jq .tags
    """
    from render.export.inspect import inspect_file

    info = inspect_file(file)
    if as_json:
        console.result(json.dumps(info, indent=2, default=str))
        return
    for line in _lines(info):
        console.result(line)
