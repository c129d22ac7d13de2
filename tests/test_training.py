"""The training loop and the backprop rule, checked against autograd and closed forms."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lrrsa.data.training_images import LabelledImages
from lrrsa.learning_rules import make_rule
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


def test_untrained_keeps_initial_weights(tmp_path):
    model, history = run(tmp_path, hyper={"rule": "untrained"})
    initial = build_model(SMALL, seed=0)
    for name, value in initial.state_dict().items():
        if not name.startswith("input_"):
            assert torch.equal(model.state_dict()[name], value), name
    assert list(history["epoch"]) == [0]
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
