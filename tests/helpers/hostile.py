"""Helpers for the hostile-files tests: a kept spool to tamper with, sentinels outside it, the CLI in-process."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from render.cli import main

TINY = "duration: 1\nprompts: [Piano]\noutput:\n  formats: [wav]\n"
SPOOL = Path("out/.lyria-render/t.spool")


def cli(argv: list[str], capsys: Any = None, *, quiet: bool = True) -> tuple[int, str, str]:
    """Run the console-script entry point in-process; returns (exit code, stdout, stderr).

    Without ``capsys`` (module-scoped fixtures) the output is not returned.
    """
    code = 0
    try:
        main(["-q", *argv] if quiet else argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def make_proto(root: Path) -> Path:
    """``root/in/t.yaml`` rendered offline into ``root/out`` with ``--keep-spool``."""
    (root / "in").mkdir(parents=True)
    (root / "in" / "t.yaml").write_text(TINY)
    code, _, _ = cli(render_args(root, "--keep-spool"))
    assert code == 0
    return root


def copy_proto(proto: Path, dst: Path) -> Path:
    """A fresh copy of the prototype render (spool included) plus an ``outside`` folder of sentinels."""
    shutil.copytree(proto / "in", dst / "in")
    shutil.copytree(proto / "out", dst / "out", symlinks=True)
    outside = dst / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("keep me\n")
    (outside / "big.bin").write_bytes(bytes(range(256)) * 1600)
    return dst


def tree_hash(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes under ``folder``."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def read_index(spool: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (spool / "index.jsonl").read_text().splitlines() if line.strip()]


def write_index(spool: Path, lines: list[dict[str, Any]]) -> None:
    (spool / "index.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def render_args(root: Path, *extra: str) -> list[str]:
    return ["render", str(root / "in/t.yaml"), "-o", str(root / "out"), "--backend", "offline", *extra]
