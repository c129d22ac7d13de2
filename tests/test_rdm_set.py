"""The rdm_set dataset type: brain RDMs a user already has (.npz or .h5) plus their images.

Unit tests write small sets in both formats and check what the workflow makes of them
against numpy indexing of the input arrays; every malformed set must fail with a
message naming the file and the problem and leave no output. One end-to-end test
builds an rdm_set from the demo's own subject RDMs and images and runs the workflow
on it.
"""

from __future__ import annotations

import copy
import re
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
    rs.write_rdms_from_set(path, ["IT", "EVC"], "sub-02", out / "stimuli.tsv", [out / "it.npz", out / "evc.npz"])
    for name, array in [("it", "IT"), ("evc", "EVC")]:
        rdm, ids = load_rdm(out / f"{name}.npz")
        assert ids == sorted(IDS)
        np.testing.assert_allclose(rdm, good["arrays"][array][1][np.ix_(order, order)], atol=1e-12)


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
    rs.write_rdms_from_set(path, ["IT"], "sub-01", out / "stimuli.tsv", [out / "it.npz"])
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
    config["brain_data"].update(rdm_file="brain_rdms.npz", images_dir=str(demo / "images"))  # relative to --directory
    del config["brain_data"]["subjects"]  # all: the file's two, read from it when Snakemake builds the DAG
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
    assert "rule compute_brain_rdms" not in result.stderr and "rule take_brain_rdms" in result.stderr
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
        ({"betas_zip": "b.zip"}, r"config key brain_data.betas_zip: brain_data.type rdm_set does not use it"),
    ]
    for change, message in cases:
        bad = copy.deepcopy(base)
        bad["brain_data"].update(change)
        with pytest.raises(ConfigError, match=message):
            validate_config(bad, schema)


# ------------------------------------------------------- config: keys and subjects

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"

#: Every brain_data key a THINGS-fMRI run reads and an RDM set has no use for, with a value
#: other than its default (docs/DATA.md: an rdm_set is local RDMs plus images; no betas,
#: no archives, no downloads, no voxel preprocessing).
THINGS_ONLY = {
    "betas_dir": "betas_csv", "betas_zip": "betas_csv.zip", "images_zip": "images_THINGS.zip",
    "zscore": False, "min_nc_testset": 20,
    "download.betas_url": "https://mirror.example/betas_csv.zip", "download.betas_size": 5,
    "download.betas_md5": "0" * 32, "download.images_url": "https://mirror.example/images.zip",
    "download.images_size": 5, "download.images_md5": "f" * 32, "download.images_password": "secret",
    "download.retries": 1, "download.timeout": 5,
}


def rdm_set_config(**brain):
    config = copy.deepcopy(TINY)
    config["brain_data"].update({"rdm_file": "r.npz", "images_dir": "imgs", **brain})
    return config


def set_key(config, dotted, value):
    node = config["brain_data"]
    *parents, key = dotted.split(".")
    for parent in parents:
        node = node.setdefault(parent, {})
    node[key] = value
    return config


@pytest.mark.parametrize("key", list(THINGS_ONLY))
def test_rdm_set_refuses_each_key_it_does_not_use(key):
    from lrrsa.config import ConfigError, load_schema, validate_config

    config = set_key(rdm_set_config(), key, THINGS_ONLY[key])
    # A recording on THINGS images (neural_assembly) reads the images archive and its download.
    shared = key == "images_zip" or key.startswith(("download.images_", "download.retries", "download.timeout"))
    users = "things_fmri and neural_assembly" if shared else "things_fmri"
    with pytest.raises(ConfigError, match=rf"config key brain_data\.{re.escape(key)}: brain_data\.type rdm_set does not "
                                          rf"use it \(used only by brain_data\.type {users}\); leave it out"):
        validate_config(config, load_schema(SCHEMA_PATH))


def test_rdm_set_names_every_key_it_does_not_use_at_once():
    from lrrsa.config import ConfigError, load_schema, validate_config

    config = rdm_set_config()
    for key, value in THINGS_ONLY.items():
        set_key(config, key, value)
    with pytest.raises(ConfigError) as info:
        validate_config(config, load_schema(SCHEMA_PATH))
    lines = [line for line in str(info.value).splitlines() if "does not use" in line]
    assert len(lines) == 1, str(info.value)
    named = lines[0].split(": brain_data.type")[0].removeprefix("  config key ").split(", ")
    assert sorted(named) == sorted(f"brain_data.{key}" for key in THINGS_ONLY)
    assert ("(brain_data.betas_dir, brain_data.betas_zip, brain_data.download.betas_md5, brain_data.download.betas_size, "
            "brain_data.download.betas_url, brain_data.zscore, brain_data.min_nc_testset: used only by brain_data.type "
            "things_fmri;") in lines[0]
    assert ("brain_data.images_zip, brain_data.download.images_md5, brain_data.download.images_password, "
            "brain_data.download.images_size, brain_data.download.images_url, brain_data.download.retries, "
            "brain_data.download.timeout: used only by brain_data.type things_fmri and neural_assembly); leave them "
            "out") in lines[0]
    assert "only used when brain_data.source is download" not in str(info.value)  # each key named once


