"""Tests of lrrsa.data.things_fmri on small files written in the real THINGS-fMRI formats.

Fixtures are written with pandas (``to_hdf(format="fixed")``, ``to_csv``) exactly as
the public files are; expected patterns are computed independently with pandas on the
full frame (z-score each voxel row, then group the trial columns by stimulus).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from lrrsa.data import things_fmri as tf  # noqa: E402

pytest.importorskip("tables", reason="pandas needs PyTables to write the HDF5 fixtures")

SUB = "sub-01"
CONCEPTS = ["dog", "stove1", "t-shirt", "nan"]  # digits, hyphen, and a name pandas would read as NaN
TEST_IMAGES = [("dog_13s.jpg", "dog"), ("t-shirt_14n.jpg", "t-shirt")]
N_SESSIONS = 4


# ------------------------------------------------------------------ fixture writers


def make_stimulus_metadata(rng: np.random.Generator) -> pd.DataFrame:
    """Train: 3 exemplars per concept, one trial each; test: 2 images, one trial per session."""
    rows = []
    k = 0
    for c in CONCEPTS:
        for e, letter in zip((1, 2, 3), "bsn"):
            rows.append(("train", 1 + k % N_SESSIONS, f"{c}_{e:02d}{letter}.jpg", c))
            k += 1
    for stim, c in TEST_IMAGES:
        for s in range(1, N_SESSIONS + 1):
            rows.append(("test", s, stim, c))
    df = pd.DataFrame(rows, columns=["trial_type", "session", "stimulus", "concept"])
    df = df.iloc[rng.permutation(len(df))].sort_values("session", kind="stable").reset_index(drop=True)
    df["run"] = 1 + rng.integers(0, 2, len(df))
    df["subject_id"] = 1
    df["trial_id"] = np.arange(len(df))
    return df[["trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept"]]


def make_voxel_metadata(n_voxels: int, rng: np.random.Generator) -> pd.DataFrame:
    vox = pd.DataFrame(
        {
            "voxel_id": 1000 + 7 * np.arange(n_voxels),
            "subject_id": 1,
            "voxel_x": rng.integers(0, 70, n_voxels),
            "voxel_y": rng.integers(0, 70, n_voxels),
            "voxel_z": rng.integers(0, 70, n_voxels),
            "nc_singletrial": rng.uniform(0, 10, n_voxels),
            "nc_testset": np.linspace(0.0, 55.0, n_voxels),
        }
    )
    for name in ["V1", "V2", "hV4", "LO1 (prf)", "lLOC", "rLOC", "IT", "lFFA"]:
        vox[name] = 0
    vox.loc[0:3, "V1"] = 1
    vox.loc[2:5, "V2"] = 1
    vox.loc[[0], "LO1 (prf)"] = 1
    vox.loc[[6, 7], "lLOC"] = 1
    vox.loc[[8, 9], "rLOC"] = 1
    vox.loc[[9, 10, 11], "IT"] = 1
    vox["glasser-V1"] = vox["V1"]
    return vox


def make_betas(n_voxels: int, n_trials: int, rng: np.random.Generator) -> np.ndarray:
    """Voxel-specific offsets and scales, so z-scoring changes the patterns."""
    offset = rng.uniform(-5, 5, (n_voxels, 1))
    scale = rng.uniform(0.5, 3, (n_voxels, 1))
    return (offset + scale * rng.standard_normal((n_voxels, n_trials))).astype(np.float32)


def write_response(path: Path, betas: np.ndarray, voxel_ids: np.ndarray, labels) -> None:
    frame = pd.DataFrame(betas, columns=list(labels))
    frame.insert(0, "voxel_id", np.asarray(voxel_ids, dtype=np.int64))
    frame.to_hdf(path, key="ResponseData", format="fixed", mode="w")


def write_subject(folder: Path, betas, stim, vox, *, labels=None, response_ids=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    labels = [str(t) for t in stim["trial_id"]] if labels is None else labels
    ids = vox["voxel_id"].to_numpy() if response_ids is None else response_ids
    write_response(folder / f"{SUB}_ResponseData.h5", betas, ids, labels)
    vox.to_csv(folder / f"{SUB}_VoxelMetadata.csv", index=False)
    stim.to_csv(folder / f"{SUB}_StimulusMetadata.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(7)
    stim = make_stimulus_metadata(rng)
    vox = make_voxel_metadata(12, rng)
    betas = make_betas(len(vox), len(stim), rng)
    folder = write_subject(tmp_path_factory.mktemp("betas_csv"), betas, stim, vox)
    return {"dir": folder, "stim": stim, "vox": vox, "betas": betas}


def fresh_copy(tmp_path: Path, data, **changes) -> Path:
    betas = changes.pop("betas", data["betas"])
    stim = changes.pop("stim", data["stim"])
    vox = changes.pop("vox", data["vox"])
    return write_subject(tmp_path / "betas_csv", betas, stim, vox, **changes)


# ------------------------------------------------------------------------ oracle


def expected_patterns(betas, stim, rows, stimuli, *, zscore="all", sessions=None):
    """z-score rows of the full frame (ddof=0), then mean of each stimulus's trial columns."""
    frame = pd.DataFrame(betas.astype(np.float64))  # voxels x trials, columns in metadata row order
    if zscore == "all":
        frame = frame.sub(frame.mean(axis=1), axis=0).div(frame.std(axis=1, ddof=0), axis=0)
    elif zscore == "train":
        ref = frame.loc[:, (stim["trial_type"] == "train").to_numpy()]
        frame = frame.sub(ref.mean(axis=1), axis=0).div(ref.std(axis=1, ddof=0), axis=0)
    elif zscore == "session":
        parts = []
        for _, cols in stim.groupby("session").groups.items():
            part = frame.loc[:, list(cols)]
            parts.append(part.sub(part.mean(axis=1), axis=0).div(part.std(axis=1, ddof=0), axis=0))
        frame = pd.concat(parts, axis=1)[frame.columns]
    frame = frame.iloc[rows]
    keep = np.ones(len(stim), bool) if sessions is None else stim["session"].isin(sessions).to_numpy()
    by_stim = frame.loc[:, keep].T.groupby(stim["stimulus"].to_numpy()[keep]).mean()
    return by_stim.reindex(stimuli).to_numpy()


