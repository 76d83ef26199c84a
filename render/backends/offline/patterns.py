"""Musical material (data only): scales, progressions, drum grooves, kits, bass and comping cells.

Patterns are 16-step strings (one bar of 16th notes). A character gives the velocity:
``x`` = 1.0, ``o`` = 0.55, a digit ``d`` = d/10, ``.`` = rest. Lower-case ``g`` marks a
*ghost* (0.3), only played at higher densities.
"""

from __future__ import annotations

__all__ = ["MAJOR_STEPS", "SCALE_TONIC", "PROGRESSIONS", "GROOVES", "KITS", "MACHINE_KITS", "BASSLINES", "COMPS", "vel_of"]

MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)

#: Lyria scale name -> pitch class of its major tonic (the relative minor shares the set).
SCALE_TONIC: dict[str, int] = {
    "C_MAJOR_A_MINOR": 0,
    "D_FLAT_MAJOR_B_FLAT_MINOR": 1,
    "D_MAJOR_B_MINOR": 2,
    "E_FLAT_MAJOR_C_MINOR": 3,
    "E_MAJOR_D_FLAT_MINOR": 4,
    "F_MAJOR_D_MINOR": 5,
    "G_FLAT_MAJOR_E_FLAT_MINOR": 6,
    "G_MAJOR_E_MINOR": 7,
    "A_FLAT_MAJOR_F_MINOR": 8,
    "A_MAJOR_G_FLAT_MINOR": 9,
    "B_FLAT_MAJOR_G_MINOR": 10,
    "B_MAJOR_A_FLAT_MINOR": 11,
}

#: name -> (major-centred degrees, minor-centred degrees); degrees of the major scale, one chord per bar.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "pop": ((0, 4, 5, 3), (5, 3, 0, 4)),
    "minor_pop": ((0, 5, 3, 4), (5, 3, 0, 4)),
    "epic": ((3, 4, 5, 5), (5, 1, 3, 4)),
    "blues": ((0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4), (5, 5, 5, 5, 1, 1, 5, 5, 2, 1, 5, 2)),
    "jazz": ((1, 4, 0, 0), (6, 2, 5, 5)),
    "baroque": ((0, 3, 6, 2, 5, 1, 4, 0), (5, 1, 4, 0, 3, 6, 2, 5)),
    "modal": ((0, 3, 0, 4), (5, 4, 5, 4)),
    "reggae": ((0, 3, 0, 4), (5, 1, 5, 1)),
    "andalusian": ((5, 4, 3, 2), (5, 4, 3, 2)),
    "celtic": ((0, 4, 3, 0), (5, 4, 5, 3)),
    "gospel": ((3, 0, 1, 4), (3, 4, 5, 5)),
    "house": ((5, 3, 4, 4), (5, 5, 3, 4)),
    "static": ((0, 0, 0, 0, 3, 3, 4, 4), (5, 5, 5, 5, 3, 3, 4, 4)),
}

