"""The offline engine's prompt vocabulary: coverage, robust matching, unknown words, blending."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.offline import SR

from render.backends.offline import VOCABULARY, PromptMatch, analyse_prompt
from render.backends.offline.engine import Engine
from render.backends.offline.session import to_pcm16
from render.backends.offline.style import DEFAULT_STYLE
from render.backends.offline.vocabulary import style_of_prompts
from render.controls import GenerationConfig, WeightedPrompt

# Every name of LYRIA.md's "Prompt vocabulary target" lists.
TARGET = """Hard Rock, Latin Jazz, Polka, Baroque, Chiptune, Indie Pop, Bluegrass, Heavy Metal, Contemporary R&B, Reggaeton,
Piano, Guitar, Bagpipes, Harpsichord, 808 Hip Hop Beat, Sitar, Harmonica, Didgeridoo, Woodwinds, Organ,
Chill, Emotional, Danceable, Psychedelic, Acoustic Instruments, Glitchy Effects, Ominous Drone, Upbeat,
303 Acid Bass, Accordion, Alto Saxophone, Banjo, Bass Clarinet, Bongos, Cello, Clavichord, Conga Drums, Djembe, Dulcimer,
Fiddle, Flamenco Guitar, Funk Drums, Glockenspiel, Hang Drum, Harp, Kalimba, Koto, Mandolin, Marimba, Mellotron,
Moog Oscillations, Ocarina, Rhodes Piano, Shamisen, Shredding Guitar, Slide Guitar, Spacey Synths, Steel Drum, Synth Pads,
Tabla, TR-909 Drum Machine, Trumpet, Tuba, Vibraphone, Viola Ensemble, Warm Acoustic Guitar, Strings, Choir, Flute,
Acid Jazz, Afrobeat, Bossa Nova, Breakbeat, Celtic Folk, Chillout, Classic Rock, Deep House, Disco Funk, Drum & Bass,
Dubstep, EDM, Electro Swing, Funk, Glitch Hop, Hyperpop, Indian Classical, Indie Folk, Jazz Fusion, Lo-Fi Hip Hop,
Marching Band, Minimal Techno, Neo-Soul, Orchestral Score, Piano Ballad, Post-Punk, Psytrance, Reggae, Salsa, Shoegaze,
Ska, Surf Rock, Synthpop, Techno, Trance, Trap Beat, Trip Hop, Vaporwave, Ambient, Blues, Country, Gospel, Cinematic,
Bright Tones, Crunchy Distortion, Dreamy, Echo, Ethereal Ambience, Experimental, Fat Beats, Funky, Huge Drop,
Live Performance, Lo-fi, Rich Orchestration, Saturated Tones, Subdued Melody, Sustained Chords, Swirling Phasers,
Tight Groove, Unsettling, Virtuoso, Weird Noises, Dark, Happy, Sad, Epic, Calm, Aggressive"""
TARGET_NAMES = [n.strip() for n in TARGET.replace("\n", " ").split(",")]


def test_vocabulary_covers_every_target_name_and_at_least_120_entries():
    assert len(VOCABULARY) >= 120
    missing = [n for n in TARGET_NAMES if n not in VOCABULARY]
    assert not missing, f"missing from VOCABULARY: {missing}"


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_each_target_name_matches_itself_first(name):
    match = analyse_prompt(name)
    assert match.matches and match.matches[0][0] == name, match
    assert match.unmatched == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("indie pop", "Indie Pop"),
        ("INDIE POP", "Indie Pop"),
        ("pop indie", "Indie Pop"),
        ("sitars", "Sitar"),
        ("Siter", "Sitar"),
        ("Harpsicord", "Harpsichord"),
        ("bagpipe", "Bagpipes"),
        ("drum and bass", "Drum & Bass"),
        ("lofi hip-hop", "Lo-Fi Hip Hop"),
        ("contemporary rnb", "Contemporary R&B"),
        ("TR909 drum machine", "TR-909 Drum Machine"),
        ("808s hip hop beat", "808 Hip Hop Beat"),
    ],
)
def test_matching_is_robust_to_case_plurals_order_and_typos(text, expected):
    names = [n for n, _ in analyse_prompt(text).matches]
    assert expected in names, (text, names)


def test_several_styles_in_one_prompt_and_unknown_words_reported():
    match = analyse_prompt("Dreamy piano ballad with frobnicated zorblax")
    assert isinstance(match, PromptMatch)
    names = [n for n, _ in match.matches]
    assert "Piano Ballad" in names and "Dreamy" in names
    assert "Piano" not in names  # contained in the longer match
    assert set(match.unmatched) == {"frobnicated", "zorblax"}
    assert all(0 < s <= 1 for _, s in match.matches)


def test_unknown_words_still_change_the_style_deterministically():
    a, info_a = style_of_prompts((("zorblax", 1.0),))
    b, _ = style_of_prompts((("quuxian", 1.0),))
    a2, _ = style_of_prompts((("zorblax", 1.0),))
    assert info_a["unmatched_words"] == ["zorblax"]
    assert a.values == a2.values
    assert a.values != b.values
    assert a.values != DEFAULT_STYLE.values


def test_weights_normalise_and_negative_weight_pushes_away():
    sad, _ = style_of_prompts((("Sad", 1.0),))
    anti_sad, _ = style_of_prompts((("Sad", -1.0),))
    double, _ = style_of_prompts((("Sad", 5.0),))
    assert double.values == sad.values  # normalised by the sum of |w|
    base = DEFAULT_STYLE.get("minor")
    assert sad.get("minor") > base > anti_sad.get("minor")
    assert sad.get("energy") < DEFAULT_STYLE.get("energy") < anti_sad.get("energy")
    _, info = style_of_prompts((("Indie Pop", 0.6), ("Sitar", 2.0), ("Danceable", 1.4)))
    assert info["styles"] == pytest.approx({"Indie Pop": 0.15, "Sitar": 0.5, "Danceable": 0.35})


def test_every_vocabulary_entry_renders_non_silent_unclipped_audio():
    frames = int(1.2 * SR)
    failures = []
    for name in VOCABULARY:
        engine = Engine()
        engine.schedule(0, "prompts", (WeightedPrompt(text=name, weight=1.0),))
        engine.schedule(0, "config", GenerationConfig(bpm=160, density=0.7, seed=3))
        audio = engine.render(0, frames).audio
        pcm = np.frombuffer(to_pcm16(audio), dtype="<i2")
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        peak = int(np.abs(pcm.astype(np.int32)).max())
        if not (rms > 1e-3 and peak < 32767 and np.isfinite(audio).all()):
            failures.append((name, rms, peak))
    assert not failures, failures


def test_instrument_prompts_play_their_instrument():
    from render.backends.offline.compose import Controls, EpochContext, compose_bar
    from render.backends.offline.patterns import KITS

    ctl = Controls(density=0.6, brightness=0.5, guidance=4.0, temperature=1.1, top_k=40, mode="QUALITY")
    missing = []
    for name, entry in VOCABULARY.items():
        if entry.kind != "instrument":
            continue
        style, _ = style_of_prompts(((name, 1.0),))
        wanted = {max(opts.items(), key=lambda kv: kv[1])[0] for cat, opts in entry.style.cats.items() if cat.endswith("_i")}
        if "kit" in entry.style.cats:
            wanted |= set(KITS[max(entry.style.cats["kit"].items(), key=lambda kv: kv[1])[0]].values())
        ctx = EpochContext(tonic_pc=2, minor=style.get("minor") > 0.5, seed=0, epoch=0)
        played = {n[2].split("~")[0] for bar in range(16) for n in compose_bar(bar, style, ctl, ctx)}
        if not wanted & played:
            missing.append((name, sorted(wanted)))
    assert not missing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gregorian chant", "Choir"),
        ("Symphony", "Orchestral Score"),
        ("Thrash metal", "Heavy Metal"),
        ("Bollywood", "Indian Classical"),
        ("Analog synth", "Synthesizer"),
        ("Viola ensemble", "Viola Ensemble"),
        ("Opera aria", "Opera"),
    ],
)
def test_other_names_of_a_style_match_it(text, expected):
    names = [n for n, _ in analyse_prompt(text).matches]
    assert names[:1] == [expected], (text, names)


@pytest.mark.parametrize(("text", "named"), [("Solo violin", "Violin"), ("Drum solo", "Drums"), ("Cello suite", "Cello"),
                                             ("Concert harp", "Harp"), ("Harpsichord sonata", "Harpsichord")])
def test_modifier_words_modify_the_named_style_instead_of_adding_one(text, named):
    match = analyse_prompt(text)
    assert [n for n, _ in match.matches] == [named]  # "solo" is not read as a typo of "Soul"
    assert match.unmatched == () and len(match.modifiers) == 1
    style, _ = style_of_prompts(((text, 1.0),))
    plain, _ = style_of_prompts(((named, 1.0),))
    assert {c: style.choice(c) for c in style.cats} == {c: plain.choice(c) for c in plain.cats}


def test_unknown_words_beside_a_known_style_keep_its_instruments():
    known, _ = style_of_prompts((("Cello", 1.0),))
    mixed, info = style_of_prompts((("Cello zorblax", 1.0),))
    assert info["unmatched_words"] == ["zorblax"]
    assert {c: mixed.choice(c) for c in known.cats} == {c: known.choice(c) for c in known.cats}
    assert mixed.values != known.values  # the word still nudges the music


def test_a_prompt_of_unknown_words_sounds_like_one_coherent_genre():
    genres = [e for e in VOCABULARY.values() if e.kind == "genre"]
    for word in ("zorblax", "quuxian", "frobnicated", "glorp"):
        style, _ = style_of_prompts(((word, 1.0),))
        picks = {c: style.choice(c) for c in ("kit", "groove", "lead_i", "harm_i", "bass_i")}
        assert any(picks == {c: g.style.choice(c) for c in picks} for g in genres), (word, picks)


def _plan(prompt: str):
    from render.backends.offline.arrange import phrase_plan
    from render.backends.offline.compose import Controls, EpochContext

    style, _ = style_of_prompts(((prompt, 1.0),))
    ctl = Controls(density=0.5, brightness=0.5, guidance=4.0, temperature=1.1, top_k=40, mode="QUALITY")
    return phrase_plan(1, style, ctl, EpochContext(tonic_pc=0, minor=False, seed=1, epoch=0))


def _layers(prompt: str):
    return _plan(prompt).layers


def test_a_solo_instrument_and_its_ensemble_are_arranged_differently():
    violin, strings, drums = _layers("Violin"), _layers("Strings"), _layers("Drums")
    assert violin.lead[0][0] == "violin" and all(n != "strings" for n, _ in violin.harm + violin.pad)
    # a duo: the violin's tune over a cello's broken chords, no piano (which masked the violin)
    assert violin.harm[0][0] == violin.bass[0][0] == "cello" and _plan("Violin").comp == "arp"
    assert strings.lead[0][0] == "strings" and strings.pad and strings.bass[0][0] == "cello"
    # the section mostly sustains: its tune is sparser than a soloist's (a busy ensemble tune read as a violin)
    assert _plan("Strings").lead_density < _plan("Violin").lead_density - 0.2
    assert drums.lead == drums.harm == drums.bass == ()  # a drum prompt is the drums alone


def test_no_synth_arpeggio_in_an_acoustic_palette():
    baroque = _layers("Baroque")
    assert baroque.arp and baroque.arp[0][0] == "harpsichord"



@pytest.mark.parametrize("prompt", ["Orchestral Score", "Symphony", "Classical Music", "Strings", "String Quartet", "Bluegrass"])
def test_an_orchestra_a_string_section_and_a_string_band_play_without_a_drum_kit(prompt):
    """No pop drum groove under an orchestra or a string band (shakers and a march snare under
    a symphony read as "ambient", not "classical", to the tagger); the cellos walk instead."""
    plan = _plan(prompt)
    assert plan.drums_level == 0.0
    if prompt in ("Classical Music", "Orchestral Score"):
        assert plan.layers.pad and plan.layers.pad[0][0] == "strings"  # the string section sustains
    if prompt != "Bluegrass":
        assert plan.layers.bass[0][0] == "cello" and plan.bassline == "walking"


@pytest.mark.parametrize("prompt", ["Synthesizer", "Synth Pads", "Analog Synth"])
def test_a_synthesizer_prompt_is_synths_alone_over_a_pad(prompt):
    plan = _plan(prompt)
    assert plan.drums_level == 0.0 and plan.layers.pad and plan.layers.pad[0][0] == "synth_pad"


@pytest.mark.parametrize(("prompt", "lead"), [("Celtic Harp", "harp"), ("Baroque Harpsichord", "harpsichord"), ("Jazz Trumpet", "trumpet")])
def test_an_instrument_named_with_a_genre_leads_it(prompt, lead):
    """"Celtic Harp" is a harp playing Celtic music, not a Celtic band with a harp in it."""
    assert _layers(prompt).lead[0][0] == lead


@pytest.mark.parametrize("prompt", ["Drums", "Rock Drums", "Jazz Drums"])
def test_a_drum_kit_named_with_a_genre_is_the_kit_alone(prompt):
    """"Rock Drums" is a rock groove on the kit, not a rock band whose guitar plays the tune."""
    plan = _plan(prompt)
    assert plan.drums_level > 0.5 and not plan.layers.lead and not plan.layers.harm
    assert analyse_prompt(prompt).roles[0] == ("Drums", "featured drums")


@pytest.mark.parametrize("prompt", ["Cello", "Cello Suite", "Cello Solo"])
def test_a_cello_prompt_is_a_cello_alone_playing_broken_chords(prompt):
    """Like a suite's prelude: the cello carries the tune and its own arpeggios, detached,
    at a walking tempo (a slow legato line read as "slow, ambient" to the tagger, not cello)."""
    plan = _plan(prompt)
    style, _ = style_of_prompts(((prompt, 1.0),))
    pitched = plan.layers.lead + plan.layers.harm + plan.layers.bass
    assert plan.comp == "arp" and {name for name, _ in pitched} == {"cello"} and plan.drums_level == 0.0
    assert style.get("tempo") >= 96 and style.get("legato") <= (0.6 if "Suite" in prompt else 0.4)  # "suite" sets .6


@pytest.mark.parametrize("prompt", ["EDM", "Disco", "House Music"])
def test_a_dance_genre_is_a_vocal_line_over_a_four_on_the_floor_kick(prompt):
    """Dance music is sung: instrumental versions of these tagged as techno, hardly as dance."""
    plan = _plan(prompt)
    style, _ = style_of_prompts(((prompt, 1.0),))
    assert plan.layers.lead[0][0] == "vocal_aa" and plan.groove in ("four", "disco") and plan.drums_level > 0.5
    assert style.get("tempo") >= 124


@pytest.mark.parametrize("prompt", ["Country", "Country Western"])
def test_country_is_a_slide_guitar_over_banjo_rolls_on_a_train_beat(prompt):
    plan = _plan(prompt)
    assert plan.layers.lead[0][0] == "slide_guitar" and plan.layers.harm[0][0] == "banjo"
    assert plan.comp == "arp" and plan.groove == "train"
