"""The SF2.01 volume envelope (section 8.1.2, generators 33-40): delay, attack, hold, decay, sustain, release.

Times are absolute timecents (seconds = 2**(tc/1200)). The attack rises linearly in
amplitude; decay and release fall linearly in centibels at 1000 cB (100 dB) per
decay/release time, decay stopping at the sustain level. The release starts at the gate
from wherever the envelope is, and the note ends when the release reaches -100 dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .generators import GEN

__all__ = ["VolumeEnvelope", "timecents_to_seconds", "FULL_SCALE_CB"]

#: Attenuation at which the envelope counts as silent: 100 dB, the "100%" of decay and release.
FULL_SCALE_CB = 1000.0
_CB_TO_LN = -math.log(10.0) / 200.0  # amplitude = exp(cB * _CB_TO_LN)


def timecents_to_seconds(tc: float) -> float:
    """Seconds of an absolute-timecent value."""
    return 2.0 ** (tc / 1200.0)


def _cb_ramp(start_cb: float, cb_per_frame: float, n: int) -> np.ndarray:
    """Amplitudes of ``n`` frames falling linearly in centibels from ``start_cb``."""
    return np.exp(np.arange(n, dtype=np.float64) * (cb_per_frame * _CB_TO_LN) + start_cb * _CB_TO_LN)


def _frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))


@dataclass(frozen=True)
class VolumeEnvelope:
    """Volume envelope stages in seconds, ``sustain_cb`` in centibels below peak."""

    delay: float
    attack: float
    hold: float
    decay: float
    sustain_cb: float
    release: float

    @classmethod
    def from_generators(cls, gens: dict[int, int], key: int) -> VolumeEnvelope:
        """The envelope of a voice; hold and decay scale with ``key`` (keynumToVolEnvHold/Decay, key 60 neutral)."""
        hold_tc = gens[GEN["holdVolEnv"]] + gens[GEN["keynumToVolEnvHold"]] * (60 - key)
        decay_tc = gens[GEN["decayVolEnv"]] + gens[GEN["keynumToVolEnvDecay"]] * (60 - key)
        return cls(
            delay=timecents_to_seconds(gens[GEN["delayVolEnv"]]),
            attack=timecents_to_seconds(gens[GEN["attackVolEnv"]]),
            hold=timecents_to_seconds(hold_tc),
            decay=timecents_to_seconds(decay_tc),
            sustain_cb=float(gens[GEN["sustainVolEnv"]]),
            release=timecents_to_seconds(gens[GEN["releaseVolEnv"]]),
        )

    def _held(self, frames: int, rate: int) -> np.ndarray:
        """Amplitude for the first ``frames`` frames with the key down."""
        out = np.empty(frames, dtype=np.float64)
        nd = min(frames, _frames(self.delay, rate))
        na = _frames(self.attack, rate)
        nh = _frames(self.hold, rate)
        out[:nd] = 0.0
        a_end = min(frames, nd + na)
        out[nd:a_end] = np.arange(a_end - nd, dtype=np.float64) / max(na, 1)
        h_end = min(frames, nd + na + nh)
        out[a_end:h_end] = 1.0
        if h_end < frames:
            cb_per_frame = FULL_SCALE_CB / max(self.decay * rate, 1.0)
            k = min(frames - h_end, int(math.ceil(self.sustain_cb / cb_per_frame)))
            out[h_end:h_end + k] = _cb_ramp(0.0, cb_per_frame, k)
            out[h_end + k:] = 10.0 ** (self.sustain_cb / -200.0)
        return out

    def release_frames(self, level: float, rate: int) -> int:
        """Frames the release takes from amplitude ``level`` down to -100 dB."""
        if level <= 0.0:
            return 0
        start_cb = -200.0 * math.log10(level)
        if start_cb >= FULL_SCALE_CB:
            return 0
        return int(math.ceil((FULL_SCALE_CB - start_cb) / FULL_SCALE_CB * self.release * rate))

    def curve(self, gate_frames: int, rate: int) -> np.ndarray:
        """Amplitude for the whole note: ``gate_frames`` held, then the release down to -100 dB.

        The level at the gate is the value the held curve would have on frame ``gate_frames``,
        so the release joins the held part without a step.
        """
        held = self._held(gate_frames + 1, rate)
        level = float(held[gate_frames])
        n_rel = self.release_frames(level, rate)
        if n_rel == 0:
            return held[:gate_frames]
        out = np.empty(gate_frames + n_rel, dtype=np.float64)
        out[:gate_frames] = held[:gate_frames]
        out[gate_frames:] = _cb_ramp(-200.0 * math.log10(level), FULL_SCALE_CB / max(self.release * rate, 1.0), n_rel)
        return out
