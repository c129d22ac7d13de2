"""Checks shared by the learning rules: saved models, resumed runs, augmentation, the
paper config's rule settings, the registry. Predictive coding:
test_rule_predictive_coding.py; feedback alignment: test_rule_feedback_alignment.py;
STDP: test_rule_stdp.py;
the controls and the learning checks that
fail when a rule's update is off: test_rule_controls.py.

Tiny architectures and images keep the whole module to a few seconds.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lrrsa.data.training_images import LabelledImages
from lrrsa.learning_rules import RULES
from lrrsa.learning_rules.network import angle_degrees
from lrrsa.model import build_model, load_model, load_rule_state
from lrrsa.training import TrainingSettings, augment_batch, configure_torch, train
from rule_helpers import CPU, TINY


OPT = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine"}
READOUT = {"readout_lr": 0.01, "readout_weight_decay": 0.0, "readout_schedule": "cosine"}
FA = {"rule": "feedback_alignment", "feedback_init": "he_normal", **OPT, "optimizer": "sgd", "lr": 0.05}
PC_SUP = {"rule": "predictive_coding", "variant": "supervised", "inference_steps": 10, "inference_rate": 0.02,
          "inference": "standard", "output_energy": "cross_entropy", "bottom_up_weight": 1.0, **OPT, **READOUT}
PC_UNSUP = {**PC_SUP, "variant": "unsupervised_conv"}
STDP = {"rule": "stdp", "coding": "poisson", "time_steps": 10, "a_plus": 0.003, "a_minus": 0.003,
        "tau_plus": 20.0, "tau_minus": 20.0, "lr": 0.05, "schedule": "cosine", "firing_fraction": 0.1,
        "homeostasis": 0.1, "winners_per_image": None, "layer_schedule": "sequential", **READOUT}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(1)  # tiny tensors: one thread is faster and immune to a busy machine


# --------------------------------------------------------------------------
# saved models (feedback alignment: tests/test_rule_feedback_alignment.py)
# --------------------------------------------------------------------------

def test_load_model_reads_files_saved_without_rule_state(tmp_path):
    model = build_model(TINY, seed=1)
    torch.save({"architecture": {**model.arch.__dict__, "widths": list(model.arch.widths)},
                "state_dict": model.state_dict(), "metadata": {"seed": 1}}, tmp_path / "old.pt")
    loaded, meta = load_model(tmp_path / "old.pt")
    assert meta == {"seed": 1} and torch.equal(loaded.fc1.weight, model.fc1.weight)
    assert load_rule_state(tmp_path / "old.pt") == {}


# --------------------------------------------------------------------------
# every rule
# --------------------------------------------------------------------------

def coloured_squares(n_per_class: int, seed: int) -> LabelledImages:
    """4 classes: a bright square in one of four quadrants on noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(4):
        for _ in range(n_per_class):
            img = rng.integers(0, 120, size=(12, 12, 3))
            r, c = divmod(label, 2)
            img[r * 6 + 1 : r * 6 + 5, c * 6 + 1 : c * 6 + 5] += 120
            images.append(img)
            labels.append(label)
    return LabelledImages(np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64), ("a", "b", "c", "d"))


