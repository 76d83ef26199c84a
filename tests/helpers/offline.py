"""Helpers for the offline-engine tests: render through the real session, and measure audio."""

from __future__ import annotations

import asyncio
from typing import Sequence

import numpy as np

from render.backends.offline import OfflineBackend
from render.controls import GenerationConfig, WeightedPrompt

SR = 48_000

#: (at_sample, kind, payload): kind is "prompts" (list of (text, weight)), "config" (GenerationConfig) or "reset".
Change = tuple[int | None, str, object]


def prompts_of(pairs: Sequence[tuple[str, float]]) -> list[WeightedPrompt]:
    return [WeightedPrompt(text=t, weight=w) for t, w in pairs]


async def render_async(pairs, config: GenerationConfig, seconds: float, *, chunk_frames: int = 96_000, changes: Sequence[Change] = (),
                       soundfont=None):
    """Render ``seconds`` through a real OfflineSession (through ``soundfont``, a bank path, if given);
    returns (audio (n, 2) float32, chunks)."""
    frames = int(seconds * SR)
    chunks = []
    async with OfflineBackend(chunk_frames=chunk_frames, soundfont=soundfont).connect() as session:
        await session.set_weighted_prompts(prompts_of(pairs))
        await session.set_music_generation_config(config)
        for at, kind, payload in changes:
            if kind == "prompts":
                await session.set_weighted_prompts(prompts_of(payload), at_sample=at)
            elif kind == "config":
                await session.set_music_generation_config(payload, at_sample=at)
            else:
                await session.reset_context(at_sample=at)
        await session.play()
        got = 0
        async for chunk in session.receive():
            chunks.append(chunk)
            got += chunk.frames
            if got >= frames:
                break
    pcm = b"".join(c.pcm for c in chunks)
    audio = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)[:frames].astype(np.float32) / 32768.0
    return audio, chunks


def render(pairs, config: GenerationConfig, seconds: float, **kwargs):
    """Synchronous :func:`render_async`."""
    return asyncio.run(render_async(pairs, config, seconds, **kwargs))


def onset_envelope(audio: np.ndarray, hop: int = 256) -> np.ndarray:
    """Spectral-flux onset strength (one value per ``hop`` frames)."""
    mono = audio.mean(axis=1)
    n = (mono.size - 1024) // hop
    frames = np.lib.stride_tricks.sliding_window_view(mono, 1024)[::hop][:n] * np.hanning(1024)
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(0.0, np.diff(mag, axis=0)).sum(axis=1)
    return flux - np.convolve(flux, np.ones(16) / 16, mode="same")


def tempo_bpm(audio: np.ndarray, hop: int = 256, low: float = 70.0, high: float = 190.0) -> float:
    """Tempo from the autocorrelation of the onset envelope, in bpm."""
    env = onset_envelope(audio, hop)
    env = env - env.mean()
    ac = np.correlate(env, env, mode="full")[env.size - 1 :]
    fps = SR / hop
    lags = np.arange(int(fps * 60 / high), int(fps * 60 / low) + 1)
    # refine with parabolic interpolation around the best lag
    best = lags[np.argmax(ac[lags])]
    a, b, c = ac[best - 1], ac[best], ac[best + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return 60.0 * fps / (best + shift)


def onset_rate(audio: np.ndarray, hop: int = 256) -> float:
    """Onsets per second: peaks of the onset envelope above an adaptive threshold."""
    env = onset_envelope(audio, hop)
    thr = 0.1 * env.max()
    peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > thr)
    return float(peaks.sum()) / (audio.shape[0] / SR)


def chroma(audio: np.ndarray, fmin: float = 60.0, fmax: float = 2000.0) -> np.ndarray:
    """Energy per pitch class (C = 0) from the long-term spectrum, normalised to sum 1."""
    mono = audio.mean(axis=1)
    seg = 16384
    frames = np.lib.stride_tricks.sliding_window_view(mono, seg)[:: seg // 2] * np.hanning(seg)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(seg, 1.0 / SR)
    keep = (freqs >= fmin) & (freqs <= fmax)
    pcs = np.mod(np.rint(12 * np.log2(freqs[keep] / 440.0)) + 9, 12).astype(int)
    out = np.bincount(pcs, weights=power[keep], minlength=12)
    return out / out.sum()


def centroid_hz(audio: np.ndarray) -> float:
    """Spectral centroid of the long-term power spectrum, in Hz."""
    mono = audio.mean(axis=1)
    seg = 4096
    frames = np.lib.stride_tricks.sliding_window_view(mono, seg)[:: seg] * np.hanning(seg)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(seg, 1.0 / SR)
    return float((power * freqs).sum() / power.sum())


def band_energy(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    """Fraction of the power between ``low_hz`` and ``high_hz``."""
    mono = audio.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1.0 / SR)
    return float(spec[(freqs >= low_hz) & (freqs < high_hz)].sum() / spec.sum())


def grid_alignment(audio: np.ndarray, bpm: float, *, tolerance_s: float = 0.012, start_frame: int = 0) -> float:
    """Share of onsets within ``tolerance_s`` of the 16th-note grid of ``bpm`` anchored at ``start_frame``."""
    hop = 128
    env = onset_envelope(audio, hop)
    thr = 0.15 * env.max()
    idx = np.nonzero((env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > thr))[0] + 1
    times = (idx * hop + 512 - start_frame) / SR  # centre of the analysis window
    step = 60.0 / bpm / 4
    off = np.abs(((times + step / 2) % step) - step / 2)
    return float(np.mean(off < tolerance_s)) if idx.size else 0.0
