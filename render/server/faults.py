"""Fault injection for ``lyria-render serve``: what can go wrong, and for which connection.

A :class:`FaultPlan` lists faults and the connections they target (1-based connection
numbers in arrival order). Several plans may be given (a ``faults.yaml`` list plus the
command-line flags); :func:`plan_for_connection` merges the ones that target a
connection, later plans winning field by field.

File format (YAML or JSON), either one plan, a list of plans, or ``{faults: [...]}``::

    faults:
      - drop_after_chunks: 3
        only_connections: [1]
      - filter_words: [violent, gore]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Literal

from ..errors import UsageError

__all__ = ["FaultPlan", "load_fault_plans", "plan_for_connection"]

BadChunk = Literal["wrong_mime", "partial_frame"]
LimitClock = Literal["audio", "wall"]


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """Faults to inject, each off by default.

    Attributes:
        only_connections: target only these connection numbers (1 = the first to connect).
        first_connections: target only connections 1..N.
        session_limit_s: close with 1011 once this much audio was sent (or wall time
            since setup passed, with ``session_limit_clock="wall"``), like the 600 s limit.
        drop_after_chunks: end the connection after sending N chunks: an abrupt TCP
            close (the client sees 1006) or, with ``drop_code``, a close frame with that code.
        stall_after_chunks / stall_s: after chunk K, send nothing for ``stall_s`` seconds.
        bad_chunk_at / bad_chunk: chunk K (1-based) gets a wrong mime type
            (``wrong_mime``: 44.1 kHz) or an odd byte count (``partial_frame``).
        filter_words: prompts containing one of these words (case-insensitive) are
            answered with ``filteredPrompt`` and ignored.
        refuse_setup: refuse the session at setup with close 1008 ``refuse_reason``.
        refuse_after_connections: accept N connections, then refuse every later one.
        start_latency_s: delay the first audio after the first ``PLAY``.
        change_latency_s: apply prompt/config/reset changes this many seconds late.
        session_limit_reason / drop_reason: the close reasons of those faults.
        error_before_close: send an ``{"error": …}`` message before a fault's close or a refusal.
        send_format: send audio in this mime type (e.g. ``audio/pcm;rate=24000;channels=1``,
            ``audio/wav``), converted from the engine's 48 kHz stereo.
        no_audio: never send audio (other messages still flow).
        warn_every_s: send a ``warning`` message every this many seconds.
    """

    only_connections: tuple[int, ...] | None = None
    first_connections: int | None = None
    session_limit_s: float | None = None
    session_limit_clock: LimitClock = "audio"
    drop_after_chunks: int | None = None
    drop_code: int | None = None
    stall_after_chunks: int | None = None
    stall_s: float = 0.0
    bad_chunk_at: int | None = None
    bad_chunk: BadChunk = "wrong_mime"
    filter_words: tuple[str, ...] = ()
    refuse_setup: bool = False
    refuse_after_connections: int | None = None
    refuse_reason: str = "Quota exceeded for this API key (lyria-render serve fault injection)."
    start_latency_s: float = 0.0
    change_latency_s: float = 0.0
    session_limit_reason: str = "Session time limit reached"
    drop_reason: str = "Connection dropped (serve fault injection)"
    error_before_close: bool = False
    send_format: str | None = None
    no_audio: bool = False
    warn_every_s: float | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def targets(self, connection: int) -> bool:
        """Whether this plan applies to connection number ``connection`` (1-based)."""
        if self.only_connections is not None and connection not in self.only_connections:
            return False
        return self.first_connections is None or connection <= self.first_connections

    def is_empty(self) -> bool:
        return self == FaultPlan(only_connections=self.only_connections, first_connections=self.first_connections)

    def filtered_word(self, text: str) -> str | None:
        """The first filter word found in ``text`` (case-insensitive), else ``None``."""
        lowered = text.lower()
        return next((w for w in self.filter_words if w.lower() in lowered), None)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, where: str = "faults") -> "FaultPlan":
        """Build a plan from a mapping (as in a faults file); unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(
                f"{where}: unknown fault setting(s) {', '.join(unknown)}",
                hint=f"valid settings: {', '.join(sorted(names))}",
            )
        kwargs = dict(data)
        for key in ("only_connections", "filter_words"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise UsageError(f"{where}: {exc}") from None


def _validate(plan: FaultPlan) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise UsageError(f"fault plan: {message}")

    for name in ("session_limit_s", "stall_s", "start_latency_s", "change_latency_s", "warn_every_s"):
        value = getattr(plan, name)
        need(value is None or (isinstance(value, (int, float)) and value >= 0), f"{name} must be >= 0, got {value!r}")
    for name in ("drop_after_chunks", "stall_after_chunks", "bad_chunk_at", "first_connections",
                 "refuse_after_connections"):
        value = getattr(plan, name)
        need(value is None or (isinstance(value, int) and value >= 0), f"{name} must be an integer >= 0, got {value!r}")
    need(plan.bad_chunk in ("wrong_mime", "partial_frame"), f"bad_chunk must be wrong_mime or partial_frame, got {plan.bad_chunk!r}")
    need(plan.session_limit_clock in ("audio", "wall"), f"session_limit_clock must be audio or wall, got {plan.session_limit_clock!r}")
    if plan.send_format is not None:
        from ..backends.lyria_pcm import parse_mime

        try:
            parse_mime(plan.send_format)
        except Exception as exc:  # noqa: BLE001 - a ProtocolError naming the type
            need(False, f"send_format {plan.send_format!r}: {exc}")
    need(plan.drop_code is None or 1000 <= plan.drop_code <= 4999, f"drop_code must be a close code 1000-4999, got {plan.drop_code!r}")


def load_fault_plans(path: Path) -> list[FaultPlan]:
    """Read a faults file (``.json``, ``.yaml`` or ``.yml``).

    Raises:
        UsageError: the file is missing, unparsable or names unknown settings.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read faults file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            from ruamel.yaml import YAML

            data = YAML(typ="safe").load(text)
    except Exception as exc:  # parse errors of either format
        raise UsageError(f"cannot parse faults file {path}: {exc}") from None
    if isinstance(data, dict) and set(data) == {"faults"}:
        data = data["faults"]
    items = data if isinstance(data, list) else [data or {}]
    plans = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UsageError(f"{path}: fault plan #{i + 1} must be a mapping, got {type(item).__name__}")
        plans.append(FaultPlan.from_mapping(item, where=f"{path} plan #{i + 1}"))
    return plans


def plan_for_connection(plans: Iterable[FaultPlan], connection: int) -> FaultPlan:
    """Merge the plans that target ``connection``; later plans win, filter words add up."""
    default = FaultPlan()
    merged = default
    for plan in plans:
        if not plan.targets(connection):
            continue
        changes = {
            f.name: getattr(plan, f.name)
            for f in fields(plan)
            if getattr(plan, f.name) != getattr(default, f.name)
        }
        changes["filter_words"] = merged.filter_words + plan.filter_words
        merged = replace(merged, **changes)
    return replace(merged, only_connections=None, first_connections=None)
