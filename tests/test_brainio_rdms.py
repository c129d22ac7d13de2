"""Tests of the brain files written from a brainio assembly (lrrsa.data.brainio_rdms).

Expected RDMs are computed here from the raw array (netCDF4 alone, numpy), the stimulus
mapping from the CSV read with pandas; the file formats are compared with what the
THINGS-fMRI writers (write_roi_rdm, write_split_half_rdms, roi_voxel_counts) produce on
a tiny THINGS demo, and the split-half files are read by the noise-ceiling table.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
from lrrsa.data import brainio_rdms as br
from lrrsa.data.brainio import write_assembly
from lrrsa.data.brainio_reliability import reliable_neuroids
from lrrsa.data.brainio_responses import stimulus_responses
from lrrsa.data.demo_macaque import write_macaque_dataset
from lrrsa.data.stimuli import read_stimulus_table
from lrrsa.rdm_io import load_matching, load_rdm
from lrrsa.rsa.noise_ceiling import split_half_reliability
from lrrsa.stats.noise_ceiling_table import COLUMNS as NC_COLUMNS
from lrrsa.stats.noise_ceiling_table import noise_ceiling_table

ANIMALS = ["monkeyA", "monkeyB"]
ROIS = {"V1": ["V1"], "ventral": ["V4", "IT"], "IT": "IT"}
WINDOW = (70.0, 170.0)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """A small simulated recording, neuroid-first on disk (as MajajHong2015), and its stimulus table."""
    root = tmp_path_factory.mktemp("brainio_rdms")
    data = write_macaque_dataset(root / "data", n_categories=4, n_per_category=6, n_repetitions=6,
                                 neuroids_per_region={"V1": 8, "V4": 6, "IT": 8}, image_size=48, seed=1,
                                 dims=("neuroid", "presentation", "time_bin"))
    table = br.prepare_brainio_stimuli(data.assembly, data.stimulus_csv, root / "stimuli.tsv", root / "images")
    return data, root, table


def raw_array(path: Path) -> tuple[np.ndarray, dict]:
    """(presentation x neuroid x time_bin) float64 values and the 1-D coordinates, by netCDF4."""
    with netCDF4.Dataset(path) as nc:
        var = nc.variables["data"]
        var.set_auto_mask(False)
        dims = var.dimensions
        axes = [dims.index(d) for d in ("presentation", "neuroid", "time_bin")]
        values = np.transpose(np.asarray(var[:], dtype=np.float64), axes)
        coords = {n: np.asarray(nc.variables[n][:]) for n in var.getncattr("coordinates").split()}
    return values, {k: v.astype(str) if v.dtype.kind in "OSU" else v for k, v in coords.items()}


def stimulus_ids_of(csv: Path, names) -> list[str]:
    table = pd.read_csv(csv, dtype=str)
    lookup = dict(zip(table["filename"], table["stimulus_id"]))
    return [lookup[n] for n in names]


def oracle_patterns(path: Path, ids, animal, regions, window=WINDOW, zscore=False, neuroid_mask=None, reps=None):
    """Per-stimulus (ids order) means over the window's bins then the presentations."""
    values, c = raw_array(path)
    keep = np.isin(c["region"], list(regions))
    if animal != br.POOLED:
        keep &= c["animal"] == animal
    if neuroid_mask is not None:
        keep &= neuroid_mask
    bins = (c["time_bin_start"] >= window[0]) & (c["time_bin_end"] <= window[1])
    x = values[:, keep][:, :, bins].mean(axis=2)
    rows = np.isin(c["stimulus_id"], ids)
    x, sid, rep = x[rows], c["stimulus_id"][rows], c["repetition"][rows]
    if zscore:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    out = np.zeros((len(ids), x.shape[1]))
    for i, s in enumerate(ids):
        sel = sid == s
        if reps is not None:
            sel &= np.isin(rep, reps)
        out[i] = x[sel].mean(axis=0)
    return out


def one_minus_r(patterns: np.ndarray) -> np.ndarray:
    return 1.0 - np.corrcoef(patterns)


