"""The training loop and the backprop rule, checked against autograd and closed forms."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lrrsa.data.training_images import LabelledImages
from lrrsa.learning_rules import make_rule
from lrrsa.learning_rules.network import filter_similarity, unit_drift
from lrrsa.model import Architecture, build_model
from lrrsa.training import TrainingSettings, channel_statistics, configure_torch, train

SMALL = Architecture(widths=(8, 16), pool_size=2, fc_width=32, n_classes=4)
CPU = torch.device("cpu")


def coloured_squares(n_per_class: int, seed: int) -> LabelledImages:
    """4 classes: a bright square in one of four quadrants on noise (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(4):
        for _ in range(n_per_class):
            img = rng.integers(0, 120, size=(16, 16, 3))
            r, c = divmod(label, 2)
            img[r * 8 + 1 : r * 8 + 7, c * 8 + 1 : c * 8 + 7] += 120
            images.append(img)
            labels.append(label)
    return LabelledImages(np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64), ("a", "b", "c", "d"))


BP = {"rule": "backprop", "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine"}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(2)


def run(tmp_path, hyper=BP, epochs=3, seed=0, name="ckpt.pt"):
    model = build_model(SMALL, seed)
    history = train(model, hyper, coloured_squares(24, 0), coloured_squares(10, 1),
                    TrainingSettings(epochs=epochs, batch_size=16, eval_batch_size=50, seed=seed), CPU, tmp_path / name)
    return model, history


def test_sgd_step_is_the_autograd_gradient_of_cross_entropy():
    """One SGD step (no momentum, no decay) moves every parameter by -lr * dCE/dparam."""
    model = build_model(SMALL, seed=0).train()
    data = coloured_squares(4, 0)
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.labels)
    reference = build_model(SMALL, seed=0).train()
    loss = F.cross_entropy(reference(x), y)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    before = [p.detach().clone() for p in model.parameters()]
    rule = make_rule(model, {**BP, "optimizer": "sgd", "lr": 0.1, "momentum": 0.0}, epochs=1, steps_per_epoch=1)
    result = rule.step(x, y)
    assert math.isclose(result.loss_sum / len(y), loss.item(), rel_tol=1e-6)
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.1 * g)


def test_backprop_lowers_held_out_loss(tmp_path):
    _, history = run(tmp_path, epochs=4)
    assert list(history["epoch"]) == [0, 1, 2, 3, 4]
    assert history["test_loss"].iloc[-1] < 0.5 * history["test_loss"].iloc[0]
    assert history["test_acc"].iloc[-1] > 0.8  # chance is 0.25
    assert np.isnan(history["train_loss"].iloc[0]) and history["train_loss"].iloc[1:].notna().all()


def test_cosine_schedule_matches_closed_form(tmp_path):
    _, history = run(tmp_path, epochs=4)
    expected = [0.01 * (1 + math.cos(math.pi * (e - 1) / 4)) / 2 for e in range(1, 5)]
    np.testing.assert_allclose(history["lr"].iloc[1:], expected, rtol=1e-9)


@pytest.mark.parametrize("batchnorm", ["calibrated", "identity"])
def test_untrained_keeps_initial_weights(tmp_path, batchnorm):
    model, history = run(tmp_path, hyper={"rule": "untrained", "batchnorm": batchnorm})
    initial = build_model(SMALL, seed=0)
    for name, value in initial.named_parameters():
        assert torch.equal(model.state_dict()[name], value), name
    calibrated = [not torch.equal(b.bn.running_mean, torch.zeros_like(b.bn.running_mean)) for b in model.blocks]
    assert calibrated == [batchnorm == "calibrated"] * len(model.blocks)  # see test_rule_controls.py
    assert list(history["epoch"]) == [0]
    assert (history.filter(like="drift_") == 0).all().all()
    # The model's input normalisation is the training images' channel statistics.
    mean, std = channel_statistics(coloured_squares(24, 0).images)
    torch.testing.assert_close(model.input_mean, torch.tensor(mean, dtype=torch.float32))


def test_same_seed_same_result(tmp_path):
    a, ha = run(tmp_path, name="a.pt")
    b, hb = run(tmp_path, name="b.pt")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"))
    c, _ = run(tmp_path, seed=1, name="c.pt")
    assert not torch.equal(a.fc2.weight, c.fc2.weight)


