"""Shared pitch helpers: scale steps to MIDI, chord tones, octave folding, and the mix groups."""

from __future__ import annotations

from .patterns import MAJOR_STEPS

__all__ = ["GROUP_DRUMS", "GROUP_BASS", "GROUP_OTHER", "scale_midi", "chord_tones", "fold", "scale_below"]

#: Mix groups, kept apart so mute_bass, mute_drums and only_bass_and_drums are exact.
GROUP_DRUMS, GROUP_BASS, GROUP_OTHER = 0, 1, 2


def scale_midi(tonic_pc: int, index: int) -> int:
    """MIDI pitch of scale step ``index`` (0 = the major tonic in octave -1)."""
    return tonic_pc + 12 * (index // 7) + MAJOR_STEPS[index % 7]


def fold(midi: int, low: int, high: int) -> int:
    while midi < low:
        midi += 12
    while midi > high:
        midi -= 12
    return midi


def chord_tones(degree: int, ext: int) -> list[int]:
    """Scale indices of the chord on ``degree``: triad, + 7th, + 9th."""
    tones = [degree, degree + 2, degree + 4]
    if ext >= 1:
        tones.append(degree + 6)
    if ext >= 2:
        tones.append(degree + 8)
    return tones


def scale_below(midi: int, tonic_pc: int, steps: int) -> int:
    """The pitch ``steps`` scale steps below ``midi`` (which is in the scale)."""
    pcs = {(tonic_pc + s) % 12 for s in MAJOR_STEPS}
    while steps > 0:
        midi -= 1
        if midi % 12 in pcs:
            steps -= 1
    return midi
