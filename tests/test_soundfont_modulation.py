"""The SoundFont player's modulation envelope and LFOs (SF2.01 8.1.2): their shapes at exact
frames, and what they do to pitch, filter and volume, measured on tiny banks built here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.sf2_writer import InstrumentSpec, PresetSpec, SampleSpec, ZoneSpec, build_sf2, timecents
from scipy.signal import hilbert

from render.soundfont import load_bank, render_note
from render.soundfont.generators import DEFAULTS, GEN
from render.soundfont.modulation import filter_track, lfo, mod_envelope, pitch_track, volume_track
from render.soundfont.resample import positions

SR = 48_000
PERIOD = 100  # 441 Hz at the 44.1 kHz source rate
LOOP = (1000, 21000)


def _abs_cents(hz: float) -> int:
    return int(round(1200 * math.log2(hz / 8.176)))


def _gens(**named: int) -> dict[int, int]:
    return {**DEFAULTS, **{GEN[k]: v for k, v in named.items()}}


def _bank(tmp_path, gens: list[tuple[int, int]], noise: bool = False):
    data = (np.random.default_rng(0).uniform(-0.5, 0.5, 44100) if noise
            else 0.5 * np.sin(2 * np.pi * np.arange(22050) / PERIOD))
    sample = SampleSpec("s", data, root=69 if not noise else 60, loop=LOOP)
    zone = ZoneSpec([(GEN["sampleModes"], 1), (GEN["releaseVolEnv"], timecents(0.05)), *gens], target=0)
    inst = [InstrumentSpec("i", [zone])]
    path = tmp_path / "mod.sf2"
    path.write_bytes(build_sf2([sample], inst, [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])]))
    return load_bank(path)


def _play(bank, key: int = 69, seconds: float = 1.5) -> np.ndarray:
    return render_note(bank, bank.find_preset(0), key, 127, seconds)[:, 0].astype(np.float64)


def _inst_cents(y: np.ndarray, ref_hz: float, span: int = 240) -> np.ndarray:
    """Pitch of a sine in cents from ``ref_hz``, from its analytic-signal phase over ``span`` frames (5 ms)."""
    phase = np.unwrap(np.angle(hilbert(y)))
    with np.errstate(divide="ignore", invalid="ignore"):  # the silent frames before the attack
        return 1200 * np.log2((phase[span:] - phase[:-span]) * SR / (2 * np.pi * span) / ref_hz)


# --- the sources, frame by frame --------------------------------------------------------------


def test_mod_envelope_stages_land_on_their_frames() -> None:
    tc = lambda s: timecents(s)  # noqa: E731
    g = _gens(delayModEnv=tc(0.01), attackModEnv=tc(0.02), holdModEnv=tc(0.03), decayModEnv=tc(0.4),
              sustainModEnv=250, releaseModEnv=tc(0.2))
    gate = int(0.5 * SR)
    env = mod_envelope(g, 60, gate, gate + SR, SR)
    f = lambda s: int(round(2 ** (tc(s) / 1200) * SR))  # noqa: E731
    d, a, h = f(0.01), f(0.02), f(0.03)
    decay = 2 ** (tc(0.4) / 1200) * SR
    assert np.all(env[:d + 1] == 0)
    convex = lambda x: 1 + 5 / 12 * np.log10(x)  # noqa: E731
    assert env[d + a // 2] == pytest.approx(convex(0.5), abs=1e-3)   # convex attack (SF2.01 8.1.3 #26):
    assert env[d + a // 10] == pytest.approx(convex(0.1), abs=1e-3)  # 58 % of the way in a tenth of the time
    assert np.all(np.diff(env[d:d + a]) >= 0)
    assert np.all(env[d + a:d + a + h + 1] == 1.0)                   # hold at the peak
    assert env[d + a + h + int(decay * 0.1)] == pytest.approx(0.9, abs=1e-3)  # 10 % of the range in 10 % of the time
    assert env[d + a + h + int(decay * 0.3):gate] == pytest.approx(0.75)      # sustain: 25 % below the peak
    release = 2 ** (tc(0.2) / 1200) * SR
    assert env[gate + int(release * 0.25)] == pytest.approx(0.5, abs=1e-3)    # released at the full rate
    assert np.all(env[gate + int(release * 0.75) + 1:] == 0)


def test_mod_envelope_hold_and_decay_follow_the_key() -> None:
    g = _gens(holdModEnv=timecents(0.1), decayModEnv=timecents(0.1), sustainModEnv=1000,
              keynumToModEnvHold=100, keynumToModEnvDecay=100)  # an octave down doubles both
    low, high = mod_envelope(g, 48, SR, SR, SR), mod_envelope(g, 72, SR, SR, SR)
    held = lambda env: np.count_nonzero(env == 1.0)  # noqa: E731
    after_peak = lambda env: env[np.argmax(env == 1.0):]  # noqa: E731
    falling = lambda env: np.count_nonzero((after_peak(env) > 0) & (after_peak(env) < 1))  # noqa: E731
    assert held(low) == pytest.approx(4 * held(high), rel=0.01) == pytest.approx(0.2 * SR, rel=0.01)
    assert falling(low) == pytest.approx(4 * falling(high), rel=0.01)


def test_lfo_is_a_delayed_triangle_that_rises_first() -> None:
    wave = lfo(SR, timecents(0.1), _abs_cents(4.0), SR)
    delay, quarter = int(round(2 ** (timecents(0.1) / 1200) * SR)), SR // 16  # 4 Hz: a quarter period is 1/16 s
    assert np.all(wave[:delay + 1] == 0)
    assert wave[delay + quarter] == pytest.approx(1.0, abs=2e-3)
    assert wave[delay + 3 * quarter] == pytest.approx(-1.0, abs=2e-3)
    assert wave.max() <= 1.0 and wave.min() >= -1.0


def test_nothing_routed_means_no_track() -> None:
    g = _gens(delayModEnv=timecents(0.1), freqVibLFO=500)  # sources set up, but routed nowhere
    assert pitch_track(g, 60, SR, SR, SR) is None
    assert filter_track(g, 60, SR, SR, SR) is None
    assert volume_track(g, SR, SR) is None


def test_varying_steps_read_like_a_fixed_ratio_and_join_after_the_loop() -> None:
    fixed, wrap = positions(5000, 10, 1.37, (100, 900), 3000)
    varying, wrap2 = positions(5000, 10, np.full(5000, 1.37), (100, 900), 3000)
    assert wrap == wrap2 and np.allclose(fixed, varying, atol=1e-9)
    steps = 1.0 + 0.5 * np.sin(np.arange(5000) / 300.0)
    pos, _ = positions(5000, 10, steps, (100, 900), 3000)
    assert np.all((pos[:3000] >= 10) & (pos[:3000] < 900))
    assert np.allclose(np.diff(pos[2999:]), steps[2999:-1])  # after the gate it carries on from where it was


# --- what they drive, heard in rendered notes -------------------------------------------------


def test_mod_envelope_bends_the_pitch_and_returns(tmp_path) -> None:
    bank = _bank(tmp_path, [(GEN["modEnvToPitch"], 1200), (GEN["holdModEnv"], timecents(0.3)),
                            (GEN["decayModEnv"], timecents(0.2)), (GEN["sustainModEnv"], 1000)])
    pitch = _inst_cents(_play(bank), 441.0)
    assert np.median(pitch[2400:12000]) == pytest.approx(1200, abs=3)   # held an octave up
    assert np.median(pitch[30000:60000]) == pytest.approx(0, abs=3)     # decayed back to the key's pitch


def test_vibrato_lfo_swings_the_pitch_at_its_rate_and_depth(tmp_path) -> None:
    bank = _bank(tmp_path, [(GEN["vibLfoToPitch"], 50), (GEN["freqVibLFO"], _abs_cents(5.0)),
                            (GEN["delayVibLFO"], timecents(0.2))])
    pitch = _inst_cents(_play(bank, seconds=1.5), 441.0)
    assert np.abs(pitch[1000:9000]).max() < 1.0                          # steady during the delay
    swing = pitch[12000:60000]
    assert swing.max() == pytest.approx(50, abs=3) and swing.min() == pytest.approx(-50, abs=3)
    spectrum = np.abs(np.fft.rfft(swing - swing.mean(), 8 * swing.size))
    assert np.argmax(spectrum) * SR / (8 * swing.size) == pytest.approx(5.0, abs=0.1)
    first = int(round(2 ** (timecents(0.2) / 1200) * SR)) + SR // 20     # a quarter period after the delay
    assert pitch[first] == pytest.approx(50, abs=3)                       # the LFO rises first


def test_mod_envelope_opens_the_filter_then_closes_it(tmp_path) -> None:
    bank = _bank(tmp_path, [(GEN["initialFilterFc"], _abs_cents(300.0)), (GEN["modEnvToFilterFc"], 4800),
                            (GEN["holdModEnv"], timecents(0.3)), (GEN["decayModEnv"], timecents(0.2)),
                            (GEN["sustainModEnv"], 1000)], noise=True)
    y = _play(bank, key=60)

    def high_share(part: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(part)) ** 2
        return float(spec[int(1500 / SR * part.size):].sum() / spec.sum())
    bright, dark = high_share(y[2400:12000]), high_share(y[36000:48000])   # cutoff 4.8 kHz, then 300 Hz
    assert bright > 0.4 and dark < 0.01


def test_mod_lfo_tremolo_swings_the_level(tmp_path) -> None:
    bank = _bank(tmp_path, [(GEN["modLfoToVolume"], 60), (GEN["freqModLFO"], _abs_cents(4.0))])
    y = _play(bank)
    level = np.abs(hilbert(y))
    swing_db = 20 * np.log10(level[4800:60000].max() / level[4800:60000].min())
    assert swing_db == pytest.approx(12.0, abs=0.3)                       # +-60 cB
    quarter, period = SR // 16, SR // 4
    assert level[period + quarter] / level[period + 3 * quarter] > 3.5    # the LFO's positive half is the loud one


def test_modulated_notes_are_bit_identical_and_cached_alike(tmp_path) -> None:
    bank = _bank(tmp_path, [(GEN["vibLfoToPitch"], 30), (GEN["modEnvToFilterFc"], -2000),
                            (GEN["decayModEnv"], timecents(0.5)), (GEN["modLfoToVolume"], 20)])
    a = render_note(bank, bank.find_preset(0), 64, 100, 0.7)
    b = render_note(bank, bank.find_preset(0), 64, 100, 0.7)
    assert a.tobytes() == b.tobytes() and np.abs(a).max() > 0.05
