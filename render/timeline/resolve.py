"""Resolve a validated :class:`Timeline` into exact times, and check what a schema cannot.

Semantic checks: times inside the piece, ramps inside the piece, no two changes of one
parameter overlapping, bar times only with a known tempo, output settings that fit
together. Every problem carries a field path so the loader can report file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from render.audio import SAMPLE_RATE
from render.controls import RESET_FIELDS

from .model import EventSpec, LoopSpec, Timeline
from .timecode import (
    BarPosition,
    Seconds,
    TempoMap,
    format_seconds,
    parse_duration,
    parse_meter,
    parse_time,
    to_frames,
)

__all__ = ["Issue", "ResolvedEvent", "Resolved", "resolve", "RAMPABLE_FIELDS", "MAX_DURATION_S", "MAX_TRIM_S"]

RAMPABLE_FIELDS = ("guidance", "density", "brightness", "temperature", "top_k")
MAX_DURATION_S = 24 * 3600
MAX_TRIM_S = 600  # the model settles in seconds; 10 minutes of discarded audio is already generous
Path = tuple[Any, ...]


@dataclass(frozen=True)
class Issue:
    path: Path
    message: str
    hint: str | None = None
    severity: str = "error"


@dataclass(frozen=True)
class ResolvedEvent:
    index: int
    spec: EventSpec
    at_s: Fraction
    ramp_s: Fraction
    written: str


@dataclass
class Resolved:
    """Times in exact seconds. ``issues`` holds errors and warnings (see :class:`Issue`)."""

    timeline: Timeline
    duration_s: Fraction = Fraction(0)
    tempo: TempoMap | None = None
    events: list[ResolvedEvent] = field(default_factory=list)
    trim_s: Fraction = Fraction(0)
    fade_in_s: Fraction = Fraction(0)
    fade_out_s: Fraction = Fraction(0)
    loop_crossfade_s: Fraction = Fraction(0)
    loop_start_s: Fraction = Fraction(0)
    seam_crossfade_s: Fraction = Fraction(0)
    control_interval_s: Fraction = Fraction(1, 2)
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    def error(self, path: Path, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue(path, message, hint))

    def warn(self, path: Path, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue(path, message, hint, "warning"))

    def has_error(self, path: Path) -> bool:
        """Whether an error was already reported at ``path`` (so follow-up checks stay quiet)."""
        return any(i.path == path for i in self.errors)


def resolve(timeline: Timeline) -> Resolved:
    """Resolve every time in ``timeline``. Never raises for bad content: see ``.issues``."""
    r = Resolved(timeline=timeline)
    meter = parse_meter(timeline.meter)
    bpm = timeline.config.bpm
    r.tempo = TempoMap.constant(bpm, meter) if bpm else None
    times = _resolve_event_times(r)
    duration_s = _length(r, ("duration",), timeline.duration, Fraction(0))
    r.duration_s = duration_s or Fraction(0)
    if duration_s is None:
        pass  # already reported: bars without a tempo
    elif to_frames(r.duration_s) < 1:
        r.error(("duration",), f"duration must be > 0 and at least one frame (1/{SAMPLE_RATE} s), got {timeline.duration!r}")
    elif r.duration_s > MAX_DURATION_S:
        r.error(("duration",), f"duration {format_seconds(float(r.duration_s))} is over the 24 h limit")
    for index, spec in enumerate(timeline.events):
        at = times.get(index)
        if at is None:
            continue
        ramp = _length(r, ("events", index, "ramp"), spec.ramp, at) if spec.ramp is not None else Fraction(0)
        r.events.append(ResolvedEvent(index, spec, at, ramp or Fraction(0), str(spec.at)))
    r.events.sort(key=lambda e: (e.at_s, e.index))
    _check_beats(r, meter[0])
    _check_prompt_texts(r)
    _check_event_bounds(r)
    _check_overlaps(r)
    _warn_resets(r)
    _resolve_output(r)
    return r


def _length(r: Resolved, path: Path, value: Any, start_s: Fraction) -> Fraction | None:
    spec = parse_duration(value)
    if isinstance(spec, Seconds):
        return spec.value
    if r.tempo is None:
        r.error(path, f"{value!r} is in bars but no tempo is known", "set config.bpm at the top level")
        return None
    return r.tempo.length_s(start_s, spec)


def _position(r: Resolved, index: int, tempo: TempoMap | None) -> Fraction | None:
    spec = parse_time(r.timeline.events[index].at)
    if isinstance(spec, Seconds):
        return spec.value
    if tempo is None:
        return None
    return tempo.position_s(spec)


def _is_anchor(spec: EventSpec) -> bool:
    cfg = spec.config.given() if spec.config else {}
    return spec.reset or bool(RESET_FIELDS & cfg.keys())


def _resolve_event_times(r: Resolved) -> dict[int, Fraction]:
    """Event times; resets and tempo changes are added to the tempo map in time order.

    Anchors in seconds keep their time; anchors in bars keep their order (bar, beat) under any
    tempo map. So the next anchor is the earlier of the two queues' heads: O(n log n).
    """
    events = r.timeline.events
    times: dict[int, Fraction] = {}
    anchors = [(i, parse_time(e.at)) for i, e in enumerate(events) if _is_anchor(e)]
    in_s = sorted(((p.value, i) for i, p in anchors if isinstance(p, Seconds)), reverse=True)
    in_bars = sorted(((p.bar, p.beat, i) for i, p in anchors if isinstance(p, BarPosition)), reverse=True)
    while in_s or (in_bars and r.tempo is not None):
        bar_t = r.tempo.position_s(BarPosition(in_bars[-1][0], in_bars[-1][1])) if in_bars and r.tempo else None
        if in_s and (bar_t is None or (in_s[-1][0], in_s[-1][1]) <= (bar_t, in_bars[-1][2])):
            t, i = in_s.pop()
        else:
            assert bar_t is not None
            t, i = bar_t, in_bars.pop()[2]
        times[i] = t
        if r.tempo is not None and t >= 0:
            new_bpm = events[i].config.bpm if events[i].config and events[i].config.bpm else r.tempo.bpm_at(t)
            r.tempo = r.tempo.with_change(t, new_bpm)
    for i in range(len(events)):
        if i in times:
            continue
        t = _position(r, i, r.tempo)
        if t is None:
            r.error(("events", i, "at"), f"{events[i].at!r} is a bar time but no tempo is known",
                    "set config.bpm at the top level, or give the time in seconds")
            continue
        times[i] = t
    return times


def _check_beats(r: Resolved, beats_per_bar: int) -> None:
    """A bar.beat position must name a beat inside its bar ("17.5" does not exist in 4/4)."""
    for index, spec in enumerate(r.timeline.events):
        pos = parse_time(spec.at)
        if isinstance(pos, BarPosition) and pos.beat >= beats_per_bar + 1:
            r.error(("events", index, "at"),
                    f"{spec.at!r} names beat {pos.beat} of bar {pos.bar}, but a {r.timeline.meter} bar has "
                    f"{beats_per_bar} beats", f"use bar {pos.bar + 1} or a beat from 1 to {beats_per_bar}")


def _check_prompt_texts(r: Resolved) -> None:
    """Two prompts with the same text (ignoring case) in one set would silently merge into one."""
    sets: list[tuple[Path, list[str]]] = [(("prompts",), [p.text for p in r.timeline.prompts])]
    for index, spec in enumerate(r.timeline.events):
        if spec.prompts:
            sets.append((("events", index, "prompts"), [p.text for p in spec.prompts]))
        if spec.weights:
            sets.append((("events", index, "weights"), list(spec.weights)))
    for path, texts in sets:
        seen: set[str] = set()
        for i, text in enumerate(texts):
            key = text.strip().lower()
            if key in seen:
                where = path + (i, "text") if path[-1] == "prompts" else path
                r.error(where, f"prompt {text.strip()!r} appears twice (texts are compared ignoring case)",
                        "keep one entry and give it the weight you want")
            seen.add(key)


def _check_event_bounds(r: Resolved) -> None:
    end = r.duration_s
    for ev in r.events:
        if ev.at_s < 0:
            r.error(("events", ev.index, "at"), f"{ev.written!r} is negative; times must be >= 0")
        elif end > 0 and to_frames(ev.at_s) >= to_frames(end):  # also within half a frame of the end
            r.error(("events", ev.index, "at"),
                    f"{ev.written!r} ({format_seconds(float(ev.at_s))}) is at or past the end "
                    f"({format_seconds(float(end))})", "move it earlier or lengthen `duration`")
        if ev.spec.ramp is not None and not r.has_error(("events", ev.index, "ramp")):
            if ev.ramp_s <= 0:
                r.error(("events", ev.index, "ramp"), f"ramp must be > 0, got {ev.spec.ramp!r}")
            elif end > 0 and 0 <= ev.at_s < end and ev.at_s + ev.ramp_s > end:
                r.error(("events", ev.index, "ramp"),
                        f"ramp of {ev.spec.ramp!r} ends at {format_seconds(float(ev.at_s + ev.ramp_s))}, "
                        f"past the end ({format_seconds(float(end))})", "shorten the ramp or start it earlier")


def _touched(ev: ResolvedEvent) -> set[str]:
    params: set[str] = set()
    if ev.spec.prompts:
        params.add("prompts")
    for text in ev.spec.weights or {}:
        params.add(f"weight of {text.strip().lower()!r}")
    if ev.spec.config:
        params |= set(ev.spec.config.given())
    return params


class _Spans:
    """Earlier changes of one parameter: enough to find one that overlaps a later change."""

    def __init__(self) -> None:
        self.longest: ResolvedEvent | None = None  # the ramp that ends last
        self.same_time: list[ResolvedEvent] = []  # changes at the latest start time

    def add(self, ev: ResolvedEvent) -> None:
        if ev.ramp_s > 0 and (self.longest is None or ev.at_s + ev.ramp_s > self.longest.at_s + self.longest.ramp_s):
            self.longest = ev
        if self.same_time and self.same_time[0].at_s != ev.at_s:
            self.same_time = []
        if len(self.same_time) < 2 and (not self.same_time or ev.ramp_s > 0):
            self.same_time.append(ev)  # the first change at this time, and the first ramp

    def overlapping(self, ev: ResolvedEvent) -> ResolvedEvent | None:
        """An earlier change still ramping at ``ev`` (events arrive in time order)."""
        for other in self.same_time:
            if other.at_s == ev.at_s and (other.ramp_s > 0 or ev.ramp_s > 0):
                return other
        last = self.longest
        if last is not None and last.at_s < ev.at_s < last.at_s + last.ramp_s:
            return last
        return None


def _check_overlaps(r: Resolved) -> None:
    """No parameter changes while an earlier ramp still moves it (``prompts`` moves every weight)."""
    spans: dict[str, _Spans] = {}
    for ev in r.events:
        for param in sorted(_touched(ev)):
            groups = [param] + (["weight *"] if param == "prompts" else ["prompts"] if param.startswith("weight") else [])
            other = next((o for g in groups if g in spans and (o := spans[g].overlapping(ev))), None)
            if other is not None:
                field_name = "ramp" if ev.ramp_s > 0 else "at"
                window = f"{format_seconds(float(other.at_s))}-{format_seconds(float(other.at_s + other.ramp_s))}"
                r.error(("events", ev.index, field_name),
                        f"changes {param} while events[{other.index}] still ramps it ({window})",
                        "let one ramp end before the next change of the same parameter")
            for group in [param] + (["weight *"] if param.startswith("weight") else []):
                spans.setdefault(group, _Spans()).add(ev)


def _warn_resets(r: Resolved) -> None:
    current = {name: getattr(r.timeline.config, name) for name in RESET_FIELDS}
    for ev in r.events:
        given = ev.spec.config.given() if ev.spec.config else {}
        for name in sorted(RESET_FIELDS & given.keys()):
            if given[name] != current[name]:
                r.warn(("events", ev.index, "config", name),
                       f"changing {name} forces a context reset: a hard transition (the service ignores it until a reset)")
            current[name] = given[name]
        if ev.spec.ramp is not None and RESET_FIELDS & given.keys():
            r.warn(("events", ev.index, "ramp"), "bpm and scale cannot ramp; they change at the start of the ramp")


def _resolve_output(r: Resolved) -> None:
    out = r.timeline.output
    interval = _length(r, ("control_interval",), r.timeline.control_interval, Fraction(0))
    if interval is not None and not Fraction(1, 100) <= interval <= 10:
        r.error(("control_interval",), f"control_interval must be 10 ms to 10 s, got {r.timeline.control_interval!r}")
    elif interval is not None:
        r.control_interval_s = interval
    r.trim_s = _length(r, ("output", "trim_start"), out.trim_start, Fraction(0)) or Fraction(0)
    r.fade_in_s = _length(r, ("output", "fade_in"), out.fade_in, Fraction(0)) or Fraction(0)
    r.fade_out_s = _length(r, ("output", "fade_out"), out.fade_out, r.duration_s) or Fraction(0)
    r.seam_crossfade_s = _length(r, ("output", "seam_crossfade"), out.seam_crossfade, Fraction(0)) or Fraction(0)
    for name in ("trim_start", "fade_in", "fade_out", "seam_crossfade"):
        value = {"trim_start": r.trim_s, "fade_in": r.fade_in_s, "fade_out": r.fade_out_s,
                 "seam_crossfade": r.seam_crossfade_s}[name]
        if value < 0:
            r.error(("output", name), f"{name} must be >= 0, got {getattr(out, name)!r}")
    if r.trim_s > MAX_TRIM_S:
        r.error(("output", "trim_start"), f"trim_start must be at most {MAX_TRIM_S // 60} minutes, "
                f"got {out.trim_start!r}", "the generator settles within a few seconds; 2-5 s is typical")
    if r.duration_s > 0 and r.fade_in_s + r.fade_out_s > r.duration_s:
        r.error(("output", "fade_out"), "fade_in + fade_out are longer than the piece")
    if isinstance(out.loop, LoopSpec) or out.loop is True:
        raw = out.loop.crossfade if isinstance(out.loop, LoopSpec) else "2s"
        r.loop_crossfade_s = _length(r, ("output", "loop", "crossfade"), raw, r.duration_s) or Fraction(0)
        if r.has_error(("output", "loop", "crossfade")):
            pass  # already reported: bars without a tempo
        elif r.loop_crossfade_s <= 0 or (r.duration_s > 0 and r.loop_crossfade_s >= r.duration_s / 2):
            r.error(("output", "loop"), f"loop crossfade must be > 0 and under half the duration, got {raw!r}")
        _resolve_loop_start(r)
        if "mp3" in out.formats:
            r.warn(("output", "formats"), "MP3 loops play seamlessly only in gapless decoders; prefer wav or flac")
    if "mp3" in out.formats and out.sample_rate > 48000:
        r.error(("output", "sample_rate"), f"MP3 supports at most 48000 Hz, got {out.sample_rate}",
                "use 48000 or drop mp3 from formats")
    if "opus" in out.formats and out.sample_rate != 48000:
        r.error(("output", "sample_rate"), f"Opus encodes only 48000 Hz, got {out.sample_rate}",
                "use 48000 or drop opus from formats")
    if r.seam_crossfade_s > 30:
        r.error(("output", "seam_crossfade"), "seam_crossfade must be at most 30 s")


def _resolve_loop_start(r: Resolved) -> None:
    """``loop.start``: inside the piece with room for the crossfade; warn about what cannot loop."""
    out = r.timeline.output
    path = ("output", "loop", "start")
    if isinstance(out.loop, LoopSpec) and out.loop.start != 0:
        spec = parse_time(out.loop.start)
        if not isinstance(spec, Seconds) and r.tempo is None:
            r.error(path, f"{out.loop.start!r} is a bar time but no tempo is known", "set config.bpm at the top level")
            return
        r.loop_start_s = spec.value if isinstance(spec, Seconds) else r.tempo.position_s(spec)  # type: ignore[union-attr]
        if r.loop_start_s < 0 or r.duration_s - r.loop_start_s < 2 * r.loop_crossfade_s:
            r.error(path, f"loop start {out.loop.start!r} must be >= 0 and leave at least twice the crossfade "
                    "before the end", "start the loop earlier or shorten the crossfade")
    if r.fade_in_s > 0 or r.fade_out_s > 0:
        r.warn(("output", "fade_in" if r.fade_in_s > 0 else "fade_out"),
               "fade_in and fade_out are ignored on a loop (a loop has no ends to fade)")
    for ev in r.events:
        given = ev.spec.config.given() if ev.spec.config else {}
        if r.loop_start_s < ev.at_s < r.duration_s and RESET_FIELDS & given.keys():
            r.warn(("events", ev.index, "config"), "the loop contains a tempo or scale change, so it cannot "
                   "loop musically", "move the change before loop.start or remove it")
