"""The ``send_format`` fault: send the engine's 48 kHz stereo audio in another PCM format.

Used to prove that clients decode what the service may send: ``audio/pcm;rate=24000``,
mono, big-endian L16, or WAV chunks (each with a RIFF header). The rate conversion is
stateless per chunk (``resample_poly``), which is fine for a test signal.
"""

from __future__ import annotations

import struct
from typing import Any

from render.audio import CHANNELS, SAMPLE_RATE

__all__ = ["Encoder"]


class Encoder:
    """Converts 48 kHz stereo 16-bit LE PCM to what the mime type ``send_as`` says."""

    def __init__(self, send_as: str) -> None:
        from render.backends.lyria_pcm import parse_mime

        self.mime = send_as
        self.fmt = parse_mime(send_as)

    def encode(self, pcm: bytes) -> bytes:
        import numpy as np

        x: Any = np.frombuffer(pcm, dtype="<i2").reshape(-1, CHANNELS).astype(np.float64)
        if self.fmt.rate != SAMPLE_RATE:
            from math import gcd

            from scipy.signal import resample_poly

            g = gcd(self.fmt.rate, SAMPLE_RATE)
            x = resample_poly(x, self.fmt.rate // g, SAMPLE_RATE // g, axis=0)
        if self.fmt.channels == 1:
            x = x.mean(axis=1, keepdims=True)
        elif self.fmt.channels > CHANNELS:
            x = np.concatenate([x, np.zeros((len(x), self.fmt.channels - CHANNELS))], axis=1)
        out = np.clip(np.rint(x), -32768, 32767).astype(">i2" if self.fmt.big_endian else "<i2").tobytes()
        if self.fmt.container == "wav":
            return _riff(out, self.fmt.rate, self.fmt.channels)
        return out


def _riff(data: bytes, rate: int, channels: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body
