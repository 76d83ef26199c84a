"""Composition: one bar of notes from a style, the controls and the bar's place in a phrase.

Everything is a pure function of (seed, epoch, bar index, style, controls), so any bar can
be composed on its own, in any order, with the same result: that is what makes the
engine deterministic and independent of the chunk size. Pitched voices use only the
scale's pitch classes (chords are stacked diatonic thirds, melodies move along the
scale), drums come from the style's groove and kit.

Phrases are 8 bars (motif, varied motif, motif, answer) and sections cycle A A B A
(QUALITY) or change every phrase (DIVERSITY); density adds voices and hits, brightness
lifts registers and timbres, low guidance and high temperature add variation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .arrange import PhrasePlan, phrase_plan
from .beat import drum_bar, keeps_beat
from .harmony import GROUP_BASS, GROUP_OTHER, chord_tones, fold, scale_midi
from .melody import lead_bar, lead_centre
from .patterns import BASSLINES, COMPS, MAJOR_STEPS, PROGRESSIONS, vel_of
from .style import StyleVector, stable_hash

__all__ = ["Controls", "EpochContext", "Note", "compose_bar", "STEPS_PER_BAR"]

STEPS_PER_BAR = 16
PHRASE_BARS = 8

#: (step in bar, group, instrument, midi, duration in steps or None for natural, velocity, pan -1..1)
Note = tuple[float, int, str, int, "float | None", float, float]


@dataclass(frozen=True, kw_only=True)
class Controls:
    """The config fields composition needs, with "model decides" already resolved."""

    density: float
    brightness: float
    guidance: float
    temperature: float
    top_k: int
    mode: str
    mute_drums: bool = False
    mute_bass: bool = False
    only_bass_and_drums: bool = False
    bpm: float = 120.0


@dataclass(frozen=True, kw_only=True)
class EpochContext:
    """What a context reset fixes: tonic of the scale, tonal centre, seed, epoch."""

    tonic_pc: int
    minor: bool
    seed: int
    epoch: int


def _rng(*parts: object) -> random.Random:
    return random.Random(stable_hash(*parts))




def _chord_degree(bar: int, plan: PhrasePlan, ctx: EpochContext) -> int:
    major, minor = PROGRESSIONS[plan.prog]
    prog = minor if ctx.minor else major
    i = (bar + plan.prog_shift) % len(prog)
    degree = prog[i]
    if len(prog) == 4 and (bar // 4) % 2 == 1:  # every other 4-bar line moves on
        if i == 2:
            degree = (degree + 5) % 7  # a third below: shares two tones
        elif i == 3:
            degree = 4 if degree != 4 else 3  # a half cadence
    return degree




def _voicing(tonic_pc: int, tones: list[int], centre: int) -> list[int]:
    """Chord tones placed within a fifth of ``centre`` (smooth voice leading)."""
    out = []
    for index in tones:
        pc = scale_midi(tonic_pc, index) % 12
        midi = centre - 6 + ((pc - (centre - 6)) % 12)
        out.append(midi)
    return sorted(set(out))


def compose_bar(bar: int, style: StyleVector, ctl: Controls, ctx: EpochContext) -> list[Note]:
    """All notes of bar ``bar`` (counted from the context's start).

    Args:
        bar: bar index since the last reset (0 = first bar of a fresh phrase).
        style: the blended style in force for this bar.
        ctl: resolved controls.
        ctx: the epoch's scale and seed.

    Returns:
        Notes sorted by step.
    """
    plan = phrase_plan(bar // PHRASE_BARS, style, ctl, ctx)
    pos = bar % PHRASE_BARS
    degree = _chord_degree(bar, plan, ctx)
    nxt = _chord_degree(bar + 1, plan, ctx)
    notes: list[Note] = []
    if not ctl.mute_drums:
        notes += drum_bar(bar, pos, plan, ctl, ctx)
    if not ctl.mute_bass and not (plan.breakdown and pos < 4):
        notes += [n for n in _bass(bar, degree, nxt, plan, ctl, ctx) if keeps_beat(n[0], ctl.bpm)]
    if not ctl.only_bass_and_drums:
        tones = chord_tones(degree, plan.ext)
        acc = 1.0 - 0.5 * plan.solo  # accompaniment steps back behind a featured instrument
        accomp = _comp(bar, tones, plan, ctl, ctx) + _pad(bar, pos, tones, plan, ctx) + _arp(bar, tones, plan, ctl, ctx) + _drone(bar, pos, plan, ctx)
        notes += [n[:5] + (n[5] * acc,) + n[6:] for n in accomp if keeps_beat(n[0], ctl.bpm)]
        lead_gain = 1.0 + 0.35 * plan.solo
        notes += [n[:5] + (n[5] * lead_gain * (1.0 if keeps_beat(n[0], ctl.bpm) else 0.6),) + n[6:] for n in _lead(bar, pos, degree, plan, ctl, ctx)]
        notes += _texture(bar, plan, ctl, ctx)
        if ctl.mode == "VOCALIZATION":
            notes += _vocal(bar, pos, tones, plan, ctx)
    if plan.swing > 0.05:
        notes = [_swung(n, plan.swing) for n in notes]
    notes.sort(key=lambda n: n[0])
    return notes


def _swung(note: Note, swing: float) -> Note:
    """Delay off-beat 8ths (swing > 0.3) or off-beat 16ths by the swing amount."""
    step = note[0]
    if step != int(step):
        return note
    pos = int(step) % 4
    if swing > 0.3 and pos == 2:
        shift = swing * 0.67
    elif pos in (1, 3):
        shift = swing * (0.67 if swing > 0.3 else 0.33)
    else:
        return note
    return (step + shift,) + note[1:]


def _bass(bar: int, degree: int, nxt: int, plan: PhrasePlan, ctl: Controls, ctx: EpochContext) -> list[Note]:
    if not plan.layers.bass:
        return []
    rhythm, figure = BASSLINES[plan.bassline]
    hits = [i for i, ch in enumerate(rhythm) if vel_of(ch) > 0 and not (ch == "o" and ctl.density < 0.25)]
    if not hits:
        return []
    notes: list[Note] = []
    for k, step in enumerate(hits):
        code = figure[(k + (bar % 4 == 3 and k >= len(hits) // 2)) % len(figure)]  # the 4th bar turns around
        s = {"r": 0, "f": 4, "o": 7, "t": 2, "s": 1, "n": None}[code]
        if s is None:
            target = scale_midi(ctx.tonic_pc, nxt) % 12
            midi = fold(36 + ((target - 36) % 12) - 1, 28, 52)
            midi = _nearest_in_scale(midi, ctx.tonic_pc)
        else:
            midi = fold(scale_midi(ctx.tonic_pc, degree + s) % 12 + 36 + (12 if code == "o" else 0), 28, 60 if code == "o" else 52)
            if code != "o":
                midi = fold(midi, 31, 50)
        end = hits[k + 1] if k + 1 < len(hits) else 16
        dur = max(1.0, (end - step) * (0.9 if plan.legato > 0.5 else 0.7))
        vel = vel_of(rhythm[step]) * (0.8 + 0.3 * plan.energy) * (1.0 - 0.45 * plan.solo)
        for inst, gain in plan.layers.bass:
            notes.append((float(step), GROUP_BASS, inst, midi, dur, vel * gain, 0.0))
    return notes


def _nearest_in_scale(midi: int, tonic_pc: int) -> int:
    pcs = {(tonic_pc + s) % 12 for s in MAJOR_STEPS}
    for delta in (0, -1, 1, -2, 2):
        if (midi + delta) % 12 in pcs:
            return midi + delta
    return midi


def _comp(bar: int, tones: list[int], plan: PhrasePlan, ctl: Controls, ctx: EpochContext) -> list[Note]:
    if not plan.layers.harm:
        return []
    rhythm, how = COMPS[plan.comp]
    centre = 60 + (2 if ctl.brightness > 0.6 else 0) - (3 if ctl.brightness < 0.25 else 0)
    if plan.solo > 0.5 and plan.layers.lead and plan.layers.lead[0][0] != plan.layers.harm[0][0]:
        centre = 72 if lead_centre(plan.layers.lead[0][0], 0.0, 0.5) < 66 else 55  # out of the lead's band
    chord = _voicing(ctx.tonic_pc, tones, centre)
    root = fold(chord[0] - 12, 40, 55)
    hits = [(i, vel_of(ch)) for i, ch in enumerate(rhythm) if vel_of(ch) > 0]
    if ctl.density < 0.3:
        hits = [h for h in hits if h[1] >= 1.0] or hits[:1]
    if hits and hits[0][0] != 0 and not keeps_beat(hits[0][0], ctl.bpm):
        hits.insert(0, (0, 0.8))  # slow or fast tempos: the chord marks beat 1
    notes: list[Note] = []
    for k, (step, vel) in enumerate(hits):
        end = hits[k + 1][0] if k + 1 < len(hits) else 16
        dur = max(0.5, (end - step) * (0.95 if how in ("chord",) and plan.comp == "sustain" else 0.6))
        if how == "chord":
            pitches = [(p, 0.0) for p in chord]
        elif how == "strum":  # a guitarist's strum: ~10 ms a string, up-strokes off the beat
            strings = [root] + chord if step % 4 == 0 else (chord[::-1])
            pitches = [(p, 0.075 * j) for j, p in enumerate(strings)]
        elif how == "power":
            pitches = [(root, 0.0), (root + 7, 0.0)] if (root + 7) % 12 in {scale_midi(ctx.tonic_pc, t) % 12 for t in range(7)} else [(root, 0.0), (root + 12, 0.0)]
        elif how == "alberti":
            order = [chord[0], chord[-1], chord[len(chord) // 2], chord[-1]]
            pitches = [(order[k % 4], 0.0)]
        elif how == "harp":  # a harpist's arpeggio: up over two octaves and back, every note left ringing
            span = [root] + [p + o for o in (0, 12) for p in chord] + [chord[0] + 24]
            seq = span + span[-2:0:-1]
            pitches = [(seq[k % len(seq)], 0.0)]
            dur = 16.0 - step
        else:  # arp
            seq = [root] + chord + [chord[0] + 12]
            pitches = [(seq[k % len(seq)], 0.0)]
        sides = _DOUBLE_TRACKED if how == "power" else ((0.0, 1.0, -0.35),)
        for inst, gain in plan.layers.harm:
            for midi, delay in pitches:
                for lag, level, pan in sides:
                    notes.append((step + delay + lag, GROUP_OTHER, inst, midi, dur, vel * gain * 0.8 * level, pan))
    return notes


#: Power chords are double-tracked like a rock record: two takes panned hard left and
#: right, the second a few milliseconds late, for a wide wall of guitars.
_DOUBLE_TRACKED = ((0.0, 0.75, -0.8), (0.09, 0.75, 0.8))


def _pad(bar: int, pos: int, tones: list[int], plan: PhrasePlan, ctx: EpochContext) -> list[Note]:
    if not plan.layers.pad:
        return []
    chord = _voicing(ctx.tonic_pc, tones[:4], 64)
    notes: list[Note] = []
    for inst, gain in plan.layers.pad:
        for j, midi in enumerate(chord):
            notes.append((0.0, GROUP_OTHER, inst, midi, 16.0, 0.7 * gain, -0.5 + j * 0.33))
    return notes


def _lead(bar: int, pos: int, degree: int, plan: PhrasePlan, ctl: Controls, ctx: EpochContext) -> list[Note]:
    if not plan.layers.lead or not plan.lead_on[pos]:
        return []

    return lead_bar(bar, pos, degree, plan, ctl, ctx)


def _arp(bar: int, tones: list[int], plan: PhrasePlan, ctl: Controls, ctx: EpochContext) -> list[Note]:
    if not plan.layers.arp:
        return []
    chord = _voicing(ctx.tonic_pc, tones, 72 if ctl.brightness > 0.4 else 66)
    seq = chord + [p + 12 for p in chord]
    step_len = 1 if ctl.density > 0.8 else 2
    notes: list[Note] = []
    rng = _rng(ctx.seed, ctx.epoch, "arp", bar // 2)
    up = rng.random() < 0.5
    for k, step in enumerate(range(0, 16, step_len)):
        idx = k % len(seq) if up else (len(seq) - 1 - k % len(seq))
        for inst, gain in plan.layers.arp:
            notes.append((float(step), GROUP_OTHER, inst, seq[idx], step_len * 0.9, (0.75 if step % 4 == 0 else 0.5) * gain, 0.45))
    return notes


def _drone(bar: int, pos: int, plan: PhrasePlan, ctx: EpochContext) -> list[Note]:
    if not plan.layers.drone:
        return []
    root_index = 5 if ctx.minor else 0
    low = fold(scale_midi(ctx.tonic_pc, root_index) + 36, 36, 47)
    notes: list[Note] = []
    for inst, gain in plan.layers.drone:
        notes.append((0.0, GROUP_OTHER, inst, low, 16.5, 0.8 * gain, 0.0))
        if inst != "didgeridoo":
            notes.append((0.0, GROUP_OTHER, inst, fold(scale_midi(ctx.tonic_pc, root_index + 4) + 36, 43, 55), 16.5, 0.5 * gain, 0.1))
    return notes


def _texture(bar: int, plan: PhrasePlan, ctl: Controls, ctx: EpochContext) -> list[Note]:
    notes: list[Note] = []
    rng = _rng(ctx.seed, ctx.epoch, "texture", bar)
    if plan.glitch > 0.2:
        for _ in range(int(plan.glitch * 4 * (0.5 + ctl.density))):
            start = rng.randrange(16)
            sound = rng.choice(("glitch", "hat_chip", "rim", "snare_chip"))
            for r in range(rng.choice((2, 3, 4))):
                notes.append((start + r * 0.25, GROUP_OTHER, sound, 0, None, 0.35 * plan.glitch, rng.uniform(-0.8, 0.8)))
    if plan.noise > 0.2:
        for _ in range(int(plan.noise * 12)):
            notes.append((rng.uniform(0, 16), GROUP_OTHER, "rim", 0, None, 0.04 * plan.noise, rng.uniform(-0.6, 0.6)))
    return notes


def _vocal(bar: int, pos: int, tones: list[int], plan: PhrasePlan, ctx: EpochContext) -> list[Note]:
    chord = _voicing(ctx.tonic_pc, tones[:3], 67)
    rng = _rng(ctx.seed, ctx.epoch, "vocal", bar)
    vowel = "vocal_aa" if (bar // 2) % 2 == 0 else "vocal_oo"
    if pos % 4 == 3:
        return [(0.0, GROUP_OTHER, vowel, chord[-1], 14.0, 0.8, -0.1)]
    first, second = rng.sample(chord, 2)
    return [(0.0, GROUP_OTHER, vowel, first, 7.5, 0.8, -0.1), (8.0, GROUP_OTHER, vowel, second, 7.5, 0.75, -0.1)]
