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


def test_papale2025_is_refused_with_its_reason():
    message = problems(config_with(source="download", dataset="Papale2025"))
    assert "brain_data.dataset" in message and "Papale2025" in message


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


@pytest.mark.workflow
def test_a_local_recording_runs_end_to_end(tmp_path):
    # Dimensions in another order than Brain-Score's usual: the reader goes by name.
    demo = write_macaque_dataset(tmp_path / "recording", n_per_category=4, n_repetitions=4, image_size=32,
                                 dims=("neuroid", "time_bin", "presentation"))
    config = config_with(source="local", assembly_file="recording/" + demo.assembly.name,  # relative to --directory
                         stimulus_csv=str(demo.stimulus_csv), images_zip=str(demo.stimulus_zip),
                         time_window=list(RESPONSE_WINDOW))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

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
