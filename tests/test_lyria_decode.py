"""Issue 11: liberal decoding of Lyria audio and chunk shapes, through the real SDK where it matters.

Unit cases run the decoder on bytes; the end-to-end cases have ``serve`` send audio in
another format (``send_format``), binary frames, warnings, snake_case keys or no
``sourceMetadata``, and read it through the unmodified SDK in our backend.
"""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from helpers.lyria import Received, backend_for, collect, run, serving, start

from render.audio import SAMPLE_RATE
from render.backends.base import AudioChunk, ServerWarning
from render.backends.lyria import LyriaBackend, LyriaSession
from render.backends.lyria_pcm import ChunkDecoder, PcmFormat, StreamResampler, parse_mime
from render.errors import ProtocolError
from render.server import FaultPlan
from render.server.encode import Encoder
from render.server.profile import Realism


@pytest.mark.parametrize(("mime", "expected"), [
    (None, PcmFormat()),
    ("", PcmFormat()),
    ("audio/l16;rate=48000;channels=2", PcmFormat()),
    ("audio/L16; rate=48000; channels=2", PcmFormat()),
    ("audio/pcm", PcmFormat()),
    ("audio/pcm;rate=48000", PcmFormat()),
    ("audio/pcm;rate=24000", PcmFormat(rate=24000)),
    ("audio/pcm;rate=24000;channels=1", PcmFormat(rate=24000, channels=1)),
    ("audio/l16;channels=1", PcmFormat(channels=1)),
    ("audio/x-raw; sample_rate=44100; channels=2; foo=bar", PcmFormat(rate=44100)),
    ("audio/wav", PcmFormat(container="wav")),
    ("audio/x-wav;rate=16000", PcmFormat(rate=16000, container="wav")),
    ("audio/L16;rate=48000;channels=2;endianness=big-endian", PcmFormat(big_endian=True)),
])
def test_parse_mime_is_lenient(mime: str | None, expected: PcmFormat) -> None:
    assert parse_mime(mime) == expected


@pytest.mark.parametrize("mime", ["audio/mpeg", "audio/ogg;codecs=opus", "audio/pcm;rate=abc", "audio/l16;channels=0"])
def test_parse_mime_refuses_what_is_not_pcm(mime: str) -> None:
    with pytest.raises(ProtocolError):
        parse_mime(mime)


def _tone(rate: int, seconds: float, hz: float = 1000.0, channels: int = 2) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    mono = 8000.0 * np.sin(2 * np.pi * hz * t)
    return np.repeat(mono[:, None], channels, axis=1)