def things_files(tmp_path: Path) -> dict:
    """The THINGS writers' outputs on a tiny THINGS demo, for format comparison."""
    from lrrsa.data.demo import write_things_dataset
    from lrrsa.data.stimuli import write_selected_stimuli
    from lrrsa.data.things_fmri import roi_voxel_counts
    from lrrsa.rdms import write_roi_rdm
    from lrrsa.stats.split_half import write_split_half_rdms

    root = tmp_path / "things"
    write_things_dataset(root, n_concepts=8, n_categories=2, n_exemplars=1, n_test_images=4, n_test_repeats=2,
                         subjects=("sub-01",), voxels_per_roi={"V1": 10}, n_other_voxels=5, image_size=32)
    betas, table = root / "betas_csv", root / "stimuli.tsv"
    write_selected_stimuli(betas, None, ["sub-01"], table, rule="test", check=False)
    write_roi_rdm(betas, "sub-01", ["V1"], table, root / "rdm.npz", zscore=True, min_nc_testset=None,
                  metric="correlation")
    write_split_half_rdms(betas, ["sub-01"], ["V1"], root / "split.npz", zscore=True, min_nc_testset=None,
                          metric="correlation")
    return {"rdm": root / "rdm.npz", "split": root / "split.npz", "table": table,
            "counts": roi_voxel_counts(betas, ["sub-01"], {"V1": ["V1"]})}


def npz_layout(path: Path) -> dict:
    with np.load(path) as f:
        return {k: (f[k].dtype.kind, f[k].ndim) for k in f.files}


# ---------------------------------------------------------------------- stimuli


def test_stimulus_table_and_things_layout(ds):
    data, root, table = ds
    csv = pd.read_csv(data.stimulus_csv, dtype=str)
    written = read_stimulus_table(root / "stimuli.tsv")
    assert list(written.columns) == ["stimulus", "concept"] and len(written) == 24
    assert list(written["stimulus"]) == sorted(csv["filename"])  # file names, sorted
    assert list(table.columns) == ["stimulus", "concept", "stimulus_id"]
    by_file = csv.set_index("filename")
    assert list(written["concept"]) == list(by_file.loc[written["stimulus"], "category"])
    assert list(table["stimulus_id"]) == list(by_file.loc[written["stimulus"], "stimulus_id"])
    with zipfile.ZipFile(data.stimulus_zip) as zf:
        for name, concept in zip(written["stimulus"], written["concept"]):
            path = root / "images" / "object_images" / concept / name
            assert path.read_bytes() == zf.read(name)
    files = sorted(p.relative_to(root / "images").as_posix() for p in (root / "images").rglob("*") if p.is_file())
    assert len(files) == 24 and all(f.startswith("object_images/") and f.count("/") == 2 for f in files)
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary left


def test_stimulus_subset_constant_concept_and_explicit_column(ds, tmp_path):
    data, _, table = ds
    ids = list(table["stimulus_id"][[5, 1, 3]])
    sub = br.brainio_stimulus_table(data.assembly, data.stimulus_csv, stimulus_ids=ids)
    assert set(sub["stimulus_id"]) == set(ids) and list(sub["stimulus"]) == sorted(sub["stimulus"])
    # a stimulus set without a category column: one constant concept
    csv = pd.read_csv(data.stimulus_csv, dtype=str).drop(columns="category")
    plain = tmp_path / "plain.csv"
    csv.to_csv(plain, index=False)
    out = br.prepare_brainio_stimuli(data.assembly, plain, tmp_path / "s.tsv", tmp_path / "img",
                                     images=data.stimulus_zip)
    assert set(out["concept"]) == {br.DEFAULT_CONCEPT}
    assert len(list((tmp_path / "img" / "object_images" / br.DEFAULT_CONCEPT).iterdir())) == 24
    # another column named explicitly
    named = br.brainio_stimulus_table(data.assembly, data.stimulus_csv, concept_column="exemplar")
    assert set(named["concept"]) == {str(i) for i in range(6)}


