"""Linear probes: decoding an attribute, removing another's directions, separating two effects."""

from __future__ import annotations

import numpy as np

from transferlab.methods import probes


def _faces(n: int, entangled: bool, seed: int = 0):
    """Features of n faces with balanced age and gender: gender on a feature of its own, age on
    another; ``entangled``: the age feature fires for old men only (the "old" detector of a source
    that learned old men), so age is read from it only through gender."""
    rng = np.random.default_rng(seed)
    age, male = rng.integers(0, 2, n), rng.integers(0, 2, n)
    f = rng.normal(0, 0.5, (n, 8))
    f[:, 0] += 1.5 * (2 * male - 1)
    f[:, 1] += 3.0 * age * male if entangled else 1.5 * (2 * age - 1)
    return f, age, male


def test_removing_gender_takes_age_only_where_the_features_entangle_them():
    results = {}
    for entangled in (False, True):
        f, age, male = _faces(2000, entangled)
        fit, score = slice(0, 1000), slice(1000, None)
        before = probes.probe_accuracy(f[fit], age[fit], f[score], age[score])
        a, b, removed, gender_after = probes.remove_attribute(f[fit], male[fit], f[score], male[score])
        after = probes.probe_accuracy(a, age[fit], b, age[score])
        assert before > 0.7 and removed >= 1 and gender_after < 0.6
        results[entangled] = after
    assert results[False] > 0.7  # age has its own direction: it survives
    assert results[True] < 0.6  # age lived on a feature that carries gender: it goes with it


def test_attribute_effects_separate_two_causes_of_a_score():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 4000), rng.integers(0, 2, 4000)
    score = 2.0 * a - 0.5 * b + rng.normal(0, 0.1, 4000)
    effect_a, effect_b = probes.attribute_effects(score, a, b)
    assert abs(effect_a - 2.0) < 0.05 and abs(effect_b + 0.5) < 0.05
