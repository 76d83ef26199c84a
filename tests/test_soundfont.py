"""The SoundFont sample player (render.soundfont) on tiny banks that the tests write themselves."""

from __future__ import annotations

import hashlib
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.sf2_writer import (
    G_ATTACK,
    G_ATTEN,
    G_COARSE,
    G_DECAY,
    G_DELAY,
    G_FC,
    G_FINE,
    G_HOLD,
    G_MODES,
    G_PAN,
    G_Q,
    G_RELEASE,
    G_ROOT,
    G_SCALE,
    G_SUSTAIN,
    LEFT,
    RIGHT,
    InstrumentSpec,
    PresetSpec,
    SampleSpec,
    ZoneSpec,
    build_sf2,
    chunk_data_offset,
    timecents,
)

from render.errors import RenderError
from render.soundfont import (
    NoteCache,
    SoundFontError,
    bank_identity,
    load_bank,
    nearest_program,
    render_note,
)

SR = 48_000
SRC = 44_100
PERIOD = 100  # frames per cycle of the 441 Hz source sine at 44.1 kHz
LOOP = (1000, 21000)  # a whole number of cycles: a seamless loop

ENV = {"delay": 0.01, "attack": 0.02, "hold": 0.03, "decay": 0.5, "sustain_cb": 200, "release": 0.2}


def sine(freq_period: int, frames: int = 22050, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * np.arange(frames) / freq_period)


def noise(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, frames)


def _env_gens() -> list[tuple[int, int]]:
    return [(G_DELAY, timecents(ENV["delay"])), (G_ATTACK, timecents(ENV["attack"])),
            (G_HOLD, timecents(ENV["hold"])), (G_DECAY, timecents(ENV["decay"])),
            (G_SUSTAIN, ENV["sustain_cb"]), (G_RELEASE, timecents(ENV["release"]))]


