"""SoundFont voices (issue 13): the offline engine's notes played through a GM bank."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.offline import SR, band_energy, render
from helpers.sf2_writer import (
    G_KEYRANGE,
    G_MODES,
    G_PAN,
    G_RELEASE,
    G_ROOT,
    InstrumentSpec,
    PresetSpec,
    SampleSpec,
    ZoneSpec,
    build_sf2,
    timecents,
)
from typer.testing import CliRunner

from render.backends.offline.bank_voices import VELOCITY_LAYERS, BankVoices, open_voices, velocity_layer
from render.backends.offline.gm import DRUMS, PROGRAMS
from render.cli import app
from render.controls import GenerationConfig as G
from render.pipeline import render_timeline
from render.pipeline.job import RenderOptions, prepare
from render.soundfont import SoundFontError

assert G_KEYRANGE  # the writer's names, used through ZoneSpec(keys=...)
runner = CliRunner()
PERIOD = 100  # 441 Hz at 44.1 kHz, root key 69 (+4 cents)


def sine_bank(missing: set[int] = frozenset(), kit: bool = True, amp: float = 0.5, pan: int = 0) -> bytes:
    """Every GM program (but ``missing``) is a looped sine; bank 128 program 0 is a noise kit.
    Velocities above 80 play a sine an octave up (a second velocity layer); ``pan`` in 0.1 %."""
    t = np.arange(22050)
    samples = [SampleSpec("sine", amp * np.sin(2 * np.pi * t / PERIOD), root=69, loop=(1000, 21000)),
               SampleSpec("noise", np.random.default_rng(0).uniform(-0.5, 0.5, 8000), root=60),
               SampleSpec("octave", amp * np.sin(4 * np.pi * t / PERIOD), root=69, loop=(1000, 21000))]
    gens = [(G_MODES, 1), (G_RELEASE, timecents(0.05)), (G_PAN, pan)]
    instruments = [InstrumentSpec("Sine", [ZoneSpec(gens, vels=(0, 80), target=0), ZoneSpec(gens, vels=(81, 127), target=2)]),
                   InstrumentSpec("Noise kit", [ZoneSpec([(G_ROOT, 60)], keys=(35, 81), target=1)])]
    presets = [PresetSpec(f"Sine {p}", p, 0, [ZoneSpec(target=0)]) for p in range(128) if p not in missing]
    if kit:
        presets.append(PresetSpec("Standard", 0, 128, [ZoneSpec(target=1)]))
    return build_sf2(samples, instruments, presets)


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sf") / "sine.sf2"
    path.write_bytes(sine_bank())
    return path


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / SR)[np.argmax(spec)])


@pytest.mark.parametrize("name,midi", [("piano", 57), ("strings", 69), ("bass_e", 40), ("flute", 76)])
def test_a_bank_note_sounds_at_the_requested_pitch(bank, name, midi):
    note = open_voices(bank).note(name, midi, SR // 2, 2.0, velocity=0.5)
    want = 440.0 * 2 ** ((midi - 69) / 12)
    assert note.shape[1] == 2 and abs(_peak_hz(note[: SR // 2, 0]) / want - 1) < 0.01
    assert note.dtype == np.float32 and abs(float(np.abs(note).max()) - 1.0) < 0.05  # normalised like the engine


def test_the_engine_velocity_picks_the_bank_velocity_layer(bank):
    assert [velocity_layer(v) for v in (0.0, 0.3, 0.55, 0.8, 1.0, 1.4)] == [40, 40, 72, 100, 127, 127]
    assert VELOCITY_LAYERS == tuple(sorted(VELOCITY_LAYERS)) and VELOCITY_LAYERS[-1] == 127
    voices = open_voices(bank)
    soft, loud = (voices.note("piano", 69, SR // 2, 2.0, velocity=v)[: SR // 2, 0] for v in (0.4, 1.0))
    assert abs(_peak_hz(soft) / 440 - 1) < 0.01 and abs(_peak_hz(loud) / 880 - 1) < 0.01  # two zones, two sounds
    assert abs(float(np.abs(soft).max()) - float(np.abs(loud).max())) < 0.05  # loudness stays the engine's


def test_stereo_bank_notes_keep_their_side_through_the_engine(tmp_path):
    right = tmp_path / "right.sf2"
    right.write_bytes(sine_bank(pan=500))  # every zone panned hard right by the bank
    note = open_voices(right).note("piano", 60, SR // 2, 2.0)
    assert float(np.abs(note[:, 0]).max()) < 0.01 < float(np.abs(note[:, 1]).max())
    audio, _ = render([("Piano", 1.0)], G(bpm=100, seed=3, mute_drums=True), 6, soundfont=right)
    left_e, right_e = (float(np.sum(audio[:, c].astype(np.float64) ** 2)) for c in (0, 1))
    assert right_e > 20 * left_e  # a mono sum would have put it in the middle (or left, where comping sits)


def test_every_engine_sound_has_a_general_midi_decision():
    from render.backends.offline.drums import DRUM_SOUNDS
    from render.backends.offline.instruments import INSTRUMENTS

    assert set(PROGRAMS) == set(INSTRUMENTS)  # a GM program, or None: the engine's own voice
    assert set(DRUMS) == set(DRUM_SOUNDS)  # a GM kit key, or None: the engine's own hit


def test_unmapped_instruments_keep_the_engine_voice(bank):
    voices = open_voices(bank)
    assert all(voices.note(n, 50, SR, 2.0) is None for n, p in PROGRAMS.items() if p is None)
    assert all(voices.note(n, 0, None, 1.0) is None for n, d in DRUMS.items() if d is None)
    assert voices.note("kick", 36, None, 1.0) is not None


def test_a_render_through_the_bank_plays_its_sines(bank):
    cfg = G(bpm=100, seed=3, mute_drums=True)
    own, _ = render([("Piano", 1.0)], cfg, 6)
    sf, _ = render([("Piano", 1.0)], cfg, 6, soundfont=bank)
    assert np.abs(sf).max() > 0.05
    # a sine bank has no overtones: almost nothing above 4 kHz, unlike the procedural piano
    assert band_energy(sf, 4000, 20000) < 0.1 * band_energy(own, 4000, 20000)


def test_mute_flags_stay_exact_with_a_bank(bank):
    mix_pairs = [("Funk", 1.0), ("Piano", 0.5)]
    cfg = dict(bpm=120, density=0.8, seed=4)
    mix, _ = render(mix_pairs, G(**cfg), 4, soundfont=bank)
    drums, _ = render(mix_pairs, G(**cfg, mute_bass=True, only_bass_and_drums=True), 4, soundfont=bank)
    bass, _ = render(mix_pairs, G(**cfg, mute_drums=True, only_bass_and_drums=True), 4, soundfont=bank)
    other, _ = render(mix_pairs, G(**cfg, mute_drums=True, mute_bass=True), 4, soundfont=bank)
    assert min(np.abs(x).max() for x in (drums, bass, other)) > 0.02
    error = mix - (drums + bass + other)
    assert 10 * np.log10(np.mean(error**2) / np.mean(mix**2)) < -60


def test_output_does_not_depend_on_the_chunk_size(bank):
    cfg = G(bpm=130, seed=7)
    a, _ = render([("Jazz Fusion", 1.0)], cfg, 5, soundfont=bank, chunk_frames=96_000)
    b, _ = render([("Jazz Fusion", 1.0)], cfg, 5, soundfont=bank, chunk_frames=7_001)
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_output_is_identical_across_processes(bank):
    code = (
        "import hashlib, sys; sys.path.insert(0, 'tests');"
        "from helpers.offline import render; from render.controls import GenerationConfig as G;"
        f"a, _ = render([('Bossa Nova', 1.0)], G(bpm=110, seed=5), 3, soundfont={str(bank)!r});"
        "print(hashlib.sha256(a.tobytes()).hexdigest())"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    here, _ = render([("Bossa Nova", 1.0)], G(bpm=110, seed=5), 3, soundfont=bank)
    import hashlib

    assert runs == {hashlib.sha256(here.tobytes()).hexdigest() + "\n"}


def test_a_missing_preset_falls_back_with_a_warning(tmp_path):
    path = tmp_path / "holes.sf2"
    path.write_bytes(sine_bank(missing={0, *range(8, 16)}, kit=False))
    voices = BankVoices(path)
    text = "\n".join(voices.fallbacks)
    assert "piano: GM program 0 missing from the bank; using 0:1 'Sine 1'" in text  # nearest of its GM family
    assert "marimba: GM program 12 missing from the bank; the engine's own voice plays it" in text  # whole family gone
    assert "kick: no GM drum key 36" in text
    assert voices.note("piano", 60, SR, 2.0) is not None and voices.note("marimba", 60, SR, 2.0) is None
    assert voices.note("kick", 36, None, 1.0) is None
    tl = tmp_path / "t.yaml"
    tl.write_text("duration: 1\nprompts: {Piano: 1}\noutput: {name: t, formats: [wav]}\n")
    result = runner.invoke(app, ["render", str(tl), "-o", str(tmp_path), "--backend", "offline", "--soundfont", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: piano: GM program 0 missing" in result.stderr
    manifest = json.loads((tmp_path / "t.manifest.json").read_text())
    assert any("piano: GM program 0" in w for w in manifest["backend"]["soundfont"]["fallbacks"])


def _bad_banks(tmp_path: Path) -> dict[str, Path]:
    good = sine_bank()
    out = {"missing": tmp_path / "nope.sf2"}
    for name, data in {"truncated": good[: len(good) // 2], "not_a_bank": b"RIFF\x04\x00\x00\x00WAVE",
                       "text": b"hello", "no_presets": build_sf2([SampleSpec("s", np.zeros(100))],
                                                                  [InstrumentSpec("I", [ZoneSpec(target=0)])],
                                                                  [PresetSpec("Odd", 99, 128, [ZoneSpec(target=0)])])}.items():
        out[name] = tmp_path / f"{name}.sf2"
        out[name].write_bytes(data)
    return out


def test_bad_banks_exit_2_before_rendering(tmp_path):
    tl = tmp_path / "t.yaml"
    tl.write_text("duration: 1\nprompts: {Piano: 1}\noutput: {name: t, formats: [wav]}\n")
    for case, path in _bad_banks(tmp_path).items():
        result = runner.invoke(app, ["render", str(tl), "-o", str(tmp_path / case), "--backend", "offline", "--soundfont", str(path)])
        assert result.exit_code == 2, (case, result.output)
        assert path.name in result.stderr and "Traceback" not in result.output, case
        assert not (tmp_path / case / "t.wav").exists()
    with pytest.raises(SoundFontError, match="no General MIDI preset"):
        BankVoices(_bad_banks(tmp_path)["no_presets"])


def test_batch_and_serve_refuse_a_bad_bank(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "t.yaml").write_text("duration: 1\nprompts: {Piano: 1}\n")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"junk")
    batch = runner.invoke(app, ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--backend", "offline", "--soundfont", str(bad)])
    assert batch.exit_code == 2 and "bad.sf2" in batch.output
    serve = runner.invoke(app, ["serve", "--port", "0", "--soundfont", str(bad)])
    assert serve.exit_code == 2 and "bad.sf2" in serve.stderr


def test_manifest_records_the_bank(bank, tmp_path):
    result = render_timeline({"duration": 1, "prompts": {"Piano": 1}}, tmp_path, RenderOptions(backend="offline", soundfont=bank, dry_run=True))
    sf = result.manifest["backend"]["soundfont"]

    assert sf["name"] == "sine.sf2" and sf["size"] == bank.stat().st_size
    assert sf["sha256"] == hashlib.sha256(bank.read_bytes()).hexdigest() 
    # the sine bank has no TR-808 kit (bank 128:25): the engine's own 808 hits play, and say so
    assert {w.split(":")[0] for w in sf["fallbacks"]} == {"kick_808", "snare_808", "hat_808"}
    assert "kick_808: no GM drum key 36 in kit 25" in result.manifest["backend"]["reason"]


def test_the_job_hash_follows_the_bank_and_every_way_to_name_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LYRIA_RENDER_SOUNDFONT", raising=False)
    tl = tmp_path / "t.yaml"
    tl.write_text("duration: 1\nprompts: {Piano: 1}\n")
    a, b = tmp_path / "a.sf2", tmp_path / "b.sf2"
    a.write_bytes(sine_bank())
    b.write_bytes(sine_bank(amp=0.25))
    opts = RenderOptions(backend="offline")

    def job(path, soundfont=None):
        return prepare(path, tmp_path, RenderOptions(backend="offline", soundfont=soundfont)).job_hash

    plain, with_a, with_b = job(tl), job(tl, a), job(tl, b)
    assert len({plain, with_a, with_b}) == 3
    monkeypatch.setenv("LYRIA_RENDER_SOUNDFONT", str(a))
    assert prepare(tl, tmp_path, opts).job_hash == with_a
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "t.yaml").write_text("duration: 1\nprompts: {Piano: 1}\nengine: {soundfont: ../b.sf2}\n")
    p = prepare(sub / "t.yaml", tmp_path, opts)  # the timeline's own bank beats the environment
    assert p.backend.describe()["soundfont"]["name"] == "b.sf2"
    b.write_bytes(sine_bank(amp=0.3))  # the bank changed: the job is stale
    assert prepare(sub / "t.yaml", tmp_path, opts).job_hash != p.job_hash
