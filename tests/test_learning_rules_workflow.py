"""The new learning rules through Snakemake: config -> schema defaults -> train_model -> model.pt.

test_workflow.py runs the whole DAG with two conditions; this runs only what the
rules change (training, the history's diagnostics, the saved model and its rule
state) for the read-out-only control, FA, both PC variants and STDP, on the same tiny
demo (one seed).
"""

import copy

import pandas as pd
import pytest
import torch

from lrrsa.model import load_model, load_rule_state
from test_workflow import LAYERS, TINY, snakemake, write_config

pytestmark = pytest.mark.workflow

CONDITIONS = {
    "readout_only": {"rule": "readout_only"},
    "fa": {"rule": "feedback_alignment", "lr": 0.005},
    "pc": {"rule": "predictive_coding", "variant": "unsupervised_conv", "inference_steps": 3},
    "pc_supervised": {"rule": "predictive_coding", "variant": "supervised", "inference_steps": 3},
    "stdp": {"rule": "stdp", "lr": 0.01},
}


def test_new_rules_train_save_and_extract_through_snakemake(tmp_path, monkeypatch):
    # Idle OpenMP threads sleep rather than spin: on a busy CI machine spinning makes the
    # many small kernels of PC and STDP several times slower.
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    config = copy.deepcopy(TINY)
    config["conditions"] = {"untrained": {"rule": "untrained"}, **CONDITIONS}  # the stats reference
    config["seeds"] = [1]
    write_config(tmp_path, config)
    targets = [f"results/tiny/models/{c}/seed-1/model.pt" for c in CONDITIONS]
    result = snakemake(tmp_path, *targets)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]

    models = tmp_path / "results/tiny/models"
    expected_state = {"readout_only": None, "fa": "feedback.", "pc": "decoders.", "pc_supervised": None, "stdp": None}
    for condition, prefix in expected_state.items():
        history = pd.read_csv(models / condition / "seed-1/history.tsv", sep="\t")
        assert list(history["epoch"]) == [0, 1, 2]
        assert history["test_acc"].notna().all()
        uniform = [f"drift_{layer}" for layer in LAYERS] + [f"filter_similarity_{layer}" for layer in LAYERS[:-2]]
        # epoch 0: drift 0 (up to rounding where the rule rescales its filters at the start, as STDP does)
        assert history[uniform].notna().all().all() and (history.loc[0, uniform[:len(LAYERS)]].abs() < 1e-9).all()
        model, meta = load_model(models / condition / "seed-1/model.pt")
        assert meta["rule"] == CONDITIONS[condition]["rule"]
        state = load_rule_state(models / condition / "seed-1/model.pt")
        if prefix is None:
            assert state == {}
        else:
            assert state and all(k.startswith(prefix) for k in state)
        features = model.features(torch.rand(2, 3, 40, 40))
        assert features["conv1"].shape == (2, TINY["model"]["widths"][0], 40, 40)
        assert all(torch.isfinite(f).all() for f in features.values())
    fa = pd.read_csv(models / "fa/seed-1/history.tsv", sep="\t")
    assert {"angle_WB_fc1", "cos_bp_conv1", "norm_ratio_bp_conv1"} <= set(fa.columns)
    readout_only = pd.read_csv(models / "readout_only/seed-1/history.tsv", sep="\t")
    assert (readout_only[["drift_conv1", "drift_conv2", "drift_conv3"]] == 0).all().all()
    assert (readout_only[["drift_fc1", "drift_fc2"]].iloc[1:] > 0).all().all()
    pc = pd.read_csv(models / "pc/seed-1/history.tsv", sep="\t")
    assert {"energy_before", "energy_after"} <= set(pc.columns)
    stdp = pd.read_csv(models / "stdp/seed-1/history.tsv", sep="\t")
    assert {"weight_change_conv1", "won_maps_conv3", "threshold_spread_conv3"} <= set(stdp.columns)
