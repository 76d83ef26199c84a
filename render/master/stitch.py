"""Stitch spooled segments into the piece and master it, streaming in blocks.

The piece is never held whole: :class:`PieceSource` reads any frame range of the
finished-before-gain piece straight from the spool (``os.pread``), so the passes in
:func:`finish` walk it in ~5 s blocks:

1. measure: DC offset, BS.1770 loudness and true peak of the piece;
2. (only when the limiter will act) dry runs of gain + limiter that adjust the gain
   until the limited loudness is on target;
3. the final pass: gain, resample, limiter, meters and every encoder, block by block.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.signal import correlate

from render.audio import SAMPLE_RATE, Segment, crossfade_ramp
from render.errors import MasterError

__all__ = ["MasterSettings", "Seam", "StitchPlan", "PieceSource", "plan_stitch"]

_PCM_SCALE = np.float32(1 / 32768)
#: Above this correlation an aligned seam is crossfaded linearly (equal power would add +3 dB).
_CORRELATED = 0.7



@dataclass(frozen=True, kw_only=True)
class MasterSettings:
    """How to turn the stream into the piece (all lengths in 48 kHz stream frames).

    Args:
        duration_frames: exact length of the piece.
        lead_in_frames: stream frames discarded at the start (the model settling).
        fade_in_frames, fade_out_frames: raised-cosine fades; at least
            ``click_fade_frames`` is always applied at both ends (not for loops).
        target_lufs: integrated loudness to normalise to; ``None`` keeps the level.
        true_peak_dbtp: ceiling on an 8x true-peak meter (the limiter aims 0.3 dB under).
        loop_crossfade_frames: > 0 makes a seamless loop: the stream must hold this many
            frames after the piece, which are crossfaded into its head. Loops get no fades.
        loop_start_frames: where the loop starts (> 0: an intro plays once); the tail is
            crossfaded in there instead of at the head.
        seam_crossfade_frames: longest equal-power crossfade at a session seam (the
            overlap may be shorter); placed at the end of the overlap.
        seam_align_max_lag_frames: > 0 aligns each seam by cross-correlation within
            +-lag; strongly correlated (aligned) seams are crossfaded linearly.
        click_fade_frames: fade at every hard cut (ends, gaps between sessions).
        remove_dc: subtract the piece's mean per channel.
    """

    duration_frames: int
    lead_in_frames: int = 0
    fade_in_frames: int = 0
    fade_out_frames: int = 0
    target_lufs: float | None = -14.0
    true_peak_dbtp: float = -1.0
    loop_crossfade_frames: int = 0
    loop_start_frames: int = 0
    seam_crossfade_frames: int = 96_000
    seam_align_max_lag_frames: int = 0
    click_fade_frames: int = 96
    remove_dc: bool = True

    def validate(self) -> None:
        """Raise :class:`MasterError` for impossible settings."""
        checks = {
            "duration_frames": self.duration_frames > 0,
            "lead_in_frames": self.lead_in_frames >= 0,
            "fade_in_frames": 0 <= self.fade_in_frames <= self.duration_frames,
            "fade_out_frames": 0 <= self.fade_out_frames <= self.duration_frames,
            "loop_crossfade_frames": 0 <= self.loop_crossfade_frames <= self.duration_frames,
            "loop_start_frames": 0 <= self.loop_start_frames <= self.duration_frames - self.loop_crossfade_frames,
            "seam_crossfade_frames": self.seam_crossfade_frames >= 0,
            "seam_align_max_lag_frames": self.seam_align_max_lag_frames >= 0,
            "click_fade_frames": 0 <= self.click_fade_frames <= self.duration_frames // 2 + 1,
            "true_peak_dbtp": -30.0 <= self.true_peak_dbtp <= 0.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise MasterError(f"MasterSettings.{name}={getattr(self, name)!r} is out of range")


@dataclass(frozen=True, kw_only=True)
class Seam:
    """A join between two sessions, as recorded in the report."""

    stream_frame: int
    piece_frame: int
    crossfade_frames: int
    align_lag_frames: int
    labels: tuple[str, str]
    gap_frames: int = 0
    kind: str = "eqpower"  # "linear" when alignment found the two sides strongly correlated

    def as_dict(self) -> dict[str, object]:
        return {
            "stream_frame": self.stream_frame,
            "piece_frame": self.piece_frame,
            "crossfade_frames": self.crossfade_frames,
            "align_lag_frames": self.align_lag_frames,
            "labels": list(self.labels),
            "gap_frames": self.gap_frames,
            "crossfade_kind": self.kind,
        }


@dataclass(frozen=True, kw_only=True)
class _Use:
    """Where one segment is used in the stream: [t0, t1) with fades at both ends."""

    index: int
    start: int  # effective stream frame of the segment's first frame (after alignment)
    t0: int
    t1: int
    fade_in: int
    fade_out: int
    kind_in: str = "eqpower"
    kind_out: str = "eqpower"


@dataclass(frozen=True, kw_only=True)
class StitchPlan:
    """The result of seam planning: which segment plays where, and the seams."""

    segments: tuple[Segment, ...]
    uses: tuple[_Use, ...]
    seams: tuple[Seam, ...]
    end: int  # last stream frame covered (exclusive)


class _SegmentReader:
    """Reads frame ranges of one spooled segment with ``os.pread``.

    Not ``np.memmap``: mapped spool pages stay resident and count in the process RSS
    (a 30-minute spool is 345 MB), while pread leaves them in the page cache only.
    """

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        try:
            size = os.path.getsize(seg.path)
        except OSError as exc:
            raise self._error(f"cannot open: {exc}") from exc
        if size < seg.offset_bytes + 4 * seg.frames:
            raise self._error(f"file holds {size} bytes, needs {seg.offset_bytes + 4 * seg.frames}")

    def _error(self, what: str) -> MasterError:
        seg = self.seg
        return MasterError(
            f"spool segment {seg.path} ({seg.label or 'unlabelled'}, {seg.frames} frames at byte "
            f"{seg.offset_bytes}): {what}",
            hint="the spool file is missing or shorter than recorded; re-run or resume the render",
        )

    def __getitem__(self, frames: slice) -> np.ndarray:
        """int16 ``[n, 2]`` for ``frames`` (a plain ``start:stop`` slice, clipped to the segment)."""
        a, b = max(frames.start or 0, 0), min(frames.stop, self.seg.frames)
        if b <= a:
            return np.zeros((0, 2), "<i2")
        with open(self.seg.path, "rb") as f:
            raw = os.pread(f.fileno(), 4 * (b - a), self.seg.offset_bytes + 4 * a)
        if len(raw) != 4 * (b - a):
            raise self._error(f"short read at frame {a}")
        return np.frombuffer(raw, "<i2").reshape(-1, 2)


def _open(seg: Segment) -> _SegmentReader:
    return _SegmentReader(seg)


def _mono(data: _SegmentReader, start: int, t0: int, t1: int) -> np.ndarray:
    return data[t0 - start : t1 - start].astype(np.float32).sum(axis=1) * _PCM_SCALE


def _align(a: _SegmentReader, a_start: int, b: _SegmentReader, b_start: int, end: int, lags: tuple[int, int]) -> tuple[int, float]:
    """Lag (frames) by which B's content trails A's near the seam, best of ``lags`` (lo, hi).

    Returns ``(lag, correlation coefficient)``.
    """
    lo, hi = lags
    w1 = end - max(hi, 0)
    w0 = max(b_start - min(lo, 0), w1 - SAMPLE_RATE, a_start)
    if w1 - w0 < 256 or hi < lo:
        return 0, 0.0
    ref = _mono(a, a_start, w0, w1)
    probe = _mono(b, b_start, w0 + lo, w1 + hi)
    score = correlate(probe, ref, mode="valid", method="fft")
    csum = np.concatenate([[0.0], np.cumsum(probe.astype(np.float64) ** 2)])
    energy = csum[ref.size :] - csum[: -ref.size]  # sliding energy of each probe window
    score = score / np.sqrt(np.maximum(energy, 1e-12) * max(float(ref @ ref), 1e-12))
    best = int(np.argmax(score))
    return best + lo, float(score[best])


def plan_stitch(segments: Sequence[Segment], settings: MasterSettings) -> StitchPlan:
    """Order the segments, align and size every seam, and check the stream is covered.

    Raises:
        MasterError: no segments, a segment inside another, or too little audio.
    """
    if not segments:
        raise MasterError("no audio segments to master", hint="the spool is empty; render again")
    segs = tuple(sorted((s for s in segments if s.frames > 0), key=lambda s: s.start))
    if not segs:
        raise MasterError("every audio segment is empty", hint="the spool holds no audio; render again")
    need_end = settings.lead_in_frames + settings.duration_frames + settings.loop_crossfade_frames
    slack = segs[-1].start + segs[-1].frames - need_end
    starts, seams, shift = [segs[0].start], [], 0
    maps = [_open(s) for s in segs]
    for i in range(1, len(segs)):
        a_start, b_start = starts[-1], segs[i].start - shift
        a_end = a_start + segs[i - 1].frames
        lag, coef = 0, 0.0
        k = settings.seam_align_max_lag_frames
        if k and a_end - b_start > 2 * k + 256:
            lag, coef = _align(maps[i - 1], a_start, maps[i], b_start, a_end, (-k, min(k, slack - shift)))
        shift += lag
        b_start -= lag
        if b_start + segs[i].frames <= a_end or b_start < a_start:
            raise MasterError(f"segment {segs[i].label or i} ({b_start}..) lies inside the previous one")
        overlap = a_end - b_start
        owned_from = seams[-1].stream_frame + seams[-1].crossfade_frames if seams else a_start
        fade = max(0, min(settings.seam_crossfade_frames, overlap, a_end - owned_from))  # no fade over a fade
        starts.append(b_start)
        seams.append(
            Seam(
                stream_frame=a_end - fade,
                piece_frame=a_end - fade - settings.lead_in_frames,
                crossfade_frames=fade,
                align_lag_frames=lag,
                labels=(segs[i - 1].label, segs[i].label),
                gap_frames=max(-overlap, 0),
                kind="linear" if coef >= _CORRELATED else "eqpower",
            )
        )
    uses = _uses(segs, starts, seams, settings.click_fade_frames)
    end = starts[-1] + segs[-1].frames
    if end < need_end or starts[0] > settings.lead_in_frames:
        raise MasterError(
            f"the spool covers stream frames {starts[0]}..{end} but mastering needs "
            f"{settings.lead_in_frames}..{need_end} (lead-in + duration + loop tail)",
            hint="the render stopped early; resume it or shorten duration",
        )
    return StitchPlan(segments=segs, uses=uses, seams=tuple(seams), end=end)


def _uses(segs: Sequence[Segment], starts: list[int], seams: list[Seam], click: int) -> tuple[_Use, ...]:
    uses = []
    for i, (seg, start) in enumerate(zip(segs, starts)):
        before = seams[i - 1] if i else None
        after = seams[i] if i < len(seams) else None
        t0 = before.stream_frame if before and before.crossfade_frames else start
        t1 = start + seg.frames
        fade_in = before.crossfade_frames if before and before.crossfade_frames else (click if before else 0)
        fade_out = after.crossfade_frames if after and after.crossfade_frames else (click if after else 0)
        uses.append(
            _Use(
                index=i, start=start, t0=t0, t1=t1, fade_in=min(fade_in, t1 - t0), fade_out=min(fade_out, t1 - t0),
                kind_in=before.kind if before else "eqpower", kind_out=after.kind if after else "eqpower",
            )
        )
    return tuple(uses)


def _raised_cosine(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / max(n, 1))).astype(np.float32)


class PieceSource:
    """Random access to the mastered-before-gain piece: stitched, trimmed, DC-free, looped, faded.

    Frames ``0 .. duration_frames-1`` are the piece at 48 kHz, ``[frames, 2]`` float32.
    """

    def __init__(self, plan: StitchPlan, settings: MasterSettings, dc: np.ndarray | None = None) -> None:
        self.plan, self.settings = plan, settings
        self.frames = settings.duration_frames
        self.dc = np.zeros(2, np.float32) if dc is None else np.asarray(dc, np.float32)
        self._maps = [_open(s) for s in plan.segments]

    def with_dc(self, dc: np.ndarray) -> "PieceSource":
        return PieceSource(self.plan, self.settings, dc if self.settings.remove_dc else None)

    def stream(self, t0: int, t1: int) -> np.ndarray:
        """Stitched stream frames ``[t0, t1)`` (zeros where nothing plays)."""
        out = np.zeros((t1 - t0, 2), np.float32)
        for use in self.plan.uses:
            a, b = max(t0, use.t0), min(t1, use.t1)
            if a >= b:
                continue
            x = self._maps[use.index][a - use.start : b - use.start].astype(np.float32) * _PCM_SCALE
            if use.fade_in and a < use.t0 + use.fade_in:
                ramp = crossfade_ramp(use.fade_in, use.kind_in)[0]
                seg = slice(0, min(b, use.t0 + use.fade_in) - a)
                x[seg] *= ramp[a - use.t0 : a - use.t0 + seg.stop, None]
            if use.fade_out and b > use.t1 - use.fade_out:
                ramp = crossfade_ramp(use.fade_out, use.kind_out)[1]
                lo = max(a, use.t1 - use.fade_out)
                x[lo - a :] *= ramp[lo - (use.t1 - use.fade_out) : b - (use.t1 - use.fade_out), None]
            out[a - t0 : b - t0] += x
        return out

    def read(self, p0: int, p1: int) -> np.ndarray:
        """Piece frames ``[p0, p1)``, clipped to the piece."""
        p0, p1 = max(p0, 0), min(p1, self.frames)
        s = self.settings
        x = self.stream(s.lead_in_frames + p0, s.lead_in_frames + p1) - self.dc
        loop, ls = s.loop_crossfade_frames, s.loop_start_frames
        a, b = max(p0, ls), min(p1, ls + loop)
        if loop and a < b:  # the tail after the piece is crossfaded into the loop start
            end = s.lead_in_frames + self.frames - ls
            tail = self.stream(end + a, end + b) - self.dc
            fade_in, fade_out = crossfade_ramp(loop)
            x[a - p0 : b - p0] = x[a - p0 : b - p0] * fade_in[a - ls : b - ls, None] + tail * fade_out[a - ls : b - ls, None]
        return self._fades(x, p0, p1)

    def _fades(self, x: np.ndarray, p0: int, p1: int) -> np.ndarray:
        s = self.settings
        if s.loop_crossfade_frames:
            return x  # a loop has no ends to fade
        fin = max(s.fade_in_frames, s.click_fade_frames)
        fout = max(s.fade_out_frames, s.click_fade_frames)
        if fin and p0 < fin:
            ramp = _raised_cosine(fin)
            stop = min(p1, fin)
            x[: stop - p0] *= ramp[p0:stop, None]
        if fout and p1 > self.frames - fout:
            ramp = _raised_cosine(fout)[::-1]
            lo = max(p0, self.frames - fout)
            x[lo - p0 :] *= ramp[lo - (self.frames - fout) : p1 - (self.frames - fout), None]
        return x