# ----------------------------------------------------------------- format checks


def test_h5py_reads_what_pandas_wrote(data):
    path = data["dir"] / f"{SUB}_ResponseData.h5"
    frame = pd.read_hdf(path, "ResponseData")
    assert list(frame.columns) == ["voxel_id"] + [str(t) for t in data["stim"]["trial_id"]]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["ResponseData/block0_values"][()], frame.iloc[:, 1:].to_numpy())
        np.testing.assert_array_equal(f["ResponseData/block1_values"][:, 0], frame["voxel_id"].to_numpy())
        assert [x.decode() for x in f["ResponseData/block0_items"][()]] == list(frame.columns[1:])
        layout = tf.response_layout(f, source=path)
    assert (layout.n_voxels, layout.n_trials) == data["betas"].shape
    rows = np.arange(len(frame))
    (got_rows, block), = list(tf.read_rows(path, rows, voxel_ids=data["vox"]["voxel_id"].to_numpy(),
                                            n_trials=len(data["stim"]), trial_ids=data["stim"]["trial_id"]))
    np.testing.assert_array_equal(got_rows, rows)
    assert block.dtype == np.float32
    np.testing.assert_array_equal(block, frame.iloc[:, 1:].to_numpy())


@pytest.mark.parametrize("chunk_rows", [1, 3, 4096])
def test_read_rows_chunks_sorted_rows(data, chunk_rows):
    path = data["dir"] / f"{SUB}_ResponseData.h5"
    rows = np.array([11, 0, 5, 4, 3, 9])  # unsorted, with a run 3-4-5
    chunks = list(tf.read_rows(path, rows, chunk_rows=chunk_rows))
    assert all(len(r) <= chunk_rows for r, _ in chunks)
    got_rows = np.concatenate([r for r, _ in chunks])
    np.testing.assert_array_equal(got_rows, np.sort(rows))
    block = np.concatenate([b for _, b in chunks])
    np.testing.assert_array_equal(block, data["betas"][np.sort(rows)])


def test_read_rows_dtype_conversion_and_bad_rows(data):
    path = data["dir"] / f"{SUB}_ResponseData.h5"
    (_, block), = list(tf.read_rows(path, [2, 7], dtype=np.float64))
    assert block.dtype == np.float64
    np.testing.assert_array_equal(block, data["betas"][[2, 7]].astype(np.float64))
    with pytest.raises(ValueError, match="duplicate"):
        list(tf.read_rows(path, [1, 1]))
    with pytest.raises(ValueError, match=r"ResponseData\.h5.*\[0, 12\)"):
        list(tf.read_rows(path, [3, 12]))


@pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning")
def test_mixed_type_labels_are_read_without_unpickling(tmp_path, data):
    """Integer trial labels next to 'voxel_id' make pandas pickle the labels; values still read."""
    folder = fresh_copy(tmp_path, data, labels=list(data["stim"]["trial_id"].astype(int)))
    path = folder / f"{SUB}_ResponseData.h5"
    assert list(pd.read_hdf(path, "ResponseData").columns[1:]) == list(data["stim"]["trial_id"])
    with h5py.File(path, "r") as f:
        assert tf.response_layout(f).trial_labels is None
    stimuli = ["dog_13s.jpg", "nan_02s.jpg"]
    got = tf.stimulus_patterns(folder, SUB, ["V1"], stimuli)
    np.testing.assert_allclose(got.patterns, expected_patterns(data["betas"], data["stim"], [0, 1, 2, 3], stimuli), atol=1e-10)


# -------------------------------------------------------------------- metadata


def test_read_stimulus_metadata(data):
    meta = tf.read_stimulus_metadata(data["dir"] / f"{SUB}_StimulusMetadata.csv")
    assert list(meta.columns) == list(tf.STIMULUS_COLUMNS)
    assert set(meta["concept"]) == set(CONCEPTS)  # "nan" stays a string
    assert meta["session"].dtype == np.int64 and meta["trial_id"].dtype == np.int64
    pd.testing.assert_frame_equal(meta[["stimulus", "trial_id"]], data["stim"][["stimulus", "trial_id"]], check_dtype=False)


def test_read_stimulus_metadata_errors_name_file_and_column(tmp_path, data):
    path = tmp_path / "sub-01_StimulusMetadata.csv"
    data["stim"].drop(columns=["session", "run"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"sub-01_StimulusMetadata\.csv.*session, run"):
        tf.read_stimulus_metadata(path)
    bad = data["stim"].astype({"session": object})
    bad.loc[3, "session"] = "three"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"sub-01_StimulusMetadata\.csv: column session.*'three'"):
        tf.read_stimulus_metadata(path)
    bad = data["stim"].copy()
    bad.loc[0, "trial_type"] = "catch"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"StimulusMetadata\.csv: column trial_type.*'catch'"):
        tf.read_stimulus_metadata(path)


def test_missing_concept_column_falls_back_to_stimulus_name(tmp_path, data):
    path = tmp_path / "sub-01_StimulusMetadata.csv"
    data["stim"].drop(columns=["concept"]).to_csv(path, index=False)
    meta = tf.read_stimulus_metadata(path)
    np.testing.assert_array_equal(meta["concept"].to_numpy(), data["stim"]["concept"].to_numpy())


def test_read_voxel_metadata_subset_and_errors(tmp_path, data):
    path = data["dir"] / f"{SUB}_VoxelMetadata.csv"
    vox = tf.read_voxel_metadata(path, ["LOC", "nc_testset"])
    assert list(vox.columns) == ["voxel_id", "nc_testset", "lLOC", "rLOC"]
    assert len(tf.read_voxel_metadata(path).columns) == len(data["vox"].columns)
    bad = tmp_path / "sub-01_VoxelMetadata.csv"
    data["vox"].drop(columns=["voxel_id"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: missing column voxel_id"):
        tf.read_voxel_metadata(bad)
    with pytest.raises(ValueError, match=r"VoxelMetadata\.csv: column\(s\) 'V9'"):
        tf.read_voxel_metadata(path, ["V9"])


# ------------------------------------------------------------------------ ROIs


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["V1"], [0, 1, 2, 3]),
        ("V1", [0, 1, 2, 3]),
        (["V1", "V2"], [0, 1, 2, 3, 4, 5]),
        (["LOC"], [6, 7, 8, 9]),  # no LOC column: lLOC | rLOC
        (["lLOC", "rLOC"], [6, 7, 8, 9]),
        (["LOC", "IT"], [6, 7, 8, 9, 10, 11]),
        (["LO1 (prf)"], [0]),
        (["V1", "LO1 (prf)"], [0, 1, 2, 3]),
    ],
)
def test_roi_mask_unions(data, columns, expected):
    mask = tf.roi_mask(data["vox"], columns, source="x.csv")
    assert mask.dtype == bool
    np.testing.assert_array_equal(np.flatnonzero(mask), expected)


def test_bilateral_name_needs_both_halves(data):
    assert "lFFA" in data["vox"].columns and "rFFA" not in data["vox"].columns
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: column\(s\) 'FFA'"):
        tf.roi_mask(data["vox"], ["FFA", "V2"], source="sub-01_VoxelMetadata.csv")


