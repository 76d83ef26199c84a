"""The schedule: a timeline resolved into control messages at exact sample positions.

Positions are frames at 48 kHz. *Piece* positions count from the first frame of the
finished piece (after the trimmed lead-in). *Stream* positions count from the first
frame the generator produces: ``stream = lead_in_frames + piece``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from render.audio import SAMPLE_RATE
from render.controls import GenerationConfig, WeightedPrompt

__all__ = ["ControlMessage", "EventTiming", "Schedule"]

MessageKind = Literal["prompts", "config", "reset"]


@dataclass(frozen=True, kw_only=True)
class ControlMessage:
    """One message a session must receive.

    ``prompts`` is the complete weighted set (kind ``prompts``); ``config`` is the
    complete config (kind ``config``); a ``reset`` carries neither. ``event`` is the
    index of the timeline event it comes from.
    """

    sample: int
    kind: MessageKind
    prompts: tuple[WeightedPrompt, ...] | None = None
    config: GenerationConfig | None = None
    event: int | None = None
    note: str = ""

    @property
    def at_s(self) -> float:
        return self.sample / SAMPLE_RATE


@dataclass(frozen=True, kw_only=True)
class EventTiming:
    """Where a timeline event lands: its piece sample, and its label as written."""

    index: int
    sample: int
    written: str
    bar_beat: str | None = None
    ramp_frames: int = 0


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The resolved schedule of one timeline. Built by :func:`plan`."""

    duration_frames: int
    lead_in_frames: int
    tail_frames: int
    initial_prompts: tuple[WeightedPrompt, ...]
    initial_config: GenerationConfig
    messages: tuple[ControlMessage, ...]
    events: tuple[EventTiming, ...] = ()
    control_interval_frames: int = SAMPLE_RATE // 2
    sample_rate: int = SAMPLE_RATE
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_frames(self) -> int:
        """Frames the generator must deliver: lead-in + piece + tail."""
        return self.lead_in_frames + self.duration_frames + self.tail_frames

    def stream_sample(self, piece_sample: int) -> int:
        return self.lead_in_frames + piece_sample

    def state_at(self, piece_sample: int) -> tuple[tuple[WeightedPrompt, ...], GenerationConfig, int]:
        """(prompts, config, resets so far) in force at ``piece_sample``.

        Messages at exactly ``piece_sample`` count as applied. Negative positions
        (inside the lead-in) give the initial state.
        """
        prompts, config, epoch = self.initial_prompts, self.initial_config, 0
        for msg in self.messages:
            if msg.sample > piece_sample:
                break
            if msg.kind == "prompts" and msg.prompts is not None:
                prompts = msg.prompts
            elif msg.kind == "config" and msg.config is not None:
                config = msg.config
            elif msg.kind == "reset":
                epoch += 1
        return prompts, config, epoch


# --------------------------------------------------------------------------- planning

import math  # noqa: E402
from bisect import bisect_right  # noqa: E402
from fractions import Fraction  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from render.errors import UsageError
from render.timeline.timecode import to_frames

from .controls import RESET_FIELDS  # noqa: E402

if TYPE_CHECKING:
    from render.timeline.loader import LoadedTimeline
    from render.timeline.resolve import Resolved, ResolvedEvent

__all__ += ["plan", "curve_progress"]

_ABSENT = None
ParamKey = tuple[str, str]  # ("w", prompt key) or ("c", config field)


def curve_progress(curve: str, p: float, rising: bool) -> float:
    """Fraction of the way from old to new value at ramp progress ``p`` (0..1).

    ``equal-power`` uses sin(p·π/2) for a rising value and 1 − cos(p·π/2) for a
    falling one, so a crossfade of two prompt weights keeps constant power.
    """
    if p >= 1:
        return 1.0
    if curve == "ease":
        return p * p * (3 - 2 * p)
    if curve == "equal-power":
        return math.sin(p * math.pi / 2) if rising else 1 - math.cos(p * math.pi / 2)
    return p


@dataclass(frozen=True)
class _Change:
    key: ParamKey
    steps: tuple[int, ...]  # frames at which the value steps
    values: tuple[Any, ...]  # value from each step on
    event: int


