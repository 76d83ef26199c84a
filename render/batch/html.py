"""A self-contained HTML batch report: one row per job with its picture (inlined) and a player.

Pictures are embedded as ``data:`` URIs; audio is linked relatively to the report's folder,
so the page works from a CI artifact with no network. Warnings come from each job's manifest
(read as untrusted data: only its strings are shown, escaped) and the offline engine's
unmatched prompt words.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

from render.files import atomic_write_text
from render.version import __version__

from .report import SUMMARY_HEADER, summary_row
from .results import BatchResult, JobReport

__all__ = ["job_warnings", "report_html", "write_html_report"]

_AUDIO_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}img{max-width:600px}
.failed,.invalid,.interrupted{background:#fdd}.warn{color:#a60}"""


def _manifest(job: JobReport) -> dict[str, Any]:
    if not job.manifest_path:
        return {}
    try:
        data = json.loads(Path(job.manifest_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def job_warnings(job: JobReport) -> list[str]:
    """Timeline and render warnings of a job, plus the offline engine's unmatched words."""
    manifest = _manifest(job)
    timeline, render = manifest.get("timeline"), manifest.get("render")
    out = _strings(timeline.get("warnings") if isinstance(timeline, dict) else None)
    out += _strings(render.get("warnings") if isinstance(render, dict) else None)
    backend = manifest.get("backend")
    if isinstance(backend, dict) and backend.get("backend") == "offline":
        out += _unmatched(manifest.get("schedule"))
    return out


def _unmatched(schedule: Any) -> list[str]:
    from render.backends.offline import analyse_prompt

    texts: set[str] = set()
    if isinstance(schedule, dict):
        for msg in [schedule.get("initial"), *_list(schedule.get("messages"))]:
            for prompt in _list(msg.get("prompts") if isinstance(msg, dict) else None):
                if isinstance(prompt, dict) and isinstance(prompt.get("text"), str):
                    texts.add(prompt["text"])
    lines = []
    for text in sorted(texts):
        unmatched = analyse_prompt(text).unmatched
        if unmatched:
            lines.append(f"offline engine: prompt {text!r}: unmatched words {', '.join(unmatched)}")
    return lines


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _picture(job: JobReport) -> str:
    for _fmt, path, _sha in job.files:
        png = Path(path).with_suffix(".png")
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            return f'<img alt="picture of {html.escape(job.id)}" src="data:image/png;base64,{data}">'
    return ""


def _player(job: JobReport, folder: Path) -> str:
    for kind in ("mp3", "ogg", "wav"):
        for fmt, path, _sha in job.files:
            if fmt == kind:
                rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder)).replace(os.sep, "/")
                return (f'<audio controls preload="none"><source src="{html.escape(rel)}" '
                        f'type="{_AUDIO_TYPES[kind]}"></audio>')
    return ""


def _row(job: JobReport, folder: Path) -> str:
    cells = [html.escape(c) for c in summary_row(job)]
    notes = job_warnings(job) + ([job.reason] if job.reason and job.failed else [])
    warn = "<br>".join(f'<span class="warn">{html.escape(w)}</span>' for w in notes)
    tds = "".join(f"<td>{c}</td>" for c in cells)
    return (f'<tr class="{html.escape(job.status)}">{tds}<td>{_picture(job)}</td>'
            f"<td>{warn}</td><td>{_player(job, folder)}</td></tr>")


def report_html(result: BatchResult, folder: Path) -> str:
    """The page for ``result``; audio links are relative to ``folder`` (where the page goes)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (*SUMMARY_HEADER, "picture", "warnings", "listen"))
    rows = "\n".join(_row(job, folder) for job in result.jobs)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "no jobs"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>lyria-render batch report</title><style>{_STYLE}</style></head><body>\n"
            f"<h1>lyria-render batch report</h1><p>lyria-render {html.escape(__version__)}, mode "
            f"{html.escape(result.mode)}, {html.escape(counts)}, exit code {result.exit_code}, "
            f"wall {result.wall_s:.1f} s</p>\n<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n"
            f"</tbody></table></body></html>\n")


def write_html_report(result: BatchResult, path: str | Path) -> None:
    """Write the HTML report atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, report_html(result, path.parent))
