"""Loading a SoundFont bank: checks, the preset table, preset look-up with GM fallbacks, and its identity.

``load_bank`` memory-maps the file and checks its whole structure up front, so a bad bank
fails before any rendering with a :class:`SoundFontError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import itertools
import mmap
import struct
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from .errors import SoundFontError
from .hydra import build_instruments, build_presets, read_records
from .riff import Chunk, SfbkLayout, read_layout
from .samples import SampleData, SampleHeader, SampleStore, parse_headers
from .zones import Instrument, Preset, Voice, match_voices

__all__ = ["SoundFontBank", "BankIdentity", "load_bank", "bank_identity", "nearest_program", "DRUM_BANK"]

#: MIDI bank number of percussion kits in SoundFont banks.
DRUM_BANK = 128
_HINT = "the file looks damaged: get a fresh copy of the bank"
_TOKENS = itertools.count(1)


@dataclass(frozen=True)
class BankIdentity:
    """What a manifest records of a bank: file name, size in bytes and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        """``{"name": ..., "size": ..., "sha256": ...}``."""
        return asdict(self)


def bank_identity(path: str | Path) -> BankIdentity:
    """File name, size and SHA-256 of the bank at ``path`` (read in 1 MiB blocks)."""
    p = Path(path)
    digest = hashlib.sha256()
    size = 0
    with p.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return BankIdentity(p.name, size, digest.hexdigest())


def _version(info: dict[str, Chunk], buf: memoryview, path: Path) -> tuple[int, int]:
    chunk = info.get("ifil")
    if chunk is None or chunk.size != 4:
        raise SoundFontError(path, "the INFO 'ifil' version chunk is missing or not 4 bytes", hint=_HINT)
    major, minor = struct.unpack_from("<HH", buf, chunk.offset)
    if major not in (2, 3):
        raise SoundFontError(path, f"SoundFont version {major}.{minor:02d} is not supported (2.x and 3.x are)",
                             hint="give a SoundFont 2 (.sf2) or SoundFont 3 (.sf3) bank")
    return major, minor


def _text(info: dict[str, Chunk], cid: str, buf: memoryview) -> str:
    chunk = info.get(cid)
    if chunk is None:
        return ""
    return bytes(buf[chunk.offset:chunk.offset + chunk.size]).split(b"\0", 1)[0].decode("latin-1").strip()


def _sm24(layout: SfbkLayout, smpl: Chunk, version: tuple[int, int], warnings: list[str]) -> Chunk | None:
    sm24 = layout.sdta.get("sm24")
    if sm24 is None:
        return None
    frames = smpl.size // 2
    if version >= (2, 4) and sm24.size in (frames, frames + (frames & 1)):
        return sm24
    warnings.append("the sm24 chunk does not match the bank version or the smpl size: 16-bit samples used")
    return None