def _interpolate(old: Any, new: Any, n: int, curve: str, key: ParamKey) -> list[Any]:
    a = 0.0 if old is _ABSENT else float(old)
    b = 0.0 if new is _ABSENT else float(new)
    rising = abs(b) >= abs(a)
    out: list[Any] = []
    for k in range(n):
        if k == n - 1:
            out.append(new)
            continue
        v = a + (b - a) * curve_progress(curve, (k + 1) / n, rising)
        if key == ("c", "top_k"):  # whole steps rounded away from the start, so the ramp moves at once
            out.append(int(a + math.copysign(math.ceil(abs(v - a) - 1e-9), b - a)))
        elif key[0] == "w":
            v = round(v, 6)  # a weight crossing 0 mid-ramp keeps a tiny weight: 0 is refused, and
            out.append(v if v != 0 else math.copysign(1e-6, b or a))  # dropping it could empty the set
        else:
            out.append(round(v, 6))
    return out


class _Planner:
    def __init__(self, resolved: "Resolved", interval_frames: int) -> None:
        self.r = resolved
        self.interval = max(1, interval_frames)
        self.changes: dict[ParamKey, list[_Change]] = {}
        self.names: dict[str, str] = {}
        self.resets: list[tuple[int, int, str]] = []
        self.initial: dict[ParamKey, Any] = {}
        tl = resolved.timeline
        for p in tl.prompts:
            self._name(p.text)
            self.initial[("w", p.text.lower())] = p.weight
        for name, value in tl.initial_config().as_dict().items():
            self.initial[("c", name)] = value

    def _name(self, text: str) -> str:
        key = text.strip().lower()
        self.names.setdefault(key, text.strip())
        return key

    def value(self, key: ParamKey, frame: int) -> Any:
        current = self.initial.get(key, _ABSENT)
        for change in self.changes.get(key, ()):
            i = bisect_right(change.steps, frame)
            if i:
                current = change.values[i - 1]
        return current

    def prompt_keys(self) -> list[str]:
        keys = [k for (kind, k) in self.initial if kind == "w"]
        for kind, k in self.changes:
            if kind == "w" and k not in keys:
                keys.append(k)
        return keys

    def add(self, key: ParamKey, new: Any, ev: "ResolvedEvent", ramp: bool) -> None:
        start = to_frames(ev.at_s)
        old = self.value(key, start)
        # a config field set back to null ("model decides") has no value to ramp towards: it switches at the start
        if ramp and ev.ramp_s > 0 and (key[0] == "w" or (key[1] in _RAMPABLE and new is not None)):
            end = to_frames(ev.at_s + ev.ramp_s)
            n = max(1, math.ceil((end - start) / self.interval))
            steps = tuple(start + (k * (end - start)) // n for k in range(n))
            values = tuple(_interpolate(old, new, n, ev.spec.curve, key))
            if key == ("c", "top_k"):  # a whole-number step that repeats the value is not sent
                kept = [k for k in range(n) if values[k] != (values[k - 1] if k else old)] or [n - 1]
                steps, values = (start,) + tuple(steps[k] for k in kept[1:]), tuple(values[k] for k in kept)
        else:
            steps, values = (start,), (new,)
        self.changes.setdefault(key, []).append(_Change(key, steps, values, ev.index))

    def event(self, ev: "ResolvedEvent") -> None:
        spec, start = ev.spec, to_frames(ev.at_s)
        if spec.prompts:
            new = {self._name(p.text): p.weight for p in spec.prompts}
            for key in self.prompt_keys():
                if key not in new and self.value(("w", key), start) is not _ABSENT:
                    self.add(("w", key), _ABSENT, ev, True)
            for key, weight in new.items():
                self.add(("w", key), weight, ev, True)
        for text, weight in (spec.weights or {}).items():
            self.add(("w", self._name(text)), weight, ev, True)
        given = spec.config.given() if spec.config else {}
        for name, value in given.items():
            self.add(("c", name), value, ev, True)
        if spec.reset:
            self.resets.append((start, ev.index, "reset"))
        elif RESET_FIELDS & given.keys():
            changed = ", ".join(sorted(RESET_FIELDS & given.keys()))
            self.resets.append((start, ev.index, f"reset: {changed} changed"))

    def state(self, frame: int) -> tuple[tuple[WeightedPrompt, ...], GenerationConfig]:
        prompts = []
        for key in self.prompt_keys():
            w = self.value(("w", key), frame)
            if w is not _ABSENT:
                prompts.append(WeightedPrompt(text=self.names[key], weight=w))
        config = GenerationConfig(**{name: self.value(("c", name), frame) for name in GenerationConfig.field_names()})
        return tuple(prompts), config

    def step_owner(self, frame: int) -> tuple[int | None, str]:
        for changes in self.changes.values():
            for change in changes:
                if frame in change.steps:
                    n = len(change.steps)
                    k = change.steps.index(frame)
                    return change.event, (f"ramp {k + 1}/{n}" if n > 1 else "")
        return None, ""


_RAMPABLE = frozenset({"guidance", "density", "brightness", "temperature", "top_k"})


def plan(source: "LoadedTimeline | Resolved", *, control_interval_s: float | None = None) -> Schedule:
    """Resolve a validated timeline into its :class:`Schedule`.

    Pure and deterministic. Every config message carries the complete config; ramps
    become steps at most ``control_interval_s`` apart (default: the timeline's
    ``control_interval``, 0.5 s) and always end on the exact target value; a reset
    follows every bpm or scale change.
    """
    resolved = getattr(source, "resolved", source)
    if control_interval_s is not None and not 0.01 <= control_interval_s <= 10:  # also refuses nan and inf
        raise UsageError(f"control interval {control_interval_s!r} s: must be 0.01 to 10 seconds")
    interval_s = Fraction(str(control_interval_s)) if control_interval_s else resolved.control_interval_s
    planner = _Planner(resolved, to_frames(interval_s))
    for ev in resolved.events:
        planner.event(ev)
    frames = sorted({f for cs in planner.changes.values() for c in cs for f in c.steps} | {f for f, _, _ in planner.resets})
    messages: list[ControlMessage] = []
    prev_prompts, prev_config = planner.state(-1)
    resets = {f: (i, note) for f, i, note in planner.resets}
    for frame in frames:
        prompts, config = planner.state(frame)
        event, note = planner.step_owner(frame)
        if prompts != prev_prompts:
            messages.append(ControlMessage(sample=frame, kind="prompts", prompts=prompts, event=event, note=note))
        if config != prev_config:
            messages.append(ControlMessage(sample=frame, kind="config", config=config, event=event, note=note))
        if frame in resets:
            idx, why = resets[frame]
            messages.append(ControlMessage(sample=frame, kind="reset", event=idx, note=why))
        prev_prompts, prev_config = prompts, config
    tempo = resolved.tempo
    events = tuple(
        EventTiming(index=ev.index, sample=to_frames(ev.at_s), written=ev.written,
                    bar_beat=tempo.label(ev.at_s) if tempo else None, ramp_frames=to_frames(ev.ramp_s))
        for ev in resolved.events
    )
    initial_prompts, initial_config = planner.state(-1)
    return Schedule(
        duration_frames=to_frames(resolved.duration_s),
        lead_in_frames=to_frames(resolved.trim_s),
        tail_frames=to_frames(resolved.loop_crossfade_s),
        initial_prompts=initial_prompts,
        initial_config=initial_config,
        messages=tuple(messages),
        events=events,
        control_interval_frames=to_frames(interval_s),
        warnings=tuple(i.message for i in resolved.issues if i.severity != "error"),
    )


def _prompts_dict(prompts: tuple[WeightedPrompt, ...] | None) -> list[dict[str, Any]] | None:
    return None if prompts is None else [p.to_wire() for p in prompts]


def message_dict(msg: ControlMessage) -> dict[str, Any]:
    """A JSON-ready view of one message."""
    out: dict[str, Any] = {"sample": msg.sample, "at_s": round(msg.at_s, 6), "kind": msg.kind}
    if msg.prompts is not None:
        out["prompts"] = _prompts_dict(msg.prompts)
    if msg.config is not None:
        out["config"] = msg.config.as_dict()
    if msg.event is not None:
        out["event"] = msg.event
    if msg.note:
        out["note"] = msg.note
    return out


def schedule_dict(schedule: Schedule) -> dict[str, Any]:
    """A JSON-ready view of the whole schedule (used by ``plan --json`` and manifests)."""
    return {
        "sample_rate": schedule.sample_rate,
        "duration_frames": schedule.duration_frames,
        "lead_in_frames": schedule.lead_in_frames,
        "tail_frames": schedule.tail_frames,
        "control_interval_frames": schedule.control_interval_frames,
        "initial": {"prompts": _prompts_dict(schedule.initial_prompts), "config": schedule.initial_config.as_dict()},
        "events": [
            {"index": e.index, "sample": e.sample, "at_s": round(e.sample / schedule.sample_rate, 6),
             "written": e.written, "bar_beat": e.bar_beat, "ramp_frames": e.ramp_frames}
            for e in schedule.events
        ],
        "messages": [message_dict(m) for m in schedule.messages],
        "warnings": list(schedule.warnings),
    }


__all__ += ["message_dict", "schedule_dict"]
