"""Offline drums (issue 12): acoustic kits sound acoustic, drum machines stay machines, grooves keep the beat."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers.offline import SR, onset_rate, render
from scipy.ndimage import median_filter

from render.backends.offline.arrange import phrase_plan
from render.backends.offline.beat import drum_bar
from render.backends.offline.compose import Controls, EpochContext
from render.backends.offline.drums import DRUM_SOUNDS, drum_sound
from render.backends.offline.patterns import GROOVES, KITS
from render.backends.offline.vocabulary import style_of_prompts
from render.controls import GenerationConfig as G

ACOUSTIC_KITS = ("acoustic", "rock", "jazz", "brush", "march")
MACHINE_KITS = ("808", "909", "electronic", "lofi", "chip")
CTX = EpochContext(tonic_pc=0, minor=False, seed=1, epoch=0)


def _plan(groove: str, kit: str, **kw):
    style, _ = style_of_prompts((("Indie Pop", 1.0),))
    ctl = _ctl()
    plan = phrase_plan(1, style, ctl, CTX)
    base = dict(groove=groove, kit=kit, drums_level=1.0, energy=0.8, breakdown=False, intro=False, fill=False, perc=0.0, wild=0.0)
    return dataclasses.replace(plan, **{**base, **kw})


def _ctl(bpm: float = 120.0, density: float = 0.5, brightness: float = 0.5) -> Controls:
    return Controls(density=density, brightness=brightness, guidance=4.0, temperature=1.1, top_k=40, mode="QUALITY", bpm=bpm)


def _steps(notes, sound: str) -> set[float]:
    return {n[0] for n in notes if n[2] == sound}


def _spectrum(x: np.ndarray, n: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    seg = x[:n].astype(np.float64)
    return np.fft.rfftfreq(n, 1 / SR), np.abs(np.fft.rfft(seg * np.hanning(seg.size), n))


def _band_share(x: np.ndarray, low: float, high: float) -> float:
    f, mag = _spectrum(x)
    power = mag**2
    return float(power[(f >= low) & (f < high)].sum() / power.sum())


def _length_to(x: np.ndarray, db: float) -> float:
    """Seconds until the 5 ms RMS envelope last sits above ``db`` dB below its peak."""
    hop = int(0.005 * SR)
    env = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(hop) / hop, mode="same"))
    return float(np.nonzero(env > env.max() * 10 ** (db / 20))[0][-1]) / SR


def _modal_share(x: np.ndarray) -> float:
    """Share of 3-15 kHz spectrum bins 10 dB above the local median: ringing modes, not noise."""
    f, mag = _spectrum(x, 1 << 14)
    band = mag[(f >= 3000) & (f < 15_000)]
    return float(np.mean(band > 3.16 * median_filter(band, size=101)))


def test_every_kit_sound_exists_and_is_deterministic():
    sounds = {s for kit in KITS.values() for s in kit.values()}
    assert sounds <= set(DRUM_SOUNDS)
    for name in sorted(sounds):
        x = drum_sound(name, 3)
        assert x.dtype == np.float32 and np.isfinite(x).all() and abs(float(np.abs(x).max()) - 1.0) < 1e-3
    assert np.array_equal(drum_sound("crash", 2), drum_sound("crash", 2))


def test_acoustic_kits_do_not_share_the_drum_machines_cymbals():
    for a in ACOUSTIC_KITS:
        for m in MACHINE_KITS:
            assert {KITS[a]["hat"], KITS[a]["ride"], KITS[a]["crash"]}.isdisjoint({KITS[m]["hat"], KITS[m]["ride"], KITS[m]["crash"]}), (a, m)


@pytest.mark.parametrize("name", ["kick", "kick_rock"])
def test_an_acoustic_kick_is_a_short_click_and_a_body_not_a_long_sweep(name):
    kick, machine = drum_sound(name, 3), drum_sound("kick_808", 3)
    attack = slice(0, int(0.004 * SR))
    assert _band_share(kick[attack], 1500, 8000) > 2 * _band_share(machine[attack], 1500, 8000)  # the beater's click
    assert _band_share(kick, 40, 120) > 0.4  # the resonant body
    assert _length_to(kick, -40) < 0.7 < _length_to(machine, -40)


def test_an_acoustic_snare_has_a_shell_tone_and_wires_of_realistic_length():
    snare = drum_sound("snare_rock", 3)
    f, mag = _spectrum(snare[: int(0.04 * SR)], 1 << 12)
    low = (f > 100) & (f < 1000)
    assert 140 < f[low][np.argmax(mag[low])] < 400  # the shell's fundamental
    assert _band_share(snare, 2000, 12_000) > 0.25  # the wires
    assert 0.12 < _length_to(snare, -40) < 0.6


@pytest.mark.parametrize("name", ["hat", "ohat", "ride", "crash", "china"])
def test_acoustic_cymbals_ring_with_many_inharmonic_modes(name):
    cymbal = drum_sound(name, 3)
    assert _modal_share(cymbal) > 0.01 > 0.005 > max(_modal_share(drum_sound(m, 3)) for m in ("hat_909", "ohat_909", "hat_808"))
    assert _band_share(cymbal, 1000, 6000) > 0.15  # a cymbal's body, not only hiss above 6 kHz


def test_open_cymbals_ring_longer_than_closed_hats():
    assert _length_to(drum_sound("hat", 3), -40) < 0.3 < _length_to(drum_sound("ohat", 3), -40) < _length_to(drum_sound("crash", 3), -40)


def test_four_on_the_floor_has_a_kick_on_every_beat_and_offbeat_hats():
    plan = _plan("four", "909")
    notes = drum_bar(1, 1, plan, _ctl(), CTX)
    assert {0.0, 4.0, 8.0, 12.0} <= _steps(notes, "kick_909")
    assert {2.0, 6.0, 10.0, 14.0} <= _steps(notes, "ohat_909")


def test_metal_plays_a_double_kick_a_backbeat_and_cymbal_accents():
    notes = drum_bar(1, 1, _plan("metal", "rock"), _ctl(bpm=140), CTX)
    assert _steps(notes, "kick_rock") == {float(s) for s in range(16)}
    assert {4.0, 12.0} <= _steps(notes, "snare_rock")
    assert {0.0, 8.0} <= _steps(notes, "china")
    no_china = dict(KITS["acoustic"])
    assert "china" not in no_china  # a kit without a china plays the accents on its crash
    notes = drum_bar(1, 1, _plan("metal", "acoustic"), _ctl(bpm=140), CTX)
    assert {0.0, 8.0} <= _steps(notes, "crash")


def test_country_plays_a_train_beat_and_bluegrass_no_drums():
    """Country: kick on 1 and 3, brushed 16ths accented on 2 and 4; bluegrass bands have no drummer."""
    style, _ = style_of_prompts((("Country", 1.0),))
    plan = phrase_plan(1, style, _ctl(), CTX)
    assert (plan.groove, plan.kit) == ("train", "brush")
    notes = drum_bar(1, 1, plan, _ctl(bpm=112, density=0.5), CTX)
    kick, snare = KITS["brush"]["kick"], KITS["brush"]["snare"]
    assert {0.0, 8.0} <= _steps(notes, kick)
    hits = {n[0]: n[5] for n in notes if n[2] == snare}
    assert len(hits) >= 8 and min(hits[4.0], hits[12.0]) > 2 * max(v for k, v in hits.items() if k % 4)
    style, _ = style_of_prompts((("Bluegrass", 1.0),))
    assert phrase_plan(1, style, _ctl(), CTX).drums_level == 0.0


@pytest.mark.parametrize(("groove", "kit"), [("four", "909"), ("backbeat", "acoustic"), ("metal", "rock")])
def test_density_adds_drum_onsets(groove, kit):
    counts = [len({(n[0], n[2]) for n in drum_bar(1, 1, _plan(groove, kit), _ctl(density=d), CTX)}) for d in (0.1, 0.5, 0.9)]
    assert counts[0] < counts[1] <= counts[2]



def test_hats_fill_in_16ths_with_density_a_drum_machine_first_and_never_slow():
    odd = {float(s) for s in range(1, 16, 2)}

    def odd_hats(groove, kit, hat, **ctl):
        return odd & _steps(drum_bar(1, 1, _plan(groove, kit), _ctl(**ctl), CTX), hat)

    assert odd_hats("four", "909", "hat_909", density=0.5) == odd
    assert not odd_hats("four", "909", "hat_909", density=0.3)
    assert not odd_hats("four", "909", "hat_909", bpm=80, density=0.9)
    assert not odd_hats("backbeat", "acoustic", "hat", density=0.5)
    assert odd_hats("backbeat", "acoustic", "hat", density=0.9) == odd


@pytest.mark.slow
def test_techno_drums_get_busier_with_density():
    rates = [onset_rate(render([("Techno", 1.0)], G(bpm=120, density=d, seed=1, mute_bass=True, only_bass_and_drums=True), 6)[0])
             for d in (0.1, 0.5)]
    assert rates[0] < rates[1]


def test_every_groove_keeps_beat_one():
    for groove in GROOVES:
        if groove in ("none", "reggae"):  # reggae's one drop leaves beat 1 empty on purpose
            continue
        notes = drum_bar(1, 1, _plan(groove, "acoustic"), _ctl(), CTX)
        assert 0.0 in {n[0] for n in notes}, groove


def test_drums_alone_play_a_tom_fill_every_second_bar():
    from render.backends.offline.arrange import Layers

    alone = _plan("funk", "acoustic", layers=Layers())
    band = _plan("funk", "acoustic", layers=Layers(bass=(("bass_e", 1.0),)))
    toms = {"tom_hi", "tom", "tom_lo"}
    for pos in range(7):
        fill = [n for n in drum_bar(1, pos, alone, _ctl(), CTX) if n[2] in toms]
        assert bool(fill) == (pos % 2 == 1), pos
        assert all(n[0] >= 12 for n in fill)
        assert not [n for n in drum_bar(1, pos, band, _ctl(), CTX) if n[2] in toms]
    fill = sorted(n[0] for n in drum_bar(1, 7, dataclasses.replace(band, fill=True), _ctl(), CTX) if n[2] in toms)
    assert fill and fill[0] >= 12  # a section's last bar ends with a fill with or without a band