def test_roi_mask_errors_name_file(data):
    vox = data["vox"].copy()
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: column\(s\) 'V7'"):
        tf.roi_mask(vox, ["V1", "V7"], source="sub-01_VoxelMetadata.csv")
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: ROI hV4 has no voxels"):
        tf.roi_mask(vox, ["hV4"], source="sub-01_VoxelMetadata.csv")
    vox.loc[1, "V1"] = 2
    with pytest.raises(ValueError, match=r"f\.csv: ROI column 'V1' must hold 0/1"):
        tf.roi_mask(vox, ["V1"], source="f.csv")


def test_voxel_selection_nc_threshold(data):
    vox = data["vox"]
    nc = vox["nc_testset"].to_numpy()
    np.testing.assert_array_equal(tf.voxel_selection(vox, ["V2"]), tf.roi_mask(vox, ["V2"]))
    got = tf.voxel_selection(vox, ["V2"], min_nc_testset=nc[4])
    np.testing.assert_array_equal(np.flatnonzero(got), [4, 5])
    with pytest.raises(ValueError, match=r"v\.csv: no voxel of ROI.*nc_testset >= 99"):
        tf.voxel_selection(vox, ["V2"], min_nc_testset=99, source="v.csv")


# --------------------------------------------------------------------- patterns


STIMULI = ["t-shirt_14n.jpg", "dog_01b.jpg", "nan_03n.jpg", "dog_13s.jpg", "stove1_02s.jpg"]  # not sorted


@pytest.mark.parametrize("chunk_rows", [1, 3, 2048])
@pytest.mark.parametrize(("roi", "rows"), [(["V1", "V2"], [0, 1, 2, 3, 4, 5]), (["LOC", "IT"], [6, 7, 8, 9, 10, 11])])
def test_stimulus_patterns_match_oracle(data, chunk_rows, roi, rows):
    got = tf.stimulus_patterns(data["dir"], SUB, roi, STIMULI, chunk_rows=chunk_rows)
    expected = expected_patterns(data["betas"], data["stim"], rows, STIMULI)
    assert got.patterns.shape == (len(STIMULI), len(rows)) and got.patterns.dtype == np.float64
    np.testing.assert_allclose(got.patterns, expected, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(got.voxel_ids, data["vox"]["voxel_id"].to_numpy()[rows])
    np.testing.assert_array_equal(got.n_trials_per_stimulus, [N_SESSIONS, 1, 1, N_SESSIONS, 1])
    assert got.stimuli == tuple(STIMULI)
    assert got.subject == SUB


def test_stimulus_patterns_subject_label_forms(data):
    a = tf.stimulus_patterns(data["dir"], "sub-01", ["V1"], STIMULI).patterns
    np.testing.assert_array_equal(tf.stimulus_patterns(data["dir"], 1, ["V1"], STIMULI).patterns, a)
    np.testing.assert_array_equal(tf.stimulus_patterns(data["dir"], "01", ["V1"], STIMULI).patterns, a)


def test_stimulus_patterns_without_zscore_is_plain_trial_mean(data):
    got = tf.stimulus_patterns(data["dir"], SUB, ["IT"], STIMULI, zscore=False, chunk_rows=2)
    np.testing.assert_allclose(got.patterns, expected_patterns(data["betas"], data["stim"], [9, 10, 11], STIMULI, zscore=None), atol=1e-6)


@pytest.mark.parametrize("trials", ["train", "session"])
def test_stimulus_patterns_other_zscore_references(data, trials):
    got = tf.stimulus_patterns(data["dir"], SUB, ["V2"], STIMULI, trials=trials, chunk_rows=3)
    np.testing.assert_allclose(got.patterns, expected_patterns(data["betas"], data["stim"], [2, 3, 4, 5], STIMULI, zscore=trials), atol=1e-10)


def test_stimulus_patterns_nc_threshold(data):
    nc = data["vox"]["nc_testset"].to_numpy()
    got = tf.stimulus_patterns(data["dir"], SUB, ["V1", "V2"], STIMULI, min_nc_testset=nc[3])
    np.testing.assert_array_equal(got.voxel_ids, data["vox"]["voxel_id"].to_numpy()[[3, 4, 5]])
    np.testing.assert_allclose(got.patterns, expected_patterns(data["betas"], data["stim"], [3, 4, 5], STIMULI), atol=1e-10)


def test_split_half_patterns_match_oracle(data):
    got = tf.split_half_patterns(data["dir"], SUB, ["V1", "LOC"], STIMULI, chunk_rows=3)
    rows = [0, 1, 2, 3, 6, 7, 8, 9]
    odd = expected_patterns(data["betas"], data["stim"], rows, STIMULI, sessions=[1, 3])
    even = expected_patterns(data["betas"], data["stim"], rows, STIMULI, sessions=[2, 4])
    np.testing.assert_allclose(got.odd, odd, atol=1e-10)  # NaN rows where the oracle has no trials
    np.testing.assert_allclose(got.even, even, atol=1e-10)
    stim = data["stim"].set_index("stimulus")
    n_odd = [int((stim.loc[[s], "session"] % 2 == 1).sum()) for s in STIMULI]
    np.testing.assert_array_equal(got.n_trials_odd, n_odd)
    np.testing.assert_array_equal(got.n_trials_even, [n - o for n, o in zip([4, 1, 1, 4, 1], n_odd)])
    # every single-trial stimulus is NaN in exactly one half; repeated ones in neither
    assert np.all(np.isnan(got.odd).all(axis=1) == (got.n_trials_odd == 0))
    assert np.all(np.isnan(got.even).all(axis=1) == (got.n_trials_even == 0))
    assert got.n_trials_odd[0] == got.n_trials_even[0] == 2


# ------------------------------------------------------------------------ errors


def test_unknown_stimulus_is_named(data):
    with pytest.raises(ValueError, match=r"StimulusMetadata\.csv: 1 requested.*'cat_01b\.jpg'"):
        tf.stimulus_patterns(data["dir"], SUB, ["V1"], ["dog_01b.jpg", "cat_01b.jpg"])
    with pytest.raises(ValueError, match="more than once"):
        tf.stimulus_patterns(data["dir"], SUB, ["V1"], ["dog_01b.jpg", "dog_01b.jpg"])


def test_nan_betas_name_file_and_count(tmp_path, data):
    betas = data["betas"].copy()
    betas[2, [0, 5]] = np.nan
    betas[5, 1] = np.nan
    betas[10, 3] = np.nan  # outside the ROI: not counted
    folder = fresh_copy(tmp_path, data, betas=betas)
    with pytest.raises(ValueError, match=r"sub-01_ResponseData\.h5: 3 NaN .* in 2 of the 6 selected voxels"):
        tf.stimulus_patterns(folder, SUB, ["V1", "V2"], STIMULI, chunk_rows=2)
    with pytest.raises(ValueError, match=r"ResponseData\.h5: 1 NaN"):
        tf.stimulus_patterns(folder, SUB, ["IT"], STIMULI)


def test_voxel_id_mismatch_names_file(tmp_path, data):
    ids = data["vox"]["voxel_id"].to_numpy().copy()
    ids[[4, 5]] = ids[[5, 4]]
    folder = fresh_copy(tmp_path, data, response_ids=ids)
    with pytest.raises(ValueError, match=r"sub-01_ResponseData\.h5: voxel_id order differs .* 2 row\(s\); first at row 4"):
        tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI)


