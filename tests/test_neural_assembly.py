"""The neural_assembly dataset type: a recording in Brain-Score's brainio form as the
run's brain data (lrrsa.data.neural_assembly, workflow/rules/neural_assembly.smk).

The config tests check what each source needs and refuses; the dry runs that the
shipped configs plan every download and job; one end-to-end run on a simulated
recording written in another dimension order checks the brain RDMs against a direct
computation from the netCDF file, the neuroid counts against the simulation's truth,
and that a finished run plans nothing.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from conftest import REPO
from lrrsa.config import ConfigError, load_schema, resolve_subjects, validate_config
from lrrsa.data import neural_assembly
from lrrsa.data.demo_macaque import ANIMALS, RESPONSE_WINDOW, write_macaque_dataset
from lrrsa.data.shared_downloads import things_download_settings, things_downloads
from lrrsa.data.stimuli import read_stimulus_table
from lrrsa.rdm_io import load_rdm

SCHEMA = load_schema(REPO / "workflow/schemas/config.schema.yaml")

TINY = {
    "run": "na",
    "device": "cpu",
    "demo": {"seed": 0, "train_per_class": 10, "test_per_class": 5},
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50, "seed": 0},
    "brain_data": {"type": "neural_assembly", "source": "demo", "stimuli": "all", "image_size": 32,
                   "rois": {"V1": ["V1"], "IT": ["IT"], "ventral": ["V4", "IT"]}},
    "model": {"widths": [4, 8, 8], "fc_width": 16},
    "training": {"epochs": 1, "batch_size": 50},
    "conditions": {"untrained": {"rule": "untrained"}},
    "seeds": [1],
    "stats": {"generalise_over": ["stimuli"], "n_permutations": 100, "n_bootstrap": 50},
    "activations": {"layers": ["conv1", "fc1"]},
    "rsa": {"layer_map": {"V1": "conv1", "IT": "fc1", "ventral": "fc1"}},
    "encoding": {"enabled": False},
}


def config_with(**brain):
    config = copy.deepcopy(TINY)
    config["brain_data"].update(brain)
    return config


def problems(config) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_subjects(validate_config(config, SCHEMA))
    return str(info.value)


# ---- config ---------------------------------------------------------------------


def test_demo_subjects_are_the_simulated_animals():
    resolved = resolve_subjects(validate_config(config_with(), SCHEMA))
    assert resolved["brain_data"]["subjects"] == sorted(ANIMALS)


@pytest.mark.parametrize(("dataset", "subjects"), [("MajajHong2015.public", ["Chabo", "Tito"]),
                                                   ("FreemanZiemba2013.public", ["pooled"])])
def test_download_subjects_are_the_catalogs_animals_or_one_pooled(dataset, subjects):
    resolved = resolve_subjects(validate_config(config_with(source="download", dataset=dataset), SCHEMA))
    assert resolved["brain_data"]["subjects"] == subjects
    files = neural_assembly.dataset_files(resolved["brain_data"])
    assert all(path.startswith(f"resources/brainio/{dataset}/") for path in files.values())


def test_local_subjects_are_read_from_the_file(tmp_path):
    demo = write_macaque_dataset(tmp_path / "rec", animals=("zeta", "alpha", "mu"), n_per_category=2, n_repetitions=2)
    config = config_with(source="local", assembly_file=str(demo.assembly), stimulus_csv=str(demo.stimulus_csv),
                         images_zip=str(demo.stimulus_zip))
    assert resolve_subjects(validate_config(config, SCHEMA))["brain_data"]["subjects"] == ["alpha", "mu", "zeta"]
    config["brain_data"]["subjects"] = ["alpha", "omega"]
    message = problems(config)
    assert "brain_data.subjects: omega not in brain_data.assembly_file" in message and "alpha, mu, zeta" in message


def test_a_local_recording_is_checked_against_the_config_before_any_job(tmp_path):
    demo = write_macaque_dataset(tmp_path / "rec", n_per_category=2, n_repetitions=2)
    (tmp_path / "ids.txt").write_text("not_an_id\n")
    config = config_with(source="local", assembly_file=str(demo.assembly), stimulus_csv=str(demo.stimulus_csv),
                         images_zip=str(demo.stimulus_zip), rois={"V1": ["V1"], "V2": ["V2", "v4"]},
                         time_window=[300, 400], stimuli="list", stimulus_list=str(tmp_path / "ids.txt"))
    config["rsa"] = {"layer_map": {"V1": "conv1", "V2": "conv1"}}
    message = problems(config)
    assert "config key brain_data.rois.V2: region(s) V2, v4 not in" in message and "(its regions: IT, V1, V4)" in message
    assert "config key brain_data.time_window:" in message and "no time bin lies inside the window [300, 400)" in message
    assert "config key brain_data.stimulus_list: 1 id(s) of" in message and "not_an_id" in message
    assert "brain_data.rois.V1" not in message


def test_a_named_datasets_file_problems_name_its_keys(tmp_path):
    """Problems found in a dataset's files when Snakemake starts (paths, regions, time
    window, subjects) name the key as written under the dataset's name."""
    from lrrsa.config import dataset_configs, prepare_dataset

    demo = write_macaque_dataset(tmp_path / "rec", n_per_category=2, n_repetitions=2)
    recording = {"type": "neural_assembly", "source": "local", "assembly_file": str(demo.assembly),
                 "stimulus_csv": str(demo.stimulus_csv), "images_zip": str(demo.stimulus_zip),
                 "rois": {"V1": ["V1"], "V2": ["V2"]}, "time_window": [300, 400], "subjects": ["monkeyZ"]}
    config = copy.deepcopy(TINY)
    config["brain_data"] = {"rec": recording, "sim": {**TINY["brain_data"], "rois": {"IT": ["IT"]}}}
    config["rsa"] = {"layer_map": {"V1": "conv1", "IT": "fc1"}}  # no ROI in common: one condition is enough
    views = dataset_configs(validate_config(config, SCHEMA), SCHEMA)
    with pytest.raises(ConfigError) as info:
        prepare_dataset(views["rec"], "rec")
    message = str(info.value)
    assert "config key brain_data.rec.rois.V2: region(s) V2 not in" in message
    assert "config key brain_data.rec.time_window:" in message
    recording.update(rois={"V1": ["V1"]}, time_window=None)
    views = dataset_configs(validate_config(config, SCHEMA), SCHEMA)
    with pytest.raises(ConfigError, match="config key brain_data.rec.subjects: monkeyZ not in "
                                          "brain_data.rec.assembly_file"):
        prepare_dataset(views["rec"], "rec")
    recording.update(subjects="all", assembly_file=str(tmp_path / "missing.nc"))
    views = dataset_configs(validate_config(config, SCHEMA), SCHEMA)
    with pytest.raises(ConfigError, match=r"config key brain_data\.rec\.assembly_file: '.*missing\.nc' does not exist"):
        prepare_dataset(views["rec"], "rec")
    recording["subjets"] = ["monkeyA"]
    assert ("config key brain_data.rec: Additional properties are not allowed ('subjets' was unexpected); did you "
            "mean 'subjets' -> 'subjects'?") in problems(config)


