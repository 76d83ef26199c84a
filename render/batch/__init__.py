"""Batch: many jobs from folders, globs or a jobs file; skip current outputs, check, shard, run in parallel.

May import: render.pipeline and everything below it. Nothing below imports batch.
"""

from .render import render_batch
from .results import BatchEvent, BatchInterrupted, BatchOptions, BatchResult, JobReport

__all__ = ["render_batch", "BatchOptions", "BatchResult", "JobReport", "BatchEvent", "BatchInterrupted"]
