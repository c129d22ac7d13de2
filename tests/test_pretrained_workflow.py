"""A published reference network as a condition (rule: pretrained) through Snakemake:
no training job, one extraction per dataset for every seed, read by the study's layer
names, and scored, tested and tabulated like every condition.

Offline: the weights are a seeded ResNet-18 state dict saved here (check_hash: false,
as for a state dict of one's own); the dry run of the published weights plans
torchvision's download instead. One tiny run is shared (about a minute on 2 cores)."""

import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from torchvision.models.feature_extraction import create_feature_extractor

from conftest import REPO
from lrrsa.data.stimuli import image_path, read_stimulus_table
from lrrsa.images import load_images

LAYERS = {"conv1": "layer1", "conv2": "layer2", "conv3": "layer3", "fc1": "layer4", "fc2": "avgpool"}
RESNET = {"rule": "pretrained", "architecture": "resnet18", "weights": "IMAGENET1K_V1",
          "weights_file": "resnet18_own.pth", "check_hash": False, "layers": LAYERS}
TINY = {
    "run": "pre",
    "device": "cpu",
    "demo": {"seed": 0, "train_per_class": 12, "test_per_class": 6, "n_concepts": 16, "n_categories": 4,
             "n_exemplars": 2, "n_test_images": 4, "n_test_repeats": 2, "image_size": 48},
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50, "seed": 0},
    "brain_data": {"source": "demo", "subjects": ["sub-01", "sub-02"], "image_size": 48,
                   "rois": {"V1": ["V1"], "IT": ["IT"]}},
    "model": {"widths": [8, 16, 16], "fc_width": 32},
    "training": {"epochs": 1, "batch_size": 32},
    "conditions": {"untrained": {"rule": "untrained"}, "bp": {"rule": "backprop"}, "resnet": RESNET},
    "seeds": [1, 2],
    "rsa": {"layer_map": {"V1": "conv1", "IT": "fc1"}},
    "stats": {"n_permutations": 199, "n_bootstrap": 50, "generalise_over": ["stimuli"]},
    "encoding": {"enabled": True, "inner_folds": 3, "features": {"pool_size": 2}},
}


def snakemake(workdir, *args, config=TINY):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


def save_own_resnet18(path):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), path)
    return model.eval()


def test_the_published_weights_are_downloaded_once_and_no_network_is_trained_for_them(tmp_path):
    published = {**RESNET, "weights_file": None, "check_hash": True}
    result = snakemake(tmp_path, "-n", config={**TINY, "conditions": {**TINY["conditions"], "resnet": published}})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.count("rule fetch_pretrained_weights:") == 1
    assert "output: resources/pretrained/resnet18-f37072fd.pth" in out  # torchvision's file name
    assert "models/resnet/" not in out
    assert out.count("rule extract_pretrained_activations:") == 1  # every seed at once
    assert out.count("rule extract_pretrained_encoding_activations:") == 1
    assert out.count("rule fit_reference_encoding:") == 1  # one ridge fit for every seed
    assert out.count("rule fit_encoding:") == 2 * 2
    assert out.count("rule train_model:") == 2 * 2


def test_a_missing_weights_file_is_named_before_anything_runs(tmp_path):
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "config key conditions.resnet.weights_file: 'resnet18_own.pth' does not exist" in result.stdout + \
        result.stderr


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pretrained")
    model = save_own_resnet18(workdir / "resnet18_own.pth")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir, model