def test_a_recording_without_a_region_coordinate_says_so(tmp_path):
    from lrrsa.data.brainio import write_assembly

    write_assembly(tmp_path / "assy.nc", np.zeros((4, 2)), {"stimulus_id": ["a", "b", "c", "d"]},
                   {"neuroid_id": [0, 1]}, dims=("presentation", "neuroid"))
    message = "\n".join(neural_assembly.local_recording_problems(
        {"assembly_file": str(tmp_path / "assy.nc"), "rois": {"V1": ["V1"]}, "time_window": None,
         "source": "local", "stimuli": "all"}))
    assert "config key brain_data.rois: " in message and "has no neuroid coordinate 'region'" in message
    assert "its neuroid coordinates: neuroid_id" in message and "region(s) V1 not in" not in message


@pytest.mark.parametrize(("brain", "expected"), [
    ({"source": "download"}, "brain_data.dataset: required when brain_data.type is neural_assembly"),
    ({"source": "local"}, "brain_data.assembly_file: required"),
    ({"source": "local", "assembly_file": "a.nc", "stimulus_csv": "s.csv"},
     "a local neural_assembly needs its stimulus images in exactly one of them"),
    ({"dataset": "MajajHong2015.public"}, "brain_data.dataset: only used when brain_data.source is download"),
    ({"stimuli": "first_exemplar"}, "a neural_assembly allows all or list"),
    ({"time_window": [170, 70]}, "brain_data.time_window: start 170 must be before end 70"),
    ({"zscore": False}, "brain_data.zscore: brain_data.type neural_assembly does not use it"),
    ({"betas_dir": "betas"}, "brain_data.betas_dir: brain_data.type neural_assembly does not use it"),
    ({"rois": {"V1": ["V1"], "IT": ["masks/{subject}_it.nii.gz"]}}, "brain_data.rois.IT: NIfTI masks need"),
    ({"subjects": ["monkeyA", "group"]}, "brain_data.subjects: group names the workflow's own files"),
])
def test_what_each_source_needs_and_refuses_is_named(brain, expected):
    assert expected in problems(config_with(**brain))