@pytest.mark.parametrize("rate", [16000, 24000, 44100, 96000])
def test_stream_resampler_is_exact_across_uneven_chunks(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = rng.normal(0, 3000, (rate * 2 + 17, 2))
    whole = StreamResampler(rate).process(x)
    r, parts, i = StreamResampler(rate), [], 0
    while i < len(x):
        n = int(rng.integers(1, 9000))
        part = r.process(x[i:i + n])
        i = min(i + n, len(x))
        assert r._emitted == i * SAMPLE_RATE // rate  # the frame count stays proportional  # noqa: SLF001
        parts.append(part)
    joined = np.concatenate(parts)
    assert len(joined) == len(x) * SAMPLE_RATE // rate == len(whole)
    assert np.array_equal(joined, whole)


def test_resampled_tone_keeps_pitch_and_level() -> None:
    y = StreamResampler(24000).process(_tone(24000, 1.0))[2000:]
    spectrum = np.abs(np.fft.rfft(y[:, 0] * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(y)
    assert abs(peak_hz - 1000.0) < 2.0
    assert abs(np.sqrt(np.mean(y[:, 0] ** 2)) - 8000 / np.sqrt(2)) < 60


def test_decoder_upmixes_mono_and_passes_the_expected_format_untouched() -> None:
    d = ChunkDecoder()
    stereo = _tone(SAMPLE_RATE, 0.1).astype("<i2").tobytes()
    pcm, got = d.decode(stereo, "audio/l16;rate=48000;channels=2")
    assert pcm is stereo and got["converted"] is False
    mono = _tone(SAMPLE_RATE, 0.1, channels=1).astype("<i2")
    pcm, got = d.decode(mono.tobytes(), "audio/pcm;channels=1")
    out = np.frombuffer(pcm, "<i2").reshape(-1, 2)
    assert got == {"mime": "audio/pcm;channels=1", "rate": SAMPLE_RATE, "channels": 1, "converted": True}
    assert np.array_equal(out[:, 0], mono[:, 0]) and np.array_equal(out[:, 1], mono[:, 0])


def test_decoder_reads_wav_chunks_and_big_endian() -> None:
    x = _tone(24000, 0.5, channels=1)
    wav = Encoder("audio/wav;rate=24000;channels=1").encode(_tone(SAMPLE_RATE, 0.5).astype("<i2").tobytes())
    assert wav[:4] == b"RIFF"
    pcm, got = ChunkDecoder().decode(wav, "audio/wav")
    assert got["rate"] == 24000 and got["channels"] == 1 and len(pcm) // 4 == 24000
    big = x.astype(">i2").tobytes()
    pcm, _ = ChunkDecoder().decode(big, "audio/L16;rate=24000;channels=1;endianness=big")
    little, _ = ChunkDecoder().decode(x.astype("<i2").tobytes(), "audio/L16;rate=24000;channels=1")
    assert pcm == little


def test_decoder_refuses_a_wav_that_is_not_pcm() -> None:
    fmt = struct.pack("<HHIIHH", 2, 2, 48000, 0, 0, 4)  # format 2 = ADPCM
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
    with pytest.raises(ProtocolError, match="not PCM"):
        ChunkDecoder().decode(b"RIFF" + struct.pack("<I", len(body)) + body, "audio/wav")


@pytest.mark.parametrize("send_as", [
    "audio/pcm;rate=48000",
    "audio/pcm;rate=48000;channels=2",
    "audio/wav",
    "audio/l16;rate=48000;channels=1",
    "audio/pcm;rate=24000;channels=1",
    "audio/L16;rate=44100;channels=2",
])
def test_every_format_decodes_through_the_sdk_to_48k_stereo(send_as: str) -> None:
    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await start(session)
            return await collect(session, chunks=6)

    with serving(FaultPlan(send_format=send_as)) as server:
        got = run(body(backend_for(server)))
    chunks = got.chunks
    fmt = parse_mime(send_as)
    assert all(len(c.pcm) % 4 == 0 and c.sample_rate == SAMPLE_RATE for c in chunks)
    total = sum(c.frames for c in chunks)
    sent_frames = 6 * round(0.25 * fmt.rate)  # serve's 0.25 s chunks in the sent rate
    assert total == sent_frames * SAMPLE_RATE // fmt.rate
    assert [c.start_sample for c in chunks] == list(np.cumsum([0] + [c.frames for c in chunks[:-1]]))
    assert chunks[0].info["received"]["mime"] == send_as
    assert chunks[0].info["received"]["converted"] == (fmt.rate != SAMPLE_RATE or fmt.channels != 2)
    audio = np.frombuffer(b"".join(c.pcm for c in chunks), "<i2").reshape(-1, 2).astype(float)
    assert np.sqrt(np.mean(audio ** 2)) > 100  # music, not silence or noise from a byte shift


class _FakeMessage:
    def __init__(self, chunk: object = None) -> None:
        self.server_content = None if chunk is None else type("C", (), {"audio_chunks": [chunk]})()
        self.filtered_prompt = None
        self.setup_complete = None


class _FakeChunk:
    def __init__(self, data: bytes, metadata: object = None) -> None:
        self.data, self.mime_type, self.source_metadata = data, None, metadata


def test_chunk_shapes_missing_metadata_and_uneven_sizes() -> None:
    session = LyriaSession(object(), api_key="k")
    sizes = [4 * 96000, 4 * 1234, 4 * 7]
    events = [e for n in sizes for e in session._events(_FakeMessage(_FakeChunk(b"\0" * n)))]  # noqa: SLF001
    assert [e.frames for e in events if isinstance(e, AudioChunk)] == [96000, 1234, 7]
    assert [e.start_sample for e in events] == [0, 96000, 97234]
    assert all(e.spans == () for e in events if isinstance(e, AudioChunk))


def test_partial_metadata_never_loses_audio() -> None:
    session = LyriaSession(object(), api_key="k")
    broken = type("M", (), {"client_content": property(lambda self: 1 / 0)})()
    (event,) = session._events(_FakeMessage(_FakeChunk(b"\0" * 8, broken)))  # noqa: SLF001
    assert isinstance(event, AudioChunk) and event.frames == 2 and event.spans == ()


def test_binary_frames_warnings_and_unparseable_messages_keep_working() -> None:
    """Binary frames (the measured profile), a warning stream and a non-JSON-looking warning."""
    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await start(session)
            return await collect(session, chunks=12)

    with serving(FaultPlan(warn_every_s=0.02), realism=Realism(binary_frames=True), pace="realtime") as server:
        got = run(body(backend_for(server)))
    warnings = [e.message for e in got.events if isinstance(e, ServerWarning)]
    assert len(got.chunks) == 12 and warnings
    assert all("Still working on it" in w for w in warnings)  # the real text, not a placeholder


def test_unparseable_warning_shapes_become_warnings() -> None:
    from render.backends.lyria_tap import Tap

    tap = Tap(None)
    for raw in (b'{"warning": {"weird": [1]}}', b'{"warning": ""}', b"{}", b'{"warning": 5}'):
        tap._note(raw)  # noqa: SLF001
    assert tap.take_notes() == ['{"weird": [1]}', "5"]


def test_snake_case_server_messages_parse() -> None:
    from google.genai import types

    raw = {"server_content": {"audio_chunks": [{"data": base64.b64encode(b"\1\0" * 8).decode(),
                                                 "mime_type": "audio/pcm;rate=24000"}]}}
    message = types.LiveMusicServerMessage._from_response(response=json.loads(json.dumps(raw)), kwargs={})  # noqa: SLF001
    (event,) = LyriaSession(object(), api_key="k")._events(message)  # noqa: SLF001
    assert isinstance(event, AudioChunk) and event.info["received"]["rate"] == 24000
