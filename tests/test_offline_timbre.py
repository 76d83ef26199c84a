"""Timbre of the offline engine's named instruments, on the engine's own measures (fast, deterministic)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from render.audio import SAMPLE_RATE as SR
from render.backends.offline import timbre
from render.backends.offline.instruments import INSTRUMENTS, instrument
from render.backends.offline.voices import NoteCache, _vibrato, note_freq, synth_note


def _note(name: str, midi: int, bucket: int = 3, **spec_changes) -> np.ndarray:
    inst = instrument(name)
    if spec_changes:
        spec = {k: v for k, v in {**inst.spec, **spec_changes}.items() if v is not None}
        inst = replace(inst, spec=spec)
    return synth_note(inst, midi, bucket)


def _harmonic_levels(x: np.ndarray, f0: float, a_s: float, b_s: float, count: int) -> np.ndarray:
    """Magnitude of harmonics 1..count in the window [a_s, b_s) (Hann window)."""
    seg = x[int(a_s * SR) : int(b_s * SR)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.shape[0])))
    hz = np.fft.rfftfreq(seg.shape[0], 1.0 / SR)
    return np.array([spec[(hz > f0 * (h - 0.3)) & (hz < f0 * (h + 0.3))].max() for h in range(1, count + 1)])


def _centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    hz = np.fft.rfftfreq(x.shape[0], 1.0 / SR)
    return float(np.sum(hz * spec) / np.sum(spec))


def test_instrument_names_are_kept():
    """The vocabulary and the GM map name these instruments: none was renamed or removed."""
    for name in ("violin", "cello", "strings", "harp", "harpsichord", "dist_guitar", "choir", "synth_pad", "fiddle", "vocal_aa"):
        assert name in INSTRUMENTS


def test_harp_has_even_harmonics():
    """A harp is plucked near a fifth of its length: no hollow, odd-only (square-like) spectrum."""
    midi = 57
    levels = _harmonic_levels(_note("harp", midi), note_freq(midi), 0.05, 0.45, 6)
    hollow = _harmonic_levels(_note("harp", midi, pos=0.5), note_freq(midi), 0.05, 0.45, 6)
    assert hollow[1] < 0.01 * hollow[0] and hollow[3] < 0.001 * hollow[0]  # the old pluck at the middle
    assert levels[1] > 0.04 * levels[0] and levels[3] > 0.003 * levels[0], levels


def test_harpsichord_upper_partials_decay_faster_than_the_fundamental():
    midi = 57
    # the bare string: one choir (the two choirs' beating would hide the decay), no
    # soundboard (its mode near A3 rings in the early window and flatters the fundamental)
    x = _note("harpsichord", midi, chorus=None, body=None)
    early = _harmonic_levels(x, note_freq(midi), 0.02, 0.12, 12)
    late = _harmonic_levels(x, note_freq(midi), 0.6, 0.7, 12)
    fundamental_drop = late[0] / early[0]
    upper_drop = late[7:].sum() / early[7:].sum()
    assert upper_drop < 0.99 * fundamental_drop, (upper_drop, fundamental_drop)
    assert late[0] < 0.9 * early[0]  # no sustain: even the fundamental dies away
    x = _note("harpsichord", midi, chorus=None)
    attack = slice(SR // 50, SR * 3 // 25)
    assert _centroid(x[attack]) > 1.5 * _centroid(_note("guitar", midi)[attack])  # bright and nasal


def test_harpsichord_4_foot_choir_strengthens_the_even_harmonics():
    """A second choir an octave up (the 4' stop) adds to every even harmonic only."""
    midi = 57
    both = _harmonic_levels(_note("harpsichord", midi, chorus=None, body=None), note_freq(midi), 0.02, 0.12, 8)
    one = _harmonic_levels(_note("harpsichord", midi, chorus=None, body=None, octave=None), note_freq(midi), 0.02, 0.12, 8)
    gain = (both / both[0]) / (one / one[0])
    assert np.all(gain[1::2] > 1.3), gain
    assert np.all(np.abs(gain[2::2] - 1.0) < 0.15), gain


def test_a_synth_pluck_is_a_short_blip_not_a_ringing_string():
    """An electronic pluck dies within a fraction of a second (a string rings on for a second
    or more: the old Karplus-Strong pluck read as a guitar to the tagger)."""
    midi = 60
    x = _note("synth_pluck", midi)
    rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * SR) : int(b * SR)] ** 2)) + 1e-12)  # noqa: E731
    assert 20 * np.log10(rms(0.45, 0.5) / rms(0.0, 0.05)) < -15
    guitar = _note("guitar", midi)
    assert np.sqrt(np.mean(guitar[int(0.45 * SR) : int(0.5 * SR)] ** 2)) > 0.5 * np.sqrt(np.mean(guitar[: int(0.05 * SR)] ** 2))


