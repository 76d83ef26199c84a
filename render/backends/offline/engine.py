"""The procedural engine: control changes at exact frames in, stereo float audio out.

:class:`Engine` keeps the control state (prompts, config, epoch, the bar grid of the
current context) and a queue of changes at absolute frame positions. ``render(start, n)``
applies each change exactly at its frame, composes the bars that start notes in each
constant-control segment, renders those notes whole into the mixer's rings, and mixes
the requested frames. Every decision is a function of absolute positions and the
changes, never of where chunks begin or end, so the output does not depend on the
chunk size.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal

from render.audio import SAMPLE_RATE
from render.controls import NUMERIC_RANGES, GenerationConfig, WeightedPrompt

from .arrange import arrangement_key
from .compose import STEPS_PER_BAR, Controls, EpochContext, compose_bar
from .instruments import instrument
from .mix import BusCompressor, Reverb, Ring, soft_clip
from .patterns import SCALE_TONIC
from .style import DEFAULT_STYLE, StyleVector, stable_hash
from .vocabulary import style_of_prompts
from .voices import BRIGHT_BUCKETS, SHARED_CACHE, length_class

__all__ = ["Engine", "Rendered", "ENGINE_VERSION"]

ENGINE_VERSION = "2.0"
XFADE_FRAMES = 1_920  # a prompt change that re-arranges crossfades over 40 ms
MUTE_RAMP_FRAMES = 240  # 5 ms
RESET_FADE_FRAMES = 960  # old tails fade in 20 ms after a reset
MAX_BLOCK_FRAMES = SAMPLE_RATE  # one second
_GROUP_GAIN = (0.34, 0.22, 0.26)
_BASE_SEND = (0.10, 0.02, 0.30)
_DC_B = np.array([1.0, -1.0], dtype=np.float32)  # a 10 Hz DC blocker
_DC_A = np.array([1.0, -(1.0 - 2 * math.pi * 10.0 / SAMPLE_RATE)], dtype=np.float32)
_CEILING = (0.5, 0.36, 0.5)  # per-group peak ceilings: their sum rarely reaches full scale


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """One rendered span of audio: (2, frames) float32 in [-1, 1], plus control spans."""

    audio: np.ndarray
    spans: tuple[tuple[int, tuple[WeightedPrompt, ...], GenerationConfig, int], ...]
    info: dict[str, Any]


_NOTE_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def _faded(x: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """``x`` (mono frames, or (frames, 2) for a bank's stereo note) times a fade over its frames."""
    return x * (fade if x.ndim == 1 else fade[:, None])


def _clamp(name: str, value: float | int | None, default: float) -> float:
    """A config value clamped to its documented range (``None``: the default)."""
    low, high = NUMERIC_RANGES[name]
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return float(default)
    return float(min(high, max(low, value)))


class Track:
    """A piecewise-linear control signal over absolute frames (gains, sends)."""

    def __init__(self, value: float) -> None:
        self.entries: list[tuple[int, float, float, int]] = [(0, value, value, 1)]

    def value_at(self, t: int) -> float:
        t0, v0, v1, dur = self.entries[-1]
        return v0 + (v1 - v0) * min(1.0, max(0.0, (t - t0) / dur))

    def set(self, t: int, target: float, dur: int) -> None:
        """Ramp linearly from the current value to ``target`` over ``dur`` frames (0: jump)."""
        start = self.value_at(t) if dur > 0 else target
        self.entries = [e for e in self.entries if e[0] < t] + [(t, start, target, max(1, dur))]

    def curve(self, a: int, n: int) -> float | np.ndarray:
        """The signal over frames ``[a, a + n)``: a float when constant there."""
        self.entries = [e for i, e in enumerate(self.entries) if i == len(self.entries) - 1 or self.entries[i + 1][0] > a]
        live = [e for e in self.entries if e[0] < a + n]
        if len(live) == 1:
            t0, v0, v1, dur = live[0]
            if v0 == v1 or a >= t0 + dur:
                return float(v1)
        out = np.empty(n, dtype=np.float32)
        for i, (t0, v0, v1, dur) in enumerate(live):
            lo = max(a, t0) - a
            hi = (live[i + 1][0] - a) if i + 1 < len(live) else n
            pos = np.arange(a + lo, a + hi, dtype=np.float64)
            out[lo:hi] = v0 + (v1 - v0) * np.clip((pos - t0) / dur, 0.0, 1.0)
        return out


@dataclass(order=True)
class _Change:
    position: int
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False, default=None)


