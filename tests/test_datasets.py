"""Several brain datasets in one run: the config of named datasets, the rules of each
dataset under its own name and folder, the networks trained once, the comparison
across datasets, and the Slurm profile applied to every dataset's copy of a rule.

The end-to-end tests share one tiny run of two datasets (simulated THINGS-fMRI and a
simulated macaque recording in brainio form; about two minutes on 2 cores)."""

import copy
import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import REPO
from lrrsa.config import (ConfigError, RUN_FOLDERS, dataset_configs, dataset_view, has_named_datasets, load_schema,
                          validate_config)

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())

THINGS = {"type": "things_fmri", "source": "demo", "subjects": ["sub-01", "sub-02"], "image_size": 48,
          "rois": {"V1": ["V1"], "LOC": ["lLOC", "rLOC"], "IT": ["IT"]}}
MACAQUE = {"type": "neural_assembly", "source": "demo", "stimuli": "all", "image_size": 48,
           "rois": {"V1": ["V1"], "V4": ["V4"], "IT": ["IT"]}, "layer_map": {"V4": "conv2"}}
CONDITIONS = ["untrained", "bp", "fa"]
TINY2 = {
    "run": "tiny2",
    "device": "cpu",
    "demo": {"seed": 0, "train_per_class": 12, "test_per_class": 6, "n_concepts": 16, "n_categories": 4,
             "n_exemplars": 2, "n_test_images": 4, "n_test_repeats": 2, "image_size": 48},
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50, "seed": 0},
    "brain_data": {"things": THINGS, "macaque": MACAQUE},
    "model": {"widths": [8, 16, 16], "fc_width": 32},
    "training": {"epochs": 2, "batch_size": 32},
    "conditions": {"untrained": {"rule": "untrained"}, "bp": {"rule": "backprop", "lr": 0.001},
                   "fa": {"rule": "feedback_alignment", "lr": 0.01}},
    "seeds": [1, 2],
    "rsa": {"layer_map": {"V1": "conv1", "LOC": "conv3", "IT": "fc1"}},
    "stats": {"n_permutations": 199, "n_bootstrap": 50, "generalise_over": ["stimuli"]},
    "encoding": {"enabled": False},
}


def named(**datasets):
    return {**copy.deepcopy(TINY2), "brain_data": copy.deepcopy(datasets)}


def problems(config):
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    return str(error.value)


# ---- the config -----------------------------------------------------------------

def test_a_dataset_and_a_mapping_of_named_datasets_are_told_apart():
    assert has_named_datasets(TINY2["brain_data"], SCHEMA)
    assert not has_named_datasets(THINGS, SCHEMA) and not has_named_datasets({"source": "demo"}, SCHEMA)
    assert not has_named_datasets({}, SCHEMA) and not has_named_datasets(None, SCHEMA)


def test_each_dataset_is_validated_as_a_run_of_its_own():
    config = validate_config(TINY2, SCHEMA)
    assert list(config["brain_data"]) == ["macaque", "things"]  # by name: the written order is no setting
    views = dataset_configs(config, SCHEMA)
    assert list(views) == ["macaque", "things"]
    things, macaque = views["things"], views["macaque"]
    # The run's layer map, restricted to the dataset's ROIs; a dataset's own layer_map added.
    assert things["rsa"]["layer_map"] == {"V1": "conv1", "LOC": "conv3", "IT": "fc1"}
    assert macaque["rsa"]["layer_map"] == {"V1": "conv1", "V4": "conv2", "IT": "fc1"}
    assert "layer_map" not in macaque["brain_data"]
    # The run's record keeps what was written: the run's map whole, the dataset's own beside it.
    assert config["rsa"]["layer_map"] == {"IT": "fc1", "LOC": "conv3", "V1": "conv1"}
    assert config["brain_data"]["macaque"]["layer_map"] == {"V4": "conv2"}
    for view in views.values():
        assert validate_config(view, SCHEMA) == view  # a view is a valid one-dataset config
        assert {k: v for k, v in view.items() if k not in ("brain_data", "rsa", "encoding", "paper_comparison")} == \
            {k: v for k, v in config.items() if k not in ("brain_data", "rsa", "encoding", "paper_comparison")}


def test_the_same_settings_written_differently_validate_alike():
    config = validate_config(TINY2, SCHEMA)
    assert validate_config(config, SCHEMA) == config
    reordered = named(macaque=MACAQUE, things=dict(reversed(list(THINGS.items()))))
    assert repr(validate_config(reordered, SCHEMA)) == repr(config)


