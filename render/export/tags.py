"""Tags: one table from each tag to its ID3 frame, Vorbis comment and RIFF INFO id.

Every format is tagged from :data:`TAG_TABLE`, never by a hand mapping per format:
ID3 (MP3, and the ``id3 `` chunk of WAV), Vorbis comments (FLAC, OGG Vorbis, Opus) and
RIFF ``LIST/INFO`` (WAV). Loop points and cue markers are added here too.

Key names: a scale is a pitch-class set shared by a major key and its relative minor
(``C_MAJOR_A_MINOR``); the key tag always names the **major** key (``C``, ``Db``, ...),
as ID3 ``TKEY`` spells it, and the WAV ``acid`` root note is that major tonic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["TagSet", "Loop", "Cue", "TAG_TABLE", "key_of_scale", "fill_id3", "vorbis_comments", "cuesheet"]

_MAJOR = {"C": 0, "D_FLAT": 1, "D": 2, "E_FLAT": 3, "E": 4, "F": 5, "G_FLAT": 6, "G": 7, "A_FLAT": 8,
          "A": 9, "B_FLAT": 10, "B": 11}
_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def key_of_scale(scale: str | None) -> tuple[str, int] | None:
    """``"E_FLAT_MAJOR_C_MINOR"`` -> ``("Eb", 3)`` (the major key's name and pitch class)."""
    if not scale or "_MAJOR_" not in scale:
        return None
    pc = _MAJOR.get(scale.split("_MAJOR_")[0])
    return None if pc is None else (_NAMES[pc], pc)


@dataclass(frozen=True, kw_only=True)
class Loop:
    """Loop points in output frames (``start_frame`` > 0: an intro plays once first)."""

    start_frame: int
    length_frames: int


@dataclass(frozen=True, kw_only=True)
class Cue:
    """A named marker at an output frame (from an event's ``label``)."""

    frame: int
    label: str


@dataclass(frozen=True, kw_only=True)
class TagSet:
    """Metadata written into every file; ``extra`` holds free-form keys (TXXX / Vorbis comments).

    ``bpm``/``key`` are the starting tempo and key; ``meter`` feeds the WAV ``acid`` chunk.
    """

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    comment: str | None = None
    date: str | None = None
    bpm: int | None = None
    key: str | None = None
    root_note: int | None = None
    meter: tuple[int, int] = (4, 4)
    extra: Mapping[str, str] = field(default_factory=dict)
    cues: Sequence[Cue] = ()

    def standard(self) -> dict[str, str]:
        """The table's tags that are set, as strings (names as in :data:`TAG_TABLE`)."""
        return {k: str(getattr(self, k)) for k in TAG_TABLE if getattr(self, k) not in (None, "")}


#: tag -> (ID3 frame id, Vorbis comment names, RIFF INFO id or None)
TAG_TABLE: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "title": ("TIT2", ("TITLE",), "INAM"),
    "artist": ("TPE1", ("ARTIST",), "IART"),
    "album": ("TALB", ("ALBUM",), "IPRD"),
    "genre": ("TCON", ("GENRE",), "IGNR"),
    "comment": ("COMM", ("COMMENT",), "ICMT"),
    "date": ("TDRC", ("DATE",), "ICRD"),
    "bpm": ("TBPM", ("BPM",), None),
    "key": ("TKEY", ("KEY", "INITIALKEY"), None),
}


def _loop_extra(tags: TagSet, loop: Loop | None) -> dict[str, str]:
    extra = {k: str(v) for k, v in tags.extra.items()}
    if loop is not None:
        extra.update(LOOPSTART=str(loop.start_frame), LOOPLENGTH=str(loop.length_frames))
    return extra


def fill_id3(id3: Any, tags: TagSet, loop: Loop | None, sample_rate: int, total_frames: int) -> None:
    """Add every tag, the loop points (TXXX) and the cue markers (CHAP + CTOC) to an ID3 tag.

    The tag is then converted for ID3v2.3 (what the writers save): the date TDRC becomes TYER + TDAT,
    which v2.3 players read (mutagen and v2.4 readers show it as TDRC again).
    """
    from mutagen import id3 as m

    for name, value in tags.standard().items():
        frame_id = TAG_TABLE[name][0]
        if frame_id == "COMM":
            id3.add(m.COMM(encoding=1, lang="eng", desc="", text=[value]))
        else:
            id3.add(getattr(m, frame_id)(encoding=1, text=[value]))
    for key, value in _loop_extra(tags, loop).items():
        id3.add(m.TXXX(encoding=1, desc=key, text=[value]))
    _add_chapters(id3, tags.cues, sample_rate, total_frames)
    id3.update_to_v23()


def _add_chapters(id3: Any, cues: Sequence[Cue], sample_rate: int, total_frames: int) -> None:
    from mutagen import id3 as m

    if not cues:
        return
    ids = [f"chp{i}" for i in range(len(cues))]
    ends = [c.frame for c in cues[1:]] + [total_frames]
    for cid, cue, end in zip(ids, cues, ends):
        ms0, ms1 = round(cue.frame * 1000 / sample_rate), round(end * 1000 / sample_rate)
        id3.add(m.CHAP(element_id=cid, start_time=ms0, end_time=ms1,
                       sub_frames=[m.TIT2(encoding=1, text=[cue.label])]))
    id3.add(m.CTOC(element_id="toc", flags=m.CTOCFlags.TOP_LEVEL | m.CTOCFlags.ORDERED,
                   child_element_ids=ids, sub_frames=[]))


def vorbis_comments(tags: TagSet, loop: Loop | None, sample_rate: int, file_name: str) -> dict[str, list[str]]:
    """Vorbis comments (FLAC, OGG, Opus): the table's tags, extras, loop points and a CUESHEET."""
    out: dict[str, list[str]] = {}
    for name, value in tags.standard().items():
        for key in TAG_TABLE[name][1]:
            out[key] = [value]
    for key, value in _loop_extra(tags, loop).items():
        out[key.upper()] = [value]
    if tags.cues:
        out["CUESHEET"] = [cuesheet(tags.cues, sample_rate, file_name)]
    return out


def cuesheet(cues: Sequence[Cue], sample_rate: int, file_name: str) -> str:
    """A CUE sheet with one track per marker (INDEX in mm:ss:ff, 75 frames a second)."""
    lines = [f'FILE "{file_name}" WAVE']
    for i, cue in enumerate(cues, start=1):
        f75 = cue.frame * 75 // sample_rate
        lines += [f"  TRACK {i:02d} AUDIO", f'    TITLE "{cue.label.replace(chr(34), chr(39))}"',
                  f"    INDEX 01 {f75 // 4500:02d}:{f75 // 75 % 60:02d}:{f75 % 75:02d}"]
    return "\n".join(lines)
