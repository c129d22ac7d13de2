"""Tests of lrrsa.data.brainio_reliability.reliable_neuroids: Papale2025's selection of
neuroids with reliability > 0.3, per animal.

A simulation plants stimulus signal in some neuroids of two monkeys (neuroid_id
restarting per monkey, as Papale2025) and leaves the others pure noise: the selected
set must be exactly the planted neuroids. The real brainio fixtures are too small for
a split-half estimate (see the smoke test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from lrrsa.data import brainio as bio
from lrrsa.data import brainio_reliability as rel
from lrrsa.data import brainio_responses as resp

FIXTURES = SHARED_DATA / "brainio"
TESTME = FIXTURES / "assy_test_TestMe.nc"

N_STIMULI, N_REPS, NOISE_SD = 300, 8, 2.0
#: per monkey: regions of its neuroids (neuroid_id 0, 1, ... within the monkey)
REGIONS = {"monkeyF": ["V1"] * 5 + ["IT"] * 4 + ["V4"] * 3, "monkeyN": ["V1"] * 4 + ["V4"] * 3 + ["IT"] * 3}


def simulate(path, seed=0, *, reliability_coord=None, stimuli=None, n_reps=N_REPS, neuroid_order=None):
    """A Papale2025-like test assembly (presentation, neuroid, time_bin 1): response =
    signal (sd 1, per stimulus and neuroid; zero for the noise neuroids) + noise
    (sd NOISE_SD) per presentation. Returns (planted mask, neuroid table)."""
    rng = np.random.default_rng(seed)
    subjects = [s for s, regions in REGIONS.items() for _ in regions]
    neuroid_ids = [i for regions in REGIONS.values() for i in range(len(regions))]
    regions = [r for rs in REGIONS.values() for r in rs]
    n = len(subjects)
    planted = np.zeros(n, dtype=bool)
    planted[rng.choice(n, size=n // 2, replace=False)] = True
    stimuli = stimuli if stimuli is not None else [f"thing_{i:03d}b" for i in range(N_STIMULI)]
    signal = rng.normal(size=(len(stimuli), n)) * planted
    values = np.repeat(signal, n_reps, axis=0) + rng.normal(scale=NOISE_SD, size=(len(stimuli) * n_reps, n))
    neuroids = pd.DataFrame({"neuroid_id": neuroid_ids, "region": regions, "subject": subjects})
    if reliability_coord is not None:
        neuroids["reliability"] = reliability_coord
    order = np.arange(n) if neuroid_order is None else np.asarray(neuroid_order)
    bio.write_assembly(
        path, values[:, order, None],
        {"stimulus_id": np.repeat(stimuli, n_reps), "repetition": np.tile(np.arange(n_reps), len(stimuli))},
        neuroids.iloc[order].reset_index(drop=True), time_bins=[(70, 170)],
    )
    return planted, neuroids


def test_selected_neuroids_are_exactly_the_planted_ones(tmp_path):
    path = tmp_path / "test.nc"
    planted, neuroids = simulate(path)
    responses = resp.stimulus_responses(path)
    sel = rel.reliable_neuroids(responses, 0.3)
    assert sel.method == "split_half" and sel.threshold == 0.3
    assert sel.reliability.shape == sel.mask.shape == (len(neuroids),)
    np.testing.assert_array_equal(sel.mask, planted)
    # the planted reliability is that of the mean of the repetitions: 1 / (1 + s2 / R)
    expected = 1 / (1 + NOISE_SD**2 / N_REPS)
    assert np.mean(sel.reliability[planted]) == pytest.approx(expected, abs=0.05)
    assert abs(np.mean(sel.reliability[~planted])) < 0.08
    # keys: (subject, neuroid_id), neuroid_id restarting per monkey
    assert sel.neuroid_key_columns == ("subject", "neuroid_id") and sel.animal_coord == "subject"
    assert list(sel.keys) == [tuple(k) for k in neuroids.loc[planted, ["subject", "neuroid_id"]].itertuples(index=False)]
    assert list(sel.neuroids["reliable"]) == list(planted)
    np.testing.assert_array_equal(sel.neuroids["reliability"], sel.reliability)


def test_per_animal_results_and_summary(tmp_path):
    path = tmp_path / "test.nc"
    planted, neuroids = simulate(path, seed=1)
    responses = resp.stimulus_responses(path)
    sel = rel.reliable_neuroids(responses, 0.3, n_splits=6, seed=4)
    assert set(sel.per_animal) == {"monkeyF", "monkeyN"}
    # per animal with the same seed: the same per-neuroid values as all neuroids at once,
    # and each animal's internal consistency is that of its own neuroids
    whole = rel.internal_consistency(responses, n_splits=6, seed=4)
    np.testing.assert_allclose(sel.reliability, whole.per_neuroid, atol=1e-12)
    for animal, result in sel.per_animal.items():
        alone = rel.internal_consistency(resp.stimulus_responses(path, animal=animal), n_splits=6, seed=4)
        assert result.value == pytest.approx(alone.value, abs=1e-12)
        np.testing.assert_allclose(result.per_neuroid, alone.per_neuroid, atol=1e-12)
    summary = sel.summary.set_index(["subject", "region"])
    table = neuroids.assign(planted=planted)
    for (subject, region), group in table.groupby(["subject", "region"]):
        row = summary.loc[(subject, region)]
        assert row["n_neuroids"] == len(group)
        assert row["n_reliable"] == group["planted"].sum()
    assert len(summary) == 6


def test_threshold_is_strict_and_method_coordinate_reads_the_stored_value(tmp_path):
    stored = np.linspace(0.0, 0.6, 22)
    stored[3] = 0.3  # exactly at the threshold: not selected (Brain-Score: reliability > 0.3)
    stored[5] = np.nan
    path = tmp_path / "test.nc"
    simulate(path, reliability_coord=stored)
    responses = resp.stimulus_responses(path)
    sel = rel.reliable_neuroids(responses, 0.3, method="coordinate")
    np.testing.assert_array_equal(sel.reliability, stored)
    np.testing.assert_array_equal(sel.mask, np.nan_to_num(stored, nan=0) > 0.3)
    assert not sel.mask[3] and not sel.mask[5]
    assert sel.per_animal == {}
    # split-half on the same responses ignores the stored value
    assert not np.array_equal(rel.reliable_neuroids(responses, 0.3).reliability, stored)


def test_mask_for_carries_the_selection_to_the_train_assembly(tmp_path):
    """Papale2025: reliability from the test assembly (30 repetitions), applied to the
    train assembly (one presentation each), neuroids matched by (subject, neuroid_id)."""
    test_path, train_path = tmp_path / "test.nc", tmp_path / "train.nc"
    planted, neuroids = simulate(test_path)
    n = len(neuroids)
    shuffled = np.random.default_rng(9).permutation(n)
    simulate(train_path, stimuli=[f"train_{i}" for i in range(12)], n_reps=1, neuroid_order=shuffled)
    sel = rel.reliable_neuroids(resp.stimulus_responses(test_path), 0.3)
    info = bio.assembly_info(train_path)
    mask = sel.mask_for(info.neuroids)
    np.testing.assert_array_equal(mask, planted[shuffled])
    train = resp.stimulus_responses(train_path, neuroid_mask=mask)
    assert set(train.neuroid_keys) == set(sel.keys)
    # evaluated on monkeyF only: monkeyN's neuroids are unknown to the selection
    only_f = rel.reliable_neuroids(resp.stimulus_responses(test_path, animal="monkeyF"), 0.3)
    with pytest.raises(ValueError, match=r"10 neuroid\(s\) of the table were not evaluated.*monkeyN"):
        only_f.mask_for(info.neuroids)
    partial = only_f.mask_for(info.neuroids, unevaluated="exclude")
    in_n = (info.neuroids["subject"] == "monkeyN").to_numpy()
    assert not partial[in_n].any()
    np.testing.assert_array_equal(partial[~in_n], mask[~in_n])
    with pytest.raises(ValueError, match="no subject"):
        sel.mask_for(info.neuroids.drop(columns="subject"))


def test_without_an_animal_coordinate_all_neuroids_are_one_group(tmp_path):
    rng = np.random.default_rng(3)
    signal = rng.normal(size=(60, 4)) * np.array([1, 0, 1, 0])
    values = np.repeat(signal, 6, axis=0) + rng.normal(scale=0.5, size=(360, 4))
    path = bio.write_assembly(tmp_path / "fz.nc", values,
                              {"stimulus_id": np.repeat([f"s{i}" for i in range(60)], 6), "repetition": np.tile(range(6), 60)},
                              {"neuroid_id": [1, 2, 3, 4], "region": ["V1", "V1", "V2", "V2"]})
    sel = rel.reliable_neuroids(resp.stimulus_responses(path))
    np.testing.assert_array_equal(sel.mask, [True, False, True, False])
    assert sel.animal_coord is None and list(sel.per_animal) == [None]
    assert list(sel.summary["region"]) == ["V1", "V2"] and list(sel.summary["n_reliable"]) == [1, 1]
    assert list(sel.keys) == [(1,), (3,)]


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "test.nc"
    simulate(path)
    responses = resp.stimulus_responses(path)
    with pytest.raises(ValueError, match=r"test\.nc: method must be"):
        rel.reliable_neuroids(responses, method="median")
    with pytest.raises(ValueError, match="finite"):
        rel.reliable_neuroids(responses, float("nan"))
    with pytest.raises(ValueError, match=r"test\.nc: no neuroid coordinate 'reliability'.*neuroid_id, region, subject"):
        rel.reliable_neuroids(responses, method="coordinate")
    with pytest.raises(ValueError, match="not numeric"):
        rel.reliable_neuroids(responses, method="coordinate", coordinate="region")
    with pytest.raises(ValueError, match=r"test\.nc: per-presentation responses were not kept"):
        rel.reliable_neuroids(resp.stimulus_responses(path, keep_presentations=False))


@pytest.mark.skipif(not TESTME.is_file(), reason=f"brainio fixtures not found at {FIXTURES}")
def test_real_fixture_with_repetitions_smoke():
    """assy_test_TestMe.nc (brain-score/core's test file) has a repetition coordinate
    (labels 1, 2), but only one stimulus (n1) is shown under both labels: too few for a
    split-half estimate, which must say so naming the file; it has no stored reliability."""
    responses = resp.stimulus_responses(TESTME)
    assert responses.presentation_responses.shape == (6, 3)
    with pytest.raises(ValueError, match=r"assy_test_TestMe\.nc: split 0: only 1 stimuli have presentations in both halves"):
        rel.reliable_neuroids(responses)
    with pytest.raises(ValueError, match=r"assy_test_TestMe\.nc: no neuroid coordinate 'reliability'.*foo"):
        rel.reliable_neuroids(responses, method="coordinate")
    # the numeric coordinate 'foo' (1, 2, 5) stands in for a stored reliability
    sel = rel.reliable_neuroids(responses, 1.5, method="coordinate", coordinate="foo")
    assert list(sel.keys) == [("beta",), ("gamma",)]
