"""Offline engine 2.0 (issue 12): stems that sum to the mix, exact changes, beat, form, featured parts."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.offline import SR, render

from render.backends.offline import analyse_prompt
from render.backends.offline.arrange import phrase_plan
from render.backends.offline.compose import Controls, EpochContext, _chord_degree, _comp, compose_bar
from render.backends.offline.harmony import GROUP_DRUMS, GROUP_OTHER
from render.backends.offline.vocabulary import style_of_prompts
from render.controls import GenerationConfig as G

MIX = [("Heavy Metal", 1.0), ("Piano", 0.6)]


def _ctl(style, bpm: float = 120.0, **kw) -> Controls:
    base = dict(density=style.get("density"), brightness=0.5, guidance=4.0, temperature=1.1, top_k=40, mode="QUALITY", bpm=bpm)
    return Controls(**{**base, **kw})


def test_the_mix_is_the_sum_of_its_three_groups():
    cfg = dict(bpm=150, density=0.9, seed=4)
    mix, _ = render(MIX, G(**cfg), 6)
    drums, _ = render(MIX, G(**cfg, mute_bass=True, only_bass_and_drums=True), 6)
    bass, _ = render(MIX, G(**cfg, mute_drums=True, only_bass_and_drums=True), 6)
    other, _ = render(MIX, G(**cfg, mute_drums=True, mute_bass=True), 6)
    assert min(np.abs(x).max() for x in (drums, bass, other)) > 0.05  # every group plays
    error = mix - (drums + bass + other)
    assert 10 * np.log10(np.mean(error**2) / np.mean(mix**2)) < -60


@pytest.mark.parametrize("at", [100_003, 96_000])
def test_a_prompt_change_sounds_at_its_exact_sample(at):
    cfg = G(bpm=120, density=0.6, seed=2)
    ref, _ = render([("Piano", 1.0)], cfg, 3)
    new, _ = render([("Piano", 1.0)], cfg, 3, changes=[(at, "prompts", [("Heavy Metal", 1.0)])])
    assert np.array_equal(ref[:at], new[:at])
    window = slice(at, at + int(0.05 * SR))  # within 50 ms the difference is loud
    diff = np.sqrt(np.mean((new[window] - ref[window]) ** 2))
    assert diff > 0.1 * np.sqrt(np.mean(ref**2))


@pytest.mark.parametrize("prompt", ["Techno", "Funk", "Bossa Nova", "Piano Ballad", "Heavy Metal"])
@pytest.mark.parametrize("bpm", [60, 120, 200])
def test_beat_one_leads_and_the_tempo_has_no_rival_pulse(prompt, bpm):
    style, _ = style_of_prompts(((prompt, 1.0),))
    ctx = EpochContext(tonic_pc=0, minor=True, seed=1, epoch=0)
    per_step, light = np.zeros(16), np.zeros(16)
    hats = {"hat", "ohat", "hat_808", "hat_909", "ohat_909", "hat_lofi", "shaker", "hat_chip"}
    for bar in [b for b in range(8, 24) if b % 8 != 7]:  # the fills aside
        for note in compose_bar(bar, style, _ctl(style, bpm), ctx):
            if note[2] != style.choice("lead_i") and abs(note[0] - round(note[0])) < 0.2:
                (light if note[2] in hats else per_step)[int(round(note[0])) % 16] += 1
    if bpm < 100:  # slow: nothing but light hats on the off-beat 8ths (else they read as the beat)
        assert per_step[[2, 6, 10, 14]].sum() == 0, per_step
    if bpm > 150:  # fast: beat 1 leads, beat 3 is lighter than 2 and 4 (else half the tempo reads)
        assert per_step[0] >= per_step[[4, 8, 12]].max() and per_step[8] < min(per_step[4], per_step[12]), per_step
        assert per_step[[s for s in range(16) if s % 4]].sum() == 0, per_step


def test_sections_follow_a_form_with_fills_and_moving_chords():
    style, _ = style_of_prompts((("Techno", 1.0),))
    ctl = _ctl(style, density=0.7)
    for seed in range(3):
        ctx = EpochContext(tonic_pc=0, minor=True, seed=seed, epoch=0)
        plans = [phrase_plan(p, style, ctl, ctx) for p in range(10)]
        names = [p.section for p in plans]
        assert names[0] == "intro" and {"A", "B", "breakdown", "return"} <= set(names)
        for p, nxt in zip(plans, plans[1:]):
            assert p.fill == (p.section != nxt.section)
        degrees = {_chord_degree(bar, plans[bar // 8], ctx) for bar in range(8, 24)}
        assert len(degrees) >= 3  # Techno no longer sits on one chord
    forms = {tuple(phrase_plan(p, style, ctl, EpochContext(tonic_pc=0, minor=True, seed=s, epoch=0)).section for p in range(8)) for s in range(12)}
    assert len(forms) > 1  # the seed picks the variation


def test_a_section_end_has_a_fill():
    style, _ = style_of_prompts((("Classic Rock", 1.0),))
    ctx = EpochContext(tonic_pc=0, minor=False, seed=1, epoch=0)
    ctl = _ctl(style, density=0.8)
    plans = [phrase_plan(p, style, ctl, ctx) for p in range(3)]
    last = max(i for i, p in enumerate(plans) if p.fill)
    bar = last * 8 + 7
    tail = {n[2] for n in compose_bar(bar, style, ctl, ctx) if n[1] == GROUP_DRUMS and n[0] >= 12}
    plain = {n[2] for n in compose_bar(bar - 1, style, ctl, ctx) if n[1] == GROUP_DRUMS and n[0] >= 12}
    assert tail - plain  # a tom or snare run that the bar before does not have


def test_four_minutes_are_not_a_four_bar_loop():
    bpm = 120
    audio, _ = render([("Techno", 1.0)], G(bpm=bpm, seed=1), 120)
    lag = int(4 * 4 * 60 / bpm * SR)
    mono = audio.mean(axis=1).astype(np.float64)
    rs = [np.corrcoef(mono[s : s + lag], mono[s + lag : s + 2 * lag])[0, 1] for s in range(0, mono.size - 2 * lag + 1, lag)]
    assert np.mean(rs) < 0.8, rs


@pytest.mark.parametrize("name, lead", [("Violin", "violin"), ("Cello", "cello"), ("Flute", "flute"), ("Harp", "harp"), ("Harpsichord", "harpsichord"), ("Choir", "choir")])
def test_a_named_instrument_leads_over_sparse_accompaniment(name, lead):
    style, _ = style_of_prompts(((name, 1.0),))
    ctx = EpochContext(tonic_pc=0, minor=False, seed=3, epoch=0)
    notes = [n for bar in range(8, 16) for n in compose_bar(bar, style, _ctl(style), ctx)]
    own = sum(n[5] for n in notes if n[2] == lead)
    assert own > 0.5 * sum(n[5] for n in notes if n[1] == GROUP_OTHER)
    assert sum(n[5] for n in notes if n[1] == GROUP_DRUMS) < 0.2 * own


def test_a_harp_arpeggiates_over_two_octaves_and_lets_notes_ring():
    """The harp's accompaniment is a harpist's: up and back over two octaves, each note left
    ringing to the end of the bar, not a guitarist's broken chord cut off at the next note."""
    style, _ = style_of_prompts((("Harp", 1.0),))
    ctx = EpochContext(tonic_pc=0, minor=False, seed=3, epoch=0)
    plan = phrase_plan(1, style, _ctl(style), ctx)
    assert plan.comp == "harp" and plan.layers.harm[0][0] == "harp"
    comp = _comp(9, [0, 2, 4], plan, _ctl(style), ctx)
    pitches = [n[3] for n in comp]
    assert max(pitches) - min(pitches) >= 24, pitches
    assert all(abs(n[0] + n[4] - 16.0) < 1e-6 for n in comp), comp
    top = pitches.index(max(pitches))
    assert pitches[: top + 1] == sorted(pitches[: top + 1]) and 0 < top < len(pitches) - 1, pitches


def test_every_entry_names_its_role():
    assert analyse_prompt("Violin").roles == (("Violin", "featured lead"),)
    assert analyse_prompt("Heavy Metal").roles[0][1].startswith("genre")
    assert analyse_prompt("Dark").roles[0][1].startswith("mood")
    assert analyse_prompt("Drums").roles == (("Drums", "featured drums"),)
