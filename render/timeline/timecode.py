"""Time syntax for timelines, and the tempo map that turns bars into seconds.

Times (positions) accept:

* numbers of seconds: ``90``, ``1.5`` (YAML/JSON numbers);
* strings: ``"90"``, ``"90s"``, ``"250ms"``, ``"1:30"``, ``"1:30.250"``, ``"1:02:03"``,
  ``"1m30s"``, ``"1h2m3.5s"``;
* bars (1-based, need a bpm): ``"bar 17"``, ``"bar 17.3"``, ``"bar 17 beat 2.5"``, or a
  quoted ``"17.3"`` meaning bar 17, beat 3.

Durations accept the same second forms plus ``"4 bars"``, ``"2 beats"`` and
``"2 bars 1 beat"``. All arithmetic is exact (:class:`fractions.Fraction`), so sample
positions never drift.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from fractions import Fraction

from render.audio import SAMPLE_RATE

__all__ = [
    "Seconds",
    "BarPosition",
    "MusicalLength",
    "parse_time",
    "parse_duration",
    "parse_meter",
    "TempoMap",
    "to_frames",
    "format_seconds",
]


@dataclass(frozen=True)
class Seconds:
    value: Fraction


@dataclass(frozen=True)
class BarPosition:
    """Bar ``bar`` (1-based), beat ``beat`` (1-based, may be fractional)."""

    bar: int
    beat: Fraction = Fraction(1)


@dataclass(frozen=True)
class MusicalLength:
    """A duration in bars and beats, measured through the tempo map from its start."""

    bars: Fraction
    beats: Fraction


_NUM = r"\d+(?:\.\d+)?"
_RE_PLAIN = re.compile(rf"^-?\d+$")
_RE_UNIT = re.compile(rf"^(-?{_NUM})\s*(ms|s|sec|secs|second|seconds)$")
_RE_CLOCK = re.compile(rf"^(-)?(?:(\d+):)?(\d+):(\d{{1,2}}(?:\.\d+)?)$")
_RE_HMS = re.compile(rf"^(-)?(?:(\d+)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*(?:({_NUM})\s*s)?$")
_RE_BAR = re.compile(rf"^bar\s+(\d+)(?:\s*\.\s*({_NUM})|\s+beat\s+({_NUM}))?$")
_RE_BARDOT = re.compile(r"^(\d+)\.(\d+(?:\.\d+)?)$")
_RE_LEN = re.compile(rf"^(?:({_NUM})\s*bars?)?\s*(?:({_NUM})\s*beats?)?$")

MAX_SECONDS = 24 * 3600  # no time or duration in a timeline can be longer than the longest piece
MAX_TIME_CHARS = 40
TIME_HELP = 'use seconds (90, "90s", "1:30", "1:30.250", "1m30s") or bars ("bar 17", "17.3")'
DURATION_HELP = 'use seconds (8, "8s", "0:08", "1m30s") or bars ("4 bars", "2 beats")'


def _frac(text: str) -> Fraction:
    return Fraction(text)


def _bounded(seconds: Fraction, raw: object) -> Fraction:
    if abs(seconds) > MAX_SECONDS:
        raise ValueError(f"{raw!r} is beyond 24 h, the longest a timeline can be")
    return seconds


def _number(value: object) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number of seconds")
        return Fraction(repr(value))
    return None


def _text(value: str) -> str:
    text = value.strip().lower()
    if len(text) > MAX_TIME_CHARS:
        raise ValueError(f"{value[:MAX_TIME_CHARS]!r}... is too long to be a time ({len(value)} characters)")
    return text


def _seconds_from_text(text: str) -> Fraction | None:
    if _RE_PLAIN.match(text):
        return Fraction(int(text))
    m = _RE_UNIT.match(text)
    if m:
        value = _frac(m.group(1))
        return value / 1000 if m.group(2) == "ms" else value
    m = _RE_CLOCK.match(text)
    if m:
        sign, hours, minutes, secs = m.groups()
        if Fraction(secs) >= 60:
            raise ValueError(f"{text!r}: seconds must be below 60 in m:ss")
        if hours is not None and int(minutes) >= 60:
            raise ValueError(f"{text!r}: minutes must be below 60 in h:mm:ss")
        total = int(hours or 0) * 3600 + int(minutes) * 60 + _frac(secs)
        return -total if sign else total
    m = _RE_HMS.match(text)
    if m and any(m.group(i) for i in (2, 3, 4)):
        sign, h, mins, s = m.groups()
        total = int(h or 0) * 3600 + _frac(mins or "0") * 60 + _frac(s or "0")
        return -total if sign else total
    return None


def parse_time(value: object) -> Seconds | BarPosition:
    """Parse a position. Raises ``ValueError`` with a message that shows the accepted forms."""
    number = _number(value)
    if number is not None:
        return Seconds(_bounded(number, value))
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {type(value).__name__} {value!r}; {TIME_HELP}")
    text = _text(value)
    m = _RE_BAR.match(text)
    if m:
        beat = m.group(2) or m.group(3) or "1"
        return _bar(int(m.group(1)), _frac(beat), value)
    m = _RE_BARDOT.match(text)
    if m:
        return _bar(int(m.group(1)), _frac(m.group(2)), value)
    seconds = _seconds_from_text(text)
    if seconds is None:
        raise ValueError(f"cannot read {value!r} as a time; {TIME_HELP}")
    return Seconds(_bounded(seconds, value))


def _bar(bar: int, beat: Fraction, raw: object) -> BarPosition:
    if bar < 1:
        raise ValueError(f"{raw!r}: bars are counted from 1")
    if beat < 1:
        raise ValueError(f"{raw!r}: beats are counted from 1")
    return BarPosition(bar, beat)


def parse_duration(value: object) -> Seconds | MusicalLength:
    """Parse a duration (seconds or bars/beats). Raises ``ValueError``."""
    number = _number(value)
    if number is not None:
        return Seconds(_bounded(number, value))
    if not isinstance(value, str):
        raise ValueError(f"expected a duration, got {type(value).__name__} {value!r}; {DURATION_HELP}")
    text = _text(value)
    m = _RE_LEN.match(text)
    if m and (m.group(1) or m.group(2)):
        return MusicalLength(_frac(m.group(1) or "0"), _frac(m.group(2) or "0"))
    seconds = _seconds_from_text(text)
    if seconds is None:
        raise ValueError(f"cannot read {value!r} as a duration; {DURATION_HELP}")
    return Seconds(_bounded(seconds, value))


def parse_meter(text: str) -> tuple[int, int]:
    """``"6/8"`` -> (6, 8). Raises ``ValueError``."""
    m = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"meter {text!r} is not N/D with D one of 1, 2, 4, 8, 16, 32 (e.g. \"4/4\", \"6/8\")")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class _Segment:
    start_s: Fraction
    start_bar: int  # the bar that begins at start_s
    bpm: int


@dataclass(frozen=True)
class TempoMap:
    """Bars and beats to seconds, honouring tempo changes.

    ``bpm`` counts beats of the meter's unit (a quarter note in 4/4, an eighth in 6/8).
    A tempo change (or any context reset) starts a new bar at its position, exactly as
    the generator starts a fresh bar grid after a reset.
    """

    beats_per_bar: int
    beat_unit: int
    segments: tuple[_Segment, ...]

    @classmethod
    def constant(cls, bpm: int, meter: tuple[int, int] = (4, 4)) -> "TempoMap":
        return cls(meter[0], meter[1], (_Segment(Fraction(0), 1, int(bpm)),))

    def beat_s(self, bpm: int) -> Fraction:
        return Fraction(60, bpm) * Fraction(4, self.beat_unit)

    def bar_s(self, bpm: int) -> Fraction:
        return self.beat_s(bpm) * self.beats_per_bar

    def _segment_for_bar(self, bar: Fraction) -> _Segment:
        return self.segments[max(0, bisect_right(self.segments, bar, lo=1, key=lambda s: s.start_bar) - 1)]

    def _segment_for_time(self, t: Fraction) -> _Segment:
        return self.segments[max(0, bisect_right(self.segments, t, lo=1, key=lambda s: s.start_s) - 1)]

    def position_s(self, pos: BarPosition) -> Fraction:
        """Seconds at bar ``pos.bar``, beat ``pos.beat``."""
        bar_index = Fraction(pos.bar) + (pos.beat - 1) / self.beats_per_bar
        seg = self._segment_for_bar(Fraction(pos.bar))
        return seg.start_s + (bar_index - seg.start_bar) * self.bar_s(seg.bpm)

    def bar_at(self, t: Fraction) -> Fraction:
        """Fractional bar number (1-based) at time ``t``."""
        seg = self._segment_for_time(t)
        return seg.start_bar + (t - seg.start_s) / self.bar_s(seg.bpm)

    def label(self, t: Fraction) -> str:
        """``bar.beat`` label of time ``t`` (beat rounded to 3 decimals)."""
        bar = self.bar_at(t)
        whole = math.floor(bar)
        beat = (bar - whole) * self.beats_per_bar + 1
        beat_f = round(float(beat), 3)
        if beat_f >= self.beats_per_bar + 1:  # a frame before the downbeat: "2.1", not "1.5" in 4/4
            whole, beat_f = whole + 1, 1.0
        return f"{whole}.{beat_f:g}" if beat_f != int(beat_f) else f"{whole}.{int(beat_f)}"

    def length_s(self, start_s: Fraction, length: MusicalLength) -> Fraction:
        """Seconds spanned by ``length`` starting at ``start_s``."""
        start_bar = self.bar_at(start_s)
        end_bar = start_bar + length.bars + length.beats / self.beats_per_bar
        seg = self._segment_for_time(start_s)
        later = [s for s in self.segments if s.start_s > start_s and s.start_bar <= end_bar]
        t, bar = start_s, start_bar
        for nxt in later:
            t, bar, seg = nxt.start_s, Fraction(nxt.start_bar), nxt
        return t + (end_bar - bar) * self.bar_s(seg.bpm) - start_s

    def with_change(self, t: Fraction, bpm: int) -> "TempoMap":
        """A new map whose tempo becomes ``bpm`` at ``t``, starting a new bar there."""
        bar = self.bar_at(t)
        start_bar = math.floor(bar) if bar == math.floor(bar) else math.floor(bar) + 1
        kept = self.segments[: bisect_left(self.segments, t, key=lambda s: s.start_s)]  # those before t
        return TempoMap(self.beats_per_bar, self.beat_unit, kept + (_Segment(t, start_bar, int(bpm)),))

    def bpm_at(self, t: Fraction) -> int:
        return self._segment_for_time(t).bpm


def to_frames(seconds: Fraction, sample_rate: int = SAMPLE_RATE) -> int:
    """Exact seconds to the nearest frame (half frames round up)."""
    return math.floor(seconds * sample_rate + Fraction(1, 2))


def format_seconds(seconds: float) -> str:
    """``83.25`` -> ``"1:23.250"``."""
    millis = round(abs(seconds) * 1000)  # round once, so 59.9996 gives "1:00.000", never "0:60.000"
    sign = "-" if seconds < 0 and millis else ""
    minutes, millis = divmod(millis, 60_000)
    return f"{sign}{minutes}:{millis // 1000:02d}.{millis % 1000:03d}"
