"""Tests of the brainio readers (lrrsa.data.brainio*, macaque recordings in Brain-Score's format).

Expected values are computed independently of the library: raw arrays read with
netCDF4 directly, averages with plain loops, split-half reliability re-implemented
from the protocol. Real fixtures (brain-score/core's test files) are read from the
shared data folder (``$LRRSA_SHARED_DATA``, see conftest.py); synthetic files with
planted values are written by ``write_assembly`` in the three real dimension orders.
"""

from __future__ import annotations

import netCDF4  # noqa: I001  (before h5py: see lrrsa.data.brainio)
import h5py
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import SHARED_DATA
from lrrsa.data import brainio as bio
from lrrsa.data import brainio_reliability as rel
from lrrsa.data import brainio_responses as resp
from lrrsa.data import brainio_stimuli as stim

FIXTURES = SHARED_DATA / "brainio"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"brainio fixtures not found at {FIXTURES} (set LRRSA_SHARED_DATA)")
TESTME = FIXTURES / "assy_test_TestMe.nc"
PACKAGE = FIXTURES / "assy_test_package_assembly.nc"
EXTRAS = FIXTURES / "assy_test_package_assembly_extras.nc"
IMAGES = FIXTURES / "images"


# ------------------------------------------------------------------------ oracles


def raw(path: Path) -> dict:
    """The file through netCDF4 alone: data variable (the one with a 'coordinates'
    attribute), its dims, its values and every 1-D coordinate, as numpy arrays."""
    with netCDF4.Dataset(path) as ds:
        (name,) = [n for n, v in ds.variables.items() if "coordinates" in v.ncattrs()]
        var = ds.variables[name]
        var.set_auto_mask(False)
        coords = {n: np.asarray(ds.variables[n][:]) for n in var.getncattr("coordinates").split()}
        dims = {n: ds.variables[n].dimensions[0] for n in coords}
        return dict(name=name, dims=var.dimensions, values=np.asarray(var[:]), coords=coords, coord_dims=dims)


def loop_average(values: np.ndarray, dims: tuple[str, ...], stimulus_ids, keep_neuroids, keep_bins, order):
    """Mean over the kept bins, then over each stimulus's presentations, with plain loops."""
    v = np.transpose(values, [dims.index(d) for d in ("presentation", "neuroid", "time_bin") if d in dims])
    if v.ndim == 2:
        v = v[:, :, None]
    out = np.zeros((len(order), len(keep_neuroids)))
    counts = np.zeros(len(order), dtype=int)
    for i, s in enumerate(order):
        for p in range(v.shape[0]):
            if stimulus_ids[p] != s:
                continue
            counts[i] += 1
            for j, n in enumerate(keep_neuroids):
                out[i, j] += sum(float(v[p, n, b]) for b in keep_bins) / len(keep_bins)
        out[i] /= counts[i]
    return out, counts