def test_stimulus_errors_name_the_file_and_key(ds, tmp_path):
    data, _, _ = ds
    with pytest.raises(ValueError, match=rf"{data.stimulus_csv.name}.*no concept column 'object_name'"):
        br.brainio_stimulus_table(data.assembly, data.stimulus_csv, concept_column="object_name")
    with pytest.raises(ValueError, match=rf"{data.assembly.name}.*no presentation: 'nope'"):
        br.brainio_stimulus_table(data.assembly, data.stimulus_csv, stimulus_ids=["nope"])
    csv = pd.read_csv(data.stimulus_csv, dtype=str)
    short = tmp_path / "short.csv"
    csv.iloc[1:].to_csv(short, index=False)
    first = csv["stimulus_id"][0]
    with pytest.raises(ValueError, match=rf"short.csv: 1 stimulus id\(s\) of .*not in the stimulus set: '{first}'"):
        br.brainio_stimulus_table(data.assembly, short, images=data.stimulus_zip)
    dup = tmp_path / "dup.csv"
    csv.assign(filename=["same.png"] * 2 + list(csv["filename"][2:])).to_csv(dup, index=False)
    with pytest.raises(ValueError, match=r"dup.csv: file name\(s\) shared by several stimuli: 'same.png'"):
        br.brainio_stimulus_table(data.assembly, dup, images=data.stimulus_zip)
    slash = tmp_path / "slash.csv"
    csv.assign(category="a/b").to_csv(slash, index=False)
    with pytest.raises(ValueError, match=r"slash.csv: column 'category'.*'a/b'"):
        br.brainio_stimulus_table(data.assembly, slash, images=data.stimulus_zip)
    with zipfile.ZipFile(tmp_path / "partial.zip", "w") as zf:
        zf.writestr(csv["filename"][0], b"x")
    with pytest.raises(FileNotFoundError, match=r"partial.zip: 23 image\(s\)"):
        br.prepare_brainio_stimuli(data.assembly, data.stimulus_csv, tmp_path / "t.tsv", tmp_path / "i",
                                   images=tmp_path / "partial.zip")
    assert not (tmp_path / "t.tsv").exists() and not (tmp_path / "i").exists()


# ------------------------------------------------------------------------- RDMs


@pytest.mark.parametrize("zscore", [False, True])
def test_rdms_equal_an_independent_computation(ds, tmp_path, zscore):
    data, root, _ = ds
    names = read_stimulus_table(root / "stimuli.tsv")["stimulus"].tolist()
    ids = stimulus_ids_of(data.stimulus_csv, names)
    for animal in ANIMALS:
        outs = [tmp_path / f"{roi}_{animal}.npz" for roi in ROIS]
        br.write_brainio_rdms(data.assembly, data.stimulus_csv, animal, ROIS, root / "stimuli.tsv", outs,
                              time_window=WINDOW, zscore=zscore)
        for (roi, regions), out in zip(ROIS.items(), outs):
            matrix, stimuli = load_rdm(out)
            assert stimuli == names and matrix.dtype == np.float64 and matrix.shape == (24, 24)
            regions = [regions] if isinstance(regions, str) else regions
            expected = one_minus_r(oracle_patterns(data.assembly, ids, animal, regions, zscore=zscore))
            np.testing.assert_allclose(matrix, expected, atol=1e-10)
    # rows in stimulus-table order, readable by the workflow's loader
    load_matching([tmp_path / "IT_monkeyA.npz"], names)


def test_euclidean_metric_window_and_pooled_animals(ds, tmp_path):
    data, root, _ = ds
    names = read_stimulus_table(root / "stimuli.tsv")["stimulus"].tolist()
    ids = stimulus_ids_of(data.stimulus_csv, names)
    br.write_brainio_rdms(data.assembly, data.stimulus_csv, br.POOLED, {"IT": ["IT"]}, root / "stimuli.tsv",
                          [tmp_path / "e.npz"], time_window=(90, 150), metric="euclidean")
    patterns = oracle_patterns(data.assembly, ids, br.POOLED, ["IT"], window=(90, 150))
    expected = np.sqrt(((patterns[:, None] - patterns[None]) ** 2).sum(axis=2))
    np.testing.assert_allclose(load_rdm(tmp_path / "e.npz")[0], expected, atol=1e-9)
    assert patterns.shape[1] == 16  # both animals' IT


def test_per_animal_keys_when_neuroid_ids_restart(ds, tmp_path):
    data, root, _ = ds
    _, coords = raw_array(data.assembly)
    a, b = (coords["neuroid_id"][coords["animal"] == m] for m in ANIMALS)
    assert sorted(a) == sorted(b) == list(range(22))  # the same ids in both animals
    outs = {m: tmp_path / f"{m}.npz" for m in ANIMALS}
    for m in ANIMALS:
        br.write_brainio_rdms(data.assembly, data.stimulus_csv, m, {"V1": "V1"}, root / "stimuli.tsv", [outs[m]],
                              time_window=WINDOW)
    ra, rb = (load_rdm(outs[m])[0] for m in ANIMALS)
    assert not np.allclose(ra, rb)
    # keyed by (animal, neuroid_id): reliability per animal, counts per animal
    responses = stimulus_responses(data.assembly, time_window=WINDOW, region="V1")
    assert list(responses.neuroid_keys.names) == ["animal", "neuroid_id"] and responses.neuroid_keys.is_unique
    counts = br.brainio_neuroid_counts(data.assembly, ANIMALS, ROIS, time_window=WINDOW)
    assert list(counts["n_voxels"]) == [8, 14, 8, 8, 14, 8]


