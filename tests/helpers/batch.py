"""Helpers for the batch tests: tiny timelines and injectable render functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from render.errors import RenderError, TransientBackendError
from render.pipeline.job import spool_dir
from render.pipeline.render import render_timeline


def write_timeline(path: Path, *, seed: int = 1, duration: str = "1.5s", name: str | None = None,
                   formats: tuple[str, ...] = ("wav",), prompt: str = "Ambient") -> Path:
    """Write a short, valid timeline (YAML) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", f"duration: {duration}", f"seed: {seed}", "prompts:", f"  {prompt}: 1.0",
             "output:", f"  formats: [{', '.join(formats)}]"]
    if name:
        lines.append(f"  name: {name}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_invalid(path: Path) -> Path:
    """A timeline with a misspelt config field on line 5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version: 1\nduration: 1s\nprompts:\n  Piano: 1.0\nconfig: {brightnes: 0.5}\n", encoding="utf-8")
    return path


def _calls(out_dir: Path) -> Path:
    return out_dir / ".calls.jsonl"


def _log_call(out_dir: Path, **fields: Any) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    log = _calls(out_dir)
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(fields, default=str) + "\n")
    return len(log.read_text(encoding="utf-8").splitlines())


def calls(out_dir: Path) -> list[dict[str, Any]]:
    log = _calls(out_dir)
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def flaky_render(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    """Fails transiently on the first call per output folder (leaving a spool), then renders."""
    out = Path(out_dir)
    n = _log_call(out, source=source, resume=options.resume, fresh=options.fresh)
    if n == 1:
        where = spool_dir(out, Path(source).stem, options)
        where.mkdir(parents=True, exist_ok=True)
        (where / "meta.json").write_text("{}", encoding="utf-8")
        raise TransientBackendError("connection dropped (test)")
    from dataclasses import replace

    # the spool above is a stand-in, so render from scratch (recording that resume was asked for)
    return render_timeline(source, out_dir, replace(options, resume=False, fresh=True), **kwargs)


def always_transient(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    _log_call(Path(out_dir), source=source)
    raise TransientBackendError("server closed with 1011 (test)")


def fail_on_b(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    """Fails (not transiently) for any timeline whose file name starts with 'b'."""
    _log_call(Path(out_dir), source=source)
    if Path(source).name.startswith("b"):
        raise RenderError("generator exploded (test)")
    return render_timeline(source, out_dir, options, **kwargs)


def interrupt_on_b(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    """Acts like Ctrl-C while rendering any timeline whose file name starts with 'b'."""
    if Path(source).name.startswith("b"):
        raise KeyboardInterrupt
    return render_timeline(source, out_dir, options, **kwargs)
