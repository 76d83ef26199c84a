"""Files, once: atomic writes, SHA-256 hashing, JSON-ready values and path expansion.

Every stage that writes a file goes through :func:`atomic_write_bytes` (or the streaming
:func:`temp_path` + ``os.replace``), every hash through :func:`sha256_file`, and every
list of input paths through :func:`expand_paths`. This module imports only
:mod:`render.errors`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import os
import re
import stat
import tempfile
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator, Mapping

from .errors import UsageError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "temp_path",
    "sha256_file",
    "write_all",
    "fsync_dir",
    "glob_root",
    "expand_paths",
    "GLOB_CHARS",
    "jsonable",
    "MANIFEST_SUFFIX",
    "manifest_path",
    "read_regular",
    "require_regular",
    "inside",
    "same_file",
]

GLOB_CHARS = "*?["
MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(out_dir: Path, name: str) -> Path:
    """Where a render named ``name`` writes its manifest: ``OUT/NAME.manifest.json``.

    The double suffix keeps it from ever being a timeline (``song.json``) or audio file.
    """
    return Path(out_dir) / f"{name}{MANIFEST_SUFFIX}"


def require_regular(path: Path, what: str, *, missing_ok: bool = False) -> None:
    """Refuse anything but a regular file (a FIFO, device or folder would hang or fail).

    Raises:
        UsageError: naming ``path`` and what it is instead (a missing file too, unless ``missing_ok``).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if missing_ok:
            return
        raise UsageError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
        raise UsageError(f"{path}: the {what} is {kind}, not a regular file")


def read_regular(path: Path, what: str, *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; never blocks (FIFOs, devices refused).

    Raises:
        UsageError: unreadable, not a regular file, or larger than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                require_regular(path, what)  # says what it is instead
            data = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UsageError(f"{path}: the {what} is larger than {limit} bytes")
    return data


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves (symbolic links followed) to ``root`` or below it."""
    real, root_real = os.path.realpath(path), os.path.realpath(root)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (resolved paths equal, or one inode)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def default_mode() -> int:
    """The mode a plainly created file gets (0o666 less the umask), instead of mkstemp's 0o600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_path(final: Path) -> Path:
    """A new, empty hidden temp file beside ``final`` (``.STEM.XXXX.partSUFFIX``).

    The caller owns it: replace it onto ``final`` or unlink it, in a ``try`` that starts
    right after this call returns (the file exists only once this returns).
    """
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.", suffix=f".part{final.suffix}")
    try:
        os.fchmod(fd, default_mode())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and ``os.replace``.

    A crash or Ctrl-C at any point leaves either the old file or the new one, and no
    temp file. With ``durable`` the data and the directory entry are fsynced.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        tmp = temp_path(path)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        if durable:
            fsync_dir(path.parent)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (streamed; no decoding)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def glob_root(pattern: str) -> Path:
    """The folder before the first glob character: ``timelines/**/*.yaml`` -> ``timelines``."""
    parts = PurePosixPath(pattern.replace(os.sep, "/")).parts
    fixed: list[str] = []
    for part in parts:
        if any(ch in part for ch in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _segment_regex(part: str) -> str:
    out, i = "", 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and "]" in part[i + 2:] or ch == "[" and part[i + 1:i + 2] == "]":
            end = part.index("]", i + 2)
            body = part[i + 1:end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return out


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob (with ``**`` for any number of folders) as a regex over ``/``-joined paths."""
    parts = pattern.split("/")
    out = ""
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]*/)*"
        else:
            out += _segment_regex(part) + ("" if last else "/")
    return re.compile(out + r"\Z", re.S)


def walk_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, sorted, skipping hidden names; follows folder
    symlinks but never enters the same folder twice (symlink loops end)."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        files = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    files.append(Path(entry.path))
            except OSError:
                continue
        yield from reversed(files)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def expand_paths(spec: str, suffixes: Iterable[str], *, base: Path | None = None,
                 what: str = "timeline files") -> tuple[Path, list[Path]]:
    """Expand one file, folder (recursive) or glob into ``(root, files)``.

    Only regular files whose suffix is in ``suffixes`` are returned from folders and
    globs; a named file is returned as it is (the caller decides whether it is a regular
    file). ``root`` is the folder that relative output paths are taken from.

    Raises:
        UsageError: no such path, or a glob that matches nothing.
    """
    wanted = tuple(s.lower() for s in suffixes)
    text = str(base / spec) if base is not None and not os.path.isabs(spec) else spec
    if any(ch in spec for ch in GLOB_CHARS):
        root = glob_root(text)
        rx = _glob_regex(text.replace(os.sep, "/").removeprefix("./"))
        files = [f for f in walk_files(root) if f.suffix.lower() in wanted
                 and rx.match(f.as_posix().removeprefix("./"))]
        if not files:
            raise UsageError(f"{spec}: the glob matches no {what} ({', '.join(wanted)})")
        return (base if base is not None else root), files
    path = Path(text)
    if path.is_dir():
        files = [f for f in walk_files(path) if f.suffix.lower() in wanted]
        return (base if base is not None else path), files
    if path.exists():
        require_regular(path, what.removesuffix("s"))
        return (base if base is not None else path.parent), [path]
    if path.is_symlink():
        return (base if base is not None else path.parent), [path]
    raise UsageError(f"{spec}: no such file or folder")


def jsonable(obj: Any) -> Any:
    """Convert dataclasses, paths, fractions, enums and tuples into JSON-ready values."""
    if hasattr(obj, "as_dict") and callable(obj.as_dict):
        return jsonable(obj.as_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Fraction):
        return float(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN or Infinity
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (bytes, bytearray)):
        return f"<{len(obj)} bytes>"
    return obj