def test_rdm_set_accepts_things_keys_written_at_their_default():
    """A default written out is the same setting as one left out (so a recorded config reruns as it is)."""
    from lrrsa.config import load_schema, validate_config

    schema = load_schema(SCHEMA_PATH)
    plain = validate_config(rdm_set_config(), schema)
    written = rdm_set_config(betas_dir=None, betas_zip=None, images_zip=None, zscore=True, min_nc_testset=None,
                             download={"timeout": 60, "retries": 5, "images_password": "things4all"})
    written["encoding"] = {"enabled": False}
    assert repr(validate_config(written, schema)) == repr(plain)
    assert repr(validate_config(copy.deepcopy(plain), schema)) == repr(plain)  # every default written out


def test_the_paper_config_switched_to_an_rdm_set_names_what_is_left_of_things_fmri():
    """config.yaml writes every brain_data key; all sit at their defaults but the betas size."""
    from lrrsa.config import ConfigError, load_schema, validate_config

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["brain_data"].update(type="rdm_set", source="local", rdm_file="r.npz", images_dir="imgs", stimuli="all",
                                rois={"V1": ["V1"], "V2": ["V2"], "LOC": ["LOC"], "IT": ["IT"]})
    config["encoding"]["enabled"] = False
    with pytest.raises(ConfigError) as info:
        validate_config(config, load_schema(SCHEMA_PATH))
    assert str(info.value).splitlines()[1:] == [
        "  config key brain_data.download.betas_size: brain_data.type rdm_set does not use it (used only by "
        "brain_data.type things_fmri); leave it out"]


FIFTEEN = [f"sub-{i:02d}" for i in range(1, 16)]


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
@pytest.mark.parametrize("labelled", [True, False])
def test_subjects_all_is_every_subject_of_the_file(tmp_path, monkeypatch, suffix, labelled):
    """Left out, subjects is all: the file's 15 subjects, by label or by position, read when
    the config is loaded, relative to the working directory; only the labels are read."""
    from lrrsa.config import load_schema, resolve_subjects, validate_config

    order = np.random.default_rng(0).permutation(15)  # labels in the file need not be sorted
    arrays = {"stimuli": np.array(IDS), "EVC": random_rdms(15, 5, 1), "ITC": random_rdms(15, 5, 2)}
    if labelled:
        arrays["subjects"] = np.array(FIFTEEN)[order]
    (tmp_path / "data").mkdir()
    write_set(tmp_path / "data" / f"r{suffix}", arrays)
    config = rdm_set_config(rdm_file=f"data/r{suffix}")
    del config["brain_data"]["subjects"]
    validated = validate_config(config, load_schema(SCHEMA_PATH))
    assert validated["brain_data"]["subjects"] == "all"
    read = []
    for cls in (rs._NpzArray, rs._H5Array):
        original = cls.read
        monkeypatch.setattr(cls, "read", lambda self, index=None, _o=original: read.append(self.name) or _o(self, index))
    resolved = resolve_subjects(validated, root=tmp_path)
    assert resolved["brain_data"]["subjects"] == FIFTEEN
    assert read == (["subjects"] if labelled else [])
    assert validated["brain_data"]["subjects"] == "all", "the input must not be modified"
    resolved_again = resolve_subjects(validate_config(copy.deepcopy(resolved), load_schema(SCHEMA_PATH)), root=tmp_path)
    assert repr(resolved_again) == repr(resolved)
    chosen = copy.deepcopy(validated)
    chosen["brain_data"]["subjects"] = ["sub-03", "sub-15"]
    assert resolve_subjects(chosen, root=tmp_path)["brain_data"]["subjects"] == ["sub-03", "sub-15"]


def test_a_subject_the_file_lacks_names_file_subject_and_those_available(tmp_path):
    from lrrsa.config import ConfigError, load_schema, resolve_subjects, validate_config

    write_set(tmp_path / "r.h5", {"stimuli": np.array(IDS), "EVC": random_rdms(15, 5, 1), "ITC": random_rdms(15, 5, 2)})
    config = rdm_set_config(rdm_file="r.h5", subjects=["sub-02", "sub-16", "sub-20"])
    validated = validate_config(config, load_schema(SCHEMA_PATH))
    with pytest.raises(ConfigError) as info:
        resolve_subjects(validated, root=tmp_path)
    assert str(info.value).splitlines()[1] == (
        f"  config key brain_data.subjects: sub-16, sub-20 not in brain_data.rdm_file {(tmp_path / 'r.h5').resolve()}, "
        f"which holds {', '.join(FIFTEEN)}; name some of those, or all")


def test_a_file_that_cannot_say_its_subjects_is_named_when_the_config_is_loaded(tmp_path):
    from lrrsa.config import ConfigError, load_schema, resolve_subjects, validate_config

    write_set(tmp_path / "r.npz", {"stimuli": np.array(IDS), "EVC": random_rdms(3, 5, 1), "ITC": random_rdms(2, 5, 2)})
    validated = validate_config(rdm_set_config(rdm_file="r.npz"), load_schema(SCHEMA_PATH))
    with pytest.raises(ConfigError, match=r"config key brain_data.rdm_file: .*r\.npz: the RDM arrays hold different "
                                          r"numbers of subjects"):
        resolve_subjects(validated, root=tmp_path)