def test_papale2025_reads_its_test_assembly_and_the_runs_things_images():
    brain = resolve_subjects(validate_config(config_with(source="download", dataset="Papale2025"), SCHEMA))["brain_data"]
    assert brain["subjects"] == ["monkeyF", "monkeyN"]
    files = neural_assembly.dataset_files(brain, "results/na")
    assert files == {"assembly": "resources/brainio/Papale2025/assy_THINGS_TVSD_test_Assembly.nc",
                     "stimulus_csv": "results/na/data/stimulus_set.csv",
                     "images": "resources/things-images/images_THINGS.zip"}
    assert neural_assembly.downloaded_files(brain) == {"assembly": files["assembly"]}
    assert neural_assembly.download_roles(brain) == ["assembly_test"]
    # Brain-Score's selection: the stored reliability above 0.3.
    assert neural_assembly.reliability_method(brain) == "coordinate"
    assert neural_assembly.reliability_threshold(brain) == 0.3
    assert things_downloads(brain) == ["images"]
    local = resolve_subjects(validate_config(config_with(source="download", dataset="Papale2025",
                                                         images_zip="images_THINGS.zip"), SCHEMA))["brain_data"]
    assert things_downloads(local) == [] and neural_assembly.dataset_files(local, "r")["images"] == "images_THINGS.zip"


def test_a_recording_with_its_own_stimulus_set_reads_no_things_images():
    brain = validate_config(config_with(source="download", dataset="MajajHong2015.public"), SCHEMA)["brain_data"]
    assert things_downloads(brain) == [] and neural_assembly.reliability_method(brain) == "split_half"
    assert set(neural_assembly.downloaded_files(brain)) == {"assembly", "stimulus_csv", "stimulus_zip"}


@pytest.mark.parametrize(("brain", "expected"), [
    ({"source": "download", "dataset": "MajajHong2015.public", "images_zip": "x.zip"},
     "brain_data.images_zip: MajajHong2015.public downloads its own stimulus set"),
    ({"source": "download", "dataset": "FreemanZiemba2013.public", "things_images": True},
     "brain_data.things_images: FreemanZiemba2013.public has its own stimulus set"),
    ({"source": "download", "dataset": "Papale2025", "images_zip": "x.zip", "images_dir": "d"},
     "brain_data.images_zip, brain_data.images_dir: the THINGS images come from one of them"),
    ({"source": "local", "assembly_file": "a.nc", "things_images": True, "stimulus_csv": "s.csv"},
     "brain_data.stimulus_csv: a recording on THINGS images (things_images: true) has its stimulus set rebuilt"),
    ({"source": "local", "assembly_file": "a.nc"},
     "brain_data.stimulus_csv: required when brain_data.type is neural_assembly and brain_data.source is local"),
    ({"things_images": True}, "brain_data.things_images: not used when brain_data.source is demo"),
])
def test_where_the_things_images_may_come_from_is_checked(brain, expected):
    assert expected in problems(config_with(**brain))


