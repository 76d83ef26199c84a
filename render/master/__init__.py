"""Mastering: stitch spooled segments (seam crossfades, trims, fades, loops), meter, limit, set loudness.

May import: render.errors, render.audio. It streams into sinks it is given and writes no file.
"""

from .finish import BLOCK_FRAMES, MARGIN_DB, MasterReport, Sink, master_piece
from .stitch import MasterSettings, PieceSource, Seam, StitchPlan, plan_stitch

__all__ = ["master_piece", "MasterReport", "Sink", "MasterSettings", "PieceSource", "Seam", "StitchPlan",
           "plan_stitch", "BLOCK_FRAMES", "MARGIN_DB"]