def test_reliability_threshold_selects_the_same_neuroids_everywhere(ds, tmp_path):
    data, root, _ = ds
    names = read_stimulus_table(root / "stimuli.tsv")["stimulus"].tolist()
    ids = stimulus_ids_of(data.stimulus_csv, names)
    threshold = 0.3
    full = reliable_neuroids(stimulus_responses(data.assembly, time_window=WINDOW), threshold)
    counts = br.brainio_neuroid_counts(data.assembly, ANIMALS, ROIS, time_window=WINDOW,
                                       reliability_threshold=threshold)
    truth = pd.read_csv(data.truth, sep="\t")
    for row in counts.itertuples():
        regions = ROIS[row.roi] if not isinstance(ROIS[row.roi], str) else [ROIS[row.roi]]
        in_roi = (full.neuroids["animal"] == row.subject) & full.neuroids["region"].isin(regions)
        assert row.n_voxels == in_roi.sum() and row.n_selected == (in_roi & full.mask).sum()
        assert row.items == " | ".join(regions)
    disjoint = counts[counts["roi"].isin(["V1", "ventral"])]  # every neuroid once
    assert disjoint["n_voxels"].sum() == len(truth)
    assert abs(disjoint["n_selected"].sum() - truth["tuned"].sum()) <= 3  # about the tuned ones are kept
    out = tmp_path / "it.npz"
    br.write_brainio_rdms(data.assembly, data.stimulus_csv, "monkeyB", {"IT": "IT"}, root / "stimuli.tsv", [out],
                          time_window=WINDOW, reliability_threshold=threshold)
    mask = full.mask  # neuroids in file order: stimulus_responses keeps file order
    expected = one_minus_r(oracle_patterns(data.assembly, ids, "monkeyB", ["IT"], neuroid_mask=mask))
    np.testing.assert_allclose(load_rdm(out)[0], expected, atol=1e-10)
    # a threshold no neuroid passes: NaN RDM, count 0 (as an empty THINGS ROI)
    br.write_brainio_rdms(data.assembly, data.stimulus_csv, "monkeyB", {"IT": "IT"}, root / "stimuli.tsv", [out],
                          time_window=WINDOW, reliability_threshold=1.0)
    matrix = load_rdm(out)[0]
    assert np.isnan(matrix[~np.eye(24, dtype=bool)]).all() and (np.diag(matrix) == 0).all()
    assert (br.brainio_neuroid_counts(data.assembly, ANIMALS, ROIS, time_window=WINDOW,
                                      reliability_threshold=1.0)["n_selected"] == 0).all()


# ------------------------------------------------------------------ split halves


def test_split_half_rdms_equal_the_oracle_and_feed_the_noise_ceiling(ds, tmp_path):
    data, root, _ = ds
    names = read_stimulus_table(root / "stimuli.tsv")["stimulus"].tolist()
    ids = stimulus_ids_of(data.stimulus_csv, names)
    split = {roi: tmp_path / f"split_{roi}.npz" for roi in ROIS}
    subject = {roi: {m: tmp_path / f"{roi}_{m}.npz" for m in ANIMALS} for roi in ROIS}
    for roi, regions in ROIS.items():
        br.write_brainio_split_half_rdms(data.assembly, data.stimulus_csv, ANIMALS, regions, root / "stimuli.tsv",
                                         split[roi], time_window=WINDOW)
    for m in ANIMALS:
        br.write_brainio_rdms(data.assembly, data.stimulus_csv, m, ROIS, root / "stimuli.tsv",
                              [subject[roi][m] for roi in ROIS], time_window=WINDOW)
    with np.load(split["ventral"]) as f:
        assert sorted(f.files) == ["even", "odd", "stimuli", "subjects"]
        assert f["odd"].shape == f["even"].shape == (2, 24, 24) and f["odd"].dtype == np.float64
        assert f["stimuli"].tolist() == names and f["subjects"].tolist() == ANIMALS
        for j, m in enumerate(ANIMALS):  # odd half: repetitions 0, 2, 4 (the 1st, 3rd, 5th)
            odd = one_minus_r(oracle_patterns(data.assembly, ids, m, ["V4", "IT"], reps=[0, 2, 4]))
            even = one_minus_r(oracle_patterns(data.assembly, ids, m, ["V4", "IT"], reps=[1, 3, 5]))
            np.testing.assert_allclose(f["odd"][j], odd, atol=1e-10)
            np.testing.assert_allclose(f["even"][j], even, atol=1e-10)
            expected_r = split_half_reliability(odd, even, "spearman").r
    table = noise_ceiling_table(subject, split, "spearman")
    assert list(table.columns) == NC_COLUMNS
    row = table[(table["roi"] == "ventral") & (table["subject"] == "monkeyB")].iloc[0]
    assert row["split_half_r"] == pytest.approx(expected_r) and row["n_split_half_stimuli"] == 24
    assert row["n_subjects"] == 2 and np.isfinite(table[["lower", "upper", "split_half_r"]].to_numpy()).all()
    # the simulated V1 is reliable: its RDM halves agree
    v1 = table[(table["roi"] == "V1") & (table["subject"] == "mean")].iloc[0]
    assert v1["split_half_r_corrected"] > 0.5


