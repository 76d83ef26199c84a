"""The conductor plays a schedule against generator sessions, timed by the audio received, into a spool.

May import: render.errors, render.audio, render.controls, render.schedule, render.backends, render.spool.
"""

from .conductor import Conductor
from .events import (
                     AudioProgress,
                     ConductResult,
                     EventEffective,
                     Filtered,
                     Finished,
                     ProgressEvent,
                     Reconnecting,
                     Rotated,
                     ServerWarned,
                     SessionStarted,
)
from .options import ConductorOptions

__all__ = ["Conductor", "ConductorOptions", "ConductResult", "ProgressEvent", "SessionStarted", "AudioProgress",
           "EventEffective", "Rotated", "Reconnecting", "Filtered", "ServerWarned", "Finished"]
