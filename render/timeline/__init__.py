"""Timelines: the file format (pydantic model), time syntax, loading with file:line:col errors, resolving.

May import: render.errors, render.audio, render.files, render.controls.
"""

from .loader import TIMELINE_SUFFIXES, LoadedTimeline, load_timeline, parse_timeline, timeline_from_data
from .model import Timeline

__all__ = ["Timeline", "LoadedTimeline", "load_timeline", "parse_timeline", "timeline_from_data",
           "TIMELINE_SUFFIXES"]