def standard_bank_bytes(vorbis: bool = False) -> bytes:
    """Samples, instruments and presets used across the tests (see the preset names)."""
    samples = [
        SampleSpec("sine441", sine(PERIOD), root=69, loop=LOOP, vorbis=vorbis),           # 0
        SampleSpec("sine882", sine(PERIOD // 2), root=69, loop=LOOP),                    # 1
        SampleSpec("dc", np.full(4800, 0.5), rate=SR, root=60, loop=(100, 4700)),       # 2
        SampleSpec("noise", noise(13230), root=60),                                      # 3
        SampleSpec("left441", sine(PERIOD), root=69, loop=LOOP, channel=LEFT, link=5),   # 4
        SampleSpec("right882", sine(PERIOD // 2), root=69, loop=LOOP, channel=RIGHT, link=4),  # 5
        SampleSpec("sine441flat", sine(PERIOD), root=69, loop=LOOP, correction=-30),     # 6
    ]
    loop = (G_MODES, 1)
    instruments = [
        InstrumentSpec("Lead", [ZoneSpec([loop, (G_RELEASE, timecents(0.1))]),       # global zone
                                ZoneSpec(vels=(0, 63), target=0), ZoneSpec(vels=(64, 127), target=1)]),
        InstrumentSpec("EnvDC", [ZoneSpec([loop, *_env_gens()], target=2)]),
        InstrumentSpec("Kit", [ZoneSpec([(G_ROOT, 36)], keys=(36, 36), target=3),
                               ZoneSpec([(G_ROOT, 38)], keys=(38, 38), target=0)]),
        InstrumentSpec("Stereo", [ZoneSpec([loop], target=4)]),
        InstrumentSpec("Dark", [ZoneSpec([(G_FC, 7000)], target=3)]),
        InstrumentSpec("Retuned", [ZoneSpec([loop, (G_FINE, 5)]),
                                   ZoneSpec([(G_ROOT, 57), (G_SCALE, 50), (G_COARSE, 1)], target=6)]),
        InstrumentSpec("Panned", [ZoneSpec([loop, (G_PAN, -500)], target=0)]),
    ]
    presets = [
        PresetSpec("Lead", 0, 0, [ZoneSpec(target=0)]),
        PresetSpec("Env", 1, 0, [ZoneSpec(target=1)]),
        PresetSpec("Stereo", 2, 0, [ZoneSpec(target=3)]),
        PresetSpec("Dark", 3, 0, [ZoneSpec(target=4)]),
        # preset generators add to the instrument's; a preset-level root key is ignored
        PresetSpec("Retuned", 4, 0, [ZoneSpec([(G_COARSE, 2), (G_ROOT, 10)], target=5)]),
        PresetSpec("Quiet", 5, 0, [ZoneSpec([(G_ATTEN, 60)], target=0)]),
        PresetSpec("Panned", 6, 0, [ZoneSpec(target=6)]),
        PresetSpec("Standard kit", 0, 128, [ZoneSpec(target=2)]),
    ]
    return build_sf2(samples, instruments, presets, version=(3, 1) if vorbis else (2, 1))


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sf") / "test.sf2"
    path.write_bytes(standard_bank_bytes())
    return path


@pytest.fixture(scope="module")
def bank(bank_path: Path):
    with load_bank(bank_path) as b:
        yield b


def peak_hz(x: np.ndarray, rate: int = SR) -> float:
    """Frequency of the strongest spectral peak (Hann window, 4x zero padding, parabolic fit)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * len(x)))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (4 * len(x))


def cents(f: float, ref: float) -> float:
    return 1200 * math.log2(f / ref)


def play(bank, program: int, key: int, vel: int = 100, seconds: float = 1.0, drums: bool = False) -> np.ndarray:
    preset = bank.find_preset(program, drums=drums)
    assert preset is not None
    return render_note(bank, preset, key, vel, seconds)


# --- loading and look-up ------------------------------------------------------------------


def test_presets_are_listed_and_found(bank) -> None:
    assert bank.presets[0] == (0, 0, "Lead")
    assert (128, 0, "Standard kit") in bank.presets
    assert bank.version == (2, 1) and bank.name == "Test bank" and bank.warnings == []
    assert bank.find_preset(1).name == "Env"
    assert bank.find_preset(0, drums=True).name == "Standard kit"
    assert bank.find_preset(0, bank=128).name == "Standard kit"
    assert bank.find_preset(9) is None


def test_nearest_program_falls_back_within_the_gm_family(bank) -> None:
    assert nearest_program(bank, 3).program == 3
    assert nearest_program(bank, 7).program == 6          # same family (0-7), nearest program
    assert nearest_program(bank, 2, bank=8).bank == 0      # variation bank missing: bank 0
    assert nearest_program(bank, 40) is None               # strings family absent: procedural voice
    assert nearest_program(bank, 25, drums=True).name == "Standard kit"


@pytest.mark.parametrize("pad", [True, False])
def test_odd_sized_chunks_load_padded_or_not(tmp_path: Path, pad: bool) -> None:
    path = tmp_path / "odd.sf2"
    path.write_bytes(build_sf2(*_parts(), name="Odd name", pad=pad))  # INAM: 9 bytes
    b = load_bank(path)
    assert b.name == "Odd name" and len(render_note(b, b.find_preset(0), 69, 100, 0.1)) > 0


def test_close_releases_the_file(bank_path: Path) -> None:
    with load_bank(bank_path) as b:
        note = render_note(b, b.find_preset(0), 60, 100, 0.1)
    assert b.closed and note.sum() != 0
    with pytest.raises(ValueError, match="closed"):
        render_note(b, b.find_preset(0), 60, 100, 0.1)


def test_bank_identity_names_size_and_sha256(bank, bank_path: Path) -> None:
    ident = bank_identity(bank_path)
    data = bank_path.read_bytes()
    assert ident.as_dict() == {"name": "test.sf2", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert bank.identity == ident


# --- pitch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [45, 60, 69, 81, 93])
def test_played_pitch_follows_the_key(bank, key: int) -> None:
    y = play(bank, 0, key, vel=40)  # low velocity zone: the 441 Hz sample, root key 69
    f = peak_hz(y[4800:4800 + 32768, 0])
    assert abs(cents(f, 441.0 * 2 ** ((key - 69) / 12))) < 2


def test_root_override_scale_coarse_fine_correction_and_preset_offsets(bank) -> None:
    # Retuned: root 57 (preset-level root ignored), scaleTuning 50, coarse 1 (+2 from the preset),
    # fine 5 (instrument global zone), sample correction -30 cents.
    key = 65
    y = play(bank, 4, key)
    expected_cents = (key - 57) * 50 + (1 + 2) * 100 + 5 - 30
    assert abs(cents(peak_hz(y[4800:4800 + 32768, 0]), 441.0 * 2 ** (expected_cents / 1200))) < 2


# --- zones ----------------------------------------------------------------------------------


def test_velocity_zones_pick_different_samples(bank) -> None:
    soft = peak_hz(play(bank, 0, 69, vel=63)[4800:4800 + 32768, 0])
    loud = peak_hz(play(bank, 0, 69, vel=64)[4800:4800 + 32768, 0])
    assert abs(cents(soft, 441.0)) < 2 and abs(cents(loud, 882.0)) < 2


def test_drum_kit_keys_pick_their_own_samples(bank) -> None:
    kick = play(bank, 0, 36, drums=True, seconds=0.2)
    tone = play(bank, 0, 38, drums=True, seconds=0.2)
    spec = np.abs(np.fft.rfft(kick[:4096, 0] * np.hanning(4096)))[1:] + 1e-12
    assert np.exp(np.mean(np.log(spec))) / np.mean(spec) > 0.5  # noise: a flat spectrum
    assert abs(cents(peak_hz(tone[:8192, 0]), 441.0)) < 3
    assert render_note(bank, bank.find_preset(0, drums=True), 40, 100, 0.2).shape == (0, 2)  # no zone: empty


# --- envelope -------------------------------------------------------------------------------


def test_volume_envelope_stages_land_on_their_frames(bank) -> None:
    gate = int(0.5 * SR)
    y = render_note(bank, bank.find_preset(1), 60, 127, gate_frames=gate)  # DC sample at its root: ratio 1
    env = y[:, 0].astype(np.float64) / (round(0.5 * 32767) / 32768 * math.cos(math.pi / 4))
    f = lambda s: int(round(2 ** (timecents(s) / 1200) * SR))
    d, a, h = f(ENV["delay"]), f(ENV["attack"]), f(ENV["hold"])
    decay_frames = 2 ** (timecents(ENV["decay"]) / 1200) * SR
    sustain = 10 ** (-ENV["sustain_cb"] / 200)
    assert np.all(env[:d] == 0)
    assert env[d + a // 2] == pytest.approx(0.5, abs=2e-3)               # attack: linear in amplitude
    assert np.allclose(env[d + a:d + a + h], 1.0, atol=1e-4)              # hold at peak
    mid = d + a + h + int(decay_frames * 0.1)                             # decay: 100 cB in 10% of the time
    assert env[mid] == pytest.approx(10 ** (-100 / 200), rel=2e-3)
    reached = d + a + h + int(math.ceil(decay_frames * ENV["sustain_cb"] / 1000))
    assert np.allclose(env[reached:gate], sustain, rtol=1e-4)             # sustain level until the gate
    release_frames = 2 ** (timecents(ENV["release"]) / 1200) * SR
    assert env[gate + int(release_frames * 0.4)] == pytest.approx(10 ** (-(200 + 400) / 200), rel=5e-3)
    assert len(y) == gate + math.ceil(release_frames * 0.8)              # ends at -100 dB


def test_release_starts_from_the_current_level_without_a_step(bank) -> None:
    y = render_note(bank, bank.find_preset(1), 60, 127, gate_frames=int(0.015 * SR))  # released mid-attack
    steps = np.abs(np.diff(y[:, 0]))
    assert steps.max() < 0.02


# --- loops ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [57, 69, 76])
def test_loop_wrap_has_no_click(bank, key: int) -> None:
    y = play(bank, 0, key, vel=40, seconds=2.0)[:, 0].astype(np.float64)
    assert np.sqrt(np.mean(y[-int(0.2 * SR):] ** 2)) > 0  # still sounding long after the 0.5 s sample
    body = y[2000:int(1.9 * SR)]
    w = 2 * np.pi * 441.0 * 2 ** ((key - 69) / 12) / SR
    bound = np.abs(body).max() * w * w  # a sine's largest second difference
    assert np.abs(np.diff(body, 2)).max() < 1.3 * bound


def _reference_read(data: np.ndarray, start: int, ratio: float, n: int, loop: tuple[int, int], loop_frames: int,
                    end: int) -> np.ndarray:
    """Frame-by-frame reading with explicit loop arithmetic, to check the vectorised reader."""
    ls, le = loop
    out, p = np.zeros(n), float(start)
    for j in range(n):
        unwrapped = start + j * ratio
        looping = j < loop_frames
        if looping:
            p = ls + (unwrapped - ls) % (le - ls) if unwrapped >= le else unwrapped
        elif j > 0:
            p += ratio
        i, f = int(math.floor(p)), p - math.floor(p)
        wrapped = looping and unwrapped >= le
        def tap(k: int) -> float:
            if looping and (k >= le or (wrapped and k < ls)):
                k = ls + (k - ls) % (le - ls)
            return float(data[k]) if 0 <= k < end else 0.0
        x0, x1, x2, x3 = (tap(i + d) for d in (-1, 0, 1, 2))
        out[j] = x1 + f * (0.5 * (x2 - x0) + f * (x0 - 2.5 * x1 + 2 * x2 - 0.5 * x3 + f * (1.5 * (x1 - x2) + 0.5 * (x3 - x0))))
    return out


@pytest.mark.parametrize("ratio, loop_frames", [(1.37, 300), (0.61, 500), (3.3, 120), (1.0, 0)])
def test_cubic_reader_matches_a_frame_by_frame_reference(ratio: float, loop_frames: int) -> None:
    from render.soundfont.resample import positions, read

    data = np.random.default_rng(1).integers(-30000, 30000, 200).astype(np.int16)
    loop, end, n = (50, 120), 200, 500
    pos, first_wrap = positions(n, 3, ratio, loop, loop_frames)
    n = min(n, loop_frames + int(np.searchsorted(pos[loop_frames:], end)))
    got = read(data, pos[:n], end, loop, loop_frames, first_wrap)
    assert np.allclose(got, _reference_read(data, 3, ratio, n, loop, loop_frames, end), rtol=1e-5, atol=0.05)


def _mode_bank(tmp_path: Path, mode: int) -> Path:
    samples = [SampleSpec("sine", sine(PERIOD), root=69, loop=LOOP)]
    inst = [InstrumentSpec("i", [ZoneSpec([(G_MODES, mode), (G_RELEASE, timecents(2.0))], target=0)])]
    path = tmp_path / f"mode{mode}.sf2"
    path.write_bytes(build_sf2(samples, inst, [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])]))
    return path


def test_loop_modes_none_continuous_and_until_release(tmp_path: Path) -> None:
    gate = SR  # 1 s held, 2 s release; the sample itself lasts 0.5 s at key 69
    lengths = {}
    for mode in (0, 1, 3):
        b = load_bank(_mode_bank(tmp_path, mode))
        lengths[mode] = len(render_note(b, b.find_preset(0), 69, 127, gate_frames=gate))
    ratio = SRC / SR
    assert lengths[0] == math.ceil(22050 / ratio)                    # no loop: stops at the sample's end
    assert lengths[1] > gate + SR                                     # continuous: rings through the release
    assert gate < lengths[3] <= gate + math.ceil((22050 - LOOP[0]) / ratio)  # until release: then plays out


# --- gain, pan, stereo, filter -----------------------------------------------------------------


def test_attenuation_and_velocity_curve(bank) -> None:
    rms = lambda y: float(np.sqrt(np.mean(y[4800:48000, 0].astype(np.float64) ** 2)))
    full = rms(play(bank, 0, 69, vel=63))
    # the bank's 60 cB count at 0.4 (the EMU8000's scale, as FluidSynth plays banks) ...
    assert rms(play(bank, 5, 69, vel=63)) / full == pytest.approx(10 ** (-0.4 * 60 / 200), rel=1e-3)
    # ... the velocity modulator's share in full (the spec's concave 960 cB curve)
    assert rms(play(bank, 0, 69, vel=32)) / full == pytest.approx((32 / 63) ** 2, rel=1e-3)


def test_equal_power_pan(bank) -> None:
    centre = play(bank, 0, 69, vel=40)
    assert np.array_equal(centre[:, 0], centre[:, 1])
    assert np.abs(centre).max() == pytest.approx(0.5 * math.cos(math.pi / 4) * (40 / 127) ** 2, rel=1e-3)
    left = play(bank, 6, 69, vel=40)
    assert np.abs(left[:, 1]).max() < 1e-7 and np.abs(left[:, 0]).max() > 0.03


def test_stereo_sample_plays_with_its_linked_partner(bank) -> None:
    y = play(bank, 2, 69)
    assert abs(cents(peak_hz(y[4800:4800 + 32768, 0]), 441.0)) < 2
    assert abs(cents(peak_hz(y[4800:4800 + 32768, 1]), 882.0)) < 2


def test_low_pass_filter_darkens_noise(bank) -> None:
    def high_share(y: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(y[:8192, 0])) ** 2
        return float(spec[int(4000 / SR * 8192):].sum() / spec.sum())
    bright = high_share(play(bank, 0, 36, drums=True, seconds=0.2))  # the kit's noise at its root
    dark = high_share(play(bank, 3, 60, seconds=0.2))
    assert bright > 0.5 and dark < 0.01


def test_a_resonant_filter_lowers_the_dc_gain_by_half_its_q(tmp_path: Path) -> None:
    """SF2.01 8.1.3 #9: Q = 100 cB puts the peak 10 dB over DC and DC 5 dB under unity."""
    levels = {}
    for q in (0, 100, 240):
        zone = ZoneSpec([(G_MODES, 1), (G_FC, 12000), (G_Q, q)], target=0)
        path = tmp_path / f"q{q}.sf2"
        path.write_bytes(build_sf2([SampleSpec("dc", np.full(4800, 0.5), rate=SR, root=60, loop=(100, 4700))],
                                   [InstrumentSpec("i", [zone])], [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])]))
        b = load_bank(path)
        levels[q] = float(render_note(b, b.find_preset(0), 60, 127, 0.1)[3000, 0])
    assert levels[100] / levels[0] == pytest.approx(10 ** (-5 / 20), rel=1e-4)
    assert levels[240] / levels[0] == pytest.approx(10 ** (-12 / 20), rel=1e-4)


def test_24_bit_samples_use_the_sm24_low_bytes(tmp_path: Path) -> None:
    level = 0.123456789
    parts = ([SampleSpec("dc", np.full(4800, level), rate=SR, root=60, loop=(100, 4700))],
             [InstrumentSpec("i", [ZoneSpec([(G_MODES, 1)], target=0)])], [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])])
    played = {}
    for bits, extra in ((16, {}), (24, {"sm24": True, "version": (2, 4)})):
        path = tmp_path / f"b{bits}.sf2"
        path.write_bytes(build_sf2(*parts, **extra))
        b = load_bank(path)
        played[bits] = float(render_note(b, b.find_preset(0), 60, 127, 0.1)[2000, 0]) / math.cos(math.pi / 4)
    assert played[24] == pytest.approx(round(level * 8388607) / 8388608, abs=1e-7)
    assert abs(played[16] - level) > 10 * abs(played[24] - level)