def write_custom(path: Path, *, reps_of: dict, animals_regions: list[tuple[str, str]], seed=0) -> tuple[Path, Path]:
    """A small assembly (presentation, neuroid; no time_bin) and its stimulus CSV with a folder of images."""
    rng = np.random.default_rng(seed)
    sid = [s for s, reps in reps_of.items() for _ in reps]
    rep = [r for reps in reps_of.values() for r in reps]
    neuroids: dict[str, list] = {"neuroid_id": [], "region": [], "animal": []}
    counts: dict[str, int] = {}
    for animal, region in animals_regions:
        neuroids["neuroid_id"].append(counts.get(animal, 0))
        counts[animal] = counts.get(animal, 0) + 1
        neuroids["region"].append(region)
        neuroids["animal"].append(animal)
    values = rng.normal(size=(len(sid), len(animals_regions))) + rng.normal(size=(len(reps_of), 1)).repeat(
        [len(r) for r in reps_of.values()], axis=0)
    assembly = write_assembly(path / "assy_custom.nc", values, {"stimulus_id": sid, "repetition": rep}, neuroids)
    csv = path / "stimulus_custom.csv"
    pd.DataFrame({"stimulus_id": list(reps_of), "filename": [f"{s}.png" for s in reps_of]}).to_csv(csv, index=False)
    for s in reps_of:
        (path / f"{s}.png").write_bytes(b"png")
    return assembly, csv


def test_split_half_stimuli_in_both_halves_and_empty_roi(tmp_path):
    reps = {"s1": [0, 1, 2, 3], "s2": [0, 1, 2, 3], "s3": [0, 2], "s4": [1, 3], "s5": [0, 1], "s6": [3, 2]}
    layout = [("mA", "V1")] * 3 + [("mA", "IT")] * 3 + [("mB", "IT")] * 4  # mB has no V1
    assembly, csv = write_custom(tmp_path, reps_of=reps, animals_regions=layout)
    table = br.prepare_brainio_stimuli(assembly, csv, tmp_path / "stimuli.tsv", tmp_path / "images")
    assert set(table["concept"]) == {br.DEFAULT_CONCEPT}  # the CSV has no category column
    out = tmp_path / "split.npz"
    br.write_brainio_split_half_rdms(assembly, csv, ["mA", "mB"], ["V1"], tmp_path / "stimuli.tsv", out)
    with np.load(out) as f:
        # s3 (reps 0, 2) and s4 (1, 3) lie in one half only
        assert f["stimuli"].tolist() == ["s1.png", "s2.png", "s5.png", "s6.png"]
        assert np.isfinite(f["odd"][0]).all() and np.isnan(f["odd"][1][~np.eye(4, dtype=bool)]).all()
    rdms = [tmp_path / "V1_mA.npz", tmp_path / "V1_mB.npz"]
    for animal, rdm_out in zip(["mA", "mB"], rdms):
        br.write_brainio_rdms(assembly, csv, animal, {"V1": "V1"}, tmp_path / "stimuli.tsv", [rdm_out])
    assert np.isnan(load_rdm(rdms[1])[0][0, 1]) and np.isfinite(load_rdm(rdms[0])[0]).all()
    nc = noise_ceiling_table({"V1": dict(zip(["mA", "mB"], rdms))}, {"V1": out}, "spearman")
    assert nc.set_index("subject").loc["mB", "n_subjects"] == 0
    counts = br.brainio_neuroid_counts(assembly, ["mA", "mB"], {"V1": "V1", "IT": "IT"})
    assert counts[["subject", "roi", "n_voxels"]].values.tolist() == [["mA", "V1", 3], ["mA", "IT", 3], ["mB", "V1", 0],
                                                                      ["mB", "IT", 4]]
    # fewer than 3 stimuli in both halves: empty arrays, as on the THINGS side
    few = tmp_path / "few"
    few.mkdir()
    assembly, csv = write_custom(few, reps_of={"a": [0, 1], "b": [0, 1], "c": [0], "d": [1]}, animals_regions=layout)
    br.prepare_brainio_stimuli(assembly, csv, few / "stimuli.tsv", few / "images")
    br.write_brainio_split_half_rdms(assembly, csv, ["mA", "mB"], "IT", few / "stimuli.tsv", few / "split.npz")
    with np.load(few / "split.npz") as f:
        assert f["odd"].shape == f["even"].shape == (2, 0, 0) and f["stimuli"].tolist() == ["a.png", "b.png"]