def test_killed_run_resumes_from_checkpoint_to_the_same_weights(tmp_path, monkeypatch):
    uninterrupted, full_history = run(tmp_path, epochs=3, name="full.pt")

    from lrrsa.learning_rules.backprop import Backprop

    original_step, calls = Backprop.step, {"n": 0}

    def dying_step(self, images, labels):
        calls["n"] += 1
        if calls["n"] == 12:  # epoch 2 of 3 (6 steps per epoch)
            raise KeyboardInterrupt("killed")
        return original_step(self, images, labels)

    monkeypatch.setattr(Backprop, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, epochs=3, name="resume.pt")
    assert torch.load(tmp_path / "resume.pt", weights_only=False)["epoch"] == 1

    monkeypatch.setattr(Backprop, "step", original_step)
    calls["n"] = 0
    resumed, history = run(tmp_path, epochs=3, name="resume.pt")
    for (name, x), y in zip(uninterrupted.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(x, y), name
    pd.testing.assert_frame_equal(full_history.drop(columns="seconds"), history.drop(columns="seconds"))


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    run(tmp_path, epochs=2, name="ckpt.pt")
    _, history = run(tmp_path, hyper={**BP, "lr": 0.02}, epochs=2, name="ckpt.pt")
    assert list(history["epoch"]) == [0, 1, 2]  # trained from scratch, not from epoch 2
    assert history["lr"].iloc[1] == 0.02


# ---- the diagnostics logged for every rule ---------------------------------------------

def test_unit_drift_has_its_closed_form():
    """1 - mean over units of cos(w_u, w0_u): per unit, a rescaled copy gives 0, an
    orthogonal vector 1, the reversed vector 2, a rotation by theta 1 - cos(theta)."""
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(4, 2, 3, 3, generator=g)
    basis = torch.linalg.qr(torch.randn(18, 18, generator=g, dtype=torch.float64))[0]
    units = []
    for u, theta in enumerate([0.0, math.pi / 2, math.pi, 0.7]):
        e1, e2 = basis[:, 2 * u], basis[:, 2 * u + 1]  # orthonormal pairs
        units.append((e1, math.cos(theta) * e1 + math.sin(theta) * e2))
    w0 = torch.stack([a for a, _ in units]).reshape(4, 2, 3, 3)
    w = torch.stack([b * (u + 1.5) for u, (_, b) in enumerate(units)]).reshape(4, 2, 3, 3)  # any scale
    expected = 1 - np.mean([1.0, 0.0, -1.0, math.cos(0.7)])
    assert unit_drift(w, w0) == pytest.approx(expected, abs=1e-12)
    assert unit_drift(w0.float(), w0.float()) == 0.0  # bit-identical: exactly 0
    with pytest.raises(ValueError, match="shape"):
        unit_drift(w, w0[:2])


def test_filter_similarity_is_the_mean_pairwise_cosine():
    from scipy.spatial.distance import pdist

    w = torch.randn(7, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    expected = 1 - pdist(w.flatten(1).double().numpy(), "cosine").mean()
    assert filter_similarity(w) == pytest.approx(expected, abs=1e-12)
    assert filter_similarity(torch.ones(5, 2) * torch.arange(1, 6)[:, None]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two filters"):
        filter_similarity(torch.ones(1, 4))


def test_history_has_drift_and_filter_similarity_for_every_rule(tmp_path):
    model, history = run(tmp_path, epochs=2)
    layers = ["conv1", "conv2", "fc1", "fc2"]
    initial = build_model(SMALL, 0)
    first = history.iloc[0]
    for name in layers:
        assert first[f"drift_{name}"] == 0.0
        assert (history[f"drift_{name}"].iloc[1:] > 0).all(), name
    for i, name in enumerate(["conv1", "conv2"]):
        assert first[f"filter_similarity_{name}"] == pytest.approx(filter_similarity(initial.blocks[i].conv.weight))
        assert history[f"filter_similarity_{name}"].iloc[-1] == pytest.approx(
            filter_similarity(model.blocks[i].conv.weight))
    assert history["drift_conv1"].iloc[-1] == pytest.approx(
        unit_drift(model.blocks[0].conv.weight, initial.blocks[0].conv.weight))


def test_a_rule_may_not_overwrite_the_loops_columns(tmp_path, monkeypatch):
    from lrrsa.learning_rules.backprop import Backprop

    monkeypatch.setattr(Backprop, "end_epoch", lambda self, epoch: {"drift_conv1": 0.5})
    with pytest.raises(ValueError, match=r"\['drift_conv1'\] clash"):
        run(tmp_path, epochs=1)
