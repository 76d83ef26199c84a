"""The SF2.01 modulation sources of a voice (section 8.1.2) and what they drive.

* The **modulation envelope** (generators 25-32) runs 0 -> 1 -> sustain -> 0: delay, a
  convex attack (SF2.01 8.1.3 #26; ``1 + 5/12 * log10(t / attack)``, the modulators'
  convex curve, its first 1/127 a straight line from 0, so a pitch or cutoff sweep rises
  fast and levels off, as FluidSynth plays it), hold, a linear decay to ``1 - sustainModEnv/1000`` (the decay time
  is the time for the full 100 %), and a linear release from wherever it is (the release
  time is again for the full range). Hold and decay scale with the key like the volume
  envelope's. A key let go during the attack releases from the level reached (FluidSynth
  drops to the linear ramp's value first, a jump this player does not copy).
* The **modulation LFO** (21-22) and the **vibrato LFO** (23-24) are triangles that stay
  at 0 for their delay, then rise from 0 to +1 in a quarter period, fall to -1 and return.

They drive pitch (``modEnvToPitch``, ``modLfoToPitch``, ``vibLfoToPitch``, in cents), the
filter cutoff (``modEnvToFilterFc``, ``modLfoToFilterFc``, cents) and the volume
(``modLfoToVolume``, cB). Each track is a float64 array over the note's frames, or None when
nothing is routed, so unmodulated voices cost nothing. Everything here is a pure function of
its arguments (no randomness, the LFOs start at the note's first frame).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .envelope import timecents_to_seconds
from .generators import GEN
from .modulators import convex

__all__ = ["mod_envelope", "lfo", "pitch_track", "filter_track", "volume_track"]

_Sources = dict[str, Callable[[], np.ndarray]]


def _frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))


def _hz(abs_cents: int) -> float:
    """An LFO frequency generator (absolute cents) in Hz."""
    return 8.176 * 2.0 ** (abs_cents / 1200.0)


def _convex_attack(x: np.ndarray) -> np.ndarray:
    """The convex curve over the attack's progress ``x`` (0..1); below 1/127, where the log would
    dive, a straight line from 0 to the curve's value there (as FluidSynth's 128-step table reads)."""
    step = 1.0 / 127.0
    return np.where(x < step, x / step * convex(step), convex(x))


def mod_envelope(gens: dict[int, int], key: int, gate: int, n: int, rate: int) -> np.ndarray:
    """The modulation envelope's level (0..1) on each of ``n`` frames, the key released at ``gate``."""
    g = lambda name: gens[GEN[name]]  # noqa: E731
    delay = _frames(timecents_to_seconds(g("delayModEnv")), rate)
    attack = max(_frames(timecents_to_seconds(g("attackModEnv")), rate), 1)
    hold = _frames(timecents_to_seconds(g("holdModEnv") + g("keynumToModEnvHold") * (60 - key)), rate)
    decay = max(timecents_to_seconds(g("decayModEnv") + g("keynumToModEnvDecay") * (60 - key)) * rate, 1.0)
    sustain = 1.0 - min(max(g("sustainModEnv"), 0), 1000) / 1000.0
    t = np.arange(max(n, gate + 1), dtype=np.float64)
    level = _convex_attack(np.clip((t - delay) / attack, 0.0, 1.0))
    falling = t - (delay + attack + hold)
    level = np.where(falling > 0, np.maximum(1.0 - falling / decay, sustain), level)
    at_gate = float(level[gate])
    release = max(timecents_to_seconds(g("releaseModEnv")) * rate, 1.0)
    after = t[gate:] - gate
    level[gate:] = np.maximum(at_gate - after / release, 0.0)
    return level[:n]


def lfo(n: int, delay_tc: int, freq_cents: int, rate: int) -> np.ndarray:
    """A triangle LFO over ``n`` frames: 0 for ``delay_tc`` timecents, then 0 -> +1 -> -1 -> 0 cycles."""
    delay = _frames(timecents_to_seconds(delay_tc), rate)
    cycles = np.maximum(np.arange(n, dtype=np.float64) - delay, 0.0) * (_hz(freq_cents) / rate)
    x = np.mod(cycles + 0.25, 1.0)
    return 1.0 - 4.0 * np.abs(x - 0.5)


def _sum(parts: list[tuple[int, str]], make: _Sources) -> np.ndarray | None:
    """Sum of amount * source over the routed (non-zero) ``parts``; None when none is routed."""
    total = None
    for amount, source in parts:
        if amount:
            track = amount * make[source]()
            total = track if total is None else total + track
    return total


def _sources(gens: dict[int, int], key: int, gate: int, n: int, rate: int) -> _Sources:
    g = lambda name: gens[GEN[name]]  # noqa: E731
    return {
        "env": lambda: mod_envelope(gens, key, gate, n, rate),
        "mod": lambda: lfo(n, g("delayModLFO"), g("freqModLFO"), rate),
        "vib": lambda: lfo(n, g("delayVibLFO"), g("freqVibLFO"), rate),
    }


def pitch_track(gens: dict[int, int], key: int, gate: int, n: int, rate: int) -> np.ndarray | None:
    """Cents added to the voice's pitch on each frame, or None (no pitch modulation)."""
    g = lambda name: gens[GEN[name]]  # noqa: E731
    parts = [(g("modEnvToPitch"), "env"), (g("modLfoToPitch"), "mod"), (g("vibLfoToPitch"), "vib")]
    return _sum(parts, _sources(gens, key, gate, n, rate))


def filter_track(gens: dict[int, int], key: int, gate: int, n: int, rate: int) -> np.ndarray | None:
    """The filter cutoff (absolute cents, kept to initialFilterFc's 1500-13500 range) on each frame,
    or None when it does not move."""
    g = lambda name: gens[GEN[name]]  # noqa: E731
    parts = [(g("modEnvToFilterFc"), "env"), (g("modLfoToFilterFc"), "mod")]
    moves = _sum(parts, _sources(gens, key, gate, n, rate))
    return None if moves is None else np.clip(g("initialFilterFc") + moves, 1500.0, 13500.0)


def volume_track(gens: dict[int, int], n: int, rate: int) -> np.ndarray | None:
    """Gain on each frame from the modulation LFO's tremolo (``modLfoToVolume`` cB; a positive amount
    makes the LFO's positive half louder, as the spec says), or None."""
    amount = gens[GEN["modLfoToVolume"]]
    if not amount:
        return None
    wave = lfo(n, gens[GEN["delayModLFO"]], gens[GEN["freqModLFO"]], rate)
    return np.power(10.0, wave * (amount / 200.0))

