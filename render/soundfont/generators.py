"""SoundFont 2.01 generator numbers, defaults and legal ranges (spec section 8.1)."""

from __future__ import annotations

__all__ = [
    "GEN", "DEFAULTS", "RANGES", "ADDRESS_GENS", "PRESET_IGNORED", "RANGE_GENS", "NO_VALUE", "clamp_generators",
]

#: Generator operator numbers by spec name.
GEN = {
    "startAddrsOffset": 0, "endAddrsOffset": 1, "startloopAddrsOffset": 2, "endloopAddrsOffset": 3,
    "startAddrsCoarseOffset": 4, "modLfoToPitch": 5, "vibLfoToPitch": 6, "modEnvToPitch": 7,
    "initialFilterFc": 8, "initialFilterQ": 9, "modLfoToFilterFc": 10, "modEnvToFilterFc": 11,
    "endAddrsCoarseOffset": 12, "modLfoToVolume": 13, "chorusEffectsSend": 15, "reverbEffectsSend": 16,
    "pan": 17, "delayModLFO": 21, "freqModLFO": 22, "delayVibLFO": 23, "freqVibLFO": 24,
    "delayModEnv": 25, "attackModEnv": 26, "holdModEnv": 27, "decayModEnv": 28, "sustainModEnv": 29,
    "releaseModEnv": 30, "keynumToModEnvHold": 31, "keynumToModEnvDecay": 32,
    "delayVolEnv": 33, "attackVolEnv": 34, "holdVolEnv": 35, "decayVolEnv": 36, "sustainVolEnv": 37,
    "releaseVolEnv": 38, "keynumToVolEnvHold": 39, "keynumToVolEnvDecay": 40, "instrument": 41,
    "keyRange": 43, "velRange": 44, "startloopAddrsCoarseOffset": 45, "keynum": 46, "velocity": 47,
    "initialAttenuation": 48, "endloopAddrsCoarseOffset": 50, "coarseTune": 51, "fineTune": 52,
    "sampleID": 53, "sampleModes": 54, "scaleTuning": 56, "exclusiveClass": 57, "overridingRootKey": 58,
}

#: Value used for "not set" by keynum, velocity and overridingRootKey.
NO_VALUE = -1

#: Default value of every generator that takes part in sound (spec 8.1.3).
DEFAULTS: dict[int, int] = {op: 0 for op in GEN.values()}
DEFAULTS.update({
    GEN["initialFilterFc"]: 13500,
    GEN["delayModLFO"]: -12000, GEN["delayVibLFO"]: -12000,
    GEN["delayModEnv"]: -12000, GEN["attackModEnv"]: -12000, GEN["holdModEnv"]: -12000,
    GEN["decayModEnv"]: -12000, GEN["releaseModEnv"]: -12000,
    GEN["delayVolEnv"]: -12000, GEN["attackVolEnv"]: -12000, GEN["holdVolEnv"]: -12000,
    GEN["decayVolEnv"]: -12000, GEN["releaseVolEnv"]: -12000,
    GEN["keynum"]: NO_VALUE, GEN["velocity"]: NO_VALUE, GEN["overridingRootKey"]: NO_VALUE,
    GEN["scaleTuning"]: 100,
})
for _op in (GEN["instrument"], GEN["sampleID"], GEN["keyRange"], GEN["velRange"]):
    del DEFAULTS[_op]

#: Legal (low, high) range of the generators that the player reads; values are clamped to it.
RANGES: dict[int, tuple[int, int]] = {
    GEN["initialFilterFc"]: (1500, 13500), GEN["initialFilterQ"]: (0, 960),
    GEN["pan"]: (-500, 500),
    GEN["delayVolEnv"]: (-12000, 5000), GEN["attackVolEnv"]: (-12000, 8000),
    GEN["holdVolEnv"]: (-12000, 5000), GEN["decayVolEnv"]: (-12000, 8000),
    GEN["sustainVolEnv"]: (0, 1440), GEN["releaseVolEnv"]: (-12000, 8000),
    GEN["keynumToVolEnvHold"]: (-1200, 1200), GEN["keynumToVolEnvDecay"]: (-1200, 1200),
    GEN["keynum"]: (NO_VALUE, 127), GEN["velocity"]: (NO_VALUE, 127),
    GEN["initialAttenuation"]: (0, 1440), GEN["coarseTune"]: (-120, 120), GEN["fineTune"]: (-99, 99),
    GEN["scaleTuning"]: (0, 1200), GEN["overridingRootKey"]: (NO_VALUE, 127),
    GEN["chorusEffectsSend"]: (0, 1000), GEN["reverbEffectsSend"]: (0, 1000),
    GEN["modLfoToPitch"]: (-12000, 12000), GEN["vibLfoToPitch"]: (-12000, 12000),
    GEN["modEnvToPitch"]: (-12000, 12000), GEN["modLfoToFilterFc"]: (-12000, 12000),
    GEN["modEnvToFilterFc"]: (-12000, 12000), GEN["modLfoToVolume"]: (-960, 960),
    GEN["delayModLFO"]: (-12000, 5000), GEN["freqModLFO"]: (-16000, 4500),
    GEN["delayVibLFO"]: (-12000, 5000), GEN["freqVibLFO"]: (-16000, 4500),
    GEN["delayModEnv"]: (-12000, 5000), GEN["attackModEnv"]: (-12000, 8000),
    GEN["holdModEnv"]: (-12000, 5000), GEN["decayModEnv"]: (-12000, 8000),
    GEN["sustainModEnv"]: (0, 1000), GEN["releaseModEnv"]: (-12000, 8000),
    GEN["keynumToModEnvHold"]: (-1200, 1200), GEN["keynumToModEnvDecay"]: (-1200, 1200),
}

#: The sample address offsets (fine and coarse), in frames.
ADDRESS_GENS = frozenset({
    GEN["startAddrsOffset"], GEN["endAddrsOffset"], GEN["startloopAddrsOffset"], GEN["endloopAddrsOffset"],
    GEN["startAddrsCoarseOffset"], GEN["endAddrsCoarseOffset"], GEN["startloopAddrsCoarseOffset"],
    GEN["endloopAddrsCoarseOffset"],
})

#: Generators that are only legal in instrument zones: a preset zone's value is ignored (spec 8.5).
PRESET_IGNORED = ADDRESS_GENS | frozenset({
    GEN["keynum"], GEN["velocity"], GEN["sampleModes"], GEN["exclusiveClass"], GEN["overridingRootKey"],
    GEN["sampleID"],
})

#: Generators whose amount is a (low, high) byte pair rather than a signed word.
RANGE_GENS = frozenset({GEN["keyRange"], GEN["velRange"]})


def clamp_generators(values: dict[int, float]) -> dict[int, float]:
    """``values`` with every generator in :data:`RANGES` clamped to its legal range (in place)."""
    for op, (lo, hi) in RANGES.items():
        v = values.get(op)
        if v is not None and not lo <= v <= hi:
            values[op] = lo if v < lo else hi
    return values
