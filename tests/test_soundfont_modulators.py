"""SF2.01 modulators in the SoundFont player: source curves, the section 9.5 merging rules,
and their effect on rendered notes, on tiny banks built here (MuseScore General's piano, for
one, gets its brightness from velocity and key modulators)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.sf2_writer import G_FC, G_MODES, InstrumentSpec, PresetSpec, SampleSpec, ZoneSpec, build_sf2

from render.soundfont import load_bank, render_note
from render.soundfont.generators import GEN
from render.soundfont.modulators import DEFAULT_MODS, Mod, merge_mods, mod_offsets, source_value

SR = 48_000
VEL, KEY = 0x0002, 0x0003  # note-on velocity and key, linear, unipolar, positive
NEG, BIPOLAR, CONCAVE, CONVEX, SWITCH, CC = 0x0100, 0x0200, 0x0400, 0x0800, 0x0C00, 0x0080
ATTEN, FC = GEN["initialAttenuation"], GEN["initialFilterFc"]


# --- sources and curves -----------------------------------------------------------------------


@pytest.mark.parametrize(("src", "velocity", "want"), [
    (VEL, 127, 1.0), (VEL, 0, 0.0), (VEL | NEG, 127, 0.0), (VEL | BIPOLAR, 0, -1.0), (VEL | BIPOLAR, 127, 1.0),
    (VEL | SWITCH, 63, 0.0), (VEL | SWITCH, 64, 1.0), (VEL | SWITCH | BIPOLAR, 10, -1.0),
    (VEL | CONCAVE, 127, 1.0), (VEL | CONVEX, 0, 0.0),
])
def test_source_curves_at_their_ends(src: int, velocity: int, want: float) -> None:
    assert source_value(src, 60, velocity) == pytest.approx(want, abs=1e-9)


def test_concave_and_convex_mirror_each_other_and_bend_the_right_way() -> None:
    for v in (20, 64, 100):
        concave, convex = source_value(VEL | CONCAVE, 60, v), source_value(VEL | CONVEX, 60, v)
        assert concave < v / 127 < convex  # concave sags, convex bulges
        assert convex == pytest.approx(1 - source_value(VEL | CONCAVE | NEG, 60, v), abs=1e-9)


def test_the_default_velocity_curve_is_the_specs_960_cb_concave() -> None:
    for v in (1, 32, 64, 100, 127):
        cb = mod_offsets(list(DEFAULT_MODS), 60, v).get(ATTEN, 0.0)
        assert cb == pytest.approx(-400 * math.log10(v / 127), abs=1e-6)


def test_controllers_rest_at_their_reset_values_and_no_controller_moves_nothing() -> None:
    assert source_value(CC | 7, 60, 100) == pytest.approx(100 / 127)   # volume 100
    assert source_value(CC | 11, 60, 100) == pytest.approx(1.0)        # expression 127
    assert source_value(CC | 1, 60, 100) == 0.0                        # mod wheel 0
    assert source_value(0x000E | BIPOLAR, 60, 100) == 0.0              # pitch wheel centred
    assert mod_offsets([Mod(0, FC, 5000, 0, 0)], 60, 100) == {}


def test_amount_source_transform_and_key_source() -> None:
    mods = [Mod(KEY | BIPOLAR, FC, 1200, VEL, 2)]  # |1200 * key(bipolar) * velocity|
    low = mod_offsets(mods, 0, 127)[FC]
    assert low == pytest.approx(1200) and mod_offsets(mods, 0, 0) == {}


# --- merging (section 9.5) --------------------------------------------------------------------


def test_identical_modulators_supersede_and_preset_amounts_add() -> None:
    vel_att = DEFAULT_MODS[0]
    off = lambda mods: mod_offsets(mods, 60, 64).get(ATTEN, 0.0)  # noqa: E731
    default = off(merge_mods((), (), (), ()))
    assert default > 100
    assert off(merge_mods((vel_att._replace(amount=0),), (), (), ())) == 0.0           # instrument global turns it off
    assert off(merge_mods((vel_att._replace(amount=0),), (vel_att,), (), ())) == default  # local beats global
    assert off(merge_mods((), (), (), (vel_att._replace(amount=960),))) == pytest.approx(2 * default)  # preset adds
    other = Mod(VEL, FC, 100, 0, 0)
    merged = merge_mods((), (other,), (), (other,))
    assert len(merged) == 2 and mod_offsets(merged, 60, 127)[FC] == 200


def test_links_and_sample_modes_and_overrides_are_never_modulated() -> None:
    assert mod_offsets([Mod(VEL, 0x8001, 500, 0, 0), Mod(VEL, GEN["sampleModes"], 1, 0, 0),
                        Mod(VEL, GEN["overridingRootKey"], 10, 0, 0)], 60, 127) == {}


# --- heard in rendered notes ------------------------------------------------------------------


def _bank(tmp_path, inst_mods, preset_mods=(), name: str = "mods"):
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, 44100)
    inst = [InstrumentSpec("i", [ZoneSpec([(G_MODES, 1), (G_FC, 6000)], target=0, mods=list(inst_mods))])]
    presets = [PresetSpec("p", 0, 0, [ZoneSpec(target=0, mods=list(preset_mods))])]
    path = tmp_path / f"{name}.sf2"
    path.write_bytes(build_sf2([SampleSpec("n", noise, root=60, loop=(100, 44000))], inst, presets))
    return load_bank(path)


def _high_share(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y[4800:24000, 0].astype(np.float64))) ** 2
    return float(spec[int(2000 / SR * 19200):].sum() / spec.sum())


def test_a_velocity_to_filter_modulator_opens_the_filter_for_hard_notes(tmp_path) -> None:
    bank = _bank(tmp_path, [(VEL, FC, 6000, 0, 0)])  # +6000 cents at full velocity: ~220 Hz -> ~7 kHz
    p = bank.find_preset(0)
    soft, hard = (_high_share(render_note(bank, p, 60, v, 0.6)) for v in (20, 127))
    assert soft < 0.01 and hard > 0.3


def test_an_instrument_can_switch_the_velocity_curve_off(tmp_path) -> None:
    rms = lambda y: float(np.sqrt(np.mean(y[4800:24000].astype(np.float64) ** 2)))  # noqa: E731
    curve = _bank(tmp_path, [])
    flat = _bank(tmp_path, [(0x0502, ATTEN, 0, 0, 0)], name="flat")
    level = lambda bank, v: rms(render_note(bank, bank.find_preset(0), 60, v, 0.6))  # noqa: E731
    assert level(curve, 40) < 0.2 * level(curve, 127)
    assert level(flat, 40) == pytest.approx(level(flat, 127), rel=1e-6)


def test_a_velocity_modulator_moves_the_sample_start(tmp_path) -> None:
    """MuseScore General starts soft string notes later in their samples (velocity -> startAddrsOffset)."""
    tone = np.sin(2 * np.pi * 441 * np.arange(44100) / 44100)
    data = np.concatenate([np.zeros(22050), tone])  # 0.5 s of silence, then the tone
    to_start = (VEL, GEN["startAddrsOffset"], 22050, 0, 0)
    inst = [InstrumentSpec("i", [ZoneSpec([(G_MODES, 0)], target=0, mods=[to_start])])]
    path = tmp_path / "start.sf2"
    path.write_bytes(build_sf2([SampleSpec("s", data, root=69)], inst, [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])]))
    bank = load_bank(path)
    note = lambda v: render_note(bank, bank.find_preset(0), 69, v, 0.3)[:, 0]  # noqa: E731
    onset = lambda v: int(np.argmax(np.abs(note(v)) > 1e-3))  # noqa: E731
    assert onset(127) < 60                                       # full velocity skips all the silence (1 ms attack)
    skipped = int(22050 * 64 / 127)                              # 11112.4 frames, cut toward zero
    assert onset(64) == pytest.approx((22050 - skipped) * SR / 44100, abs=2)
