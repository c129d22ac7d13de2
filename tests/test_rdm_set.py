"""The rdm_set dataset type: brain RDMs a user already has (.npz or .h5) plus their images.

Unit tests write small sets in both formats and check what the workflow makes of them
against numpy indexing of the input arrays; every malformed set must fail with a
message naming the file and the problem and leave no output. One end-to-end test
builds an rdm_set from the demo's own subject RDMs and images and runs the workflow
on it.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import REPO
from lrrsa.data import rdm_set as rs
from lrrsa.data.rdm_set import RdmSetError
from lrrsa.data.stimuli import read_stimulus_table
from lrrsa.rdm_io import load_rdm

IDS = ["cat_02b.jpg", "ant_01b.jpg", "t-shirt_01s.jpg", "air_conditioner_03n.jpg", "bee_01b.jpg"]  # unsorted
CONCEPTS = ["cat", "ant", "t-shirt", "air_conditioner", "bee"]


def random_rdms(n_subjects: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_subjects, n, 6))
    return np.stack([1 - np.corrcoef(s) for s in x])


def write_set(path: Path, arrays: dict) -> Path:
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for name, value in arrays.items():
                value = np.asarray(value)
                if value.dtype.kind == "U":
                    f.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype())
                else:
                    f.create_dataset(name, data=value)
    return path


def write_images(folder: Path, ids, concepts=None, things_layout=False) -> Path:
    for i, stimulus in enumerate(ids):
        path = folder / "object_images" / concepts[i] / stimulus if things_layout else folder / stimulus
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(path, format="JPEG")
    return folder


@pytest.fixture
def good(tmp_path):
    arrays = {"stimuli": np.array(IDS), "EVC": random_rdms(2, 5, 1), "IT": random_rdms(2, 5, 2),
              "subjects": np.array(["sub-01", "sub-02"])}
    return {"arrays": arrays, "images": write_images(tmp_path / "imgs", IDS)}


def prepare(tmp_path, rdm_file, images, **kwargs):
    kwargs.setdefault("rois", {"V1": ["EVC"], "IT": ["IT"]})
    kwargs.setdefault("subjects", ["sub-01", "sub-02"])
    out = tmp_path / "run"
    return rs.prepare_rdm_set(rdm_file, images, out / "stimuli.tsv", out / "images", **kwargs), out


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_set_becomes_table_images_and_reordered_rdms(tmp_path, good, suffix):
    path = write_set(tmp_path / f"set{suffix}", good["arrays"])
    index = rs.read_rdm_set(path)
    assert index.stimuli == tuple(IDS) and index.concepts == tuple(CONCEPTS)
    assert index.subjects == ("sub-01", "sub-02") and index.shapes == {"EVC": (2, 5, 5), "IT": (2, 5, 5)}
    table, out = prepare(tmp_path, path, good["images"])
    assert table["stimulus"].tolist() == sorted(IDS)
    assert read_stimulus_table(out / "stimuli.tsv").equals(table)
    for stimulus, concept in zip(table["stimulus"], table["concept"]):
        assert (out / "images/object_images" / concept / stimulus).read_bytes() == (good["images"] / stimulus).read_bytes()
    order = [IDS.index(s) for s in sorted(IDS)]
    rs.write_rdm_from_set(path, "IT", "sub-02", out / "stimuli.tsv", out / "it.npz")
    rdm, ids = load_rdm(out / "it.npz")
    assert ids == sorted(IDS)
    np.testing.assert_allclose(rdm, good["arrays"]["IT"][1][np.ix_(order, order)], atol=1e-12)


def test_things_layout_list_rule_concepts_and_2d_array(tmp_path):
    concepts = ["felid", "insect", "clothing", "appliance", "insect"]
    images = write_images(tmp_path / "things", IDS, concepts, things_layout=True)
    rdm = random_rdms(1, 5, 3)[0]
    path = write_set(tmp_path / "one.npz", {"stimuli": np.array(IDS), "concepts": np.array(concepts), "IT": rdm})
    (tmp_path / "keep.txt").write_text("bee_01b.jpg\nant_01b.jpg\ncat_02b.jpg\n")
    table, out = prepare(tmp_path, path, images, rois={"IT": ["IT"]}, subjects=["sub-01"], rule="list",
                         list_file=tmp_path / "keep.txt")
    assert table.to_dict("list") == {"stimulus": ["ant_01b.jpg", "bee_01b.jpg", "cat_02b.jpg"],
                                     "concept": ["insect", "insect", "felid"]}
    rs.write_rdm_from_set(path, "IT", "sub-01", out / "stimuli.tsv", out / "it.npz")
    keep = [IDS.index(s) for s in table["stimulus"]]
    np.testing.assert_allclose(load_rdm(out / "it.npz")[0], rdm[np.ix_(keep, keep)])


def test_validate_rdm_tolerates_rounding_and_fixes_it():
    m = random_rdms(1, 6, 4)[0]
    noisy = m + 1e-9 * np.triu(np.ones_like(m)) + np.diag(np.full(6, 1e-10))
    fixed = rs.validate_rdm(noisy, where="x")
    np.testing.assert_array_equal(fixed, fixed.T)
    assert (np.diag(fixed) == 0).all()
    np.testing.assert_allclose(fixed, m, atol=1e-8)


def bad_cases():
    good = random_rdms(2, 5, 1)
    asym = good.copy()
    asym[1, 0, 3] += 0.5
    diag = good.copy()
    diag[0][np.diag_indices(5)] = 1.0
    nan = good.copy()
    nan[1, 2, 4] = nan[1, 4, 2] = np.nan
    const = np.ones((2, 5, 5)) - np.eye(5)
    ids = np.array(IDS)
    return [
        ({"stimuli": ids, "EVC": good[:, :, :4], "IT": good}, r"RDM array 'EVC' has shape \(2, 5, 4\); expected \(subjects, 5, 5\).*square"),
        ({"stimuli": ids, "EVC": asym, "IT": good}, r"EVC, sub-02: not symmetric: \[0, 3\] = .* but \[3, 0\]"),
        ({"stimuli": ids, "EVC": diag, "IT": good}, r"EVC, sub-01: the diagonal must be 0; \[0, 0\] = 1 \(a similarity matrix\?"),
        ({"stimuli": ids, "EVC": nan, "IT": good}, r"EVC, sub-02: 2 NaN or infinite value\(s\), first at \[2, 4\]"),
        ({"stimuli": ids, "EVC": const, "IT": good}, r"all off-diagonal values are equal"),
        ({"stimuli": np.array(IDS[:4] + ["ant_01b.jpg"]), "EVC": good, "IT": good}, r"duplicate stimulus ids 'ant_01b\.jpg'"),
        ({"stimuli": np.array(["a/" + s for s in IDS]), "EVC": good, "IT": good}, r"without folders"),
        ({"ids": ids, "EVC": good, "IT": good}, r"no 'stimuli' array"),
        ({"stimuli": ids, "EVC": good, "IT": good, "concepts": np.array(["x"])}, r"1 concepts for 5 stimuli"),
        ({"stimuli": ids, "EVC": good, "IT": good, "subjects": np.array(["S1", "S2"])}, r"subject labels must look like sub-01"),
        ({"stimuli": ids, "EVC": good, "IT": good[:1]}, r"different numbers of subjects"),
        ({"stimuli": ids, "EVC": good}, r"no RDM array\(s\) 'IT'"),
        ({"stimuli": ids, "EVC": good[:1], "IT": good[:1]}, r"configured subject\(s\) sub-02 not in the set, which holds sub-01"),
        ({"stimuli": ids, "EVC": good.astype(str), "IT": good}, r"RDM array 'EVC' must be numeric"),
    ]


@pytest.mark.parametrize(("arrays", "message"), bad_cases())
@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_bad_sets_name_file_and_problem_and_leave_no_output(tmp_path, good, arrays, message, suffix):
    path = write_set(tmp_path / f"bad{suffix}", arrays)
    with pytest.raises(RdmSetError, match=rf"bad\{suffix}: .*{message}|{message}.*bad\{suffix}"):
        prepare(tmp_path, path, good["images"])
    assert not (tmp_path / "run").exists()


def test_images_rules_and_files_errors(tmp_path, good):
    path = write_set(tmp_path / "set.npz", good["arrays"])
    (good["images"] / "bee_01b.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"imgs: 1 of 5 stimulus ids have no image .*'bee_01b\.jpg'"):
        prepare(tmp_path, path, good["images"])
    with pytest.raises(RdmSetError, match=r"'first_exemplar' needs trial metadata.*all, list"):
        prepare(tmp_path, path, good["images"], rule="first_exemplar")
    (tmp_path / "l.txt").write_text("ant_01b.jpg\nzebra_01b.jpg\n")
    with pytest.raises(RdmSetError, match=r"l\.txt: 1 stimulus id\(s\) not in .*set\.npz: 'zebra_01b\.jpg'"):
        prepare(tmp_path, path, good["images"], rule="list", list_file=tmp_path / "l.txt")
    with pytest.raises(RdmSetError, match=r"ROI V1: an RDM set ROI names exactly one array"):
        prepare(tmp_path, path, good["images"], rois={"V1": ["EVC", "IT"]})
    assert not (tmp_path / "run").exists()
    (tmp_path / "set.mat").write_bytes(b"MATLAB 5.0")
    with pytest.raises(RdmSetError, match=r"set\.mat: an RDM set must be an \.npz or \.h5 file"):
        rs.read_rdm_set(tmp_path / "set.mat")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(RdmSetError, match=r"junk\.h5: cannot be read as an HDF5 file"):
        rs.read_rdm_set(tmp_path / "junk.h5")
    np.savez(tmp_path / "obj.npz", stimuli=np.array(IDS, dtype=object), IT=random_rdms(1, 5, 0))
    with pytest.raises(RdmSetError, match=r"obj\.npz: array 'stimuli' cannot be read without pickle"):
        rs.read_rdm_set(tmp_path / "obj.npz")


def test_h5_fixed_length_byte_strings(tmp_path, good):
    path = tmp_path / "bytes.h5"
    with h5py.File(path, "w") as f:
        f["stimuli"] = np.array([s.encode() for s in IDS])  # fixed-length |S
        f["IT"] = good["arrays"]["IT"]
    assert rs.read_rdm_set(path).stimuli == tuple(IDS)


# ------------------------------------------------------------------- workflow

TINY = {
    "run": "rs",
    "device": "cpu",
    "demo": {"seed": 0, "train_per_class": 10, "test_per_class": 5},
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50, "seed": 0},
    "brain_data": {"type": "rdm_set", "source": "local", "stimuli": "all", "subjects": ["sub-01", "sub-02"],
                   "image_size": 32, "rois": {"V1": ["EVC"], "IT": ["ITC"]}},
    "model": {"widths": [4, 8, 8], "fc_width": 16},
    "training": {"epochs": 1, "batch_size": 50},
    "conditions": {"untrained": {"rule": "untrained"}},
    "seeds": [1],
    "stats": {"generalise_over": ["stimuli"]},
    "activations": {"layers": ["conv1", "fc1"]},
    "rsa": {"layer_map": {"V1": "conv1", "IT": "fc1"}},
}


@pytest.mark.workflow
def test_rdm_set_of_the_demo_runs_end_to_end(tmp_path):
    """The demo's own subject RDMs and images, as an rdm_set, through the whole workflow."""
    from lrrsa.data.demo import write_things_dataset
    from lrrsa.data.stimuli import write_selected_stimuli
    from lrrsa.rdms import write_roi_rdm

    demo = tmp_path / "demo"
    write_things_dataset(demo, n_concepts=12, n_categories=3, n_exemplars=1, n_test_images=3, n_test_repeats=3,
                         subjects=("sub-01", "sub-02"), voxels_per_roi={"V1": 30, "IT": 30}, n_other_voxels=10,
                         image_size=32, seed=1)
    table = write_selected_stimuli(demo / "betas_csv", demo / "images", ["sub-01", "sub-02"], tmp_path / "sel.tsv",
                                   rule="first_exemplar")
    stimuli = table["stimulus"].tolist()
    rdms = {}
    for name, columns in {"EVC": ["V1"], "ITC": ["IT"]}.items():
        subject_rdms = []
        for subject in ("sub-01", "sub-02"):
            write_roi_rdm(demo / "betas_csv", subject, columns, tmp_path / "sel.tsv", tmp_path / "r.npz",
                          zscore=True, min_nc_testset=None, metric="correlation")
            subject_rdms.append(load_rdm(tmp_path / "r.npz")[0])
        rdms[name] = np.stack(subject_rdms)
    shuffle = np.random.default_rng(0).permutation(len(stimuli))  # the file's order is not the table's
    arrays = {"stimuli": np.array(stimuli)[shuffle], "subjects": np.array(["sub-01", "sub-02"]),
              **{k: v[:, shuffle][:, :, shuffle] for k, v in rdms.items()}}
    np.savez(tmp_path / "brain_rdms.npz", **arrays)

    config = copy.deepcopy(TINY)
    config["brain_data"].update(rdm_file="brain_rdms.npz", images_dir=str(demo / "images"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    out = tmp_path / "results/rs"
    assert read_stimulus_table(out / "data/stimuli.tsv")["stimulus"].tolist() == stimuli
    for roi, name in (("V1", "EVC"), ("IT", "ITC")):
        for s, subject in enumerate(("sub-01", "sub-02")):
            rdm, ids = load_rdm(out / f"rdms/brain/{roi}/{subject}.npz")
            assert ids == stimuli
            np.testing.assert_allclose(rdm, rdms[name][s], atol=1e-12)
        np.testing.assert_allclose(load_rdm(out / f"rdms/brain/{roi}/group.npz")[0], rdms[name].mean(axis=0), atol=1e-12)
    scores = pd.read_csv(out / "rsa/scores.tsv", sep="\t")
    assert len(scores) == 2 * 2 * 3  # layers x ROIs x (2 subjects + group)
    assert scores["rho"].between(-1, 1).all() and (scores["n_pairs"] == 12 * 11 // 2).all()
    assert (out / "figures/rsa_by_roi.png").exists() and not (out / "data/roi_voxels.tsv").exists()
    assert "rule compute_brain_rdm" not in result.stderr and "rule take_brain_rdm" in result.stderr
    dry = subprocess.run([*cmd, "-n"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def test_config_rules_for_rdm_set(tmp_path):
    from lrrsa.config import ConfigError, check_local_paths, load_schema, validate_config

    schema = load_schema(REPO / "workflow/schemas/config.schema.yaml")
    base = copy.deepcopy(TINY)
    base["brain_data"].update(rdm_file="r.npz", images_dir="imgs")
    cfg = validate_config(base, schema)
    with pytest.raises(ConfigError, match=r"config key brain_data.rdm_file: 'r\.npz' does not exist"):
        check_local_paths(cfg, root=tmp_path)
    (tmp_path / "r.npz").touch()
    (tmp_path / "imgs").mkdir()
    check_local_paths(cfg, root=tmp_path)
    cases = [
        ({"source": "download"}, r"config key brain_data.source: an rdm_set is read from local files"),
        ({"rdm_file": None}, r"config key brain_data.rdm_file: required when brain_data.type is rdm_set"),
        ({"stimuli": "first_exemplar"}, r"config key brain_data.stimuli: 'first_exemplar' needs trial metadata"),
        ({"rois": {"V1": ["EVC", "V2"], "IT": ["IT"]}}, r"config key brain_data.rois.V1: an rdm_set ROI names exactly one"),
        ({"betas_zip": "b.zip"}, r"config key brain_data.betas_zip: only used when brain_data.source is download"),
    ]
    for change, message in cases:
        bad = copy.deepcopy(base)
        bad["brain_data"].update(change)
        with pytest.raises(ConfigError, match=message):
            validate_config(bad, schema)
