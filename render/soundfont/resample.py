"""Reading a sample at fractional positions: loop wrapping and 4-point cubic (Catmull-Rom) interpolation.

Looped frames read from a buffer whose loop end runs on into the loop start, so the
interpolation taps wrap exactly as the played signal does and a seamless loop stays
seamless. Outside the played part of the sample everything reads as silence.
"""

from __future__ import annotations

import numpy as np

__all__ = ["positions", "read"]


def positions(n: int, start: int, ratio: float | np.ndarray, loop: tuple[int, int] | None,
              loop_frames: int) -> tuple[np.ndarray, int]:
    """Read position of each of ``n`` output frames, stepping ``ratio`` source frames per frame
    (a number, or one positive step per frame when the pitch is modulated).

    The first ``loop_frames`` frames wrap inside ``loop`` (start, end); later frames carry on
    from where the loop was, unwrapped (loop-until-release after the key is let go).
    Also returns the first frame that wrapped (``loop_frames`` if none did).
    """
    if isinstance(ratio, np.ndarray):
        pos = np.empty(n, dtype=np.float64)
        pos[:1] = start
        np.cumsum(ratio[: n - 1], out=pos[1:])
        pos[1:] += start
        step = float(ratio[loop_frames - 1]) if 0 < loop_frames <= n else 0.0
    else:
        pos = start + np.arange(n, dtype=np.float64) * ratio
        step = ratio
    if loop is None or loop_frames <= 0:
        return pos, 0
    ls, le = loop
    k = int(np.searchsorted(pos[:loop_frames], le))
    if k < loop_frames:
        seg = pos[k:loop_frames]
        seg -= ls
        np.mod(seg, le - ls, out=seg)
        seg += ls
    if loop_frames < n:
        pos[loop_frames:] += pos[loop_frames - 1] + step - pos[loop_frames]
    return pos, k


def _cubic(buf: np.ndarray, pos: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The four taps x[-1], x[0], x[1], x[2] from ``buf`` (one guard frame first), fractions and bases."""
    base = pos.astype(np.int64)  # positions are >= 0: truncation is floor
    frac = (pos - base).astype(np.float32)
    return [buf[t:][base] for t in range(4)], frac, base


def _mix(taps: list[np.ndarray], frac: np.ndarray) -> np.ndarray:
    x0, x1, x2, x3 = taps
    c1 = 0.5 * (x2 - x0)
    c2 = x0 - 2.5 * x1 + 2.0 * x2 - 0.5 * x3
    c3 = 0.5 * (x3 - x0) + 1.5 * (x1 - x2)
    return ((c3 * frac + c2) * frac + c1) * frac + x1


def _buffer(data: np.ndarray, stop: int, tail: np.ndarray) -> np.ndarray:
    """float32 ``[0, data[:stop]..., tail...]``."""
    buf = np.empty(stop + 1 + tail.shape[0], dtype=np.float32)
    buf[0] = 0.0
    buf[1:stop + 1] = data[:stop]
    buf[stop + 1:] = tail
    return buf


def read(data: np.ndarray, pos: np.ndarray, end: int, loop: tuple[int, int] | None, loop_frames: int,
         first_wrap: int) -> np.ndarray:
    """``data`` (raw sample values, unscaled) at ``pos`` as float32.

    Frames before ``loop_frames`` read looped; from ``first_wrap`` on they have wrapped at
    least once, so the tap before the loop start is the loop's last frame.
    """
    out = np.empty(pos.shape[0], dtype=np.float32)
    split = loop_frames if loop is not None else 0
    if split > 0:
        ls, le = loop  # type: ignore[misc]
        tail = np.resize(data[ls:le], 3).astype(np.float32)
        taps, frac, base = _cubic(_buffer(data, le, tail), pos[:split])
        again = first_wrap + np.flatnonzero(base[first_wrap:] == ls)
        taps[0][again] = data[le - 1]
        out[:split] = _mix(taps, frac)
    if split < pos.shape[0]:
        rest = pos[split:]
        stop = min(end, int(rest[-1]) + 3)
        taps, frac, _ = _cubic(_buffer(data, stop, np.zeros(3, dtype=np.float32)), rest)
        out[split:] = _mix(taps, frac)
    return out
