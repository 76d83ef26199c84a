"""The one audio format between stages, the ``Waveform`` value type and exact helpers.

**Between stages** (generator -> conductor -> spool -> master) audio is raw PCM:
signed 16-bit little-endian, :data:`CHANNELS` interleaved channels at :data:`SAMPLE_RATE`
Hz, so one frame is :data:`BYTES_PER_FRAME` bytes. Positions and lengths are counted in
frames, never in bytes or seconds. A spooled session is a :class:`Segment`.

**Whole audio in the Python API** is a :class:`Waveform`: float32 ``[frames, channels]``
plus its sample rate; 1-D input is taken as mono. Methods return new objects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "CHANNELS",
    "SAMPLE_WIDTH",
    "BYTES_PER_FRAME",
    "Segment",
    "Waveform",
    "pcm16_to_float",
    "float_to_pcm16",
    "concatenate",
    "crossfade_ramp",
    "crossfade",
    "db_to_amp",
    "amp_to_db",
]


#: Lyria RealTime always streams 48 kHz, 2 channel, 16-bit PCM; every stage uses the same.
SAMPLE_RATE = 48_000
CHANNELS = 2
#: Bytes per sample (int16 little-endian).
SAMPLE_WIDTH = 2
BYTES_PER_FRAME = SAMPLE_WIDTH * CHANNELS


@dataclass(frozen=True, kw_only=True)
class Segment:
    """One generator session's audio on disk: PCM in the format above, ``frames`` long,
    starting ``offset_bytes`` into ``path``, placed at stream frame ``start``."""

    path: Path
    start: int
    frames: int
    offset_bytes: int = 0
    label: str = ""


@dataclass(frozen=True, eq=False)
class Waveform:
    """Audio samples plus their sample rate.

    Args:
        samples: float32 array ``[frames, channels]`` (1-D is mono). Other float dtypes
            are converted to float32; integer dtypes are refused (use
            :func:`pcm16_to_float`).
        sample_rate: frames per second, a positive integer.

    Example:
        >>> w = Waveform(np.zeros((48000, 2), np.float32), 48000)
        >>> w.duration_s
        1.0
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        x = np.asarray(self.samples)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"Waveform samples must be float, got {x.dtype}; convert PCM with pcm16_to_float()")
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"Waveform samples must be [frames, channels], got shape {x.shape}")
        if int(self.sample_rate) != self.sample_rate or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {self.sample_rate!r}")
        object.__setattr__(self, "samples", np.ascontiguousarray(x, dtype=np.float32))
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def __len__(self) -> int:
        return self.frames

    def slice(self, start: int, stop: int | None = None) -> "Waveform":
        """Frames ``[start, stop)`` as a new Waveform."""
        return Waveform(self.samples[start:stop], self.sample_rate)

    def apply_gain(self, gain_db: float) -> "Waveform":
        return Waveform(self.samples * np.float32(db_to_amp(gain_db)), self.sample_rate)

    def as_stereo(self) -> "Waveform":
        if self.channels == 2:
            return self
        if self.channels == 1:
            return Waveform(np.repeat(self.samples, 2, axis=1), self.sample_rate)
        raise ValueError(f"cannot make stereo from {self.channels} channels")

    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if self.frames else 0.0

    @classmethod
    def from_pcm16(cls, data: bytes, sample_rate: int = SAMPLE_RATE, channels: int = CHANNELS) -> "Waveform":
        return cls(pcm16_to_float(data, channels), sample_rate)

    def to_pcm16(self) -> bytes:
        return float_to_pcm16(self.samples)


def pcm16_to_float(data: bytes | bytearray | memoryview, channels: int = CHANNELS) -> np.ndarray:
    """Interleaved little-endian 16-bit PCM to float32 ``[frames, channels]`` in [-1, 1)."""
    raw = np.frombuffer(data, dtype="<i2")
    if raw.size % channels:
        raise ValueError(f"PCM holds {raw.size} samples, not a whole number of {channels}-channel frames")
    return (raw.astype(np.float32) / 32768.0).reshape(-1, channels)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float ``[frames, channels]`` to interleaved little-endian int16, rounded and clipped."""
    x = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    return x.astype("<i2").tobytes()


def concatenate(parts: Iterable[Waveform]) -> Waveform:
    """Join waveforms end to end, sample-exactly. Refuses mixed rates or channel counts."""
    items = list(parts)
    if not items:
        raise ValueError("concatenate() needs at least one Waveform")
    rates = {w.sample_rate for w in items}
    chans = {w.channels for w in items}
    if len(rates) > 1 or len(chans) > 1:
        raise ValueError(f"cannot concatenate mixed sample rates {sorted(rates)} / channels {sorted(chans)}")
    return Waveform(np.concatenate([w.samples for w in items], axis=0), items[0].sample_rate)


@functools.lru_cache(maxsize=64)
def _ramp(n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    if kind == "eqpower":
        fade_in, fade_out = np.sin(t * np.pi / 2), np.cos(t * np.pi / 2)
    elif kind == "linear":
        fade_in, fade_out = t, 1.0 - t
    else:
        raise ValueError(f"unknown crossfade kind {kind!r}: use 'eqpower' or 'linear'")
    fade_in.setflags(write=False)
    fade_out.setflags(write=False)
    return fade_in, fade_out


def crossfade_ramp(n: int, kind: Literal["eqpower", "linear"] = "eqpower") -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) gain curves of ``n`` samples. Equal-power keeps in²+out² = 1."""
    if n < 0:
        raise ValueError(f"crossfade length must be >= 0, got {n}")
    return _ramp(int(n), kind)


def crossfade(head: np.ndarray, tail: np.ndarray, kind: Literal["eqpower", "linear"] = "eqpower") -> np.ndarray:
    """Mix the end of one signal (``head``, fading out) into the start of the next (``tail``).

    Both are ``[n, channels]`` of equal shape; returns the ``[n, channels]`` overlap.
    """
    if head.shape != tail.shape:
        raise ValueError(f"crossfade parts differ in shape: {head.shape} vs {tail.shape}")
    fade_in, fade_out = crossfade_ramp(head.shape[0], kind)
    return (head * fade_out[:, None] + tail * fade_in[:, None]).astype(np.float32)


def db_to_amp(db: float) -> float:
    if db != db:  # NaN
        raise ValueError("gain in dB is NaN")
    return float(10.0 ** (db / 20.0))


def amp_to_db(amp: float, floor_db: float = -200.0) -> float:
    """Amplitude to dB, never -inf: silence reads ``floor_db``."""
    if amp < 0:
        raise ValueError(f"amplitude must be >= 0, got {amp}")
    if amp == 0:
        return floor_db
    return max(floor_db, float(20.0 * np.log10(amp)))
