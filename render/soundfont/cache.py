"""A bounded, thread-safe LRU cache of rendered notes, capped in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

__all__ = ["NoteCache"]


class NoteCache:
    """Rendered notes by key, least recently used dropped first once over ``max_bytes``.

    Cached arrays are made read-only: copy one before writing into it.

    Args:
        max_bytes: the cache never holds more than this many bytes of samples (a single
            note larger than the cap is returned but not kept).
        gate_quantum: gate lengths are rounded to a multiple of this many frames before
            rendering, so near-equal durations share one entry (1 = exact gates).
    """

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, gate_quantum: int = 1) -> None:
        if max_bytes < 0 or gate_quantum < 1:
            raise ValueError("max_bytes must be >= 0 and gate_quantum >= 1")
        self.max_bytes = max_bytes
        self.gate_quantum = gate_quantum
        self.hits = 0
        self.misses = 0
        self._bytes = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of samples held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def gate_class(self, gate_frames: int) -> int:
        """``gate_frames`` rounded to the nearest multiple of :attr:`gate_quantum` (at least one quantum if non-zero)."""
        q = self.gate_quantum
        if q == 1 or gate_frames == 0:
            return gate_frames
        return max(q, (gate_frames + q // 2) // q * q)

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The array cached under ``key``, or ``make()``'s result (then cached)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self.hits += 1
                self._items.move_to_end(key)
                return item
            self.misses += 1
        item = make()
        item.setflags(write=False)
        if item.nbytes > self.max_bytes:
            return item
        with self._lock:
            if key not in self._items:
                self._items[key] = item
                self._bytes += item.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
            return self._items.get(key, item)

    def clear(self) -> None:
        """Drop every entry (hit and miss counts are kept)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
