"""Load timeline files (YAML or JSON) and report every problem at file:line:col.

Parsing keeps the position of every node (ruamel.yaml round-trip), so schema errors
from pydantic and semantic errors from :mod:`render.timeline.resolve` both point at the exact
line, column and field, with a hint where one helps ("did you mean `brightness`?").
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from render.errors import Problem, TimelineError

from .limits import load_limited, read_json
from .model import Timeline
from .resolve import Resolved, resolve

__all__ = ["LoadedTimeline", "load_timeline", "parse_timeline", "timeline_from_data", "field_path"]

TIMELINE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class LoadedTimeline:
    """A validated timeline with where it came from and its resolved times."""

    timeline: Timeline
    resolved: Resolved
    source: str
    sha256: str
    text: str
    path: Path | None = None
    warnings: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The output name: ``output.name`` or the file stem."""
        if self.timeline.output.name:
            return self.timeline.output.name
        return self.path.stem if self.path else "render"


def load_timeline(path: str | Path) -> LoadedTimeline:
    """Read and validate a timeline file.

    Raises:
        TimelineError: with every problem found, each at file:line:col.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TimelineError([Problem(str(p), 0, 0, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise TimelineError([_not_utf8(p, exc)]) from None
    except OSError as exc:
        raise TimelineError([Problem(str(p), 0, 0, "", f"cannot read file: {exc}")]) from None
    loaded = parse_timeline(text, source=str(p), is_json=p.suffix.lower() == ".json")
    loaded.path = p
    return loaded


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> Problem:
    data = exc.object
    line = data.count(b"\n", 0, exc.start) + 1
    col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return Problem(str(path), line, col, "", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                   "save it as UTF-8")


def parse_timeline(text: str, *, source: str = "<string>", is_json: bool | None = None) -> LoadedTimeline:
    """Validate timeline text (YAML, or JSON when ``is_json``; guessed when ``None``)."""
    if is_json is None:
        is_json = text.lstrip().startswith("{")
    fast = _valid_json(text, source) if is_json else None
    if fast is not None:
        return fast
    tree = _parse_tree(text, source, is_json)
    return _validate(tree, text, source)


def _valid_json(text: str, source: str) -> LoadedTimeline | None:
    """A JSON file without a single problem, read by the fast ``json`` module; ``None`` when
    something must be reported (it needs the positions of the slower round-trip parse)."""
    data = read_json(text, source)
    if data is None:
        return None
    data.pop("$schema", None)
    try:
        timeline = Timeline.model_validate(data)
    except ValidationError:
        return None
    resolved = resolve(timeline)
    if resolved.issues:
        return None
    return LoadedTimeline(timeline, resolved, source, hashlib.sha256(text.encode("utf-8")).hexdigest(), text)


def timeline_from_data(data: Mapping[str, Any], *, source: str = "<api>") -> LoadedTimeline:
    """Validate an in-memory mapping (Python API, quick renders). Errors carry field paths only."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return parse_timeline(text, source=source, is_json=True)