def test_a_single_dataset_keeps_its_one_config():
    config = validate_config({**TINY2, "brain_data": THINGS}, SCHEMA)
    assert dataset_configs(config, SCHEMA) == {None: config}


def test_encoding_and_the_paper_comparison_apply_to_things_fmri_datasets_only():
    config = {**named(things=THINGS, macaque=MACAQUE), "encoding": {"enabled": True}, "paper_comparison": True}
    validated = validate_config(config, SCHEMA)
    assert validated["encoding"]["enabled"] is True and validated["paper_comparison"] is True
    views = dataset_configs(validated, SCHEMA)
    assert views["things"]["encoding"]["enabled"] and views["things"]["paper_comparison"]
    assert not views["macaque"]["encoding"]["enabled"] and not views["macaque"]["paper_comparison"]


@pytest.mark.parametrize("name, expected", [
    ("models", "names a folder of the run's own outputs"),
    ("2things", "must start with a letter"),
    ("things-fmri", "must start with a letter"),
])
def test_dataset_names_that_would_collide_or_break_paths_are_refused(name, expected):
    message = problems(named(**{name: THINGS}))
    assert f"config key brain_data.{name}: " in message and expected in message
    assert set(RUN_FOLDERS) >= {"models", "logs", "report", "across_datasets"}


def test_an_error_names_the_dataset_and_the_key_as_written():
    bad_macaque = {**MACAQUE, "zscore": False, "layer_map": {"V4": "conv9"}}
    message = problems(named(things={**THINGS, "image_size": "big"}, macaque=bad_macaque))
    assert "config key brain_data.things.image_size: 'big' is not of type 'integer'" in message
    assert "config key brain_data.macaque.zscore: brain_data.macaque.type neural_assembly does not use it" in message
    assert "config key brain_data.macaque.layer_map.V4: layer 'conv9' is not in activations.layers" in message
    assert "brain_data.macaque.type things_fmri" not in message  # the type that uses it is not macaque's


def test_a_dataset_and_named_datasets_mixed_are_refused_with_how_to_write_them():
    config = {**TINY2, "brain_data": {**THINGS, "macaque": MACAQUE}}
    message = problems(config)
    assert "config key brain_data: holds keys of one dataset (image_size, rois, source, subjects, type) and named " \
           "datasets (macaque); write one dataset, or put every dataset under a name" in message


def test_a_layer_map_roi_no_dataset_has_is_refused():
    config = named(things=THINGS, macaque=MACAQUE)
    config["rsa"] = {"layer_map": {"V1": "conv1", "MT": "conv2"}}
    assert "config key rsa.layer_map.MT: no dataset has an ROI 'MT'" in problems(config)


def test_two_datasets_that_would_write_the_same_downloads_are_refused():
    message = problems(named(human=THINGS, human_again={**THINGS, "rois": {"IT": ["IT"]}}))
    assert "brain_data.human, brain_data.human_again" in message and "the same things_fmri files" in message


def test_a_view_takes_the_run_keys_and_the_dataset():
    config = validate_config(TINY2, SCHEMA)
    view = dataset_view(config, "things")
    assert view["brain_data"]["rois"] == config["brain_data"]["things"]["rois"]
    assert view["conditions"] == config["conditions"] and view["run"] == "tiny2"


# ---- the DAG ----------------------------------------------------------------------