def test_rom_samples_are_reported_and_silent(tmp_path: Path) -> None:
    path = tmp_path / "rom.sf2"
    path.write_bytes(build_sf2([SampleSpec("rom", sine(PERIOD), channel=0x8001)],
                               [InstrumentSpec("i", [ZoneSpec(target=0)])], [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])]))
    b = load_bank(path)
    assert "ROM" in b.warnings[0]
    assert render_note(b, b.find_preset(0), 60, 100, 0.1).shape == (0, 2)


# --- sf3 ------------------------------------------------------------------------------------


def test_sf3_ogg_vorbis_samples_play_at_pitch(tmp_path: Path) -> None:
    path = tmp_path / "test.sf3"
    path.write_bytes(standard_bank_bytes(vorbis=True))
    b = load_bank(path)
    assert b.version == (3, 1) and b.samples[0].compressed
    y = render_note(b, b.find_preset(0), 81, 40, 1.0)
    assert abs(cents(peak_hz(y[4800:4800 + 32768, 0]), 882.0)) < 3
    assert np.sqrt(np.mean(y[-4800:, 0].astype(np.float64) ** 2)) > 0.005  # looped past the sample's end


# --- determinism and cache --------------------------------------------------------------------

# The child loads render.soundfont without render/__init__ (a bare package path), which keeps it
# fast and checks that the player needs nothing from render but render.errors.
_CHILD = """
import hashlib, sys, types
pkg = types.ModuleType("render")
pkg.__path__ = [sys.argv[2]]
sys.modules["render"] = pkg
from render.soundfont import load_bank, render_note
b = load_bank(sys.argv[1])
print(hashlib.sha256(render_note(b, b.find_preset(4), 62, 90, 0.3).tobytes()).hexdigest())
print(sorted(m for m in sys.modules if m.startswith("render.") and not m.startswith("render.soundfont")))
"""