# ------------------------------------------------------------------------ formats


def test_formats_are_those_of_the_things_writers(ds, tmp_path):
    data, root, _ = ds
    things = things_files(tmp_path)
    br.write_brainio_rdms(data.assembly, data.stimulus_csv, "monkeyA", {"IT": "IT"}, root / "stimuli.tsv",
                          [tmp_path / "rdm.npz"], time_window=WINDOW)
    br.write_brainio_split_half_rdms(data.assembly, data.stimulus_csv, ANIMALS, "IT", root / "stimuli.tsv",
                                     tmp_path / "split.npz", time_window=WINDOW)
    assert npz_layout(tmp_path / "rdm.npz") == npz_layout(things["rdm"])
    assert npz_layout(tmp_path / "split.npz") == npz_layout(things["split"])
    assert (root / "stimuli.tsv").read_text().splitlines()[0] == things["table"].read_text().splitlines()[0]
    counts = br.write_brainio_neuroid_counts(data.assembly, ANIMALS, ROIS, tmp_path / "roi_voxels.tsv",
                                             time_window=WINDOW)
    back = pd.read_csv(tmp_path / "roi_voxels.tsv", sep="\t")
    assert list(back.columns) == list(things["counts"].columns) == list(br.COUNT_COLUMNS)
    assert back.dtypes.to_dict() == things["counts"].dtypes.to_dict()
    pd.testing.assert_frame_equal(back, counts)


# ------------------------------------------------------------------------- errors


def test_errors_name_the_file_and_key(ds, tmp_path):
    data, root, _ = ds
    table = root / "stimuli.tsv"
    name = data.assembly.name
    call = br.write_brainio_rdms
    with pytest.raises(ValueError, match=rf"{name}: ROI 'MT': region\(s\) 'MT' not present; "
                                         r"regions available: 'IT', 'V1', 'V4'"):
        call(data.assembly, data.stimulus_csv, "monkeyA", {"MT": ["MT"]}, table, [tmp_path / "x.npz"])
    with pytest.raises(ValueError, match=rf"{name}: animal 'monkeyC' not present; "
                                         r"animals available \(animal\): 'monkeyA', 'monkeyB'"):
        call(data.assembly, data.stimulus_csv, "monkeyC", ROIS, table, [tmp_path / f"{r}.npz" for r in ROIS])
    with pytest.raises(ValueError, match=rf"{name}: no time bin lies inside the window \[300, 400\) ms"):
        call(data.assembly, data.stimulus_csv, "monkeyA", ROIS, table, [tmp_path / f"{r}.npz" for r in ROIS],
             time_window=(300, 400))
    with pytest.raises(ValueError, match="3 ROIs but 1 output files"):
        call(data.assembly, data.stimulus_csv, "monkeyA", ROIS, table, [tmp_path / "x.npz"])
    with pytest.raises(ValueError, match=rf"{name}: ROI 'empty' names no region"):
        br.brainio_neuroid_counts(data.assembly, ANIMALS, {"empty": []})
    with pytest.raises(ValueError, match=rf"{name}: animal 'monkeyC' not present"):
        br.write_brainio_split_half_rdms(data.assembly, data.stimulus_csv, ["monkeyA", "monkeyC"], "IT", table,
                                         tmp_path / "s.npz")
    with pytest.raises(ValueError, match=rf"{name}: no time bin lies inside"):
        br.brainio_neuroid_counts(data.assembly, ANIMALS, ROIS, time_window=(0, 20))
    other = tmp_path / "other.tsv"
    other.write_text("stimulus\tconcept\nimXYZ.png\tdisc\n")
    with pytest.raises(ValueError, match=rf"other.tsv: 1 stimulus name\(s\) not a file name of "
                                         rf".*{data.stimulus_csv.name}: 'imXYZ.png'"):
        call(data.assembly, data.stimulus_csv, "monkeyA", {"IT": "IT"}, other, [tmp_path / "x.npz"])
    assert not list(tmp_path.glob("*.npz"))


