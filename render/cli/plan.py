"""``lyria-render plan``: show the resolved schedule of control messages."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import typer
from rich.table import Table

from render.timeline.loader import load_timeline
from render.timeline.timecode import format_seconds

from ..files import require_regular
from ..schedule import Schedule, plan, schedule_dict
from . import console
from .options import ControlInterval, JsonFlag, TimelinePath

app = typer.Typer()


def _prompt_report(schedule: Schedule) -> list[dict[str, Any]]:
    """How the offline engine reads each prompt text (matched styles, modifiers, unmatched words)."""
    try:
        from ..backends.offline import analyse_prompt
    except ImportError:
        return []
    texts = {p.text for p in schedule.initial_prompts}
    for msg in schedule.messages:
        texts.update(p.text for p in msg.prompts or ())
    report = []
    for text in sorted(texts):
        match = analyse_prompt(text)
        report.append({"text": text, "matches": [m[0] for m in match.matches], "roles": dict(match.roles),
                       "modifiers": list(match.modifiers), "unmatched": list(match.unmatched)})
    return report


def unmatched_lines(schedule: Schedule) -> list[str]:
    """One line per prompt with words the offline engine does not know."""
    return [f"offline engine: prompt {p['text']!r}: unmatched words {', '.join(p['unmatched'])}"
            " (they still shape the music deterministically)" for p in _prompt_report(schedule) if p["unmatched"]]


def _config_text(cfg: Any) -> str:
    d = cfg.as_dict()
    return " ".join(f"{k}={v}" for k, v in d.items() if v is not None)


@app.command("plan")
def plan_cmd(timeline: TimelinePath, as_json: JsonFlag = False, control_interval: ControlInterval = None) -> None:
    """Print the resolved schedule: time, bar.beat, sample, message and the full config.

    \b
    Example:
      lyria-render plan timelines/seed_example.yaml
      lyria-render plan timelines/trailer.yaml --json | jq '.messages | length'
    """
    require_regular(timeline, "timeline file", missing_ok=True)  # the loader reports a missing one
    loaded = load_timeline(timeline)
    schedule = plan(loaded, control_interval_s=control_interval)
    prompts = _prompt_report(schedule)
    if as_json:
        payload = schedule_dict(schedule) | {"timeline": str(timeline), "sha256": loaded.sha256, "prompt_analysis": prompts}
        console.result(json.dumps(payload, indent=2))
        return
    tempo = loaded.resolved.tempo
    table = Table(title=f"{timeline} — {format_seconds(schedule.duration_frames / schedule.sample_rate)}, "
                  f"{len(schedule.messages)} messages", show_lines=False)
    for col in ("time", "bar.beat", "sample", "message", "detail"):
        table.add_column(col, overflow="fold")
    start = [("prompts", " + ".join(f"{p.text}:{p.weight:g}" for p in schedule.initial_prompts)),
             ("config", _config_text(schedule.initial_config)), ("play", "")]
    for kind, detail in start:
        table.add_row(f"-{format_seconds(schedule.lead_in_frames / schedule.sample_rate)}" if schedule.lead_in_frames else "0:00.000",
                      "", "0", kind, detail)
    for m in schedule.messages:
        label = tempo.label(Fraction(m.sample, schedule.sample_rate)) if tempo else ""
        if m.kind == "prompts":
            detail = " + ".join(f"{p.text}:{p.weight:g}" for p in m.prompts or ())
        elif m.kind == "config":
            detail = _config_text(m.config)
        else:
            detail = m.note
        kind = m.kind + (f" ({m.note})" if m.note and m.kind != "reset" else "")
        event = f"events[{m.event}] " if m.event is not None else ""
        table.add_row(format_seconds(m.at_s), label, str(schedule.stream_sample(m.sample)), event + kind, detail)
    console.out.print(table)
    for w in loaded.warnings:
        console.error(w.format())
    for p in prompts:
        if p["roles"]:
            mods = f"; modified by {', '.join(p['modifiers'])}" if p["modifiers"] else ""
            console.out.print(f"offline engine: prompt {p['text']!r}: " + "; ".join(f"{k} ({v})" for k, v in p["roles"].items()) + mods)
    for line in unmatched_lines(schedule):
        console.error(line)