@pytest.mark.workflow
def test_every_seed_holds_the_reference_network_read_by_the_study_layer_names(pretrained_run):
    workdir, model = pretrained_run
    out = workdir / "results/pre"
    assert not (out / "models/resnet").exists()
    with h5py.File(out / "activations/resnet/seed-1.h5") as one, h5py.File(out / "activations/resnet/seed-2.h5") as two:
        assert set(LAYERS) <= set(one)
        for layer in LAYERS:
            np.testing.assert_array_equal(one[layer][()], two[layer][()])
        stimuli = one["stimuli"].asstr()[()].tolist()
        got = {layer: one[layer][()] for layer in LAYERS}
    # Oracle: torchvision's own feature extractor on the stimuli, normalised with
    # ImageNet's mean and std, each node's map averaged over space (activations.reduce).
    table = read_stimulus_table(out / "data/stimuli.tsv")
    assert table["stimulus"].tolist() == stimuli
    paths = [image_path(workdir / "resources/demo/things/images", s, c)
             for s, c in zip(table["stimulus"], table["concept"])]
    images = torch.from_numpy(load_images(paths, 48)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    extractor = create_feature_extractor(model, return_nodes={node: layer for layer, node in LAYERS.items()})
    with torch.no_grad():
        expected = extractor((images - mean) / std)
    for layer in LAYERS:
        value = expected[layer]
        value = value.mean(dim=(2, 3)) if value.ndim == 4 else value
        np.testing.assert_allclose(got[layer], value.reshape(len(paths), -1).numpy(), rtol=1e-4, atol=1e-5)
    assert (out / "activations/encoding/resnet/seed-2.h5").exists()


@pytest.mark.workflow
def test_the_reference_is_scored_and_tested_like_every_condition(pretrained_run):
    out = pretrained_run[0] / "results/pre"
    scores = pd.read_csv(out / "rsa/scores.tsv", sep="\t")
    resnet = scores[scores["condition"] == "resnet"].pivot_table(index=["layer", "roi", "subject"], columns="seed",
                                                                  values="rho")
    np.testing.assert_array_equal(resnet[1], resnet[2])  # one network, whatever the seed
    summary = pd.read_csv(out / "stats/summary.tsv", sep="\t").set_index(["roi", "condition"])
    assert summary.loc[("IT", "resnet"), "rho_std"] == 0 and summary.loc[("IT", "resnet"), "n_seeds"] == 2
    assert list(pd.unique(summary.reset_index()["condition"])) == ["untrained", "bp", "resnet"]
    pairwise = pd.read_csv(out / "stats/pairwise.tsv", sep="\t")
    assert ((pairwise["condition_a"] == "resnet") | (pairwise["condition_b"] == "resnet")).any()
    encoding = pd.read_csv(out / "encoding/scores.tsv", sep="\t")
    assert set(encoding["condition"]) == {"untrained", "bp", "resnet"}
    dynamics = pd.read_csv(out / "stats/filters.tsv", sep="\t")
    assert "resnet" not in set(dynamics["condition"])  # filters describe the study's CNN


@pytest.mark.workflow
def test_the_references_one_encoding_fit_is_what_each_seeds_own_fit_gives(pretrained_run, tmp_path):
    """Fitted once and relabelled: equal to fitting seed 2's activations on their own."""
    import h5py
    from lrrsa.encoding.fit import write_model_fits
    from lrrsa.encoding.tables import read_predictions

    workdir = pretrained_run[0]
    out = workdir / "results/pre"
    responses = {s: out / f"encoding/responses/{s}.h5" for s in TINY["brain_data"]["subjects"]}
    config = yaml.safe_load((out / "report/config.yaml").read_text())  # the run's validated settings
    encoding = config["encoding"]
    write_model_fits(out / "activations/encoding/resnet/seed-2.h5", out / "data/encoding_stimuli.tsv", responses,
                     tmp_path / "own.h5", tmp_path / "own.tsv", condition="resnet", seed=2, layers=list(LAYERS),
                     transform={"method": encoding["features"]["transform"],
                                "n_components": encoding["features"]["n_components"], "seed": config["stats"]["seed"]},
                     alphas=encoding["alphas"], inner_folds=encoding["inner_folds"])
    relabelled = pd.read_csv(out / "encoding/scores/resnet/seed-2.tsv", sep="\t")
    pd.testing.assert_frame_equal(relabelled, pd.read_csv(tmp_path / "own.tsv", sep="\t"))
    with h5py.File(out / "encoding/fits/resnet/seed-2.h5") as h5:
        assert h5.attrs["seed"] == 2
    for layer in LAYERS:
        np.testing.assert_array_equal(read_predictions(out / "encoding/fits/resnet/seed-2.h5", layer, "IT", "sub-01")[1],
                                      read_predictions(tmp_path / "own.h5", layer, "IT", "sub-01")[1])


@pytest.mark.workflow
def test_a_complete_run_with_a_reference_plans_nothing(pretrained_run):
    result = snakemake(pretrained_run[0], "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-2000:]


def test_a_reference_whose_layers_do_not_match_the_run_is_refused_by_key():
    from lrrsa.config import ConfigError, load_schema, validate_config

    schema = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
    bad = {**RESNET, "layers": {"conv1": "layer9", "fc2": "avgpool"}}
    with pytest.raises(ConfigError) as error:
        validate_config({**TINY, "conditions": {**TINY["conditions"], "resnet": bad}}, schema)
    message = str(error.value)
    assert "config key conditions.resnet.layers: maps ['conv1', 'fc2']; it must map every layer" in message
    assert "config key conditions.resnet.layers.conv1: resnet18 has no node 'layer9'" in message
    only_pretrained = {**TINY, "conditions": {"resnet": RESNET}}
    with pytest.raises(ConfigError, match="every condition is pretrained"):
        validate_config(only_pretrained, schema)
