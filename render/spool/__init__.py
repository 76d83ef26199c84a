"""The crash-safe on-disk spool: each session's PCM chunks and an index, resumable to the exact frame.

May import: render.errors, render.audio, render.files, render.controls, render.backends.base.
"""

from .format import SpoolMeta, schedule_digest, span_from_dict, span_to_dict
from .store import Spool

__all__ = ["Spool", "SpoolMeta", "schedule_digest", "span_from_dict", "span_to_dict"]