def test_trial_count_and_label_mismatch_name_file(tmp_path, data):
    folder = fresh_copy(tmp_path, data, betas=data["betas"][:, :-1], labels=[str(t) for t in data["stim"]["trial_id"][:-1]])
    with pytest.raises(ValueError, match=r"sub-01_ResponseData\.h5: 19 trial columns, but the stimulus metadata has 20"):
        tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI)
    labels = [str(t) for t in data["stim"]["trial_id"]]
    labels[3], labels[4] = labels[4], labels[3]
    folder = fresh_copy(tmp_path / "b", data, labels=labels)
    with pytest.raises(ValueError, match=r"ResponseData\.h5: trial column labels differ .* first at column 3"):
        tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI)


def test_roi_errors_through_stimulus_patterns_name_file(data):
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: column\(s\) 'V7'"):
        tf.stimulus_patterns(data["dir"], SUB, ["V7"], STIMULI)
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: ROI hV4 has no voxels"):
        tf.stimulus_patterns(data["dir"], SUB, ["hV4"], STIMULI)


def test_constant_voxel_and_missing_files(tmp_path, data):
    betas = data["betas"].copy()
    betas[1, :] = 0.5
    folder = fresh_copy(tmp_path, data, betas=betas)
    with pytest.raises(ValueError, match=r"ResponseData\.h5: 1 ROI voxel\(s\) have zero variance.*1007"):
        tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI)
    assert tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI, zscore=False).patterns.shape == (5, 4)
    with pytest.raises(FileNotFoundError, match=r"sub-02_ResponseData\.h5"):
        tf.stimulus_patterns(folder, "sub-02", ["V1"], STIMULI)