class SoundFontBank:
    """A checked SoundFont 2/3 bank, memory-mapped. Build it with :func:`load_bank`.

    Attributes:
        path: the bank file.
        name: the bank's own name (INFO 'INAM'), may be empty.
        version: (major, minor) of the SoundFont format; 3 means Ogg Vorbis samples.
        warnings: problems that do not stop playing (ROM samples, odd stereo links, ...).
        instruments, samples: the instrument list and the sample headers.
        token: a number unique to this loaded bank within the process (for cache keys).
    """

    def __init__(self, path: Path, buf: mmap.mmap) -> None:
        self.path = path
        self.token = next(_TOKENS)  # unique per loaded bank in this process: a note cache key part
        self._mmap = buf
        view = memoryview(buf)
        layout = read_layout(view, path)
        self.warnings: list[str] = []
        self.version = _version(layout.info, view, path)
        self.name = _text(layout.info, "INAM", view)
        smpl = layout.sdta.get("smpl")
        if smpl is None:
            raise SoundFontError(path, "the sdta list has no 'smpl' sample chunk", hint=_HINT)
        rec = read_records(view, layout.pdta, path)
        pdta_shdr = layout.pdta["shdr"]
        self.samples: list[SampleHeader] = parse_headers(
            view[pdta_shdr.offset:pdta_shdr.offset + pdta_shdr.size], view[smpl.offset:smpl.offset + smpl.size],
            path, self.warnings)
        self.instruments: list[Instrument] = build_instruments(rec, len(self.samples), path)
        self._presets: list[Preset] = self._unique(build_presets(rec, len(self.instruments), path))
        if not self._presets:
            raise SoundFontError(path, "the bank has no presets", hint="give a bank with at least one preset")
        self._store: SampleStore | None = SampleStore(view, path, smpl, _sm24(layout, smpl, self.version, self.warnings),
                                                      self.samples)

    def _unique(self, presets: list[Preset]) -> list[Preset]:
        seen: dict[tuple[int, int], Preset] = {}
        for p in presets:
            if (p.bank, p.program) in seen:
                self.warnings.append(f"preset '{p.name}' repeats bank {p.bank} program {p.program}: the first one is used")
            else:
                seen[(p.bank, p.program)] = p
        return sorted(seen.values(), key=lambda p: (p.bank, p.program))

    @property
    def presets(self) -> list[tuple[int, int, str]]:
        """Every preset as ``(bank, program, name)``, sorted by bank then program."""
        return [p.key for p in self._presets]

    @property
    def preset_objects(self) -> list[Preset]:
        """Every :class:`Preset`, in the order of :attr:`presets`."""
        return list(self._presets)

    @cached_property
    def identity(self) -> BankIdentity:
        """File name, size and SHA-256 of the bank (computed once, on first use)."""
        return bank_identity(self.path)

    def find_preset(self, program: int, bank: int = 0, drums: bool = False) -> Preset | None:
        """The preset at ``bank``/``program`` (bank 128 when ``drums``), or None if the bank lacks it."""
        wanted = (DRUM_BANK if drums else bank, program)
        for p in self._presets:
            if (p.bank, p.program) == wanted:
                return p
        return None

    def voices(self, preset: Preset, key: int, velocity: int) -> list[Voice]:
        """Every sample (with its final generators) that ``key`` at ``velocity`` sounds on ``preset``."""
        return [v for v in match_voices(preset, self.instruments, key, velocity) if self.samples[v.sample].usable]

    def sample_data(self, index: int) -> SampleData:
        """Playable data of sample ``index`` (an Ogg Vorbis sample is decoded once, on first use)."""
        if self._store is None:
            raise ValueError(f"SoundFont {self.path} is closed")
        return self._store.get(index)

    @property
    def closed(self) -> bool:
        """Whether the memory map is closed (after :meth:`close`, once no sample array holds it)."""
        return self._mmap.closed

    def close(self) -> None:
        """Release the memory map; rendering afterwards raises ValueError. Notes already rendered stay valid.

        Sample arrays a caller still holds from :meth:`sample_data` keep the map open until dropped.
        """
        store, self._store = self._store, None
        if store is not None:
            store.release()
        try:
            self._mmap.close()
        except BufferError:
            pass

    def __enter__(self) -> SoundFontBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SoundFontBank({self.path.name!r}, version={self.version}, presets={len(self._presets)})"


def _open_map(path: Path) -> mmap.mmap:
    if not path.exists():
        raise SoundFontError(path, "file not found", hint="check the path given with --soundfont")
    if not path.is_file():
        raise SoundFontError(path, "not a regular file", hint="give the path of a .sf2 or .sf3 file")
    try:
        with path.open("rb") as f:
            if path.stat().st_size == 0:
                raise SoundFontError(path, "the file is empty", hint="give a SoundFont 2 (.sf2) or 3 (.sf3) bank")
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise SoundFontError(path, f"cannot be read: {exc.strerror or exc}") from exc


def load_bank(path: str | Path) -> SoundFontBank:
    """Open and check the SoundFont 2 (.sf2) or 3 (.sf3) bank at ``path``.

    Raises:
        SoundFontError: missing, unreadable, truncated or non-SoundFont file, bad chunk
            sizes, or records that point out of range; the message names file and problem.
    """
    p = Path(path)
    buf = _open_map(p)
    try:
        return SoundFontBank(p, buf)
    except SoundFontError as exc:
        error = exc.with_traceback(None)  # drop the frames that still view the map, so it can close
    try:
        buf.close()
    except BufferError:  # pragma: no cover - a view survived; the map closes when it is collected
        pass
    raise error


def _closest(candidates: list[Preset], program: int) -> Preset | None:
    if not candidates:
        return None
    return min(candidates, key=lambda p: (abs(p.program - program), p.program, p.bank))


def nearest_program(sfbank: SoundFontBank, program: int, bank: int = 0, drums: bool = False) -> Preset | None:
    """The preset to use for GM ``program`` when the bank may lack it, or None (use the procedural voice).

    Melodic: the exact preset, then bank 0, then the same program in any melodic bank, then
    the nearest program of the same GM family (programs 8k..8k+7). Drums: the kit at bank
    128, then the standard kit (program 0), then the lowest kit. Compare the returned
    preset's bank/program with the request to tell (and report) a fallback.
    """
    exact = sfbank.find_preset(program, bank, drums)
    if exact is not None:
        return exact
    presets = sfbank.preset_objects
    if drums:
        kits = [p for p in presets if p.bank == DRUM_BANK]
        return sfbank.find_preset(0, drums=True) or (kits[0] if kits else None)
    melodic = [p for p in presets if p.bank != DRUM_BANK]
    same = [p for p in melodic if p.program == program]
    if same:
        return min(same, key=lambda p: p.bank)
    family = [p for p in melodic if p.program // 8 == program // 8]
    return _closest([p for p in family if p.bank == 0], program) or _closest(family, program)