def protocol_reliability(values, stimulus_ids, labels, n_splits, seed):
    """The module's documented protocol, written out with loops and np.corrcoef."""
    unique = np.unique(labels)
    rng = np.random.default_rng(seed)
    stimuli = list(dict.fromkeys(stimulus_ids))
    per_split, per_neuroid = [], []
    for _ in range(n_splits):
        perm = rng.permutation(unique.size)
        halves = [set(unique[perm[: unique.size // 2]]), set(unique[perm[unique.size // 2:]])]
        means = [[], []]
        used = []
        for s in stimuli:
            rows = [[p for p in range(len(stimulus_ids)) if stimulus_ids[p] == s and labels[p] in h] for h in halves]
            if rows[0] and rows[1]:
                used.append(s)
                for h in (0, 1):
                    means[h].append(values[rows[h]].mean(axis=0))
        a, b = np.array(means[0]), np.array(means[1])
        sb = []
        for n in range(values.shape[1]):
            r = np.corrcoef(a[:, n], b[:, n])[0, 1]
            sb.append(2 * r / (1 + r))
        per_neuroid.append(sb)
        per_split.append(np.median(sb))
    return float(np.mean(per_split)), np.mean(per_neuroid, axis=0)


# ----------------------------------------------------------------- synthetic files


def majajhong_like(path: Path, rng) -> dict:
    """(neuroid, presentation, time_bin 1) float32, bin 70-170 ms, two regions and animals,
    unequal repetitions per stimulus."""
    stimuli = [f"hvm{i:03d}" for i in range(7)]
    reps = [3, 5, 4, 2, 5, 3, 4]
    ids = [s for s, r in zip(stimuli, reps) for _ in range(r)]
    repetition = [k for r in reps for k in range(r)]
    order = rng.permutation(len(ids))
    ids, repetition = [ids[i] for i in order], [repetition[i] for i in order]
    n_neuroids = 6
    data = rng.normal(size=(n_neuroids, len(ids), 1)).astype(np.float32)
    neuroids = dict(neuroid_id=[f"Chabo_L_M_{i}" for i in range(3)] + [f"Tito_L_P_{i}" for i in range(3)],
                    region=["V4", "IT", "IT", "V4", "IT", "V4"], animal=["Chabo"] * 3 + ["Tito"] * 3)
    bio.write_assembly(path, data, dict(stimulus_id=ids, repetition=repetition, object_name=["x"] * len(ids)),
                       neuroids, time_bins=[(70, 170)], dims=("neuroid", "presentation", "time_bin"))
    return dict(ids=ids, neuroids=neuroids, data=data, stimuli=stimuli)


def freemanziemba_like(path: Path, rng, n_neuroids=5, n_stimuli=6, n_reps=4, n_bins=300) -> dict:
    """(neuroid, time_bin, presentation) float64 0/1 spikes in 1-ms bins 0..n_bins."""
    stimuli = [f"tex{i}" for i in range(n_stimuli)]
    ids = [s for s in stimuli for _ in range(n_reps)]
    rate = rng.uniform(0.05, 0.4, size=(n_neuroids, 1, len(ids)))
    data = (rng.uniform(size=(n_neuroids, n_bins, len(ids))) < rate).astype(np.float64)
    bins = [(t, t + 1) for t in range(n_bins)]
    neuroids = dict(neuroid_id=np.arange(n_neuroids), region=["V1", "V2"] * (n_neuroids // 2) + ["V1"] * (n_neuroids % 2))
    bio.write_assembly(path, data, dict(stimulus_id=ids, repetition=[k for _ in stimuli for k in range(n_reps)]),
                       neuroids, time_bins=bins, dims=("neuroid", "time_bin", "presentation"))
    return dict(ids=ids, data=data, stimuli=stimuli, neuroids=neuroids)


def papale_like(path: Path, rng, *, subject=True) -> dict:
    """(presentation, neuroid, time_bin 1), neuroid_id restarting per monkey, ``subject`` coordinate."""
    stimuli = ["aardvark_01b", "abacus_01s", "accordion_01b", "acorn_01b", "aircraft_carrier_01b"]
    ids = [s for s in stimuli for _ in range(3)]
    subjects = ["monkeyF"] * 4 + ["monkeyN"] * 3
    neuroid_ids = [0, 1, 2, 3, 0, 1, 2]
    data = rng.normal(size=(len(ids), len(neuroid_ids), 1))
    neuroids = dict(neuroid_id=neuroid_ids, region=["V1", "V4", "IT", "IT", "V1", "IT", "V4"])
    if subject:
        neuroids["subject"] = subjects
    bio.write_assembly(path, data, dict(stimulus_id=ids), neuroids, time_bins=[(0, 300)],
                       dims=("presentation", "neuroid", "time_bin"), name="__xarray_dataarray_variable__")
    return dict(ids=ids, data=data, stimuli=stimuli, subjects=subjects, neuroid_ids=neuroid_ids)


# -------------------------------------------------------------- real fixture files


@needs_fixtures
def test_testme_fixture_reads_with_expected_values():
    r = raw(TESTME)
    info = bio.assembly_info(TESTME)
    assert (info.variable, info.dims, info.shape) == ("data", ("presentation", "neuroid"), (6, 3))
    assert list(info.presentations["stimulus_id"]) == list(r["coords"]["stimulus_id"])
    assert list(info.presentations["repetition"]) == list(r["coords"]["repetition"])
    assert list(info.neuroids["neuroid_id"]) == list(r["coords"]["neuroid_id"]) == ["alpha", "beta", "gamma"]
    assert list(info.neuroids["foo"]) == [1, 2, 5]
    assert len(info.time_bins) == 0
    got = resp.stimulus_responses(TESTME)
    order = list(dict.fromkeys(r["coords"]["stimulus_id"]))
    expected, counts = loop_average(r["values"], r["dims"], list(r["coords"]["stimulus_id"]), [0, 1, 2], [0], order)
    assert got.stimulus_ids == tuple(order) == ("n0", "n1", "n4", "n9")
    np.testing.assert_allclose(got.responses, expected)
    np.testing.assert_array_equal(got.n_repetitions, counts)
    np.testing.assert_allclose(got.presentation_responses, r["values"].astype(float))
    assert list(got.neuroid_keys) == [("alpha",), ("beta",), ("gamma",)]
    with pytest.raises(ValueError, match=r"assy_test_TestMe\.nc.*no time_bin dimension"):
        resp.stimulus_responses(TESTME, time_window=(70, 170))


@needs_fixtures
@pytest.mark.parametrize("engine", ["netcdf4", "h5netcdf"])
def test_package_fixture_unnamed_variable_and_image_id(engine):
    pytest.importorskip(engine if engine != "netcdf4" else "netCDF4")
    r = raw(PACKAGE)
    assert r["name"] == "__xarray_dataarray_variable__"
    info = bio.assembly_info(PACKAGE, engine=engine)
    assert info.variable == "__xarray_dataarray_variable__"
    assert info.dims == ("presentation", "neuroid", "time_bin")
    assert list(info.presentations["stimulus_id"]) == list(r["coords"]["image_id"])  # aliased
    assert info.time_bins.to_dict("list") == {"time_bin_start": [0], "time_bin_end": [10]}
    got = resp.stimulus_responses(PACKAGE, time_window=(0, 10), engine=engine)
    ids = list(r["coords"]["image_id"])
    expected, counts = loop_average(r["values"], r["dims"], ids, [0, 1, 2], [0], ids)
    np.testing.assert_allclose(got.responses, expected)
    assert got.responses[5].tolist() == [16, 17, 18]
    with pytest.raises(ValueError, match=r"assy_test_package_assembly\.nc: no time bin lies inside .*'0-10'"):
        resp.stimulus_responses(PACKAGE, time_window=(20, 50), engine=engine)


@needs_fixtures
def test_extras_fixture_is_a_metadata_assembly_not_a_data_assembly():
    for call in (lambda: bio.assembly_info(EXTRAS), lambda: resp.stimulus_responses(EXTRAS)):
        with pytest.raises(ValueError, match=r"assy_test_package_assembly_extras\.nc: dims \('event',\).*read_metadata_assembly"):
            call()
    table = bio.read_metadata_assembly(EXTRAS)
    with netCDF4.Dataset(EXTRAS) as ds:
        assert len(table) == ds.dimensions["event"].size == 1000
        for name in ("neuroid_id", "animal", "hemisphere", "region", "subregion", "array", "electrode"):
            assert list(table[name]) == list(ds.variables[name][:]), name
        assert list(table["column"]) == list(ds.variables["column"][:])
        np.testing.assert_allclose(table["data"], np.asarray(ds.variables["data"][:]))
    assert set(table["region"]) == {"IT", "V4"}
    with pytest.raises(ValueError, match=r"assy_test_TestMe\.nc: a metadata assembly is 1-D"):
        bio.read_metadata_assembly(TESTME)


@needs_fixtures
def test_stimulus_set_fixture_folder_and_zip(tmp_path):
    from PIL import Image

    csv = IMAGES / "image_test_ten_images.csv"
    s = stim.read_stimulus_set(csv)
    assert s.images == IMAGES and not s.is_zip
    assert list(s.table.columns[:3]) == ["stimulus_id", "filename", "thing"]
    assert list(s.table["stimulus_id"]) == [f"n{i}" for i in range(10)]
    assert stim.stimulus_filenames(s, ["n3", "n0"]) == ["n3.png", "n0.png"]
    image = stim.open_stimulus_image(s, "n7")
    with Image.open(IMAGES / "n7.png") as direct:
        assert image.size == direct.size == (256, 256) and image.mode == direct.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), np.asarray(direct))
    # the same set as a flat zip (how Brain-Score publishes it)
    zpath = tmp_path / "stimulus_test.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in range(10):
            zf.write(IMAGES / f"n{i}.png", arcname=f"n{i}.png")
    zipped = stim.read_stimulus_set(csv, zpath)
    assert zipped.is_zip
    stim.check_stimulus_files(zipped)
    stim.check_stimulus_files(s)
    assert stim.read_stimulus_bytes(zipped, "n4") == (IMAGES / "n4.png").read_bytes()
    out = stim.extract_stimuli(zipped, ["n9", "n1"], tmp_path / "out")
    assert [p.name for p in out] == ["n9.png", "n1.png"]
    assert out[0].read_bytes() == (IMAGES / "n9.png").read_bytes()
    with pytest.raises(ValueError, match=r"image_test_ten_images\.csv: 2 stimulus id\(s\) not in the stimulus set: 'n10', 'x'"):
        stim.stimulus_filenames(s, ["n1", "n10", "x"])


def structure(path: Path) -> dict:
    """The on-disk structure through netCDF4 and h5py: model, variables with dims and kind,
    the data variable's coordinates, and whether every dimension is a bare HDF5 dimension scale."""
    with netCDF4.Dataset(path) as ds:
        data = [n for n, v in ds.variables.items() if "coordinates" in v.ncattrs()]
        out = dict(
            model=ds.data_model,
            dims=sorted(ds.dimensions),
            variables={n: (v.dimensions, "str" if v.dtype is str else np.dtype(v.dtype).kind) for n, v in ds.variables.items()},
            data=data,
            coordinates=sorted(ds.variables[data[0]].getncattr("coordinates").split()),
            dim_variables=sorted(set(ds.dimensions) & set(ds.variables)),
        )
    with h5py.File(path, "r") as h5:
        out["bare_dims"] = all(
            h5[d].attrs.get("CLASS") == b"DIMENSION_SCALE"
            and h5[d].attrs.get("NAME", b"").startswith(b"This is a netCDF dimension but not a netCDF variable")
            for d in out["dims"]
        )
    return out


@needs_fixtures
def test_writer_output_has_the_fixtures_on_disk_structure(tmp_path):
    r = raw(TESTME)
    mine = bio.write_assembly(tmp_path / "testme.nc", r["values"],
                              {k: r["coords"][k] for k in ("stimulus_id", "repetition")},
                              {k: r["coords"][k] for k in ("neuroid_id", "foo")})
    assert structure(mine) == structure(TESTME)
    r = raw(PACKAGE)
    pres = {k: r["coords"][k] for k in ("image_id", "image_type")}
    neur = {k: r["coords"][k] for k in ("neuroid_id", "neuroid_type")}
    mine = bio.write_assembly(tmp_path / "package.nc", r["values"], pres, neur, time_bins=[(0, 10)],
                              name="__xarray_dataarray_variable__")
    theirs = structure(PACKAGE)
    assert theirs["dim_variables"] == [] and theirs["bare_dims"] and theirs["model"] == "NETCDF4"
    assert structure(mine) == theirs


# ------------------------------------------------------------------ synthetic files


def test_writer_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mh.nc"
    planted = majajhong_like(path, rng)
    info = bio.assembly_info(path)
    assert info.dims == ("neuroid", "presentation", "time_bin") and info.dtype == np.float32
    assert list(info.presentations["stimulus_id"]) == planted["ids"]
    pd.testing.assert_frame_equal(info.neuroids, pd.DataFrame(planted["neuroids"]), check_dtype=False)
    assert info.neuroid_key_columns == ("animal", "neuroid_id")
    with xr.open_dataarray(path) as da:  # xarray reads it as brainio's users do
        np.testing.assert_array_equal(da.values, planted["data"])


def test_majajhong_like_region_and_window(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "mh.nc"
    p = majajhong_like(path, rng)
    it = [i for i, reg in enumerate(p["neuroids"]["region"]) if reg == "IT"]
    order = list(dict.fromkeys(p["ids"]))
    expected, counts = loop_average(p["data"], ("neuroid", "presentation", "time_bin"), p["ids"], it, [0], order)
    got = resp.stimulus_responses(path, time_window=(70, 170), region="IT", chunk_mb=1e-4)
    np.testing.assert_allclose(got.responses, expected, rtol=1e-6)
    np.testing.assert_array_equal(got.n_repetitions, counts)
    assert list(got.neuroids["neuroid_id"]) == [p["neuroids"]["neuroid_id"][i] for i in it]
    assert got.presentation_responses.shape == (len(p["ids"]), len(it))
    # the single 70-170 bin lies inside a wider window too
    wide = resp.stimulus_responses(path, time_window=(0, 300), region="IT", animal="Tito")
    tito_it = [j for j, i in enumerate(it) if p["neuroids"]["animal"][i] == "Tito"]
    np.testing.assert_allclose(wide.responses, expected[:, tito_it], rtol=1e-6)
    assert list(wide.neuroid_keys) == [("Tito", "Tito_L_P_1")]


@pytest.mark.parametrize("chunk_mb", [1e-3, 0.05, 64])
def test_freemanziemba_like_window_50_200(tmp_path, chunk_mb):
    rng = np.random.default_rng(2)
    path = tmp_path / "fz.nc"
    p = freemanziemba_like(path, rng)
    bins = [t for t in range(300) if t >= 50 and t + 1 <= 200]
    assert len(bins) == 150 and bins[0] == 50 and bins[-1] == 199
    expected, counts = loop_average(p["data"], ("neuroid", "time_bin", "presentation"), p["ids"], range(5), bins, p["stimuli"])
    got = resp.stimulus_responses(path, time_window=(50, 200), chunk_mb=chunk_mb)
    np.testing.assert_allclose(got.responses, expected, rtol=1e-12)
    assert list(got.time_bins["time_bin_start"]) == bins
    np.testing.assert_array_equal(got.n_repetitions, [4] * 6)
    v1 = resp.stimulus_responses(path, time_window=(50, 200), region="V1", chunk_mb=chunk_mb)
    np.testing.assert_allclose(v1.responses, expected[:, [0, 2, 4]], rtol=1e-12)


@pytest.mark.parametrize("engine", ["netcdf4", "h5netcdf"])
def test_time_bin_outermost_both_engines(tmp_path, engine):
    pytest.importorskip(engine if engine != "netcdf4" else "netCDF4")
    rng = np.random.default_rng(3)
    data = rng.normal(size=(20, 9, 4))  # time_bin, presentation, neuroid
    ids = ["a", "b", "c"] * 3
    path = bio.write_assembly(tmp_path / "t.nc", data, dict(stimulus_id=ids), dict(neuroid_id=list("wxyz")),
                              time_bins=[(10 * t, 10 * t + 10) for t in range(20)], dims=("time_bin", "presentation", "neuroid"))
    keep = [t for t in range(20) if 10 * t >= 35 and 10 * t + 10 <= 115]  # 40-50 ... 100-110: not 30-40, not 110-120
    expected, _ = loop_average(data, ("time_bin", "presentation", "neuroid"), ids, [1, 3], keep, ["c", "a", "b"])
    mask = np.array([False, True, False, True])
    got = resp.stimulus_responses(path, time_window=(35, 115), neuroid_mask=mask, stimuli=["c", "a", "b"], chunk_mb=1e-4, engine=engine)
    np.testing.assert_allclose(got.responses, expected, rtol=1e-12)
    assert got.stimulus_ids == ("c", "a", "b")
    np.testing.assert_array_equal(got.n_repetitions, [3, 3, 3])
    assert list(got.time_bins["time_bin_start"]) == [40, 50, 60, 70, 80, 90, 100]


def test_papale_like_neuroids_keyed_by_subject(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "tvsd.nc"
    p = papale_like(path, rng)
    got = resp.stimulus_responses(path, time_window=(0, 300), stimuli=p["stimuli"][::-1])
    assert list(got.neuroid_keys) == list(zip(p["subjects"], p["neuroid_ids"]))
    assert got.neuroid_keys.is_unique
    expected, _ = loop_average(p["data"], ("presentation", "neuroid", "time_bin"), p["ids"], range(7), [0], p["stimuli"][::-1])
    np.testing.assert_allclose(got.responses, expected, rtol=1e-12)
    n_it = resp.stimulus_responses(path, animal="monkeyN", region=["IT", "V4"])
    assert list(n_it.neuroid_keys) == [("monkeyN", 1), ("monkeyN", 2)]
    np.testing.assert_allclose(n_it.responses, expected[::-1][:, [5, 6]], rtol=1e-12)


# -------------------------------------------------------------------- reliability


def test_split_half_reliability_equals_the_protocol_on_a_small_case(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "fz.nc"
    freemanziemba_like(path, rng, n_neuroids=4, n_stimuli=7, n_reps=5, n_bins=40)
    got = resp.stimulus_responses(path, time_window=(0, 40))
    ids = list(got.presentations["stimulus_id"])
    labels = got.presentations["repetition"].to_numpy()
    value, per_neuroid = protocol_reliability(got.presentation_responses, ids, labels, n_splits=10, seed=3)
    r = rel.internal_consistency(got, n_splits=10, seed=3)
    assert r.value == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(r.per_neuroid, per_neuroid, atol=1e-12)
    assert r.per_split.shape == (10,) and r.per_split_neuroid.shape == (10, 4)
    assert (r.n_stimuli == 7).all()
    # without a repetition coordinate the occurrence number is the label: here the same labels
    same = rel.split_half_reliability(got.presentation_responses, ids, n_splits=10, seed=3)
    assert same.value == pytest.approx(value, abs=1e-12)


def test_split_half_reliability_recovers_a_planted_reliability():
    """Responses = signal (var 1, per stimulus and neuroid) + noise (var s2) per repetition:
    each half mean of R/2 repetitions correlates r = 1 / (1 + 2 s2 / R) with the other,
    and Spearman-Brown 2r / (1 + r) = 1 / (1 + s2 / R), the reliability of the R-mean."""
    rng = np.random.default_rng(6)
    n_stimuli, n_reps, s2 = 400, 10, 4.0
    signal = rng.normal(size=(n_stimuli, 60))
    signal[:, 40:] = 0  # 20 neuroids with no stimulus signal
    values = np.repeat(signal, n_reps, axis=0) + rng.normal(scale=np.sqrt(s2), size=(n_stimuli * n_reps, 60))
    ids = np.repeat([f"s{i}" for i in range(n_stimuli)], n_reps)
    r = rel.split_half_reliability(values[:, :40], ids, n_splits=10, seed=0)
    expected = 1 / (1 + s2 / n_reps)
    assert r.value == pytest.approx(expected, abs=0.03)
    full = rel.split_half_reliability(values, ids, n_splits=10, seed=0)
    assert (full.per_neuroid[:40] > 0.3).all() and (full.per_neuroid[40:] < 0.3).all()
    assert abs(np.mean(full.per_neuroid[40:])) < 0.05


def test_reliability_errors(tmp_path):
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        rel.split_half_reliability(np.ones((3, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="only 2 stimuli"):
        rel.split_half_reliability(np.random.default_rng(0).normal(size=(4, 2)), ["a", "a", "b", "b"])
    path = tmp_path / "fz.nc"
    freemanziemba_like(path, np.random.default_rng(7), n_bins=10)
    got = resp.stimulus_responses(path, keep_presentations=False)
    with pytest.raises(ValueError, match=r"fz\.nc: per-presentation responses were not kept"):
        rel.internal_consistency(got)


# -------------------------------------------------------------------- memory


def test_memory_is_bounded_by_the_slab(tmp_path):
    """Python-side allocations (numpy registers with tracemalloc) stay far below the array."""
    import tracemalloc

    path = tmp_path / "big.nc"
    p = freemanziemba_like(path, np.random.default_rng(8), n_neuroids=40, n_stimuli=30, n_reps=10, n_bins=300)
    full_bytes = p["data"].nbytes  # 28.8 MB
    del p
    tracemalloc.start()
    try:
        resp.stimulus_responses(path, time_window=(50, 200), chunk_mb=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * full_bytes, (peak, full_bytes)


# -------------------------------------------------------------------- errors


def write_dataset(path: Path, variables: dict, coords: dict) -> Path:
    xr.Dataset(variables, coords=coords).to_netcdf(path, engine="netcdf4")
    return path


def test_error_data_variables(tmp_path):
    two = write_dataset(tmp_path / "two.nc", {"data": (("presentation", "neuroid"), np.ones((2, 2))),
                                              "extra": (("presentation", "neuroid"), np.ones((2, 2)))},
                        {"stimulus_id": ("presentation", ["a", "b"]), "neuroid_id": ("neuroid", [1, 2])})
    with pytest.raises(ValueError, match=r"two\.nc: .*exactly one data variable.*found 2: 'data', 'extra'"):
        bio.assembly_info(two)
    none = write_dataset(tmp_path / "none.nc", {}, {"stimulus_id": ("presentation", ["a", "b"])})
    with pytest.raises(ValueError, match=r"none\.nc: .*found 0: none"):
        bio.assembly_info(none)
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match=r"junk\.nc: cannot be read as a netCDF-4 brainio assembly"):
        bio.assembly_info(junk)
    with pytest.raises(FileNotFoundError, match=r"absent\.nc"):
        bio.assembly_info(tmp_path / "absent.nc")


def test_error_dims_and_coordinates(tmp_path):
    coords = {"stimulus_id": ("presentation", ["a", "b"]), "neuroid_id": ("neuroid", [1, 2])}
    odd = write_dataset(tmp_path / "odd.nc", {"data": (("presentation", "neuroid", "trial"), np.ones((2, 2, 3)))}, coords)
    with pytest.raises(ValueError, match=r"odd\.nc: unknown dimension\(s\) 'trial'"):
        bio.assembly_info(odd)
    flat = write_dataset(tmp_path / "flat.nc", {"data": (("presentation", "time_bin"), np.ones((2, 3)))},
                         {"stimulus_id": ("presentation", ["a", "b"])})
    with pytest.raises(ValueError, match=r"flat\.nc: missing dimension\(s\) neuroid"):
        bio.assembly_info(flat)
    no_id = write_dataset(tmp_path / "no_id.nc", {"data": (("presentation", "neuroid"), np.ones((2, 2)))},
                          {"neuroid_id": ("neuroid", [1, 2]), "repetition": ("presentation", [0, 1])})
    with pytest.raises(ValueError, match=r"no_id\.nc: no stimulus_id or image_id coordinate on presentation \(found 'repetition'\)"):
        bio.assembly_info(no_id)
    no_neuroid = write_dataset(tmp_path / "no_neuroid.nc", {"data": (("presentation", "neuroid"), np.ones((2, 2)))},
                               {"stimulus_id": ("presentation", ["a", "b"]), "region": ("neuroid", ["V4", "IT"])})
    with pytest.raises(ValueError, match=r"no_neuroid\.nc: no neuroid_id coordinate on neuroid"):
        bio.assembly_info(no_neuroid)
    no_edges = write_dataset(tmp_path / "no_edges.nc", {"data": (("presentation", "neuroid", "time_bin"), np.ones((2, 2, 1)))}, coords)
    with pytest.raises(ValueError, match=r"no_edges\.nc: time_bin has no time_bin_start or time_bin_end coordinate"):
        resp.stimulus_responses(no_edges, time_window=(70, 170))
    np.testing.assert_allclose(resp.stimulus_responses(no_edges).responses, np.ones((2, 2)))  # None: all bins


def test_error_selections(tmp_path):
    path = tmp_path / "mh.nc"
    majajhong_like(path, np.random.default_rng(9))
    with pytest.raises(ValueError, match=r"mh\.nc: region 'V1' not present; regions available: 'IT', 'V4'"):
        resp.stimulus_responses(path, region="V1")
    with pytest.raises(ValueError, match=r"mh\.nc: animal 'Magneto' not present; animals available: 'Chabo', 'Tito'"):
        resp.stimulus_responses(path, animal="Magneto")
    with pytest.raises(ValueError, match=r"mh\.nc: no time bin lies inside the window \[100, 200\) ms; bins \(ms\): '70-170'"):
        resp.stimulus_responses(path, time_window=(100, 200))
    with pytest.raises(ValueError, match=r"mh\.nc: 2 requested stimulus id\(s\) have no presentation: 'nope', 'zzz'"):
        resp.stimulus_responses(path, stimuli=["hvm000", "zzz", "nope"])
    with pytest.raises(ValueError, match=r"mh\.nc: no neuroid left"):
        resp.stimulus_responses(path, region="IT", neuroid_mask=np.zeros(6, dtype=bool))
    tvsd = tmp_path / "tvsd_no_subject.nc"
    papale_like(tvsd, np.random.default_rng(10), subject=False)
    with pytest.raises(ValueError, match=r"tvsd_no_subject\.nc: neuroid key \(neuroid_id\) is not unique: \(0,\)"):
        resp.stimulus_responses(tvsd)
    with pytest.raises(ValueError, match=r"tvsd_no_subject\.nc: no animal coordinate on neuroid"):
        resp.stimulus_responses(tvsd, animal="monkeyF")


def test_error_nan_responses_counted(tmp_path):
    rng = np.random.default_rng(11)
    data = rng.normal(size=(6, 3, 4))
    data[1, 0, 2] = np.nan
    data[4, 0, 0] = np.nan
    data[4, 2, 3] = np.nan
    path = bio.write_assembly(tmp_path / "holes.nc", data, dict(stimulus_id=list("aabbcc")), dict(neuroid_id=list("xyz")),
                              time_bins=[(0, 10), (10, 20), (20, 30), (30, 40)])
    with pytest.raises(ValueError, match=r"holes\.nc: 3 NaN \(or infinite\) time-averaged response\(s\) in 2 presentation\(s\) "
                                         r"and 2 neuroid\(s\) \(neuroid_id: \('x',\), \('z',\)\)"):
        resp.stimulus_responses(path)
    ok = resp.stimulus_responses(path, time_window=(0, 20), neuroid_mask=np.array([False, True, True]))  # the holes left out
    assert np.isfinite(ok.responses).all()


def test_writer_errors(tmp_path):
    with pytest.raises(ValueError, match=r"w\.nc: coordinate 'stimulus_id' on presentation has shape \(2,\); expected \(3,\)"):
        bio.write_assembly(tmp_path / "w.nc", np.ones((3, 2)), dict(stimulus_id=["a", "b"]), dict(neuroid_id=[1, 2]))
    with pytest.raises(ValueError, match=r"w\.nc: time_bins must be given exactly when"):
        bio.write_assembly(tmp_path / "w.nc", np.ones((3, 2, 1)), dict(stimulus_id=list("abc")), dict(neuroid_id=[1, 2]),
                           dims=("presentation", "neuroid", "time_bin"))
    assert not (tmp_path / "w.nc").exists() and not list(tmp_path.glob(".w.nc*"))


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("stimulus_id,filename,category\n" + "".join(f"{i},{f},c\n" for i, f in rows))
    return path


@pytest.mark.parametrize("bad", ["../evil.png", "/etc/passwd", "sub/x.png", "..", "a\\b.png"])
def test_stimulus_set_refuses_unsafe_names(tmp_path, bad):
    csv = write_csv(tmp_path / "stimulus_bad.csv", [("s0", "ok.png"), ("s1", bad)])
    with pytest.raises(ValueError, match=r"stimulus_bad\.csv: file name\(s\) with a folder part"):
        stim.read_stimulus_set(csv, tmp_path)


def test_stimulus_set_errors(tmp_path):
    dup = write_csv(tmp_path / "stimulus_dup.csv", [("s0", "a.png"), ("s0", "b.png")])
    with pytest.raises(ValueError, match=r"stimulus_dup\.csv: stimulus_id is not unique: 's0'"):
        stim.read_stimulus_set(dup, tmp_path)
    (tmp_path / "cols.csv").write_text("id,file\nx,y\n")
    with pytest.raises(ValueError, match=r"cols\.csv: a stimulus set CSV needs columns stimulus_id and filename"):
        stim.read_stimulus_set(tmp_path / "cols.csv", tmp_path)
    # ids read verbatim ('NA' is an id), old column names accepted, the zip found beside the CSV
    csv = tmp_path / "stimulus_old.csv"
    csv.write_text("image_id,image_file_name\nNA,f0.png\nnull,dir.png\nlink,link.png\nmiss,miss.png\n")
    with zipfile.ZipFile(tmp_path / "stimulus_old.zip", "w") as zf:
        zf.writestr("f0.png", b"zero")
        zf.writestr("dir.png/", b"")
        zf.writestr("../link.png", b"escape")
    s = stim.read_stimulus_set(csv)
    assert s.is_zip and list(s.table["stimulus_id"]) == ["NA", "null", "link", "miss"]
    assert stim.read_stimulus_bytes(s, "NA") == b"zero"
    with pytest.raises(ValueError, match=r"stimulus_old\.zip: member 'dir\.png' is a folder"):
        stim.read_stimulus_bytes(s, "null")
    with pytest.raises(FileNotFoundError, match=r"stimulus_old\.zip: no member 'link\.png'"):  # '../link.png' is never matched
        stim.read_stimulus_bytes(s, "link")
    with pytest.raises(FileNotFoundError, match=r"stimulus_old\.zip: 3 image\(s\) of .*stimulus_old\.csv missing"):
        stim.check_stimulus_files(s)
    with pytest.raises(ValueError, match=r"stimulus_old\.zip: image of stimulus 'NA' cannot be decoded"):
        stim.open_stimulus_image(s, "NA")
    # a folder: a symlink leaving the folder is refused, a missing file named
    folder = tmp_path / "images"
    folder.mkdir()
    (tmp_path / "secret.png").write_bytes(b"secret")
    (folder / "f0.png").write_bytes(b"zero")
    os.symlink(tmp_path / "secret.png", folder / "link.png")
    (folder / "dir.png").mkdir()
    s = stim.read_stimulus_set(csv, folder)
    with pytest.raises(ValueError, match=r"link\.png: resolves to .*secret\.png, outside the stimulus folder"):
        stim.read_stimulus_bytes(s, "link")
    with pytest.raises(FileNotFoundError, match=r"dir\.png: stimulus image not found \(it is a folder\)"):
        stim.read_stimulus_bytes(s, "null")
    with pytest.raises(FileNotFoundError, match=r"miss\.png: stimulus image not found"):
        stim.extract_stimuli(s, ["NA", "miss"], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"nowhere: images of stimulus set .*stimulus_old\.csv not found"):
        stim.read_stimulus_set(csv, tmp_path / "nowhere")
    shutil.rmtree(folder)