def test_output_is_bit_identical_across_loads_and_processes(bank, bank_path: Path) -> None:
    first = render_note(bank, bank.find_preset(4), 62, 90, 0.3)
    again = load_bank(bank_path)
    assert render_note(again, again.find_preset(4), 62, 90, 0.3).tobytes() == first.tobytes()
    package = Path(__file__).parent.parent / "render"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(bank_path), str(package)], capture_output=True,
                           text=True, check=True)
    digest, imported = child.stdout.split("\n")[:2]
    assert digest == hashlib.sha256(first.tobytes()).hexdigest()
    assert imported == "['render.audio', 'render.errors']"


def test_note_cache_hits_and_respects_its_byte_cap(bank) -> None:
    preset = bank.find_preset(0)
    cache = NoteCache(max_bytes=1_000_000)
    a = render_note(bank, preset, 60, 100, 0.5, cache=cache)
    b = render_note(bank, preset, 60, 100, 0.5, cache=cache)
    assert a is b and cache.hits == 1 and cache.misses == 1 and not a.flags.writeable
    assert np.array_equal(a, render_note(bank, preset, 60, 100, 0.5))
    for key in range(61, 70):
        render_note(bank, preset, key, 100, 0.5, cache=cache)
    assert 0 < cache.nbytes <= 1_000_000 and len(cache) < 10
    render_note(bank, preset, 60, 100, 0.5, cache=cache)
    assert cache.misses == 11  # the first note was evicted