def test_subject_id_mismatch(tmp_path, data):
    stim = data["stim"].copy()
    stim["subject_id"] = 2
    folder = fresh_copy(tmp_path, data, stim=stim)
    with pytest.raises(ValueError, match=r"StimulusMetadata\.csv: subject_id .* does not match sub-01"):
        tf.stimulus_patterns(folder, SUB, ["V1"], STIMULI)


# ------------------------------------------------------------------------ memory

MEM_VOXELS, MEM_TRIALS, MEM_ROI = 20_000, 2_000, 500


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 20,000 x 2,000 float32 ResponseData (160 MB) with a 500-voxel scattered ROI."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("big") / "betas_csv"
    folder.mkdir()
    n_train = MEM_TRIALS - 100
    stim = pd.DataFrame(
        {
            "trial_type": ["train"] * n_train + ["test"] * 100,
            "session": np.arange(MEM_TRIALS) % 10 + 1,
            "run": 1,
            "subject_id": 1,
            "trial_id": np.arange(MEM_TRIALS),
            "stimulus": [f"c{i:04d}_01b.jpg" for i in range(n_train)] + [f"t{i % 10}_13s.jpg" for i in range(100)],
            "concept": [f"c{i:04d}" for i in range(n_train)] + [f"t{i % 10}" for i in range(100)],
        }
    )
    stim.to_csv(folder / f"{SUB}_StimulusMetadata.csv", index=False)
    roi = np.zeros(MEM_VOXELS, dtype=int)
    roi[rng.choice(MEM_VOXELS, MEM_ROI, replace=False)] = 1
    vox = pd.DataFrame({"voxel_id": np.arange(MEM_VOXELS) * 3 + 11, "nc_testset": 1.0, "V1": roi})
    vox.to_csv(folder / f"{SUB}_VoxelMetadata.csv", index=False)
    betas = rng.standard_normal((MEM_VOXELS, MEM_TRIALS), dtype=np.float32)
    write_response(folder / f"{SUB}_ResponseData.h5", betas, vox["voxel_id"], [str(t) for t in range(MEM_TRIALS)])
    rows = np.flatnonzero(roi)
    stimuli = [f"c{i:04d}_01b.jpg" for i in range(0, n_train, 3)] + [f"t{i}_13s.jpg" for i in range(10)]
    expected = expected_patterns(betas[rows], stim, np.arange(MEM_ROI), stimuli)
    del betas
    return {"dir": folder, "rows": rows, "stimuli": stimuli, "expected": expected,
            "file_bytes": (folder / f"{SUB}_ResponseData.h5").stat().st_size}