def test_files_without_an_animal_coordinate(tmp_path):
    reps = {f"s{i}": [0, 1] for i in range(4)}
    rng = np.random.default_rng(0)
    sid = [s for s, r in reps.items() for _ in r]
    assembly = write_assembly(tmp_path / "assy_fz.nc", rng.normal(size=(8, 3)),
                              {"stimulus_id": sid, "repetition": [0, 1] * 4},
                              {"neuroid_id": [0, 1, 2], "region": ["V1", "V1", "V2"]})
    csv = tmp_path / "stimulus_fz.csv"
    pd.DataFrame({"stimulus_id": list(reps), "filename": [f"{s}.png" for s in reps]}).to_csv(csv, index=False)
    for s in reps:
        (tmp_path / f"{s}.png").write_bytes(b"png")
    br.prepare_brainio_stimuli(assembly, csv, tmp_path / "stimuli.tsv", tmp_path / "images")
    with pytest.raises(ValueError, match=r"assy_fz.nc: no animal coordinate on neuroid \(animal or subject\) "
                                         r"to select animal 'm'; use the animal name 'all'"):
        br.write_brainio_rdms(assembly, csv, "m", {"V1": "V1"}, tmp_path / "stimuli.tsv", [tmp_path / "r.npz"])
    br.write_brainio_rdms(assembly, csv, br.POOLED, {"V1": "V1"}, tmp_path / "stimuli.tsv", [tmp_path / "r.npz"])
    assert load_rdm(tmp_path / "r.npz")[0].shape == (4, 4)


@pytest.mark.parametrize(("neuroids", "expected"), [
    (1, "no defined dissimilarity"),  # 1 - Pearson r over one neuroid: undefined
    (2, "every dissimilarity equal to"),  # over two neuroids whose responses rise together: r = 1 for every pair
])
def test_an_rdm_that_ranks_no_pair_is_refused_with_its_roi(tmp_path, neuroids, expected):
    stimuli = [f"s{i}" for i in range(5)]
    sid = [s for s in stimuli for _ in range(2)]
    base = np.repeat(np.arange(5.0), 2)[:, None]
    values = base + np.arange(neuroids)[None, :] * (base + 1)  # each stimulus: an increasing pattern
    assembly = write_assembly(tmp_path / "assy_flat.nc", values, {"stimulus_id": sid, "repetition": [0, 1] * 5},
                              {"neuroid_id": list(range(neuroids)), "region": ["V1"] * neuroids})
    csv = tmp_path / "stimulus_flat.csv"
    pd.DataFrame({"stimulus_id": stimuli, "filename": [f"{s}.png" for s in stimuli]}).to_csv(csv, index=False)
    for s in stimuli:
        (tmp_path / f"{s}.png").write_bytes(b"png")
    br.prepare_brainio_stimuli(assembly, csv, tmp_path / "stimuli.tsv", tmp_path / "images")
    with pytest.raises(ValueError, match=rf"assy_flat.nc: animal all, ROI V1 \({neuroids} neuroid\(s\), rdm.metric "
                                         rf"correlation\): the RDM has {expected}"):
        br.write_brainio_rdms(assembly, csv, br.POOLED, {"V1": "V1"}, tmp_path / "stimuli.tsv", [tmp_path / "r.npz"])
    assert not (tmp_path / "r.npz").exists()
    br.write_brainio_rdms(assembly, csv, br.POOLED, {"V1": "V1"}, tmp_path / "stimuli.tsv", [tmp_path / "r.npz"],
                          metric="euclidean")  # distances do vary