def test_datasets_sharing_the_things_images_download_must_agree_on_it():
    config = copy.deepcopy(TINY)
    things = {"type": "things_fmri", "source": "download", "rois": {"V1": ["V1"]},
              "download": {"images_md5": "0" * 32}}
    tvsd = {"type": "neural_assembly", "source": "download", "dataset": "Papale2025", "rois": {"IT": ["IT"]}}
    config["brain_data"] = {"things": things, "tvsd": tvsd}
    config["rsa"] = {"layer_map": {"V1": "conv1", "IT": "fc1"}}
    message = problems(config)
    assert ("config keys brain_data.things.download, brain_data.tvsd.download: things and tvsd download the THINGS "
            "images archive") in message
    tvsd["download"] = {"images_md5": "0" * 32}
    validated = validate_config(config, SCHEMA)
    assert things_download_settings(validated, "images")["images_md5"] == "0" * 32
    assert things_download_settings(validated, "betas") is not None  # things reads betas_csv.zip too
    tvsd["images_zip"] = "images_THINGS.zip"  # a local copy: tvsd downloads nothing
    del tvsd["download"]
    validate_config(config, SCHEMA)


def test_encoding_models_are_refused_for_a_recording():
    config = config_with()
    config["encoding"] = {"enabled": True}
    assert "brain_data.type neural_assembly is not supported by them yet" in problems(config)


def test_things_fmri_subjects_keep_their_names():
    config = copy.deepcopy(TINY)
    config["brain_data"] = {"type": "things_fmri", "source": "demo", "subjects": ["sub-01", "monkeyA"]}
    config["rsa"] = {"layer_map": {"V1": "conv1"}}
    assert "brain_data.subjects: monkeyA: brain_data.type things_fmri names subjects sub-01" in problems(config)


# ---- dry runs -------------------------------------------------------------------


def planned(tmp_path, configfile, *args):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(configfile), "-n", "--cores", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.mark.workflow
@pytest.mark.parametrize(("name", "n_subjects", "n_rois"), [("majajhong2015", 2, 2), ("freemanziemba2013", 1, 2)])
def test_follow_up_configs_plan_the_download_and_every_job(tmp_path, name, n_subjects, n_rois):
    config = yaml.safe_load((REPO / f"config/{name}.yaml").read_text())
    counts = planned(tmp_path, REPO / f"config/{name}.yaml")
    n_models = len(config["conditions"]) * len(config["seeds"])
    expected = {"download_brainio_dataset": 1, "prepare_brainio_stimuli": 1, "compute_brainio_rdms": n_subjects,
                "compute_brainio_split_half_rdms": n_rois, "count_roi_neuroids": 1, "average_brain_rdms": 1,
                "train_model": n_models, "extract_activations": n_models, "score_model": n_models}
    assert {rule: counts.get(rule) for rule in expected} == expected
    assert not {"select_stimuli", "compute_brain_rdms", "compute_split_half_rdms", "download_things_betas",
                "extract_stimulus_images"} & set(counts)
    assert not (tmp_path / "resources").exists()  # a dry run writes no data


@pytest.mark.workflow
def test_demo_macaque_config_plans_the_simulated_recording(tmp_path):
    counts = planned(tmp_path, REPO / "config/demo_macaque.yaml")
    assert counts["make_demo_macaque_dataset"] == 1 and counts["compute_brainio_rdms"] == len(ANIMALS)
    assert "download_brainio_dataset" not in counts and "make_demo_brain_dataset" not in counts


# ---- a run ----------------------------------------------------------------------


