"""Liberal decoding of Lyria RealTime audio chunks into 48 kHz stereo 16-bit PCM.

The mime string of a chunk is undocumented (see LYRIA.md), so it is parsed leniently:
``audio/l16``, ``audio/pcm``, ``audio/x-raw`` or ``audio/raw`` (raw samples) and
``audio/wav``/``audio/x-wav``/``audio/wave`` (a RIFF header is parsed when present), with
``rate`` and ``channels`` when given and 48 kHz stereo when not; no mime type at all means
48 kHz stereo too. Raw samples are 16-bit little-endian, as Google's own apps decode them
(RFC 3551 makes L16 big-endian: ``endianness=big`` is honoured). What differs is
converted: mono is upmixed, more than two channels keep the first two, another rate is
resampled by :class:`StreamResampler`. Only audio that is not PCM at all (mp3, ogg, ...)
fails, with :class:`render.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import ceil, gcd
from typing import Any

from render.audio import BYTES_PER_FRAME, CHANNELS, SAMPLE_RATE

from ..errors import ProtocolError

__all__ = ["PcmFormat", "parse_mime", "StreamResampler", "ChunkDecoder"]

_RAW = {"audio/l16", "audio/pcm", "audio/x-raw", "audio/raw", "audio/x-pcm", "application/octet-stream"}
_WAV = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}
_RATE_KEYS = ("rate", "samplerate", "sample_rate", "sample-rate")
_CHANNEL_KEYS = ("channels", "channel", "ch")


@dataclass(frozen=True)
class PcmFormat:
    """What a chunk's mime type says: ``container`` is ``raw`` or ``wav``."""

    rate: int = SAMPLE_RATE
    channels: int = CHANNELS
    container: str = "raw"
    big_endian: bool = False


def parse_mime(mime: str | None) -> PcmFormat:
    """Parse a chunk's mime type (case- and space-insensitive; unknown parameters ignored).

    Raises:
        ProtocolError: not a PCM type, or a rate/channel count that is not a positive number.
    """
    if mime is None or not mime.strip():
        return PcmFormat()
    parts = [p.strip().lower() for p in mime.split(";")]
    kind = parts[0].replace(" ", "")
    if kind not in _RAW and kind not in _WAV:
        raise ProtocolError(f"the service sent audio of type {mime!r}, which is not PCM",
                            hint="lyria-render decodes L16/PCM/WAV audio only; report this mime type")
    params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
    rate = _number(params, _RATE_KEYS, SAMPLE_RATE, mime)
    channels = _number(params, _CHANNEL_KEYS, CHANNELS, mime)
    big = params.get("endianness", params.get("endian", "")).startswith("big")
    return PcmFormat(rate=rate, channels=channels, container="wav" if kind in _WAV else "raw", big_endian=big)


def _number(params: dict[str, str], keys: tuple[str, ...], default: int, mime: str) -> int:
    for key in keys:
        if key in params:
            try:
                value = int(float(params[key]))
            except ValueError:
                value = 0
            if value <= 0:
                raise ProtocolError(f"the audio mime type {mime!r} has an unusable {key}={params[key]!r}")
            return value
    return default


