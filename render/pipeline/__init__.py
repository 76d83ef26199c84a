"""One render end to end: prepare a job (load, override, plan, pick the backend), run it, write its manifest.

May import every stage package below it: timeline, schedule, backends, spool, conductor, master, export.
"""

from .job import OutputFile, Prepared, RenderInterrupted, RenderOptions, RenderResult, prepare, spool_dir
from .render import render_prepared, render_timeline

__all__ = ["RenderOptions", "RenderResult", "OutputFile", "RenderInterrupted", "Prepared", "prepare",
           "render_timeline", "render_prepared", "spool_dir"]