class Engine:
    """Deterministic procedural music engine (not neural). See module docstring."""

    def __init__(self, voices: Any = None) -> None:
        self._voices = voices  # SoundFont hook: a bank_voices.BankVoices, or None (procedural voices only)
        self._queue: list[_Change] = []
        self._seq = 0
        self.prompts: tuple[WeightedPrompt, ...] = ()
        self.config = GenerationConfig()
        self.epoch = 0
        self._started = False
        self._anchor = 0
        self._bpm = 120.0
        self._ctx = EpochContext(tonic_pc=0, minor=False, seed=0, epoch=0)
        self._since = 0
        self._style = DEFAULT_STYLE
        self._cover = False
        self._info: dict[str, Any] = {"unmatched_words": [], "styles": {}}
        self._rings = [Ring() for _ in range(3)]
        self._gains = [Track(1.0) for _ in range(3)]
        self._sends = [Track(s) for s in _BASE_SEND]
        self._drive = Track(0.0)
        self._reverb = Reverb()
        self._comps = [BusCompressor() for _ in range(3)]
        self._dc_state = np.zeros((2, 1), dtype=np.float32)  # per group: the mix stays the sum of its groups
        self._cache = SHARED_CACHE
        self._bars: OrderedDict[tuple, list] = OrderedDict()
        self._fades: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------------- changes
    def schedule(self, position: int, kind: str, payload: Any = None) -> None:
        """Queue a change (``prompts``, ``config`` or ``reset``) at an absolute frame."""
        heapq.heappush(self._queue, _Change(position, self._seq, kind, payload))
        self._seq += 1

    def _apply(self, change: _Change) -> None:
        t = change.position
        if change.kind == "prompts":
            self.prompts = tuple(change.payload)
            style, info = style_of_prompts(tuple((p.text, p.weight) for p in self.prompts))
            self._info = {**self._info, **info}
            fade = XFADE_FRAMES if self._started else 0
            if self._started and arrangement_key(style) != arrangement_key(self._style):
                for ring in self._rings:  # a new arrangement: old notes give way within 40 ms
                    ring.fade_from(t, XFADE_FRAMES)
                self._cover = True
            self._style = style
            for i, track in enumerate(self._sends):
                track.set(t, self._send_level(i, style), fade)
            self._drive.set(t, style.get("drive"), fade)
        elif change.kind == "config":
            self.config = change.payload
            targets = (
                0.0 if self.config.mute_drums else 1.0,
                0.0 if self.config.mute_bass else 1.0,
                0.0 if self.config.only_bass_and_drums else 1.0,
            )
            for track, target in zip(self._gains, targets):
                track.set(t, target, MUTE_RAMP_FRAMES if self._started else 0)
        elif change.kind == "reset":
            self.epoch += 1
            for ring in self._rings:
                ring.fade_from(t, RESET_FADE_FRAMES)
            self._start_context(t)
        self._since = t

    @staticmethod
    def _send_level(group: int, style: StyleVector) -> float:
        return _BASE_SEND[group] * (0.4 + 1.7 * style.get("reverb"))

    def style_at(self, t: int) -> StyleVector:
        """The blended style in force at frame ``t`` (changes apply at their exact frame)."""
        return self._style

    def _start_context(self, t: int) -> None:
        style = self.style_at(t)
        cfg = self.config
        seed = int(cfg.seed or 0)
        self._bpm = _clamp("bpm", cfg.bpm, float(round(style.get("tempo"))))
        if cfg.scale and cfg.scale in SCALE_TONIC:
            tonic = SCALE_TONIC[cfg.scale]
        else:
            tonic = stable_hash("scale", seed, style.choice("prog"), style.choice("lead_i"), style.choice("kit")) % 12
        self._ctx = EpochContext(tonic_pc=tonic, minor=style.get("minor") > 0.5, seed=seed, epoch=self.epoch)
        self._anchor = t
        self._bars.clear()
        self._started = True
        centre = (tonic + (9 if self._ctx.minor else 0)) % 12
        self._info = {**self._info, "key": f"{_NOTE_NAMES[centre]} {'minor' if self._ctx.minor else 'major'}"}

    # -------------------------------------------------------------- rendering
    @property
    def bar_frames(self) -> float:
        return SAMPLE_RATE * 60.0 / self._bpm * 4

    def render(self, start: int, n: int) -> Rendered:
        """Render frames ``[start, start + n)`` after applying every change queued before them."""
        spans: list[tuple[int, tuple[WeightedPrompt, ...], GenerationConfig, int]] = []
        parts = []
        for a in range(start, start + n, MAX_BLOCK_FRAMES):
            b = min(start + n, a + MAX_BLOCK_FRAMES)
            parts.append(self._render_block(a, b, spans))
        audio = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        info = {"engine": "procedural (not neural)", "bpm": self._bpm, "epoch": self.epoch, **self._info}
        return Rendered(audio=audio, spans=tuple(spans), info=info)

    def _render_block(self, a: int, b: int, spans: list) -> np.ndarray:
        cur = a
        while cur < b:
            while self._queue and self._queue[0].position <= cur:
                self._apply(heapq.heappop(self._queue))
            if not self._started:
                self._start_context(cur)
            state = (cur, self.prompts, self.config, self.epoch)
            if not spans or spans[-1][1:] != state[1:]:
                spans.append(state)
            nxt = min(b, self._queue[0].position) if self._queue else b
            self._notes(cur, nxt)
            cur = nxt
        return self._mix(a, b)

    def _controls(self, style: StyleVector) -> Controls:
        cfg = self.config
        return Controls(
            density=_clamp("density", cfg.density, style.get("density")),
            brightness=_clamp("brightness", cfg.brightness, style.get("bright")),
            guidance=_clamp("guidance", cfg.guidance, 4.0),
            temperature=_clamp("temperature", cfg.temperature, 1.1),
            top_k=int(_clamp("top_k", cfg.top_k, 40)),
            mode=str(cfg.music_generation_mode or "QUALITY").upper(),
            mute_drums=cfg.mute_drums,
            mute_bass=cfg.mute_bass,
            only_bass_and_drums=cfg.only_bass_and_drums,
            bpm=self._bpm,
        )

    def _bar_notes(self, bar: int) -> tuple[list, Controls]:
        key = (self.epoch, bar, self._since)
        hit = self._bars.get(key)
        if hit is not None:
            return hit
        bar_start = self._anchor + bar * self.bar_frames
        style = self.style_at(max(int(bar_start), self._since))
        ctl = self._controls(style)
        notes = compose_bar(bar, style, ctl, self._ctx)
        step = self.bar_frames / STEPS_PER_BAR
        placed = [(self._anchor + int(round((bar * STEPS_PER_BAR + n[0]) * step)),) + n[1:] for n in notes]
        self._bars[key] = (placed, ctl)
        while len(self._bars) > 16:
            self._bars.popitem(last=False)
        return placed, ctl

    def _notes(self, s: int, e: int) -> None:
        """Render every note whose onset lies in ``[s, e)`` (and, after a re-arranging
        prompt change, the rest of the new arrangement's notes already under way at ``s``)."""
        bf = self.bar_frames
        first = max(0, math.floor((s - self._anchor) / bf) - 1)
        last = math.floor((e - 1 - self._anchor) / bf)
        step_frames = bf / STEPS_PER_BAR
        cover, self._cover = self._cover, False
        for bar in range(first, last + 1):
            placed, ctl = self._bar_notes(bar)
            bucket = min(BRIGHT_BUCKETS - 1, int(ctl.brightness * BRIGHT_BUCKETS))
            for onset, group, inst, midi, dur, vel, pan in placed:
                if s <= onset < e:
                    self._play(onset, group, inst, midi, dur, vel, pan, bucket, step_frames)
                elif cover and onset < s and dur is not None and onset + dur * step_frames > s + XFADE_FRAMES:
                    self._play(onset, group, inst, midi, dur, vel, pan, bucket, step_frames, skip=s - onset)

    def _play(self, onset: int, group: int, inst: str, midi: int, dur: float | None, vel: float, pan: float, bucket: int, step_frames: float, skip: int = 0) -> None:
        spec = instrument(inst)
        if spec is not None:
            while midi < spec.low:
                midi += 12
            while midi > spec.high:
                midi -= 12
        d = None if dur is None else max(64, int(dur * step_frames))
        lcls = length_class(spec, None if d is None else (d / SAMPLE_RATE + spec.release_s)) if spec else 0
        bank = self._bank_note(inst, midi, d, spec, vel)  # SoundFont hook: the bank's whole stereo note, or None
        samples = self._cache.get(inst, midi, bucket, lcls) if bank is None else bank
        d = d if bank is None else None  # a bank note already ends (release included) where the gate says
        gain = vel * _GROUP_GAIN[group] * (spec.gain if spec else 1.0)
        angle = (max(-1.0, min(1.0, pan)) + 1.0) * math.pi / 4
        gl, gr = gain * math.cos(angle) * math.sqrt(2), gain * math.sin(angle) * math.sqrt(2)
        ring = self._rings[group]
        if skip:  # joining a held note after a change: fade in over the crossfade
            self._join(ring, onset, samples, d, spec, skip, gl, gr)
            return
        rel = int(spec.release_s * SAMPLE_RATE) if spec is not None and d is not None else 0
        if d is None or spec is None or d + rel >= samples.shape[0]:
            ring.add(onset, samples, gl, gr)
            return
        ring.add(onset, samples[:d], gl, gr)
        ring.add(onset + d, _faded(samples[d : d + rel], self._fade(rel)), gl, gr)

    def _bank_note(self, inst: str, midi: int, d: int | None, spec: Any, vel: float) -> np.ndarray | None:
        """SoundFont hook (--soundfont): the bank's note from its velocity layer, or None for the procedural voice."""
        if self._voices is None:
            return None
        return self._voices.note(inst, midi, d, spec.max_s if spec is not None else 1.0, vel)

    def _join(self, ring, onset: int, samples: np.ndarray, d: int | None, spec, skip: int, gl: float, gr: float) -> None:
        if d is not None and spec is not None:
            rel = int(spec.release_s * SAMPLE_RATE)
            if d + rel < samples.shape[0]:
                samples = np.concatenate([samples[:d], _faded(samples[d : d + rel], self._fade(rel))])
        samples = samples[skip:].copy()
        k = min(XFADE_FRAMES, samples.shape[0])
        if k:
            samples[:k] = _faded(samples[:k], self._fade(k)[::-1])
            ring.add(onset + skip, samples, gl, gr)

    def _saturate(self, x: np.ndarray, a: int, n: int) -> np.ndarray:
        """Drive (``drive`` style parameter): a tanh waveshaper on the harmony/lead group."""
        drive = self._drive.curve(a, n)
        if isinstance(drive, float) and drive == 0.0:
            return x
        d = np.asarray(drive, dtype=np.float32)  # same float32 arithmetic for constant and ramped drive
        wet = np.minimum(d * np.float32(3.0), np.float32(1.0))
        k = np.float32(1.0) + np.float32(10.0) * d
        return x * (np.float32(1.0) - wet) + wet * (np.tanh(x * k) / np.sqrt(k))

    def _fade(self, n: int) -> np.ndarray:
        fade = self._fades.get(n)
        if fade is None:
            fade = self._fades[n] = np.cos(np.linspace(0.0, np.pi / 2, n, dtype=np.float32)) ** 2
        return fade

    def _mix(self, a: int, b: int) -> np.ndarray:
        """Each group is compressed and clipped on its own; the reverb is linear, so the
        mix equals the sum of the groups rendered alone (what the mute flags give)."""
        n = b - a
        dry = np.zeros((2, n), dtype=np.float32)
        send = np.zeros(n, dtype=np.float32)
        for group in range(3):
            x = self._rings[group].take(a, n)
            gain = self._gains[group].curve(a, n)
            if isinstance(gain, float):
                if gain == 0.0:
                    continue
                if gain != 1.0:
                    x *= np.float32(gain)
            else:
                x *= gain
            if group == 2:
                x = self._saturate(x, a, n)
            x = soft_clip(self._comps[group].process(a, x), ceiling=_CEILING[group])
            dry += x
            level = self._sends[group].curve(a, n)
            send += (x[0] + x[1]) * (level * 0.5 if isinstance(level, float) else level * np.float32(0.5))
        out = dry + self._reverb.process(a, send)
        out, self._dc_state = signal.lfilter(_DC_B, _DC_A, out, axis=1, zi=self._dc_state)  # linear: sums stay exact
        return np.clip(out, -1.0, 1.0, out=out)
