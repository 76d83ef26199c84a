"""Rendering one note of a preset: every matching voice resampled, looped, filtered, enveloped and panned.

Pitch: ``(key - root) * scaleTuning + coarseTune * 100 + fineTune + sample correction`` cents,
root being overridingRootKey or the sample's own, plus the modulation envelope's and the
LFOs' pitch tracks (:mod:`.modulation`). Loudness: initialAttenuation, which includes the
modulators' share (:mod:`.modulators`: by default the spec's velocity curve, concave,
960 cB), and the modulation LFO's tremolo. The low-pass
filter follows the modulation envelope and LFO (:mod:`.lowpass`). Pan is equal-power. Output is float32
``[frames, 2]`` at ``sample_rate``, the release tail included; all arithmetic is float64
numpy/scipy with no randomness, so the same inputs give bit-identical output.
"""

from __future__ import annotations

import math

import numpy as np

from render.audio import SAMPLE_RATE

from .bank import SoundFontBank
from .cache import NoteCache
from .envelope import VolumeEnvelope
from .generators import GEN
from .lowpass import filter_coefficients, lowpass
from .modulation import filter_track, pitch_track, volume_track
from .resample import positions, read
from .samples import LEFT, RIGHT, SampleData, SampleHeader
from .zones import Preset, Voice

__all__ = ["render_note", "gate_frames_for", "pitch_cents", "filter_coefficients"]


def gate_frames_for(duration_s: float | None, gate_frames: int | None, sample_rate: int) -> int:
    """Key-down length in frames, from exactly one of ``duration_s`` or ``gate_frames``."""
    if (duration_s is None) == (gate_frames is None):
        raise ValueError("give exactly one of duration_s or gate_frames")
    frames = gate_frames if gate_frames is not None else int(round(float(duration_s) * sample_rate))  # type: ignore[arg-type]
    if frames < 0:
        raise ValueError(f"note length must be >= 0, got {frames} frames")
    return int(frames)


def pitch_cents(gens: dict[int, int], header: SampleHeader, key: int) -> float:
    """Cents from the sample's recorded pitch to the pitch ``key`` plays."""
    root = gens[GEN["overridingRootKey"]]
    root = header.root if root < 0 else root
    return ((key - root) * gens[GEN["scaleTuning"]] + gens[GEN["coarseTune"]] * 100
            + gens[GEN["fineTune"]] + header.correction)


def _offset(gens: dict[int, float], fine: str, coarse: str) -> int:
    """An address offset in frames; a modulator's share can make it fractional, cut toward zero as
    FluidSynth does."""
    return int(gens[GEN[fine]]) + 32768 * int(gens[GEN[coarse]])


def _addresses(gens: dict[int, int], n: int) -> tuple[int, int]:
    """First and end frame of the played part of an ``n``-frame sample (address offsets applied, clamped)."""
    start = _offset(gens, "startAddrsOffset", "startAddrsCoarseOffset")
    end = n + _offset(gens, "endAddrsOffset", "endAddrsCoarseOffset")
    end = min(max(end, 0), n)
    return min(max(start, 0), end), end


def _loop(gens: dict[int, int], sd: SampleData, end: int) -> tuple[int, int] | None:
    if sd.loop is None or gens[GEN["sampleModes"]] & 3 not in (1, 3):
        return None
    ls = sd.loop[0] + _offset(gens, "startloopAddrsOffset", "startloopAddrsCoarseOffset")
    le = sd.loop[1] + _offset(gens, "endloopAddrsOffset", "endloopAddrsCoarseOffset")
    return (ls, le) if 0 <= ls and ls + 2 <= le <= end else None