def direct_rdm(assembly, stimulus_csv, stimuli, animal, regions, window) -> np.ndarray:
    """1 - Pearson r across neuroids of the window-averaged, repetition-averaged
    responses, straight from the netCDF file with xarray and pandas."""
    data = xr.open_dataarray(assembly)
    data = data.transpose("presentation", "neuroid", "time_bin")
    starts = data["time_bin_start"].values
    in_window = (starts >= window[0]) & (data["time_bin_end"].values <= window[1])
    neuroids = (data["animal"].values == animal) & np.isin(data["region"].values, regions)
    values = data.values[:, neuroids][:, :, in_window].mean(axis=2)
    by_stimulus = pd.DataFrame(values).groupby(data["stimulus_id"].values).mean()
    files = pd.read_csv(stimulus_csv).set_index("filename")["stimulus_id"]
    patterns = by_stimulus.loc[files.loc[stimuli].to_numpy()].to_numpy()
    return 1 - np.corrcoef(patterns)


def run_workflow(workdir, config) -> list[str]:
    """Run the workflow on ``config`` in ``workdir`` (asserting success); returns its command."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return cmd


@pytest.mark.workflow
def test_a_local_recording_runs_end_to_end(tmp_path):
    # Dimensions in another order than Brain-Score's usual: the reader goes by name.
    demo = write_macaque_dataset(tmp_path / "recording", n_per_category=4, n_repetitions=4, image_size=32,
                                 dims=("neuroid", "time_bin", "presentation"))
    config = config_with(source="local", assembly_file="recording/" + demo.assembly.name,  # relative to --directory
                         stimulus_csv=str(demo.stimulus_csv), images_zip=str(demo.stimulus_zip),
                         time_window=list(RESPONSE_WINDOW))
    cmd = run_workflow(tmp_path, config)

    out = tmp_path / "results/na"
    stimuli = read_stimulus_table(out / "data/stimuli.tsv")["stimulus"].tolist()
    assert len(stimuli) == demo.n_stimuli
    animals = sorted(demo.animals)
    for roi, regions in TINY["brain_data"]["rois"].items():
        subject_rdms = []
        for animal in animals:
            rdm, ids = load_rdm(out / f"rdms/brain/{roi}/{animal}.npz")
            assert ids == stimuli
            expected = direct_rdm(demo.assembly, demo.stimulus_csv, stimuli, animal, regions, RESPONSE_WINDOW)
            np.testing.assert_allclose(rdm, expected, atol=1e-6)
            subject_rdms.append(rdm)
        np.testing.assert_allclose(load_rdm(out / f"rdms/brain/{roi}/group.npz")[0], np.mean(subject_rdms, axis=0),
                                   atol=1e-12)

    truth = pd.read_csv(demo.truth, sep="\t")
    counts = pd.read_csv(out / "data/roi_voxels.tsv", sep="\t").set_index(["roi", "subject"])
    for roi, regions in TINY["brain_data"]["rois"].items():
        for animal in animals:
            n = int((truth["animal"].eq(animal) & truth["region"].isin(regions)).sum())
            assert counts.loc[(roi, animal), "n_voxels"] == counts.loc[(roi, animal), "n_selected"] == n

    ceiling = pd.read_csv(out / "stats/noise_ceiling.tsv", sep="\t").set_index(["roi", "subject"])
    assert (ceiling.loc[[(roi, a) for roi in TINY["brain_data"]["rois"] for a in animals], "n_split_half_stimuli"]
            == demo.n_stimuli).all()
    scores = pd.read_csv(out / "rsa/scores.tsv", sep="\t")
    assert set(scores["subject"]) == {*animals, "group"} and scores["rho"].between(-1, 1).all()
    dry = subprocess.run([*cmd, "-n"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def things_recording(path, concepts, n_repetitions=4, seed=0):
    """A TVSD-like recording (presentation, neuroid, time_bin 1) on THINGS stems: a fixed
    pattern per stimulus, shared by the animals, plus noise per presentation; two monkeys,
    V1/V4/IT, neuroid_id restarting per monkey."""
    from lrrsa.data.brainio import write_assembly

    rng = np.random.default_rng(seed)
    stimuli = [f"{concept}_{k:02d}b" for concept in concepts for k in (1, 2)]
    regions = ["V1", "V1", "V4", "V4", "IT", "IT"] * 2
    # Every neuroid a mixture of a few stimulus features: the animals' RDMs agree.
    patterns = rng.normal(size=(len(stimuli), 3)) @ rng.normal(size=(3, len(regions)))
    ids = [s for s in stimuli for _ in range(n_repetitions)]
    data = patterns.repeat(n_repetitions, axis=0) + 0.3 * rng.normal(size=(len(ids), len(regions)))
    write_assembly(path, data[:, :, None], {"stimulus_id": ids, "repetition": [r for _ in stimuli for r in
                                                                               range(n_repetitions)]},
                   {"neuroid_id": list(range(6)) * 2, "region": regions, "subject": ["monkeyF"] * 6 + ["monkeyN"] * 6},
                   time_bins=[(70, 170)], dims=("presentation", "neuroid", "time_bin"))
    return stimuli


def things_images_zip(path, stimuli, size=32, seed=1) -> dict[str, bytes]:
    """images_THINGS.zip's layout (object_images/<concept>/<stem>.jpg under a folder), with
    one image more than the recording shows."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(seed)
    images = {}
    with zipfile.ZipFile(path, "w") as zf:
        for stem in [*stimuli, "dog_01b"]:
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="JPEG")
            images[stem] = buffer.getvalue()
            zf.writestr(f"THINGS/object_images/{stem.rsplit('_', 1)[0]}/{stem}.jpg", images[stem])
    return images