class StreamResampler:
    """Polyphase resampling to 48 kHz that is exact across chunk boundaries.

    The filter is the one ``scipy.signal.resample_poly`` designs, applied causally: output
    frame ``m`` is the filtered, upsampled input at ``m * down``. After ``n`` input frames
    exactly ``floor(n * up / down)`` output frames have been emitted, whatever the chunk
    sizes, and the concatenated output equals resampling the concatenated input in one go
    (at the cost of the filter's group delay, under a millisecond).
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        import numpy as np
        from scipy.signal import firwin

        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        half = 10 * max(self.up, self.down)
        self._h = (firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)) * self.up)
        self._keep = ceil((len(self._h) + self.down) / self.up) + 1
        self._tail = np.zeros((0, CHANNELS), dtype=np.float64)
        self._n_in = 0
        self._emitted = 0

    def process(self, x: Any) -> Any:
        """Resample ``x`` (frames x channels, float) and return the new output frames."""
        import numpy as np
        from scipy.signal import upfirdn

        n_before = self._n_in
        self._n_in += len(x)
        keep = min(n_before, self._keep + (n_before - self._keep) % self.down) if n_before > self._keep else n_before
        buf = np.concatenate([self._tail[len(self._tail) - keep:] if keep else self._tail[:0], x])
        start = n_before - keep  # absolute input frame of buf[0]; start * up is a multiple of down
        self._tail = buf[-(self._keep + self.down):]
        target = self._n_in * self.up // self.down
        if target <= self._emitted:
            return buf[:0]
        out = upfirdn(self._h, buf, self.up, self.down, axis=0)
        first = start * self.up // self.down  # absolute output frame of out[0]
        lo, hi = self._emitted - first, target - first
        self._emitted = target
        return out[lo:hi]


class ChunkDecoder:
    """Per-session decoder: chunk bytes + mime type -> 48 kHz stereo 16-bit PCM bytes."""

    def __init__(self) -> None:
        self._resampler: StreamResampler | None = None
        self.dropped_bytes = 0

    def decode(self, data: bytes, mime: str | None) -> tuple[bytes, dict[str, Any]]:
        """Return the PCM and what was received (``{mime, rate, channels, converted}``)."""
        fmt = parse_mime(mime)
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            data, fmt, dtype = _parse_wav(data, mime)
        else:
            dtype = ">i2" if fmt.big_endian else "<i2"
        received = {"mime": mime, "rate": fmt.rate, "channels": fmt.channels, "converted": False}
        width = int(dtype[-1]) * fmt.channels
        if len(data) % width:
            self.dropped_bytes += len(data) % width
            received["dropped_bytes"] = len(data) % width
            data = data[: len(data) - len(data) % width]
        if fmt.rate == SAMPLE_RATE and fmt.channels == CHANNELS and dtype == "<i2":
            return data, received  # the expected format: no numpy on the hot path
        received["converted"] = True
        return self._convert(data, fmt, dtype), received

    def _convert(self, data: bytes, fmt: PcmFormat, dtype: str) -> bytes:
        import numpy as np

        x = _samples(data, dtype).reshape(-1, fmt.channels)
        x = np.repeat(x, CHANNELS, axis=1) if fmt.channels == 1 else x[:, :CHANNELS]
        if fmt.rate != SAMPLE_RATE:
            if self._resampler is None or self._resampler.down * SAMPLE_RATE != self._resampler.up * fmt.rate:
                self._resampler = StreamResampler(fmt.rate)
            x = self._resampler.process(x)
        out = np.clip(np.rint(x), -32768, 32767).astype("<i2")
        assert out.nbytes % BYTES_PER_FRAME == 0
        return out.tobytes()


def _samples(data: bytes, dtype: str) -> Any:
    """Samples as float64 on the 16-bit scale."""
    import numpy as np

    if dtype == "<i3":
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        return ints.astype(np.float64) / 256.0
    x = np.frombuffer(data, dtype=dtype).astype(np.float64)
    if dtype.endswith("i4"):
        return x / 65536.0
    if dtype.endswith("f4"):
        return x * 32768.0
    return x


def _parse_wav(data: bytes, mime: str | None) -> tuple[bytes, PcmFormat, str]:
    """The samples, format and numpy dtype of a RIFF/WAVE chunk (PCM or float only)."""
    pos, fmt, dtype = 12, None, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if tag == b"fmt " and len(body) >= 16:
            code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if code == 0xFFFE and len(body) >= 26:
                code = struct.unpack("<H", body[24:26])[0]
            dtype = {(1, 16): "<i2", (1, 24): "<i3", (1, 32): "<i4", (3, 32): "<f4"}.get((code, bits))
            if dtype is None or channels < 1 or rate < 1:
                raise ProtocolError(f"the service sent WAV audio ({mime!r}) with format {code}, {bits} bits, "
                                    f"{channels} channels, which is not PCM lyria-render can decode")
            fmt = PcmFormat(rate=rate, channels=channels, container="wav")
        elif tag == b"data" and fmt is not None and dtype is not None:
            return body, fmt, dtype
        pos += 8 + size + (size & 1)
    raise ProtocolError(f"the service sent a WAV chunk ({mime!r}) without a readable fmt/data section")
