"""Export: encoders (WAV, MP3, FLAC, OGG, Opus), tags and atomic publishing of finished files; reading them back.

May import: render.errors, render.audio, render.files, render.master.
"""

from .finish import FinishReport, finish
from .read import read_audio
from .tags import Cue, Loop, TagSet
from .writers import FORMATS, ExportSettings, Writer, open_writers

__all__ = ["finish", "FinishReport", "ExportSettings", "TagSet", "Loop", "Cue", "Writer", "open_writers", "FORMATS", "read_audio"]