def test_note_cache_gate_classes_share_entries(bank) -> None:
    cache = NoteCache(gate_quantum=480)
    preset = bank.find_preset(0)
    a = render_note(bank, preset, 60, 100, gate_frames=24_010, cache=cache)
    b = render_note(bank, preset, 60, 100, gate_frames=23_990, cache=cache)
    assert a is b and cache.hits == 1


def test_bad_note_arguments_are_value_errors(bank) -> None:
    preset = bank.find_preset(0)
    with pytest.raises(ValueError):
        render_note(bank, preset, 128, 100, 1.0)
    with pytest.raises(ValueError):
        render_note(bank, preset, 60, 0, 1.0)
    with pytest.raises(ValueError):
        render_note(bank, preset, 60, 100, 1.0, gate_frames=10)


# --- bad banks --------------------------------------------------------------------------------


def _patched(blob: bytes, cid: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, chunk_data_offset(blob, cid) + offset, value)
    return bytes(out)


def _wav_bytes() -> bytes:
    import io
    buf = io.BytesIO()
    sf.write(buf, np.zeros(100), SR, format="WAV")
    return buf.getvalue()


def _out_of_range(target_kind: str) -> bytes:
    samples = [SampleSpec("s", sine(PERIOD), root=69)]
    inst_target, preset_target = (5, 0) if target_kind == "sample" else (0, 3)
    return build_sf2(samples, [InstrumentSpec("i", [ZoneSpec(target=inst_target)])],
                     [PresetSpec("Broken", 0, 0, [ZoneSpec(target=preset_target)])])