@pytest.mark.parametrize("hyper", [FA, PC_UNSUP, STDP], ids=["fa", "pc_unsupervised_conv", "stdp"])
def test_a_killed_run_resumes_to_the_same_weights(hyper, tmp_path, monkeypatch):
    """Rule state (optimisers, FA's B, PC's decoders, STDP's norms) survives a checkpoint."""
    data, held_out = coloured_squares(4, 0), coloured_squares(2, 1)
    settings = TrainingSettings(epochs=3, batch_size=8, eval_batch_size=50, seed=1)
    full = build_model(TINY, seed=1)
    expected = train(full, hyper, data, held_out, settings, CPU, tmp_path / "full.pt")

    cls = RULES[hyper["rule"]]
    original, calls = cls.step, {"n": 0}

    def dying_step(self, images, labels):
        calls["n"] += 1
        if calls["n"] == 4:  # in epoch 2 (2 steps per epoch)
            raise KeyboardInterrupt("killed")
        return original(self, images, labels)

    monkeypatch.setattr(cls, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(build_model(TINY, seed=1), hyper, data, held_out, settings, CPU, tmp_path / "resume.pt")
    assert torch.load(tmp_path / "resume.pt", weights_only=False)["epoch"] == 1
    monkeypatch.setattr(cls, "step", original)
    resumed = build_model(TINY, seed=1)
    history = train(resumed, hyper, data, held_out, settings, CPU, tmp_path / "resume.pt")
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    columns = [c for c in expected.columns if c != "seconds"]
    assert expected[columns].equals(history[columns])


def test_augmentation_is_a_seeded_crop_of_the_padded_image_and_a_flip(tmp_path):
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment_batch(images, torch.Generator().manual_seed(1), padding=2)
    again = augment_batch(images, torch.Generator().manual_seed(1), padding=2)
    assert torch.equal(out, again) and out.shape == images.shape
    padded = F.pad(images, (2, 2, 2, 2))
    for image, result in zip(padded, out):
        crops = [image[:, r : r + 8, c : c + 8] for r in range(5) for c in range(5)]
        assert any(torch.equal(result, crop) or torch.equal(result, crop.flip(-1)) for crop in crops)
    model, data = build_model(TINY, seed=0), coloured_squares(4, 0)
    settings = TrainingSettings(epochs=1, batch_size=8, eval_batch_size=50, seed=0, augment=True)
    history = train(model, {"rule": "backprop", **OPT}, data, data, settings, CPU, tmp_path / "ckpt.pt")
    assert history["train_loss"].notna().iloc[1]


def test_plain_average_pool_equals_the_adaptive_pool_the_cuda_path_replaces():
    """ConvNet.pool computes the adaptive pool as a plain one where a CUDA backward may
    follow (the adaptive pool's is nondeterministic there): the two are the same map."""
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    grad = torch.randn(2, 3, 4, 4)
    plain = F.avg_pool2d(x, 2)
    adaptive = F.adaptive_avg_pool2d(x, 4)
    torch.testing.assert_close(plain, adaptive)
    torch.testing.assert_close(torch.autograd.grad(plain, x, grad)[0], torch.autograd.grad(adaptive, x, grad)[0])


def test_paper_config_has_the_papers_rule_settings():
    import yaml

    from conftest import REPO
    from lrrsa.config import load_schema, validate_config

    config = validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()),
                             load_schema(REPO / "workflow/schemas/config.schema.yaml"))
    c = config["conditions"]
    assert set(c) == {"untrained", "readout_only", "bp", "fa", "pc", "pc_supervised", "stdp"}
    assert (c["untrained"]["batchnorm"], c["readout_only"]["readout_lr"]) == ("calibrated", 1e-3)
    assert (c["fa"]["rule"], c["fa"]["optimizer"], c["fa"]["lr"], c["fa"]["momentum"], c["fa"]["weight_decay"],
            c["fa"]["schedule"]) == ("feedback_alignment", "sgd", 5e-4, 0.9, 1e-4, "cosine")
    assert (c["pc"]["rule"], c["pc"]["variant"], c["pc"]["inference_steps"], c["pc"]["inference_rate"]) == (
        "predictive_coding", "unsupervised_conv", 10, 0.02)
    # pc_supervised runs its inference to equilibrium: test_rule_predictive_coding.py.
    # STDP's settings: test_rule_stdp.py (the study's lr differs from the paper's on purpose).
    assert config["training"]["augment"] is False


def test_registry_has_the_rules():
    assert {"untrained", "readout_only", "backprop", "feedback_alignment", "predictive_coding", "stdp"} <= set(RULES)
    assert angle_degrees(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
