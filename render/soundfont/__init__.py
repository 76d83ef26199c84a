"""SoundFont 2/3 sample player: load and check a bank, look up presets, render single notes.
May import: numpy, scipy, soundfile, render.errors and render.audio; nothing else from render.
Nothing here touches the network; the bank is one local file, memory-mapped.
"""

from __future__ import annotations

from .bank import DRUM_BANK, BankIdentity, SoundFontBank, bank_identity, load_bank, nearest_program
from .cache import NoteCache
from .errors import SoundFontError
from .player import render_note
from .zones import Preset

__all__ = [
    "DRUM_BANK", "BankIdentity", "NoteCache", "Preset", "SoundFontBank", "SoundFontError",
    "bank_identity", "load_bank", "nearest_program", "render_note",
]