#: groove -> role -> pattern. Roles: kick, snare, hat, ohat, perc, perc2, ride, china (a kit without one plays its crash).
GROOVES: dict[str, dict[str, str]] = {
    "backbeat": {"kick": "x.......x.o.....", "snare": "....x.......x..g", "hat": "x.o.x.o.x.o.x.o.", "ohat": "..............o."},
    "four": {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "g.x.g.x.g.x.g.x.", "ohat": "..o...o...o...o."},
    "disco": {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "xoxoxoxoxoxoxoxo", "ohat": "..x...x...x...x."},
    "half": {"kick": "x.........o.....", "snare": "........x.......", "hat": "x.o.x.o.x.o.x.o.", "perc": "......g.......g."},
    "trap": {"kick": "x......o..x.....", "snare": "........x.......", "hat": "xoxoxoxoxoxoxxxx", "perc": "...............g"},
    "boombap": {"kick": "x.....o...x.....", "snare": "....x.......x...", "hat": "x.o.x.o.x.o.x.o.", "perc": ".......g......g."},
    "break": {"kick": "x.x.......xo....", "snare": "....x..g.g..x..g", "hat": "x.x.x.x.x.x.x.x.", "ride": "x...x...x...x..."},
    "dnb": {"kick": "x.........x.....", "snare": "....x.......x...", "hat": "x.o.x.oox.o.x.oo", "perc": ".g.....g.g.....g"},
    "reggae": {"kick": "........x.......", "snare": "........x.......", "hat": "..x...x...x...x.", "perc": "g.......g......."},
    "ska": {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "..x...x...x...x."},
    "latin": {"kick": "x......o........", "perc": "x..x...x..x.x...", "perc2": "......xo......xx", "hat": "x.o.x.o.x.o.x.o."},
    "bossa": {"kick": "x..o....x..o....", "perc": "x..x..x...x..x..", "hat": "x.o.x.o.x.o.x.o."},
    "swing": {"ride": "x...x.ox...x.ox.", "hat": "....x.......x...", "kick": "x...g...x...g...", "snare": "......g.......g."},
    "shuffle": {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "x.ox.ox.x.ox.ox."},
    "march": {"kick": "x.......x.......", "snare": "x.ox.ox.x.ox.oxo", "ride": "....x.......x..."},
    "train": {"kick": "x.......x.......", "snare": "gggoxgggggggxggo", "hat": "....x.......x..."},
    "polka": {"kick": "x...x...x...x...", "snare": "..x...x...x...x.", "hat": "..g...g...g...g."},
    "dembow": {"kick": "x...x...x...x...", "snare": "...x..x....x..x.", "hat": "x.o.x.o.x.o.x.o."},
    "afro": {"kick": "x.....o...x..o..", "snare": "....x.......x...", "perc": "x.xx.x.xx.x.x.xx", "hat": "x.oox.oox.oox.oo"},
    "funk": {"kick": "x.x.......x..o..", "snare": "....x..g.g..x..g", "hat": "xoxoxoxoxoxoxoxo"},
    "metal": {"kick": "xxxxxxxxxxxxxxxx", "snare": "....x.......x...", "ride": "x...x...x...x...", "hat": "x.x.x.x.x.x.x.x.", "china": "x.......x......."},
    "ballad": {"kick": "x.......o.......", "snare": "........x.......", "hat": "x...o...x...o..."},
    "none": {},
}

#: kit -> role -> drum sound (see :mod:`.drums`).
KITS: dict[str, dict[str, str]] = {
    "acoustic": {"kick": "kick", "snare": "snare", "hat": "hat", "ohat": "ohat", "perc": "rim", "perc2": "tom", "ride": "ride", "crash": "crash", "tom_hi": "tom_hi", "tom_lo": "tom_lo"},
    "rock": {"kick": "kick_rock", "snare": "snare_rock", "hat": "hat", "ohat": "ohat", "perc": "tom", "perc2": "tom", "ride": "ride", "crash": "crash", "china": "china", "tom_hi": "tom_hi", "tom_lo": "tom_lo"},
    "jazz": {"kick": "kick", "snare": "brush", "hat": "hat", "ohat": "ohat", "perc": "rim", "perc2": "brush", "ride": "ride", "crash": "crash"},
    "brush": {"kick": "kick", "snare": "brush", "hat": "shaker", "ohat": "ohat", "perc": "rim", "perc2": "brush", "ride": "ride", "crash": "crash"},
    "808": {"kick": "kick_808", "snare": "snare_808", "hat": "hat_808", "ohat": "ohat_909", "perc": "clap", "perc2": "cowbell", "ride": "hat_808", "crash": "crash_909"},
    "909": {"kick": "kick_909", "snare": "clap", "hat": "hat_909", "ohat": "ohat_909", "perc": "snare_909", "perc2": "rim", "ride": "ride_909", "crash": "crash_909"},
    "electronic": {"kick": "kick_909", "snare": "snare_909", "hat": "hat_808", "ohat": "ohat_909", "perc": "clap", "perc2": "rim", "ride": "hat_909", "crash": "crash_909"},
    "hand": {"kick": "conga_lo", "snare": "djembe_slap", "hat": "shaker", "ohat": "bongo", "perc": "conga", "perc2": "bongo", "ride": "cowbell", "crash": "djembe"},
    "tabla": {"kick": "tabla_ge", "snare": "tabla_na", "hat": "tabla_ti", "ohat": "tabla_na", "perc": "tabla_ti", "perc2": "tabla_ge", "ride": "tabla_ti", "crash": "tabla_na"},
    "march": {"kick": "bass_drum", "snare": "snare_march", "hat": "snare_march", "ohat": "crash", "perc": "snare_march", "perc2": "bass_drum", "ride": "crash", "crash": "crash"},
    "orchestral": {"kick": "timpani", "snare": "snare_march", "hat": "shaker", "ohat": "crash", "perc": "timpani", "perc2": "bass_drum", "ride": "crash", "crash": "crash"},
    "lofi": {"kick": "kick_lofi", "snare": "snare_lofi", "hat": "hat_lofi", "ohat": "hat_lofi", "perc": "rim", "perc2": "shaker", "ride": "hat_lofi", "crash": "crash_909"},
    "chip": {"kick": "kick_chip", "snare": "snare_chip", "hat": "hat_chip", "ohat": "hat_chip", "perc": "snare_chip", "perc2": "hat_chip", "ride": "hat_chip", "crash": "snare_chip"},
    "none": {},
}