BAD_BANKS = {
    "empty": (lambda good: b"", "empty"),
    "truncated": (lambda good: good[: len(good) // 2], "truncated"),
    "truncated header": (lambda good: good[:10], "too short"),
    "not RIFF": (lambda good: b"This is not a SoundFont at all" * 4, "not a RIFF file"),
    "RIFF WAVE": (lambda good: _wav_bytes(), "not a SoundFont"),
    "chunk past its list": (lambda good: _patched(good, b"shdr", -4, "<I", 10_000), "declares 10000 bytes"),
    "phdr size": (lambda good: build_sf2(*_parts(), pdta_extra={"phdr": b"\0"}), "'phdr' chunk is"),
    "igen size": (lambda good: build_sf2(*_parts(), pdta_extra={"igen": b"\0\0"}), "'igen' chunk is"),
    "missing pgen": (lambda good: build_sf2(*_parts(), pdta_drop=("pgen",)), "'pgen' chunk is missing"),
    "bag index past pbag": (lambda good: _patched(good, b"phdr", 38 * 8 + 24, "<H", 500), "past the"),
    "gen index backwards": (lambda good: _patched(good, b"pbag", 4, "<H", 0xFFFF), "pgen index"),
    "preset to missing instrument": (lambda good: _out_of_range("instrument"), "points to instrument #3"),
    "zone to missing sample": (lambda good: _out_of_range("sample"), "points to sample #5"),
    "sample past smpl": (lambda good: _patched(good, b"shdr", 24, "<I", 10**7), "outside the sample data"),
    "version 1": (lambda good: _patched(good, b"ifil", 0, "<H", 1), "version 1"),
    "no presets": (lambda good: build_sf2([], [], []), "no presets"),
}


def _parts() -> tuple[list, list, list]:
    return ([SampleSpec("s", sine(PERIOD), root=69)], [InstrumentSpec("i", [ZoneSpec(target=0)])],
            [PresetSpec("p", 0, 0, [ZoneSpec(target=0)])])


@pytest.mark.parametrize("case", sorted(BAD_BANKS))
def test_bad_banks_raise_a_clear_error(tmp_path: Path, bank_path: Path, case: str) -> None:
    make, words = BAD_BANKS[case]
    path = tmp_path / "bad.sf2"
    path.write_bytes(make(bank_path.read_bytes()))
    with pytest.raises(SoundFontError) as info:
        load_bank(path)
    assert str(path) in str(info.value) and words in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, RenderError)
    assert info.value.exit_code == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SoundFontError, match="file not found"):
        load_bank(tmp_path / "nope.sf2")
    with pytest.raises(SoundFontError, match="not a regular file"):
        load_bank(tmp_path)