def dry_run(workdir, config, *args):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "-n", "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def job_counts(output):
    counts = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def test_each_dataset_has_its_rules_and_the_networks_are_trained_once(tmp_path):
    result = dry_run(tmp_path, TINY2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = job_counts(result.stdout)
    models = len(CONDITIONS) * 2
    assert counts["train_model"] == models
    for dataset in ["things", "macaque"]:
        assert counts[f"{dataset}_extract_activations"] == models
        assert counts[f"{dataset}_score_model"] == models
        assert f"results/tiny2/{dataset}/rsa/scores.tsv" in result.stdout
    assert counts["things_compute_brain_rdms"] == 2 and counts["macaque_compute_brainio_rdms"] == 2
    assert counts["compare_datasets"] == 1 and counts["plot_dataset_agreement"] == 1
    assert "results/tiny2/across_datasets/figures/agreement_macaque-things.png" in result.stdout
    assert not any(rule.startswith(("things_train", "macaque_train", "things_make_demo_training")) for rule in counts)


def test_datasets_without_an_roi_in_common_are_not_compared(tmp_path):
    config = named(things={**THINGS, "rois": {"LOC": ["lLOC", "rLOC"]}}, macaque=MACAQUE)
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert "compare_datasets" not in counts and "plot_dataset_agreement" not in counts


def test_the_slurm_profile_reaches_every_datasets_copy_of_a_rule(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    result = dry_run(tmp_path, TINY2, "--profile", str(REPO / "workflow/profiles/slurm"))
    assert result.returncode == 0, result.stderr[-3000:]
    for dataset in ["things", "macaque"]:
        blocks = result.stdout.split(f"rule {dataset}_extract_activations:")[1:]
        assert len(blocks) == len(CONDITIONS) * 2
        assert all("slurm_partition=gpu" in block.split("resources:")[1].splitlines()[0] for block in blocks)
    # Every dataset's model RDMs and scores go in group jobs of 5 models (2 x 6 models: 3 jobs).
    assert result.stdout.count("Group job model_rdms") == -(-2 * len(CONDITIONS) * 2 // 5)


# ---- a run of two datasets --------------------------------------------------------

@pytest.fixture(scope="module")
def two_dataset_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("datasets")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY2, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir


def mapped_group_means(scores, layer_map):
    """condition -> roi -> mean over seeds of the group-RDM score at the ROI's layer (the oracle)."""
    rows = scores[(scores["subject"] == "group")]
    rows = rows[[layer_map.get(roi) == layer for roi, layer in zip(rows["roi"], rows["layer"])]]
    return rows.groupby(["roi", "condition"])["rho"].mean()


@pytest.mark.workflow
def test_every_dataset_writes_its_results_in_its_folder(two_dataset_run):
    out = two_dataset_run / "results/tiny2"
    for condition, seed in itertools.product(CONDITIONS, [1, 2]):
        assert (out / f"models/{condition}/seed-{seed}/model.pt").exists()
    assert not (out / "things/models").exists() and not (out / "macaque/models").exists()
    for dataset, rois in [("things", THINGS["rois"]), ("macaque", MACAQUE["rois"])]:
        scores = pd.read_csv(out / f"{dataset}/rsa/scores.tsv", sep="\t")
        assert set(scores["roi"]) == set(rois) and set(scores["condition"]) == set(CONDITIONS)
        for table in ["summary", "pairwise", "noise_ceiling", "pixel_baseline"]:
            assert (out / f"{dataset}/stats/{table}.tsv").exists()
        assert (out / f"{dataset}/figures/rsa_by_roi.png").exists()
    subjects = set(pd.read_csv(out / "macaque/rsa/scores.tsv", sep="\t")["subject"])
    assert subjects == {"monkeyA", "monkeyB", "group"}
    assert (out / "figures/architecture.png").exists() and (out / "report/config.yaml").exists()


@pytest.mark.workflow
def test_rank_agreement_equals_kendall_tau_of_the_seed_means(two_dataset_run):
    out = two_dataset_run / "results/tiny2"
    agreement = pd.read_csv(out / "across_datasets/rank_agreement.tsv", sep="\t")
    assert agreement[["dataset_a", "dataset_b", "roi_a", "roi_b"]].values.tolist() == [
        ["macaque", "things", "V1", "V1"], ["macaque", "things", "IT", "IT"]]
    things = mapped_group_means(pd.read_csv(out / "things/rsa/scores.tsv", sep="\t"), TINY2["rsa"]["layer_map"])
    macaque_map = {**TINY2["rsa"]["layer_map"], **MACAQUE["layer_map"]}
    macaque = mapped_group_means(pd.read_csv(out / "macaque/rsa/scores.tsv", sep="\t"), macaque_map)
    for _, row in agreement.iterrows():
        a = [macaque[(row["roi_a"], c)] for c in CONDITIONS]
        b = [things[(row["roi_b"], c)] for c in CONDITIONS]
        expected = stats.kendalltau(a, b)
        assert row["tau"] == pytest.approx(expected.statistic, abs=1e-6)  # tables keep 6 digits
        assert row["n_conditions"] == 3 and row["n_seeds"] == 2
        assert row["ci_low"] <= row["tau"] + 1e-12 or np.isnan(row["ci_low"])
    side = pd.read_csv(out / "across_datasets/scores.tsv", sep="\t")
    assert set(side["condition"]) == {*CONDITIONS, "pixel"}
    pixel = pd.read_csv(out / "across_datasets/pixel_baseline.tsv", sep="\t")
    assert sorted(map(tuple, pixel[["dataset", "roi"]].values)) == sorted(
        [("macaque", r) for r in MACAQUE["rois"]] + [("things", r) for r in THINGS["rois"]])
    for suffix in ["png", "pdf"]:
        assert (out / f"across_datasets/figures/agreement_macaque-things.{suffix}").stat().st_size > 5000


@pytest.mark.workflow
def test_a_complete_run_of_two_datasets_plans_nothing_when_written_differently(two_dataset_run):
    reordered = copy.deepcopy(TINY2)
    reordered["brain_data"] = {"macaque": MACAQUE, "things": dict(reversed(list(THINGS.items())))}
    for config in [TINY2, reordered]:
        result = dry_run(two_dataset_run, config)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


@pytest.mark.workflow
def test_a_demo_setting_the_training_images_do_not_use_retrains_nothing(two_dataset_run):
    """The simulated fMRI's noise is not a setting of the demo's training images: changing
    it regenerates the fMRI side only, never the networks."""
    config = copy.deepcopy(TINY2)
    config["demo"]["noise_sd"] = 2.5
    result = dry_run(two_dataset_run, config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts.get("things_make_demo_brain_dataset") == 1, result.stdout[-3000:]
    assert not {"make_demo_training_images", "prepare_training_set", "train_model"} & set(counts)
    dry_run(two_dataset_run, TINY2)  # the config of the run again, for the tests after


@pytest.mark.workflow
def test_the_report_groups_results_per_dataset(two_dataset_run):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(two_dataset_run), "--configfile", str(two_dataset_run / "config.yaml"), "--report", "report.html"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (two_dataset_run / "report.html").read_text()
    for category in ["things: 3. RSA", "macaque: 3. RSA", "7. Across datasets"]:
        assert category in html


def test_the_cross_species_config_plans_every_download_the_reference_and_the_comparisons(tmp_path):
    config = yaml.safe_load((REPO / "config" / "cross_species.yaml").read_text())
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = job_counts(result.stdout)
    # THINGS-fMRI and TVSD read the same images_THINGS.zip: one download for the run.
    for download in ["download_cifar10", "download_things_betas", "download_things_images",
                     "majajhong2015_download_brainio_dataset", "freemanziemba2013_download_brainio_dataset",
                     "tvsd_download_brainio_dataset"]:
        assert counts[download] == 1, download
    assert "resources/brainio/Papale2025/assy_THINGS_TVSD_test_Assembly.nc" in result.stdout
    assert "assy_THINGS_TVSD_train_Assembly.nc" not in result.stdout  # one presentation per image: no ceiling
    assert counts["tvsd_make_things_stimulus_set"] == counts["tvsd_prepare_things_stimuli"] == 1
    trained = [name for name, hyper in config["conditions"].items() if hyper["rule"] != "pretrained"]
    assert counts["train_model"] == len(trained) * len(config["seeds"])
    # The pretrained ResNet-50: downloaded once, extracted once per dataset for every seed.
    assert counts["fetch_pretrained_weights"] == 1
    assert "resources/pretrained/resnet50-0676ba61.pth" in result.stdout
    for dataset in config["brain_data"]:
        assert counts[f"{dataset}_extract_activations"] == len(trained) * len(config["seeds"])
        assert counts[f"{dataset}_extract_pretrained_activations"] == 1
    # Human V1/V2 meet FreemanZiemba2013's, human IT MajajHong2015's, TVSD's V1/V4/IT every other
    # dataset; MajajHong2015 (V4, IT) and FreemanZiemba2013 (V1, V2) share none.
    pairs = ["freemanziemba2013-things", "freemanziemba2013-tvsd", "majajhong2015-things", "majajhong2015-tvsd",
             "things-tvsd"]
    assert counts["compare_datasets"] == 1 and counts["plot_dataset_agreement"] == len(pairs)
    for pair in pairs:
        assert f"results/cross_species/across_datasets/figures/agreement_{pair}.png" in result.stdout


def test_datasets_compared_by_ranking_need_three_conditions():
    config = copy.deepcopy(TINY2)
    config["conditions"] = {"untrained": {"rule": "untrained"}, "bp": {"rule": "backprop", "lr": 0.001}}
    with pytest.raises(ConfigError, match=r"config key conditions: 2 condition\(s\), but datasets macaque and things "
                                          r"share an ROI.*Kendall's tau needs at least 3"):
        validate_config(config, SCHEMA)
    # Without an ROI in common nothing is ranked across datasets: two conditions are fine.
    config["brain_data"]["macaque"]["rois"] = {"V4": ["V4"]}
    validate_config(config, SCHEMA)