@pytest.mark.parametrize("chunk_rows", [64, 2048])
def test_stimulus_patterns_memory_is_bounded_by_chunk(big, chunk_rows):
    assert big["file_bytes"] > 150e6
    tracemalloc.start()
    try:
        got = tf.stimulus_patterns(big["dir"], SUB, ["V1"], big["stimuli"], chunk_rows=chunk_rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(got.patterns, big["expected"], atol=1e-9)
    n = min(chunk_rows, MEM_ROI)
    chunk_bytes = n * MEM_TRIALS * 8  # one float64 chunk
    output_bytes = len(big["stimuli"]) * MEM_ROI * 8
    averaging_bytes = 3 * n * 256 * 8  # gathered columns, their sums, the transposed write
    # one chunk, the output, averaging temporaries and ~1.5 MB of metadata; far below the 160 MB file
    assert peak < chunk_bytes + output_bytes + averaging_bytes + 1.5e6, (peak, chunk_bytes)
    assert peak < 0.1 * big["file_bytes"]


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc for VmHWM")
def test_stimulus_patterns_peak_rss_in_fresh_process(big):
    """The process's peak RSS (VmHWM; ru_maxrss would be inherited from pytest across exec)
    grows by far less than the file size; this also counts HDF5's C allocations."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SCRIPTS)!r})
        import numpy, pandas, h5py
        from lrrsa.data import things_fmri as tf
        def hwm():
            return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
        before = hwm()
        tf.stimulus_patterns({str(big["dir"])!r}, "sub-01", ["V1"], {big["stimuli"]!r}, chunk_rows=256)
        print(hwm() - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    growth = int(out.stdout.strip().splitlines()[-1])
    assert growth < 0.2 * big["file_bytes"], growth


# ------------------------------------------------------------ NIfTI ROI masks

GRID = (72, 72, 72)  # the fixture's voxel_x/y/z are drawn from 0..69


def write_mask(path: Path, rows, vox: pd.DataFrame, *, shape=GRID, value=1, dtype=np.uint8, extra=()) -> Path:
    """A mask set at the coordinates of ``rows`` of the voxel metadata (and at ``extra``)."""
    import nibabel as nib

    data = np.zeros(shape, dtype=dtype)
    for r in rows:
        x, y, z = vox.loc[r, ["voxel_x", "voxel_y", "voxel_z"]]
        data[x, y, z] = value
    for x, y, z in extra:
        data[x, y, z] = value
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), str(path))
    return path


def rows_at(vox: pd.DataFrame, rows) -> list[int]:
    """Oracle: every voxel row whose coordinates are those of one of ``rows`` (coordinates may repeat)."""
    coords = {tuple(vox.loc[r, ["voxel_x", "voxel_y", "voxel_z"]]) for r in rows}
    return [i for i in range(len(vox)) if tuple(vox.loc[i, ["voxel_x", "voxel_y", "voxel_z"]]) in coords]


import nibabel  # noqa: E402  (a runtime dependency: NIfTI ROI masks)


def test_nifti_mask_selects_voxels_by_coordinates(tmp_path, data):
    vox = data["vox"]
    path = write_mask(tmp_path / "roi.nii.gz", [1, 6, 10], vox, extra=[(71, 71, 71)])  # one voxel outside the metadata
    mask = tf.nifti_roi_mask(vox, path, source="v.csv")
    np.testing.assert_array_equal(np.flatnonzero(mask), rows_at(vox, [1, 6, 10]))
    # a union with a column; a 4-D x 1 boolean image is a 3-D mask
    both = tf.roi_mask(vox, ["V1", str(path)])
    np.testing.assert_array_equal(np.flatnonzero(both), sorted(set(range(4)) | set(rows_at(vox, [1, 6, 10]))))
    data4 = np.zeros(GRID + (1,), dtype=bool)
    data4[tuple(vox.loc[3, ["voxel_x", "voxel_y", "voxel_z"]])] = True
    nibabel.save(nibabel.Nifti1Image(data4.astype(np.uint8), np.eye(4)), str(tmp_path / "four.nii"))
    np.testing.assert_array_equal(np.flatnonzero(tf.nifti_roi_mask(vox, tmp_path / "four.nii")), rows_at(vox, [3]))


def test_nifti_mask_per_subject_in_patterns_matches_column_roi(tmp_path, data):
    """A mask holding exactly the IT voxels gives the IT patterns; {subject} names the subject's mask."""
    write_mask(tmp_path / "sub-01_IT.nii.gz", [9, 10, 11], data["vox"])
    assert rows_at(data["vox"], [9, 10, 11]) == [9, 10, 11]
    template = str(tmp_path / "{subject}_IT.nii.gz")
    got = tf.stimulus_patterns(data["dir"], SUB, [template], STIMULI)
    np.testing.assert_allclose(got.patterns, expected_patterns(data["betas"], data["stim"], [9, 10, 11], STIMULI), atol=1e-10)
    np.testing.assert_array_equal(got.voxel_ids, data["vox"]["voxel_id"].to_numpy()[[9, 10, 11]])
    with pytest.raises(FileNotFoundError, match=r"sub-02_IT\.nii\.gz: NIfTI ROI mask not found"):
        tf.roi_mask(data["vox"], [template], subject="sub-02")
    with pytest.raises(ValueError, match=r"contain \{subject\}, but no subject"):
        tf.roi_mask(data["vox"], [template])


def test_nifti_mask_errors_name_the_mask(tmp_path, data):
    vox = data["vox"]
    labels = write_mask(tmp_path / "labels.nii.gz", [1, 2], vox, value=3)
    with pytest.raises(ValueError, match=r"labels\.nii\.gz: an ROI mask must hold only 0 and 1; .* 3"):
        tf.nifti_roi_mask(vox, labels)
    small = write_mask(tmp_path / "small.nii.gz", [], vox, shape=(40, 40, 40), extra=[(1, 1, 1)])
    with pytest.raises(ValueError, match=r"small\.nii\.gz: \d+ voxel\(s\) of v\.csv lie outside the mask's grid \(40, 40, 40\)"):
        tf.nifti_roi_mask(vox, small, source="v.csv")
    empty = write_mask(tmp_path / "empty.nii.gz", [], vox, extra=[(71, 71, 71)])
    with pytest.raises(ValueError, match=r"empty\.nii\.gz: none of the 12 voxels of v\.csv lies inside the mask \(1 voxel"):
        tf.nifti_roi_mask(vox, empty, source="v.csv")
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"not a nifti image at all" * 20)
    with pytest.raises(ValueError, match=r"junk\.nii: cannot be read as a NIfTI image"):
        tf.nifti_roi_mask(vox, junk)
    good = write_mask(tmp_path / "good.nii.gz", [1], vox)
    with pytest.raises(ValueError, match=r"v\.csv: missing column\(s\) voxel_z"):
        tf.nifti_roi_mask(vox.drop(columns=["voxel_z"]), good, source="v.csv")