def _parse_tree(text: str, source: str, is_json: bool) -> Any:
    try:
        tree = load_limited(text, source, is_json)
    except TimelineError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = (exc.problem or exc.context or "syntax error").strip()
        kind = "JSON" if is_json else "YAML"  # a JSON file that json.loads accepts can still repeat a key
        raise TimelineError([Problem(source, line, col, "", f"invalid {kind}: {what}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad unicode)
        raise TimelineError([Problem(source, 0, 0, "", f"cannot parse: {exc}")]) from None
    if not isinstance(tree, CommentedMap):
        kind = "empty" if tree is None else type(tree).__name__
        raise TimelineError([Problem(source, 1, 1, "", f"a timeline must be a mapping of fields, got {kind}",
                                     "start with `duration:` and `prompts:`; see docs/timeline.md")])
    return tree


def _plain(node: Any, bad_keys: list[tuple[Any, Any]], where: Any = None) -> Any:
    """ruamel's tree as plain dicts/lists/scalars; keys that cannot be text go to ``bad_keys``."""
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            if k is None or isinstance(k, (bool, list, tuple, Mapping, set)):
                bad_keys.append((node, k))
            out[str(k)] = _plain(v, bad_keys)
        return out
    if isinstance(node, list):
        return [_plain(v, bad_keys) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _key_problems(bad_keys: list[tuple[Any, Any]], source: str) -> list[Problem]:
    problems = []
    for parent, key in bad_keys:
        line, col = parent.lc.key(key) if isinstance(parent, CommentedMap) else (0, 0)
        kind = "null" if key is None else ("true/false" if isinstance(key, bool) else
                                           "a mapping" if isinstance(key, Mapping) else "a list")
        problems.append(Problem(source, line + 1, col + 1, "", f"a key must be text, got {kind}",
                                "quote it, or write the text you mean"))
    return problems


def _validate(tree: CommentedMap, text: str, source: str) -> LoadedTimeline:
    bad_keys: list[tuple[Any, Any]] = []
    data = _plain(tree, bad_keys)
    if bad_keys:
        raise TimelineError(_key_problems(bad_keys, source))
    data.pop("$schema", None)
    try:
        timeline = Timeline.model_validate(data)
    except ValidationError as exc:
        raise TimelineError(_schema_problems(exc, tree, source)) from None
    resolved = resolve(timeline)
    problems = [
        Problem(source, *locate(tree, issue.path), field_path(issue.path), issue.message, issue.hint, issue.severity)
        for issue in resolved.issues
    ]
    if resolved.errors:
        raise TimelineError(problems)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    warnings = [p for p in problems if p.severity != "error"]
    return LoadedTimeline(timeline, resolved, source, sha, text, warnings=warnings)


def field_path(path: tuple[Any, ...]) -> str:
    """``("events", 3, "config", "bpm")`` -> ``"events[3].config.bpm"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(tree: Any, path: tuple[Any, ...], *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node at ``path``; the nearest known parent if missing."""
    node, pos = tree, (1, 1)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, CommentedMap) and part in node:
            line, col = node.lc.key(part) if (key and last) or node[part] is None else node.lc.value(part)
            pos, node = (line + 1, col + 1), node[part]
        elif isinstance(node, CommentedMap) and isinstance(part, int) and part < len(node):
            name = list(node)[part]  # `text: weight` shorthand, addressed by index
            k_line, k_col = node.lc.key(name)
            v_line, v_col = node.lc.value(name)
            nxt = path[i + 1] if not last else None
            pos = (v_line + 1, v_col + 1) if nxt == "weight" else (k_line + 1, k_col + 1)
            return pos
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, col = node.lc.item(part)
            pos, node = (line + 1, col + 1), node[part]
        else:
            break
    return pos


_TYPE_TAG = re.compile(r"^(int|float|str|bool|none|list\[.*\]|dict\[.*\]|function-.*|literal\[.*\]|is-instance\[.*\]|[A-Z]\w*Spec)$")


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(part for part in loc if not (isinstance(part, str) and _TYPE_TAG.match(part)))


def _schema_problems(exc: ValidationError, tree: Any, source: str) -> list[Problem]:
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        grouped.setdefault(_clean_loc(tuple(err["loc"])), []).append(err)
    problems = []
    for loc, errs in grouped.items():
        if _other_branch_is_deeper(loc, errs, grouped):
            continue
        err = _pick(errs)
        message, hint = _describe(err, loc)
        line, col = locate(tree, loc, key=err["type"] == "extra_forbidden")
        if err["type"] == "missing" and loc:
            line, col = locate(tree, loc[:-1])
        problems.append(Problem(source, line, col, field_path(loc), message, hint))
    problems.sort(key=lambda p: (p.line, p.column))
    return problems


def _other_branch_is_deeper(loc: tuple[Any, ...], errs: list[dict[str, Any]], grouped: dict[tuple[Any, ...], Any]) -> bool:
    """Whether ``errs`` only say "wrong type" for a union whose other branch reports inside the value.

    ``loop: {crossfad: 1s}`` fails ``bool`` (wrong type) and ``LoopSpec`` (unknown field):
    only the unknown field is worth showing.
    """
    if not all(e["type"].endswith("_type") for e in errs):
        return False
    return any(len(other) > len(loc) and other[: len(loc)] == loc for other in grouped)


def _pick(errs: list[dict[str, Any]]) -> dict[str, Any]:
    """From a union's branch errors, the most telling one."""
    for kind in ("value_error", "extra_forbidden", "missing", "literal_error"):
        for err in errs:
            if err["type"] == kind:
                return err
    if len(errs) > 1:
        return {**errs[0], "type": "union", "msg": _union_message(errs)}
    return errs[0]


def _union_message(errs: list[dict[str, Any]]) -> str:
    value = errs[0].get("input")
    return f"wrong type: {type(value).__name__} {value!r} is not accepted here"


def _describe(err: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, str | None]:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _allowed_fields(loc[:-1])
        close = difflib.get_close_matches(name.lower(), allowed, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else (f"allowed: {', '.join(allowed)}" if allowed else None)
        return f"unknown field `{name}`", hint
    if kind == "missing":
        return f"missing required field `{loc[-1] if loc else '?'}`", None
    if kind == "value_error":
        return msg.removeprefix("Value error, "), None
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'|(\d+)", str(err.get("ctx", {}).get("expected", "")))
        options = [a or b for a, b in choices]
        close = difflib.get_close_matches(str(value).upper(), [o.upper() for o in options], n=1, cutoff=0.6)
        hint = f"did you mean {next(o for o in options if o.upper() == close[0])}?" if close else None
        return f"{value!r} is not allowed: {msg.removeprefix('Input should be ')}", hint
    if kind == "union":
        return msg, None
    if kind == "too_short" and isinstance(value, (list, dict)) and not value:
        return f"`{loc[-1] if loc else '?'}` is empty", "give at least one entry"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"expected text, got the number {value!r}", f'quote it: "{value}"'
    if kind in ("int_type", "float_type", "bool_type", "int_from_float"):
        return _type_message(kind, value)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{msg.replace('Input should be', 'must be')}, got {value!r}", None
    return f"{msg} (got {value!r})", None


def _type_message(kind: str, value: Any) -> tuple[str, str | None]:
    """Strict types: no ``"yes"`` for true, no ``true`` for 1, no ``"1.5"`` for 1.5."""
    got = f"the text {value!r}" if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    hint = "remove the quotes" if isinstance(value, str) and _looks_like(kind, value) else None
    if kind == "bool_type":
        return f"expected true or false, got {got}", hint or "write true or false, unquoted"
    if kind == "float_type":
        return f"expected a number, got {got}", hint
    if isinstance(value, float) and not isinstance(value, bool):
        extra = "" if value.is_integer() else " (it has a fractional part)"
        return f"expected a whole number, got {value!r}{extra}", None
    return f"expected a whole number, got {got}", hint


def _looks_like(kind: str, text: str) -> bool:
    if kind == "bool_type":
        return text.strip().lower() in ("true", "false")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Timeline
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = _inner_model(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    if get_origin(annotation) is Union:
        return None
    return None
