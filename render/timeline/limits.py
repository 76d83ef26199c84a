"""Size limits checked before a timeline is built into Python objects.

One linear pass over the YAML parser's events (JSON is read by the same parser) refuses,
at file:line:col, what would cost unbounded time or memory later: huge files, deep nesting,
too many nodes, alias bombs ("billion laughs") and numbers too long to convert.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import StreamMark
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.scanner import RoundTripScanner

from render.errors import Problem, TimelineError

__all__ = ["MAX_BYTES", "MAX_YAML_BYTES", "MAX_DEPTH", "MAX_NODES", "MAX_NUMBER_CHARS", "limited_yaml", "load_limited", "read_json"]

MAX_BYTES = 4 * 1024 * 1024  # a 10k-event JSON timeline is about 0.5 MB
MAX_YAML_BYTES = 256 * 1024  # the located (pure-Python) parser reads about 15-150 KB/s; JSON has a fast path
MAX_DEPTH = 32  # a timeline needs 5 (events[3].config.bpm); JSON/YAML nesting past this is refused
MAX_NODES = 250_000  # values after expanding every alias: keys, scalars, lists and mappings
MAX_NUMBER_CHARS = 40  # no field takes a longer number; Python refuses ints of 4300+ digits anyway

_INT = re.compile(r"[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+)")
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][-+]?[0-9]+)?")
_DIGIT = re.compile(r"[0-9]")


class _TooDeep(Exception):
    def __init__(self, mark: StreamMark) -> None:
        super().__init__("too deep")
        self.mark = mark


class _DepthLimitedScanner(RoundTripScanner):  # type: ignore[misc]
    """ruamel's scanner costs O(depth) per token inside ``[``/``{``: stop at :data:`MAX_DEPTH`."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:  # noqa: N803 - ruamel's name
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


def _too_deep(source: str, mark: Any) -> TimelineError:
    return _fail(source, mark, f"nested more than {MAX_DEPTH} levels deep", "a timeline needs at most 5 levels")


def _fail(source: str, mark: Any, message: str, hint: str | None = None) -> TimelineError:
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return TimelineError([Problem(source, line, col, "", message, hint)])


def _check_number(source: str, event: ScalarEvent) -> None:
    """Plain (unquoted) numbers: not too long, and floats that stay finite."""
    if event.style or not _DIGIT.match(event.value.lstrip("+-.")):
        return
    value = event.value
    if len(value) > MAX_NUMBER_CHARS and (_INT.fullmatch(value) or _FLOAT.fullmatch(value)):
        raise _fail(source, event.start_mark, f"a number of {len(value)} characters is too long "
                    f"(the limit is {MAX_NUMBER_CHARS})", "no field takes a number this large")
    if _FLOAT.fullmatch(value) and re.search(r"[eE.]", value):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return
        if math.isinf(number):
            raise _fail(source, event.start_mark, f"the number {value} is too large (it overflows to infinity)",
                        "no field takes a number this large")


def limited_yaml(text: str, source: str, is_json: bool = False) -> YAML:
    """A round-trip ``YAML`` whose scanner and parser refuse ``text`` at file:line:col when it
    breaks a limit (see module doc), while it is read: one pass, before anything deep is built.

    Syntax errors pass through as ruamel's ``MarkedYAMLError`` for the loader to report.
    """
    if len(text) > MAX_BYTES:
        raise _fail(source, None, f"the file is {len(text):,} characters; the limit is {MAX_BYTES:,}",
                    "split the piece into several timelines")
    if not is_json and len(text) > MAX_YAML_BYTES:
        raise _fail(source, None, f"the YAML file is {len(text):,} characters; the limit for YAML is "
                    f"{MAX_YAML_BYTES:,}", f"write large timelines as JSON (up to {MAX_BYTES:,} characters)")
    counter = _Counter(source)

    class _CountingParser(RoundTripParser):  # type: ignore[misc]
        def _fill(self) -> None:
            if self.current_event is None and self.state:
                self.current_event = self.state()
                counter.see(self.current_event)

        def check_event(self, *choices: Any) -> bool:
            self._fill()
            return bool(super().check_event(*choices))

        def peek_event(self) -> Any:
            self._fill()
            return super().peek_event()

        def get_event(self) -> Any:
            self._fill()
            return super().get_event()

    yaml = YAML(typ="rt")
    yaml.Scanner = _DepthLimitedScanner
    yaml.Parser = _CountingParser
    return yaml


def load_limited(text: str, source: str, is_json: bool = False) -> Any:
    """``limited_yaml(text, source).load(text)``, with the depth limit reported as a problem."""
    try:
        return limited_yaml(text, source, is_json).load(text)
    except _TooDeep as exc:
        raise _too_deep(source, exc.mark) from None


class _Counter:
    """Nesting depth, and nodes after expanding aliases, counted event by event."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sizes: dict[str, int] = {}  # anchor -> expanded node count of its value
        self.starts: list[tuple[str | None, int]] = []  # open collections: (anchor, node count when opened)
        self.nodes = 0

    def see(self, event: Any) -> None:
        if isinstance(event, CollectionStartEvent):
            if len(self.starts) >= MAX_DEPTH:
                raise _too_deep(self.source, event.start_mark)
            self.starts.append((event.anchor, self.nodes))
            self.nodes += 1
        elif isinstance(event, CollectionEndEvent):
            anchor, opened = self.starts.pop()
            if anchor is not None:
                self.sizes[anchor] = self.nodes - opened
        elif isinstance(event, ScalarEvent):
            _check_number(self.source, event)
            self.nodes += 1
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            self.nodes += self.sizes.get(event.anchor, 1)
        if self.nodes > MAX_NODES:
            what = f"alias *{event.anchor}" if isinstance(event, AliasEvent) else "this value"
            raise _fail(self.source, event.start_mark, f"{what} takes the document past {MAX_NODES:,} values "
                        "(aliases count once per use)", "write the values out, or split the timeline")


class _Unsure(Exception):
    """The JSON fast path cannot decide: the located (YAML) path reads the file instead."""


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Unsure(text)
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARS or math.isinf(value):
        raise _Unsure(text)
    return value


def _json_constant(text: str) -> Any:
    raise _Unsure(text)  # NaN, Infinity: not JSON


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Unsure("duplicate key")
    return out


def _within_limits(data: Any) -> bool:
    stack, nodes = [(data, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            return False
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return True


def read_json(text: str, source: str) -> dict[str, Any] | None:
    """Parse JSON with the ``json`` module (C, fast): its syntax errors are reported at
    file:line:col; ``None`` when only the located path can judge (limits, duplicate keys)."""
    if len(text) > MAX_BYTES:
        return None
    try:
        data = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant,
                          object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        raise TimelineError([Problem(source, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}")]) from None
    except (RecursionError, ValueError, _Unsure):
        return None
    return data if isinstance(data, dict) and _within_limits(data) else None