def _render_voice(bank: SoundFontBank, voice: Voice, pitch_from: int, key: int, gate: int,
                  rate: int) -> tuple[np.ndarray, float, float]:
    """One voice: its mono signal (float64) and left/right pan gains."""
    g = voice.gens
    key = key if g[GEN["keynum"]] < 0 else g[GEN["keynum"]]
    sd = bank.sample_data(voice.sample)
    pitch_header = bank.samples[pitch_from]
    start, end = _addresses(g, sd.data.shape[0])
    loop = _loop(g, sd, end)
    ratio: float | np.ndarray = 2.0 ** (pitch_cents(g, pitch_header, key) / 1200.0) * pitch_header.rate / rate
    env = VolumeEnvelope.from_generators(g, key).curve(gate, rate)
    n = env.shape[0]
    bend = pitch_track(g, key, gate, n, rate)
    if bend is not None:
        ratio = ratio * np.exp2(bend / 1200.0)
    loop_frames = 0 if loop is None else (n if g[GEN["sampleModes"]] & 3 == 1 else min(gate, n))
    pos, first_wrap = positions(n, start, ratio, loop, loop_frames)
    if loop_frames < n:  # the sample can run out once looping stops (or never started)
        n = min(n, loop_frames + int(np.searchsorted(pos[loop_frames:], end)))
        pos, env = pos[:n], env[:n]
    angle = (g[GEN["pan"]] / 1000.0 + 0.5) * (math.pi / 2.0)
    if n == 0:
        return np.zeros(0), 0.0, 0.0
    signal = read(sd.data, pos, end, loop, loop_frames, first_wrap)
    cutoff = filter_track(g, key, gate, n, rate)
    signal = lowpass(signal, g[GEN["initialFilterFc"]] if cutoff is None else cutoff, g[GEN["initialFilterQ"]], rate)
    tremolo = volume_track(g, n, rate)
    if tremolo is not None:
        env *= tremolo
    atten = g[GEN["initialAttenuation"]]  # velocity's share comes from the modulators (merged into ``g``)
    env *= sd.scale * 10.0 ** (atten / -200.0)
    env *= signal
    return env, math.cos(angle), math.sin(angle)


def _with_partners(bank: SoundFontBank, voices: list[Voice]) -> list[tuple[Voice, int]]:
    """Voices with the linked half of a stereo sample added when no zone plays it.

    The pair plays in sync at the pitch of the zone's sample; a centred pair is spread hard
    left/right, otherwise the partner takes the mirrored pan.
    """
    used = {v.sample for v in voices}
    out: list[tuple[Voice, int]] = []
    for v in voices:
        h = bank.samples[v.sample]
        link = h.link
        partner_ok = (h.channel in (LEFT, RIGHT) and link < len(bank.samples) and link not in used
                      and bank.samples[link].channel in (LEFT, RIGHT) and bank.samples[link].usable)
        if not partner_ok:
            out.append((v, v.sample))
            continue
        pan = v.gens[GEN["pan"]] or (-500 if h.channel == LEFT else 500)
        out.append((Voice(v.sample, {**v.gens, GEN["pan"]: pan}), v.sample))
        out.append((Voice(link, {**v.gens, GEN["pan"]: -pan}), v.sample))
        used.add(link)
    return out


def _render(bank: SoundFontBank, preset: Preset, key: int, velocity: int, gate: int, rate: int) -> np.ndarray:
    parts = [_render_voice(bank, v, pitch_from, key, gate, rate)
             for v, pitch_from in _with_partners(bank, bank.voices(preset, key, velocity))]
    out = np.zeros((max((p[0].shape[0] for p in parts), default=0), 2), dtype=np.float32)
    for signal, left, right in parts:
        n = signal.shape[0]
        out[:n, 0] += signal * left
        out[:n, 1] += signal * right
    return out


def render_note(bank: SoundFontBank, preset: Preset, key: int, velocity: int, duration_s: float | None = None, *,
                gate_frames: int | None = None, sample_rate: int = SAMPLE_RATE, cache: NoteCache | None = None) -> np.ndarray:
    """One note of ``preset`` as float32 ``[frames, 2]``, release tail included.

    Args:
        bank: the loaded bank ``preset`` belongs to.
        preset: from :meth:`SoundFontBank.find_preset` or :func:`nearest_program`.
        key: MIDI key 0-127. velocity: MIDI velocity 1-127.
        duration_s, gate_frames: how long the key is held; give exactly one.
        sample_rate: output rate in Hz.
        cache: a :class:`NoteCache` to serve repeated notes from (its arrays are read-only).

    Returns:
        The note; empty (0 frames) when no zone of the preset answers ``key``/``velocity``.
    """
    if not 0 <= key <= 127 or not 1 <= velocity <= 127:
        raise ValueError(f"key must be 0-127 and velocity 1-127, got key {key}, velocity {velocity}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    gate = gate_frames_for(duration_s, gate_frames, sample_rate)
    if cache is None:
        return _render(bank, preset, key, velocity, gate, sample_rate)
    gate = cache.gate_class(gate)
    return cache.get((bank.token, preset.index, key, velocity, gate, sample_rate),
                     lambda: _render(bank, preset, key, velocity, gate, sample_rate))