def test_ensemble_strings_spread_each_partial():
    """The strings section is several detuned voices: its partials are wider than one voice's."""
    midi = 64
    f0 = note_freq(midi)

    def width(x: np.ndarray) -> float:
        seg = x[int(1.0 * SR) : int(3.0 * SR)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.shape[0]))) ** 2
        hz = np.fft.rfftfreq(seg.shape[0], 1.0 / SR)
        h = 8
        near = (hz > f0 * h - 40) & (hz < f0 * h + 40)
        core = (hz > f0 * h - 2) & (hz < f0 * h + 2)
        return 1.0 - spec[core].sum() / spec[near].sum()

    section = width(_note("strings", midi, vib=None))
    solo = width(_note("strings", midi, vib=None, ens=None))
    assert section > solo + 0.3, (section, solo)


def test_ensemble_voices_beat_against_each_other():
    """A choir's voices (detuned, each with its own vibrato) make its level move; one voice does not."""
    def wobble(x: np.ndarray) -> float:
        env = np.sqrt(np.convolve(x[SR : 3 * SR] ** 2, np.ones(960) / 960, mode="valid"))
        return float(np.std(env) / np.mean(env))

    assert wobble(_note("choir", 62, noise=None)) > 2 * wobble(_note("choir", 62, noise=None, ens=None, vib=None))


def test_bowed_vibrato_starts_late():
    """Bowed strings start their vibrato after the attack (delayed onset), then reach full depth."""
    sp = instrument("violin").spec
    n = 2 * SR
    t = np.arange(n, dtype=np.float32) / SR
    offset = _vibrato(sp, n, t, note_freq(69))
    early = np.abs(np.diff(offset[: int(0.05 * SR)])).max()
    full = np.abs(np.diff(offset[SR:])).max()
    assert early < 0.1 * full


def test_body_resonances_shape_a_flat_spectrum():
    """A wooden body colours a flat input with peaks; the cello's body is darker than the violin's."""
    impulse = np.zeros(SR // 2, dtype=np.float32)
    impulse[0] = 1.0
    for name in ("violin", "cello"):
        response = np.abs(np.fft.rfft(timbre.body(impulse, name)))
        band = response[200:4000]  # 100 Hz .. 2 kHz at 0.5 Hz per bin
        assert band.max() > 4 * np.median(band), name  # resonant peaks, not a smooth curve
    violin, cello = (timbre.body(impulse, name) for name in ("violin", "cello"))
    assert _centroid(cello) < 0.8 * _centroid(violin)


def test_synth_pad_filter_sweeps():
    """The pad's resonant low-pass opens after the attack and keeps moving: its brightness changes."""
    x = _note("synth_pad", 57)
    centroids = [_centroid(x[int(a * SR) : int(a * SR) + 4096]) for a in np.arange(0.2, 4.0, 0.2)]
    assert centroids[0] < 0.75 * max(centroids)
    steady = centroids[8:]
    assert max(steady) > 1.2 * min(steady)  # the LFO still moves it


def test_distorted_guitar_has_a_cabinet():
    """Clipping makes many harmonics, and the speaker cabinet cuts them steeply above ~5 kHz."""
    x = _note("dist_guitar", 40)[: SR // 2]
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]))) ** 2
    hz = np.fft.rfftfreq(x.shape[0], 1.0 / SR)
    mids = spec[(hz > 1000) & (hz < 4000)].sum()
    highs = spec[hz > 9000].sum()
    assert highs < 0.01 * mids

    def sustain(y: np.ndarray) -> float:  # the amp compresses: the note holds its level
        return float(np.sqrt(np.mean(y[SR : 3 * SR // 2] ** 2)) / np.sqrt(np.mean(y[SR // 20 : SR * 3 // 10] ** 2)))

    assert sustain(_note("dist_guitar", 40)) > 0.8 > 1.5 * sustain(_note("dist_guitar", 40, amp=None))


@pytest.mark.parametrize("name", ["violin", "cello", "strings", "harp", "harpsichord", "dist_guitar", "choir", "synth_pad"])
def test_notes_are_pure_functions_of_their_key(name):
    """The note cache relies on it: the same key gives identical bytes in any order."""
    cache = NoteCache(max_bytes=64 * 1024 * 1024)
    first = cache.get(name, 60, 2, 1).copy()
    synth_note(instrument(name), 67, 4, 1)  # other notes in between must not change it
    again = synth_note(instrument(name), 60, 2, 1)
    assert first.tobytes() == again.tobytes()
    assert np.isfinite(first).all() and 0.1 < np.abs(first).max() < 1.5


def test_noise_does_not_depend_on_the_notes_rendered_before(monkeypatch):
    """Bow and breath noise come from one shared bed: a long noisy note rendered first must not change it."""
    from render.backends.offline import voices

    monkeypatch.setattr(voices, "_NOISE", {})
    alone = synth_note(instrument("violin"), 72, 3, 0)
    monkeypatch.setattr(voices, "_NOISE", {})
    synth_note(instrument("strings"), 48, 3, 3)  # 4.5 s: longer than the bed's old minimum
    after = synth_note(instrument("violin"), 72, 3, 0)
    assert alone.tobytes() == after.tobytes()
