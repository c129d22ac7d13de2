"""Tests of the simulated macaque recording (lrrsa.data.demo_macaque).

The files are read back through the existing brainio readers and, independently, with
netCDF4/zipfile/hashlib; the planted reliability is checked against its closed form
(module docstring), the planted structure with RDMs computed here from the images.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
from lrrsa.data import brainio as bio
from lrrsa.data import demo_macaque as dm
from lrrsa.data.brainio_reliability import reliable_neuroids
from lrrsa.data.brainio_responses import stimulus_responses
from lrrsa.data.brainio_stimuli import check_stimulus_files, open_stimulus_image, read_stimulus_set
from lrrsa.data.demo import edge_energy
from PIL import Image
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

SMALL = {"n_categories": 3, "n_per_category": 3, "n_repetitions": 2, "neuroids_per_region": {"V1": 3, "IT": 2},
         "image_size": 32, "seed": 5}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dm.DemoMacaque:
    return dm.write_macaque_dataset(tmp_path_factory.mktemp("macaque"))


def raw(path: Path) -> dict:
    """The assembly through netCDF4 alone."""
    with netCDF4.Dataset(path) as ds:
        var = ds.variables["data"]
        var.set_auto_mask(False)
        names = var.getncattr("coordinates").split()
        return {
            "dims": var.dimensions, "values": np.asarray(var[:]), "variables": set(ds.variables),
            "dim_names": set(ds.dimensions), "coords": {n: np.asarray(ds.variables[n][:]) for n in names},
            "coord_dims": {n: ds.variables[n].dimensions for n in names},
        }


# ----------------------------------------------------------------------- layout


def test_files_and_sizes(data):
    assert data.assembly.name == "assy_lrrsa_DemoMacaque.nc"
    assert data.stimulus_csv.name == "stimulus_lrrsa-demo-macaque.csv"
    assert data.stimulus_zip.name == "stimulus_lrrsa-demo-macaque.zip"
    assert (data.n_stimuli, data.n_repetitions, data.animals, data.regions) == (72, 10, ("monkeyA", "monkeyB"),
                                                                                 ("V1", "V4", "IT"))
    assert data.assembly.stat().st_size < 8 * 2**20
    assert data.stimulus_zip.stat().st_size < 3 * 2**20


def test_on_disk_form_is_brainio(data):
    r = raw(data.assembly)
    assert r["dims"] == ("presentation", "neuroid", "time_bin")
    assert r["values"].dtype == np.float32 and r["values"].shape == (720, 176, 10)
    # one data variable; the multi-index levels as plain 1-D coordinates; no dimension coordinate variables
    assert r["variables"] - set(r["coords"]) == {"data"}
    assert not (r["dim_names"] & r["variables"])
    expected = {"stimulus_id": "presentation", "repetition": "presentation", "category": "presentation",
                "neuroid_id": "neuroid", "region": "neuroid", "animal": "neuroid",
                "time_bin_start": "time_bin", "time_bin_end": "time_bin"}
    assert {n: d[0] for n, d in r["coord_dims"].items()} == expected


def test_reads_back_through_the_brainio_readers(data):
    info = bio.assembly_info(data.assembly)
    assert info.variable == "data" and info.dims == ("presentation", "neuroid", "time_bin")
    assert set(info.presentations.columns) == {"stimulus_id", "repetition", "category"}
    assert set(info.neuroids.columns) == {"neuroid_id", "region", "animal"}
    assert info.animal_coord == "animal" and info.neuroid_key_columns == ("animal", "neuroid_id")
    assert sorted(set(info.neuroids["animal"])) == ["monkeyA", "monkeyB"]
    assert sorted(set(info.neuroids["region"])) == ["IT", "V1", "V4"]
    counts = info.neuroids.groupby(["animal", "region"]).size().to_dict()
    assert counts == {(a, r): n for a in ("monkeyA", "monkeyB") for r, n in {"V1": 32, "V4": 24, "IT": 32}.items()}
    # every stimulus shown once per repetition 0..9
    reps = info.presentations.groupby("stimulus_id")["repetition"].apply(sorted)
    assert len(reps) == 72 and all(list(r) == list(range(10)) for r in reps)
    # presentations are shuffled within repetitions, not grouped by stimulus
    ids = info.presentations["stimulus_id"].to_numpy()
    assert (ids[:72] != ids[72:144]).any()
    assert list(zip(info.time_bins["time_bin_start"], info.time_bins["time_bin_end"])) == list(dm.TIME_BINS)
    assert list(bio.window_bins(info, dm.RESPONSE_WINDOW)) == [3, 4, 5, 6, 7]
    responses = stimulus_responses(data.assembly, time_window=(70, 170), region="IT", animal="monkeyB")
    assert responses.responses.shape == (72, 32) and set(responses.n_repetitions) == {10}


def test_neuroid_ids_restart_per_animal_and_regions_in_electrode_ranges(data):
    info = bio.assembly_info(data.assembly)
    for animal, order in (("monkeyA", ["V1", "V4", "IT"]), ("monkeyB", ["V1", "IT", "V4"])):
        rows = info.neuroids[info.neuroids["animal"] == animal]
        assert list(rows["neuroid_id"]) == list(range(88))
        assert list(pd.unique(rows["region"])) == order
    assert info.neuroids.duplicated(["animal", "neuroid_id"]).sum() == 0
    assert info.neuroids["neuroid_id"].duplicated().sum() == 88  # ids alone are not unique


def test_stimulus_set_csv_and_flat_zip(data):
    stimulus_set = read_stimulus_set(data.stimulus_csv)
    assert stimulus_set.is_zip and stimulus_set.images == data.stimulus_zip
    table = stimulus_set.table
    assert list(table.columns) == ["stimulus_id", "filename", "category", "exemplar"]
    assert set(table["stimulus_id"]) == set(bio.assembly_info(data.assembly).presentations["stimulus_id"])
    assert not (table["stimulus_id"] == table["filename"]).any()
    assert table.groupby("category").size().to_dict() == {c: 12 for c in dm.CATEGORIES}
    check_stimulus_files(stimulus_set)
    with zipfile.ZipFile(data.stimulus_zip) as zf:
        assert sorted(zf.namelist()) == sorted(table["filename"]) and all("/" not in n for n in zf.namelist())
        for sid, name in zip(table["stimulus_id"][:5], table["filename"][:5]):
            payload = zf.read(name)
            assert hashlib.sha1(payload).hexdigest() == sid  # ids are the images' SHA-1, as HVM's
            assert np.asarray(Image.open(io.BytesIO(payload))).shape == (96, 96, 3)
    assert open_stimulus_image(stimulus_set, table["stimulus_id"][0]).size == (96, 96)
    # the presentations carry each stimulus's category, as the stimulus set has it
    info = bio.assembly_info(data.assembly)
    merged = info.presentations.merge(table, on="stimulus_id", suffixes=("", "_csv"))
    assert (merged["category"] == merged["category_csv"]).all()


def test_same_bytes_twice_and_another_seed_differs(tmp_path):
    a = dm.write_macaque_dataset(tmp_path / "a", **SMALL)
    b = dm.write_macaque_dataset(tmp_path / "b", **SMALL)
    c = dm.write_macaque_dataset(tmp_path / "c", **{**SMALL, "seed": 6})
    names = sorted(p.name for p in a.root.iterdir())
    assert names == sorted(p.name for p in b.root.iterdir()) and len(names) == 4
    for name in names:
        assert (a.root / name).read_bytes() == (b.root / name).read_bytes(), name
    assert a.assembly.read_bytes() != c.assembly.read_bytes()
    assert a.stimulus_zip.read_bytes() != c.stimulus_zip.read_bytes()


def test_dims_order_changes_the_layout_not_the_responses(tmp_path):
    a = dm.write_macaque_dataset(tmp_path / "a", **SMALL)
    b = dm.write_macaque_dataset(tmp_path / "b", **SMALL, dims=("neuroid", "time_bin", "presentation"))
    assert bio.assembly_info(b.assembly).dims == ("neuroid", "time_bin", "presentation")
    ra, rb = (stimulus_responses(d.assembly, time_window=(70, 170)) for d in (a, b))
    np.testing.assert_array_equal(ra.responses, rb.responses)
    np.testing.assert_array_equal(raw(a.assembly)["values"], raw(b.assembly)["values"].transpose(2, 0, 1))


# -------------------------------------------------------------- planted values


def test_amplitudes_follow_the_closed_form(data):
    truth = pd.read_csv(data.truth, sep="\t")
    v = dm.noise_variance()
    assert v == pytest.approx(dm.TRIAL_SD**2 + dm.BIN_SD**2 / 5)
    rho = truth["reliability"].to_numpy()
    np.testing.assert_allclose(truth["amplitude"], np.sqrt(rho / (1 - rho) * v / 10))
    assert (truth.loc[~truth["tuned"], "reliability"] == 0).all()
    for region, value in dm.REGION_RELIABILITY.items():
        assert (truth.loc[truth["tuned"] & (truth["region"] == region), "reliability"] == value).all()
    assert truth.groupby(["animal", "region"])["tuned"].apply(lambda t: int((~t).sum())).to_dict() == {
        (a, r): {"V1": 4, "V4": 3, "IT": 4}[r] for a in ("monkeyA", "monkeyB") for r in ("V1", "V4", "IT")}


def test_split_half_reliability_near_its_designed_value(data):
    responses = stimulus_responses(data.assembly, time_window=dm.RESPONSE_WINDOW)
    rel = reliable_neuroids(responses, 0.3)
    summary = rel.summary.set_index(["animal", "region"])["median_reliability"]
    for (animal, region), value in summary.items():
        assert value == pytest.approx(dm.REGION_RELIABILITY[region], abs=0.06), (animal, region)
    truth = pd.read_csv(data.truth, sep="\t")
    est = rel.neuroids.merge(truth, on=["animal", "neuroid_id", "region"])
    assert len(est) == len(truth)
    tuned = est["tuned"].to_numpy()
    assert rel.neuroids.loc[tuned, "reliable"].all()  # every tuned neuroid passes 0.3
    assert est.loc[~tuned, "reliability_x"].mean() < 0.15  # the untuned ones are noise
    assert (est["reliable"] != est["tuned"]).sum() <= 3
    # outside the response window there is only noise
    early = reliable_neuroids(stimulus_responses(data.assembly, time_window=(10, 50)), 0.3)
    assert early.summary["median_reliability"].abs().max() < 0.15


def test_v1_follows_edge_energy_and_it_the_categories(data):
    stimulus_set = read_stimulus_set(data.stimulus_csv)
    ids = stimulus_set.table["stimulus_id"].tolist()
    images = np.stack([np.asarray(open_stimulus_image(stimulus_set, s)) for s in ids])
    edge = pdist(edge_energy(images).reshape(len(ids), -1), "correlation")
    category = pdist(pd.factorize(stimulus_set.table["category"])[0][:, None], lambda a, b: float(a[0] != b[0]))
    scores = {}
    for region in ("V1", "IT"):
        patterns = stimulus_responses(data.assembly, time_window=(70, 170), region=region, animal="monkeyA",
                                      stimuli=ids).responses
        brain = pdist(patterns, "correlation")
        scores[region] = (spearmanr(brain, edge)[0], spearmanr(brain, category)[0])
    # (measured at seed 0: V1 0.49 vs IT 0.07 with edge energy; IT 0.48 vs V1 0.06 with the categories)
    assert scores["V1"][0] > 0.35 and scores["V1"][0] > scores["IT"][0] + 0.25
    assert scores["IT"][1] > 0.35 and scores["IT"][1] > scores["V1"][1] + 0.25


def test_argument_errors(tmp_path):
    bad = [
        {"n_categories": 7}, {"n_categories": 1}, {"n_per_category": 1}, {"n_repetitions": 1},
        {"neuroids_per_region": {"V2": 3}}, {"neuroids_per_region": {"V1": 0}},
        {"region_reliability": {"V1": 1.0, "V4": 0.5, "IT": 0.5}}, {"animals": ("m", "m")},
        {"untuned_fraction": 0.5}, {"image_size": 8}, {"dims": ("presentation", "neuroid")}, {"seed": -1},
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            dm.write_macaque_dataset(tmp_path, **{**SMALL, **kwargs})
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="no time bin"):
        dm.noise_variance(window=(0, 10))
