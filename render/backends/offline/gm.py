"""The engine's instruments and drum sounds on General MIDI (data only).

``PROGRAMS`` maps each pitched instrument to a GM program (0-127) or None where GM has
no good match and the engine's own voice plays. ``DRUMS`` maps each drum sound to
``(kit program, GM drum key)`` (kit 0 = Standard, 25 = TR-808 in GS banks) or None.
Sounds GM plays badly keep the engine's voice. Measured with the tagger of
bench/soundfont.py on FluidR3_GM: GM's synth bass and harpsichord read as guitars, its pads
as "slow", its saw leads and Electronic (909) kit turned pop and EDM into techno, and its
distortion guitar, unlike the engine's amp-modelled one, read as techno, not rock or metal.
Its banjo read as piano (country 0.06 against 0.18), its jazz guitar is no slide guitar, its
charang lead is no synth pluck, its choir "aah" made pop vocals choral, and its cello in
the tenor register read as a violin (violin 0.65-0.74) and took the violin and classical
renders' tags; the steel-string guitar read as a harpsichord where the nylon one does not.
Each of these changes raised the hit rate on held-out prompts and seeds with both FluidR3_GM
and MuseScore General (see docs/soundfont.md).
"""

from __future__ import annotations

from .instruments import TAPE

__all__ = ["PROGRAMS", "DRUMS", "program_for", "drum_for"]

PROGRAMS: dict[str, int | None] = {
    "guitar": 24, "nylon": 24, "eguitar": 27, "dist_guitar": None, "slide_guitar": None,
    "sitar": 104, "tanpura": None, "banjo": None, "mandolin": 25, "harp": 46, "koto": 107,
    "shamisen": 106, "dulcimer": 15, "harpsichord": None, "clavichord": 7, "synth_pluck": None,
    "piano": 0, "rhodes": 4, "organ": 16, "accordion": 21, "harmonica": 22,
    "marimba": 12, "vibraphone": 11, "glockenspiel": 9, "kalimba": 108, "steel_drum": 114,
    "hang": None, "bell": 14,
    "flute": 73, "ocarina": 79, "woodwinds": 71, "clarinet": 71, "bass_clarinet": 71,
    "sax": 65, "trumpet": 56, "brass": 61, "tuba": 58, "bagpipe": 109,
    "strings": 48, "violin": 40, "fiddle": 110, "cello": None, "choir": 52, "vocal_aa": None,
    "vocal_oo": 53, "mellotron": 49,
    "synth_lead": None, "supersaw": None, "chip_lead": 80, "moog": None, "acid": None,
    "synth_pad": None, "phaser_pad": None, "warm_pad": 89, "drone_synth": 95,
    "bagpipe_drone": 109, "didgeridoo": None,
    "bass_e": 33, "bass_pick": 34, "bass_upright": 32, "bass_synth": None, "moog_bass": 39,
    "wobble_bass": 39, "bass_808": None, "chip_bass": None,
}

_STD, _808 = 0, 25
DRUMS: dict[str, tuple[int, int] | None] = {
    "kick": (_STD, 36), "kick_rock": (_STD, 36), "kick_808": (_808, 36), "kick_909": None,
    "kick_lofi": None, "kick_chip": None, "bass_drum": (_STD, 35), "timpani": None,
    "snare": (_STD, 38), "snare_rock": (_STD, 40), "snare_808": (_808, 38), "snare_909": None,
    "snare_march": (_STD, 38), "snare_lofi": None, "snare_chip": None, "brush": None,
    "rim": (_STD, 37), "clap": (_STD, 39), "hat": (_STD, 42), "hat_808": (_808, 42),
    "hat_lofi": None, "hat_chip": None, "ohat": (_STD, 46), "ride": (_STD, 51),
    "crash": (_STD, 49), "shaker": (_STD, 70), "tom": (_STD, 45), "conga": (_STD, 63),
    "conga_lo": (_STD, 64), "bongo": (_STD, 60), "djembe": (_STD, 64), "djembe_slap": (_STD, 62),
    "tabla_na": None, "tabla_ti": None, "tabla_ge": None, "cowbell": (_STD, 56),
    "clave": (_STD, 75), "glitch": None,
    "hat_909": None, "ohat_909": None, "ride_909": None, "crash_909": None,
    "china": (_STD, 52), "tom_hi": (_STD, 50), "tom_lo": (_STD, 41),
}

def program_for(name: str) -> int | None:
    """GM program of a pitched instrument (``~tape`` variants as their base), or None."""
    return PROGRAMS.get(name[: -len(TAPE)] if name.endswith(TAPE) else name)


def drum_for(name: str) -> tuple[int, int] | None:
    """``(kit program, GM key)`` of a drum sound, or None (the engine's own hit plays)."""
    return DRUMS.get(name)