def test_read_voxel_metadata_reads_coordinates_for_masks(tmp_path, data):
    path = data["dir"] / f"{SUB}_VoxelMetadata.csv"
    vox = tf.read_voxel_metadata(path, ["V1", "masks/{subject}_x.nii.gz"])
    assert list(vox.columns) == ["voxel_id", "V1", "voxel_x", "voxel_y", "voxel_z"]
    bad = tmp_path / "sub-01_VoxelMetadata.csv"
    data["vox"].drop(columns=["voxel_y"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"sub-01_VoxelMetadata\.csv: missing column\(s\) voxel_y \(needed to match"):
        tf.read_voxel_metadata(bad, ["x.nii"])


def test_roi_voxel_counts(tmp_path, data):
    vox = data["vox"]
    write_mask(tmp_path / "sub-01_m.nii.gz", [0, 6], vox)
    rois = {"V1": ["V1"], "LOC": ["LOC"], "M": [str(tmp_path / "{subject}_m.nii.gz")], "U": ["V2", "IT"]}
    out = tmp_path / "res" / "roi_voxels.tsv"
    tf.write_roi_voxel_counts(data["dir"], [SUB], rois, out, min_nc_testset=float(vox["nc_testset"][3]))
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["roi", "subject", "items", "n_voxels", "n_selected"]
    assert table["roi"].tolist() == ["V1", "LOC", "M", "U"] and (table["subject"] == SUB).all()
    nc_ok = vox["nc_testset"].to_numpy() >= vox["nc_testset"][3]
    expect = {
        "V1": vox["V1"].to_numpy() == 1,
        "LOC": (vox["lLOC"] | vox["rLOC"]).to_numpy() == 1,
        "M": np.isin(np.arange(len(vox)), rows_at(vox, [0, 6])),
        "U": (vox["V2"] | vox["IT"]).to_numpy() == 1,
    }
    for row in table.itertuples():
        assert row.n_voxels == expect[row.roi].sum()
        assert row.n_selected == (expect[row.roi] & nc_ok).sum()
    assert table.set_index("roi").loc["U", "items"] == "V2 | IT"
    # an ROI without voxels for a subject is counted (0), not fatal: its RDM is NaN and the other ROIs run
    empty = tf.roi_voxel_counts(data["dir"], [SUB], {"V4": ["hV4"], "V1": ["V1"]}).set_index("roi")
    assert (empty.loc["V4", "n_voxels"], empty.loc["V4", "n_selected"]) == (0, 0)
    assert empty.loc["V1", "n_voxels"] == expect["V1"].sum()
    with pytest.raises(tf.EmptyRoiError, match=r"sub-01_VoxelMetadata\.csv: ROI hV4 has no voxels"):
        tf.roi_mask(tf.read_voxel_metadata(data["dir"] / f"{SUB}_VoxelMetadata.csv"), ["hV4"],
                    source=data["dir"] / f"{SUB}_VoxelMetadata.csv")


def test_config_names_a_missing_roi_mask(tmp_path):
    from conftest import one_dataset_demo
    from lrrsa.config import ConfigError, check_local_paths, load_schema, validate_config

    repo = Path(__file__).resolve().parents[1]
    config = one_dataset_demo()
    config["brain_data"].update(source="local", betas_dir="betas_csv", images_dir="images", subjects=["sub-01", "sub-02"],
                                rois={"V4": ["masks/{subject}_v4.nii.gz", "hV4"]})
    config["rsa"]["layer_map"] = {"V4": "conv1"}
    cfg = validate_config(config, load_schema(repo / "workflow/schemas/config.schema.yaml"))
    for subject in ("sub-01", "sub-02"):
        for name in ("ResponseData.h5", "VoxelMetadata.csv", "StimulusMetadata.csv"):
            (tmp_path / "betas_csv").mkdir(exist_ok=True)
            (tmp_path / "betas_csv" / f"{subject}_{name}").touch()
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks/sub-01_v4.nii.gz").touch()
    with pytest.raises(ConfigError, match=r"config key brain_data.rois.V4: 'masks/sub-02_v4\.nii\.gz' does not exist") as info:
        check_local_paths(cfg, root=tmp_path)
    assert "sub-01_v4" not in str(info.value)