#: The kits that are drum machines (an electronic palette), not a drummer.
MACHINE_KITS = frozenset({"808", "909", "electronic", "lofi", "chip"})

#: bassline -> (16-step rhythm, chord-tone choice per hit: r=root, f=fifth, o=octave, t=third, s=scale step up, n=approach next root)
BASSLINES: dict[str, tuple[str, str]] = {
    "roots": ("x.......o.......", "rf"),
    "eighths": ("x.o.x.o.x.o.x.o.", "rrrrrrrr"),
    "octave": ("x.x.x.x.x.x.x.x.", "rorororo"),
    "funk": ("x..o..x.o.x..o.o", "rrofrtrn"),
    "reggae": ("..x.o..o..x.o...", "rrfrtf"),
    "sub": ("x.........x.....", "rf"),
    "walking": ("x...x...x...x...", "rstn"),
    "acid": ("xoxxoxoxxoxoxxox", "rrorrtrrforrtro"),
    "oompah": ("x.......x.......", "rf"),
    "tumbao": ("...x..x....x..x.", "frrf"),
    "drone": ("x...............", "r"),
    "syncop": ("x..x..x...x..x..", "rroror"),
    "offbeat": ("..x...x...x...x.", "rror"),
    "rolling": (".xxx.xxx.xxx.xxx", "rrrrrrrrrrrr"),
    "wobble": ("x.......x.......", "rr"),
}

#: comp -> (16-step rhythm, how: chord = all tones at once, arp = one tone per hit, strum = staggered)
COMPS: dict[str, tuple[str, str]] = {
    "sustain": ("x...............", "chord"),
    "stabs": ("x.....o...o.....", "chord"),
    "skank": ("..x...x...x...x.", "chord"),
    "arp": ("xoxoxoxoxoxoxoxo", "arp"),
    "harp": ("xoxoxoxoxoxoxoxo", "harp"),
    "strum": ("x...o.o...x.o.o.", "strum"),
    "ballad": ("x...o...o...o...", "arp"),
    "alberti": ("xooooooooooooooo", "alberti"),
    "power": ("x.o.x.o.x.o.x.o.", "power"),
    "chug": ("xooox.o.xooox.o.", "power"),
    "none": ("................", "chord"),
}


def vel_of(ch: str) -> float:
    """Velocity of one pattern character (0 for a rest; ghosts are 0.3)."""
    if ch == "x":
        return 1.0
    if ch == "o":
        return 0.55
    if ch == "g":
        return 0.3
    if ch.isdigit():
        return int(ch) / 10.0
    return 0.0