@pytest.mark.workflow
def test_a_recording_on_things_images_runs_end_to_end(tmp_path):
    """Papale2025's path with local files: the stimulus set rebuilt from THINGS stems, the
    images taken from a THINGS images archive, animals as subjects."""
    (tmp_path / "recording").mkdir()
    stimuli = things_recording(tmp_path / "recording/assy_tvsd_like.nc", ["aardvark", "baby_buggy", "acorn", "zebra"])
    images = things_images_zip(tmp_path / "images_THINGS.zip", stimuli)
    config = config_with(source="local", assembly_file="recording/assy_tvsd_like.nc", things_images=True,
                         images_zip=str(tmp_path / "images_THINGS.zip"))
    cmd = run_workflow(tmp_path, config)

    out = tmp_path / "results/na"
    table = read_stimulus_table(out / "data/stimuli.tsv")
    assert table["stimulus"].tolist() == sorted(s + ".jpg" for s in stimuli)
    assert table["concept"].tolist() == [s.rsplit("_", 1)[0] for s in sorted(stimuli)]
    for stem in stimuli:  # the archive's bytes, in the THINGS layout the networks read
        assert (out / f"data/images/object_images/{stem.rsplit('_', 1)[0]}/{stem}.jpg").read_bytes() == images[stem]
    assert not list((out / "data/images").rglob("dog_01b.jpg"))
    names = table["stimulus"].tolist()
    for roi, regions in TINY["brain_data"]["rois"].items():
        for animal in ["monkeyF", "monkeyN"]:
            rdm, ids = load_rdm(out / f"rdms/brain/{roi}/{animal}.npz")
            assert ids == names
            data = xr.open_dataarray(tmp_path / "recording/assy_tvsd_like.nc")
            neuroids = (data["subject"].values == animal) & np.isin(data["region"].values, regions)
            means = pd.DataFrame(data.values[:, neuroids, 0]).groupby(data["stimulus_id"].values).mean()
            expected = 1 - np.corrcoef(means.loc[[n.removesuffix(".jpg") for n in names]].to_numpy())
            np.testing.assert_allclose(rdm, expected, atol=1e-6)
    assert set(pd.read_csv(out / "rsa/scores.tsv", sep="\t")["subject"]) == {"monkeyF", "monkeyN", "group"}
    dry = subprocess.run([*cmd, "-n"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
