"""Stems: one group's spooled audio stitched and gained exactly like the mix, without the limiter.

A stem uses the mix's settings (length, lead-in, loop, fades, seam crossfades) and the mix's
final gain, and removes its own DC offset (the mean is linear, so the stems' offsets add up
to the mix's). It is not limited: the stems sum to the mix *before limiting*, and a stem
that is louder than the mix's ceiling is written as it is (float WAV keeps it unclipped).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from render.audio import CHANNELS, SAMPLE_RATE, Segment

from .finish import Sink, _block_size, _gained_reader, _Resampler, _spans
from .stitch import MasterSettings, PieceSource, plan_stitch

__all__ = ["stem_piece"]


def _dc(source: PieceSource) -> np.ndarray:
    total = np.zeros(CHANNELS, np.float64)
    for a, b in _spans(source.frames, _block_size(1)):
        total += source.read(a, b).sum(axis=0, dtype=np.float64)
    return (total / max(source.frames, 1)).astype(np.float32)


def stem_piece(segments: Sequence[Segment], settings: MasterSettings, gain_db: float,
               open_sinks: Callable[[], Sequence[Sink]], *, output_rate: int = SAMPLE_RATE) -> tuple[int, list[Sink]]:
    """Stitch one stem's ``segments`` with the mix's ``settings`` and ``gain_db`` into fresh sinks.

    Returns the frames written and the closed sinks; on any error every sink is aborted.
    """
    settings.validate()
    source = PieceSource(plan_stitch(segments, settings), settings)
    if settings.remove_dc:
        source = source.with_dc(_dc(source))
    read = _gained_reader(source, np.float32(10 ** (gain_db / 20)))
    resampler = _Resampler(read, source.frames, SAMPLE_RATE, output_rate) if output_rate != SAMPLE_RATE else None
    sinks = list(open_sinks())
    written = 0
    try:
        for a, b in _spans(source.frames, _block_size(resampler.down if resampler else 1)):
            y = resampler.block(a, b) if resampler else read(a, b)
            for sink in sinks:
                sink.write(y)
            written += y.shape[0]
        for sink in sinks:
            sink.close()
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return written, sinks
