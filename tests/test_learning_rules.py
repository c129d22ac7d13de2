"""Feedback alignment, predictive coding and STDP, checked against oracles:
autograd (FA with B = W, PC in its exact limit), the STDP window's closed form on
constructed spike trains, gradient descent's monotone energy, and invariances
(conv weights that cannot depend on labels, feedback kernels that never change).

Tiny architectures and images keep the whole module to a few seconds.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lrrsa.data.training_images import LabelledImages, read_image_folder
from lrrsa.learning_rules import RULES, make_rule
from lrrsa.learning_rules.feedback_alignment import FAConv2d, FALinear, draw_feedback, feedback_layers
from lrrsa.learning_rules.network import angle_degrees, sweep
from lrrsa.learning_rules.predictive_coding import supervised_energy, relax, unsupervised_energy
from lrrsa.learning_rules.stdp import Spikes, Window, encode, renormalise_, stdp_update, winners
from lrrsa.model import Architecture, build_model, load_model, load_rule_state, save_model
from lrrsa.training import (
    TrainingSettings, augment_batch, channel_statistics, configure_torch, epoch_generator, evaluate, to_tensor,
    train,
)

TINY = Architecture(widths=(4, 8), pool_size=2, fc_width=16, n_classes=4)
CPU = torch.device("cpu")

OPT = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine"}
READOUT = {"readout_lr": 0.01, "readout_weight_decay": 0.0, "readout_schedule": "cosine"}
FA = {"rule": "feedback_alignment", "feedback_init": "he_normal", **OPT, "optimizer": "sgd", "lr": 0.05}
PC_SUP = {"rule": "predictive_coding", "variant": "supervised", "inference_steps": 10, "inference_rate": 0.02,
          "inference": "standard", "output_energy": "cross_entropy", "bottom_up_weight": 1.0, **OPT, **READOUT}
PC_UNSUP = {**PC_SUP, "variant": "unsupervised_conv"}
STDP = {"rule": "stdp", "coding": "poisson", "time_steps": 10, "a_plus": 0.003, "a_minus": 0.003,
        "tau_plus": 20.0, "tau_minus": 20.0, "lr": 0.05, "schedule": "cosine", "firing_fraction": 0.1,
        "layer_schedule": "sequential", **READOUT}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(1)  # tiny tensors: one thread is faster and immune to a busy machine


def batch(n=16, size=12, seed=0, classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


def cosine(a, b):
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def autograd_gradients(model, x, y):
    model.train()
    loss = F.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, list(model.parameters()))


# --------------------------------------------------------------------------
# feedback alignment
# --------------------------------------------------------------------------

def test_fa_with_feedback_equal_to_the_weights_is_backprop():
    x, y = batch()
    model = build_model(TINY, seed=0)
    expected = autograd_gradients(build_model(TINY, seed=0), x, y)
    rule = make_rule(model, FA, epochs=1, steps_per_epoch=1)
    exact = {name: w.detach().clone() for name, w in feedback_layers(model).items()}
    _, grads = rule.gradients(x, y, exact)
    for (name, _), g, e in zip(model.named_parameters(), grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-9, msg=name)
    # With its own random B the lower layers' gradients differ; fc2's own is still exact.
    _, fa = rule.gradients(x, y)
    names = [n for n, _ in model.named_parameters()]
    torch.testing.assert_close(fa[names.index("fc2.weight")], expected[names.index("fc2.weight")])
    assert cosine(fa[names.index("blocks.0.conv.weight")], expected[names.index("blocks.0.conv.weight")]) < 0.99


def test_fa_layers_send_the_error_through_b_and_take_the_true_local_weight_gradient():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, 7, 7, generator=g, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, requires_grad=True)
    grad_out = torch.randn(5, 4, 7, 7, generator=g)
    oracle_w, oracle_x = torch.autograd.grad(F.conv2d(x, w, padding=1), (w, x), grad_out)
    for seed in (2, 3):
        b = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(seed))
        gx, gw = torch.autograd.grad(FAConv2d.apply(x, w, b, 1), (x, w), grad_out)
        torch.testing.assert_close(gw, oracle_w)  # does not depend on B
        torch.testing.assert_close(gx, torch.autograd.grad(F.conv2d(x, b, padding=1), x, grad_out)[0])
        assert cosine(gx, oracle_x) < 0.9
    xl = torch.randn(6, 5, generator=g, requires_grad=True)
    wl = torch.randn(3, 5, generator=g, requires_grad=True)
    bias = torch.randn(3, generator=g, requires_grad=True)
    bl = torch.randn(3, 5, generator=g)
    go = torch.randn(6, 3, generator=g)
    gx, gw, gb = torch.autograd.grad(FALinear.apply(xl, wl, bias, bl), (xl, wl, bias), go)
    torch.testing.assert_close(gx, go @ bl)
    torch.testing.assert_close(gw, go.t() @ xl.detach())
    torch.testing.assert_close(gb, go.sum(0))


def test_fa_feedback_is_fixed_seeded_and_saved_with_the_model(tmp_path):
    data = coloured_squares(6, 0)
    settings = TrainingSettings(epochs=3, batch_size=8, eval_batch_size=50, seed=5)
    expected = draw_feedback(build_model(TINY, seed=5), "he_normal", epoch_generator(5, 0, stream=2))
    model, state = build_model(TINY, seed=5), {}
    history = train(model, FA, data, coloured_squares(3, 1), settings, CPU, tmp_path / "ck.pt", state)
    assert set(state) == {"feedback.conv2", "feedback.fc1", "feedback.fc2"}
    for name, b in expected.items():
        assert torch.equal(state[f"feedback.{name}"], b), name  # bit-identical after training
    assert not torch.equal(model.fc2.weight, build_model(TINY, seed=5).fc2.weight)  # W did learn
    other = draw_feedback(build_model(TINY, seed=6), "he_normal", epoch_generator(6, 0, stream=2))
    assert not torch.equal(other["fc1"], expected["fc1"])
    save_model(tmp_path / "m.pt", model, rule_state=state, condition="fa", seed=5)
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta == {"condition": "fa", "seed": 5}
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    saved = load_rule_state(tmp_path / "m.pt")
    assert all(torch.equal(saved[k], v) for k, v in state.items())
    # Diagnostics: fc2's gradient is backprop's own; the angles are angles.
    assert np.allclose(history["angle_grad_fc2"].iloc[1:], 0, atol=1e-3)
    angles = history.filter(like="angle_").iloc[1:].to_numpy()
    assert np.isfinite(angles).all() and (angles >= 0).all() and (angles <= 180).all()


def test_load_model_reads_files_saved_without_rule_state(tmp_path):
    model = build_model(TINY, seed=1)
    torch.save({"architecture": {**model.arch.__dict__, "widths": list(model.arch.widths)},
                "state_dict": model.state_dict(), "metadata": {"seed": 1}}, tmp_path / "old.pt")
    loaded, meta = load_model(tmp_path / "old.pt")
    assert meta == {"seed": 1} and torch.equal(loaded.fc1.weight, model.fc1.weight)
    assert load_rule_state(tmp_path / "old.pt") == {}


# --------------------------------------------------------------------------
# predictive coding
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["supervised", "unsupervised_conv"])
def test_pc_inference_never_increases_the_energy_at_a_small_rate(variant):
    x, y = batch(seed=2)
    model = build_model(TINY, seed=2).train()
    rule = make_rule(model, {**PC_SUP, "variant": variant}, epochs=1, steps_per_epoch=1)
    values = sweep(model, x)
    if variant == "supervised":
        def energy_of(v):
            return supervised_energy(model, v, y, "cross_entropy")
        free = values[1:-1]
    else:
        def energy_of(v):
            return unsupervised_energy(model, rule.decoders, v, 1.0)
        free = values[1 : len(model.blocks) + 1]
    _, energies = relax(energy_of, values[0], free, steps=30, rate=0.02)
    assert len(energies) == 31
    assert all(b <= a * (1 + 1e-6) for a, b in zip(energies, energies[1:])), energies
    assert energies[-1] < energies[0]


def test_pc_supervised_in_its_exact_limit_computes_backprop_gradients():
    """Fixed-prediction inference at unit rate for as many steps as hidden layers."""
    x, y = batch(seed=3)
    expected = autograd_gradients(build_model(TINY, seed=3), x, y)
    model = build_model(TINY, seed=3).train()
    hyper = {**PC_SUP, "inference": "fixed_prediction", "inference_rate": 1.0, "inference_steps": 3}
    rule = make_rule(model, hyper, epochs=1, steps_per_epoch=1)
    _, grads, energies = rule.supervised_gradients(x, y)
    for (name, _), g, e in zip(model.named_parameters(), grads, expected):
        assert cosine(g, e) > 0.99, name
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6, msg=name)
    assert len(energies) == 4 and energies[0] == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-5)
    # Fewer steps than layers: conv1's error has not arrived yet.
    rule.steps = 2
    _, short, _ = rule.supervised_gradients(x, y)
    assert torch.count_nonzero(short[0]) == 0


def test_pc_supervised_standard_inference_at_a_small_rate_points_along_backprop():
    """To first order in the rate, each layer's PC update is a positive multiple of its
    backprop gradient (the equilibrium errors are the back-propagated errors)."""
    x, y = batch(seed=4)
    expected = autograd_gradients(build_model(TINY, seed=4), x, y)
    model = build_model(TINY, seed=4).train()
    rule = make_rule(model, {**PC_SUP, "inference_rate": 0.01, "inference_steps": 10}, epochs=1, steps_per_epoch=1)
    _, grads, _ = rule.supervised_gradients(x, y)
    for (name, _), g, e in zip(model.named_parameters(), grads, expected):
        if name.endswith("weight") and ("conv" in name or "fc" in name):
            assert cosine(g, e) > 0.95, (name, cosine(g, e))


# --------------------------------------------------------------------------
# rules whose conv layers learn without labels
# --------------------------------------------------------------------------

@pytest.mark.parametrize("hyper", [PC_UNSUP, STDP], ids=["pc_unsupervised_conv", "stdp"])
def test_no_classification_gradient_reaches_the_conv_layers(hyper):
    x, y = batch(n=24, seed=5)
    states = []
    for labels in (y, (y + 1) % 4):
        model = build_model(TINY, seed=5).train()
        rule = make_rule(model, hyper, epochs=2, steps_per_epoch=2)
        rule.start_epoch(1, torch.Generator().manual_seed(9))
        for _ in range(2):
            rule.step(x, labels)
        assert all(p.grad is None for p in model.blocks.parameters())
        states.append(model.state_dict())
    changed = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert changed and all(k.startswith(("fc1.", "fc2.")) for k in changed), changed
    initial = build_model(TINY, seed=5).state_dict()
    assert not torch.equal(states[0]["blocks.0.conv.weight"], initial["blocks.0.conv.weight"])  # conv1 learned
    if hyper["rule"] == "stdp":  # BatchNorm's affine parameters are never trained
        for k in ("blocks.0.bn.weight", "blocks.0.bn.bias", "blocks.1.bn.weight", "blocks.1.bn.bias"):
            assert torch.equal(states[0][k], initial[k])


def test_pc_unsupervised_decoders_learn_and_are_saved():
    x, y = batch(seed=6)
    model = build_model(TINY, seed=6).train()
    rule = make_rule(model, PC_UNSUP, epochs=1, steps_per_epoch=1)
    before = {k: v.clone() for k, v in rule.model_state().items()}
    assert set(before) == {"decoders.0.conv.weight", "decoders.0.conv.bias",
                           "decoders.1.conv.weight", "decoders.1.conv.bias"}
    assert before["decoders.1.conv.weight"].shape == (4, 8, 3, 3)  # predicts conv1's 4 maps from conv2's 8
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    rule.step(x, y)
    after = rule.model_state()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    diagnostics = rule.end_epoch(1)
    assert diagnostics["energy_after"] < diagnostics["energy_before"]


# --------------------------------------------------------------------------
# STDP
# --------------------------------------------------------------------------

def spikes_at(times, signs, steps=10):
    """A (1, C, 1, 1) input whose channel c fires once at times[c] (None: never)."""
    first = torch.tensor([steps if t is None else t for t in times]).reshape(1, -1, 1, 1)
    frames = torch.arange(steps)[:, None, None, None, None] == first
    return Spikes(first=first, sign=torch.tensor(signs, dtype=torch.float32).reshape(1, -1, 1, 1),
                  frames=frames, steps=steps)


def test_stdp_two_neurons_window_sign_and_size():
    window = Window(a_plus=0.003, a_minus=0.002, tau_plus=20.0, tau_minus=10.0)
    weight = torch.ones(1, 1, 1, 1)
    # Pre fires at 2, drives the post at once (threshold 1): pre-before-post -> potentiation.
    change, _ = stdp_update(weight, spikes_at([2], [1.0]), 0, window, threshold=1.0)
    assert change.item() == pytest.approx(0.003)
    # Pre at 1 and 3, both needed (threshold 2): post at 3; a third pre at 7 comes after the post.
    weight = torch.ones(1, 3, 1, 1)
    change, counts = stdp_update(weight, spikes_at([1, 3, 7], [1.0, 1.0, 1.0]), 0, window, threshold=2.0)
    expected = [0.003 * math.exp(-2 / 20), 0.003, -0.002 * math.exp(-4 / 10)]
    np.testing.assert_allclose(change.flatten().numpy(), expected, rtol=1e-6)
    assert counts.tolist() == [1]
    # An OFF input (negative activity) that drives the post through a negative weight: its
    # spike came first, so its synapse strengthens, i.e. the weight grows more negative.
    # A pre spike after the post depresses; an input that never spikes is not paired.
    weight = torch.tensor([-1.0, 1.0, 1.0]).reshape(1, 3, 1, 1)
    change, _ = stdp_update(weight, spikes_at([0, 5, None], [-1.0, 1.0, 1.0]), 0, window, threshold=1.0)
    np.testing.assert_allclose(change.flatten().numpy(), [-0.003, -0.002 * math.exp(-5 / 10), 0.0], rtol=1e-6)


def test_stdp_competition_one_winner_per_position_and_per_map():
    steps = 10
    first = torch.full((1, 2, 1, 3), steps)
    first[0, 0, 0, :] = torch.tensor([4, 2, 6])
    first[0, 1, 0, :] = torch.tensor([3, 2, steps])
    final = torch.tensor([[[[1.0, 5.0, 1.0]], [[1.0, 1.0, 1.0]]]])
    index, valid = winners(first, final, steps)
    # position 0: map 1 (earlier); position 1: tie at 2 -> map 0 (larger potential); position 2: map 0 alone.
    # map 0 wins at 1 and 2 -> earliest is position 1; map 1 wins only at 0.
    assert index.tolist() == [[1, 0]] and valid.tolist() == [[True, True]]


def test_stdp_encodings():
    activity = torch.tensor([0.0, 0.25, 0.5, -1.0]).reshape(1, 4, 1, 1).expand(4000, 4, 1, 1).contiguous()
    poisson = encode(activity, 10, "poisson", torch.Generator().manual_seed(0))
    rates = poisson.frames.float().mean((0, 1))[:, 0, 0]
    np.testing.assert_allclose(rates.numpy(), [0.0, 0.25, 0.5, 1.0], atol=0.01)
    assert poisson.sign[0].flatten().tolist() == [0.0, 1.0, 1.0, -1.0]
    latency = encode(activity[:1], 10, "latency", None)
    assert latency.first.flatten().tolist() == [10, 7, 5, 0]  # stronger fires earlier; zero never
    assert latency.frames.sum(0).flatten().tolist() == [0, 1, 1, 1]


def test_stdp_is_hebbian_and_keeps_weights_bounded():
    """Repeated presentations of one pattern turn a filter towards it; the filter's
    norm stays where it started however many updates it takes."""
    g = torch.Generator().manual_seed(0)
    pattern = torch.rand(2, 3, 3, generator=g) * (torch.rand(2, 3, 3, generator=g) > 0.4)
    weight = torch.randn(1, 2, 3, 3, generator=g)
    norm = float(weight.norm())
    start = cosine(weight, pattern)
    for _ in range(300):
        spikes = encode(pattern[None].expand(8, -1, -1, -1), 10, "poisson", g)
        change, _ = stdp_update(weight, spikes, 0, Window(), firing_fraction=0.5)
        weight += 2.0 * change
        renormalise_(weight, norm)
    assert torch.isfinite(weight).all() and float(weight.norm()) == pytest.approx(norm, rel=1e-5)
    assert cosine(weight, pattern) > max(0.8, start + 0.3)


def test_stdp_rule_keeps_every_filter_bounded_and_alive_over_many_updates():
    model = build_model(TINY, seed=7).train()
    rule = make_rule(model, {**STDP, "lr": 5.0, "schedule": "constant", "layer_schedule": "simultaneous"},
                     epochs=1, steps_per_epoch=100)
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    for i in range(100):
        rule.step(*batch(n=8, seed=100 + i))
    diagnostics = rule.end_epoch(1)
    for block, norm in zip(model.blocks, rule.norms):
        norms = block.conv.weight.flatten(1).norm(dim=1)
        assert torch.isfinite(block.conv.weight).all()
        torch.testing.assert_close(norms, torch.full_like(norms, norm))
    assert diagnostics["weight_change_conv1"] > 0.2 and diagnostics["drift_conv1"] > 0.2  # they did move
    assert diagnostics["silent_maps_conv1"] < 1 and diagnostics["silent_maps_conv2"] < 1


def test_stdp_layer_schedule():
    model = build_model(TINY, seed=0)
    rule = make_rule(model, STDP, epochs=4, steps_per_epoch=5)
    plastic = [[i for i, r in enumerate(rule.learning_rates(s)) if r > 0] for s in range(20)]
    assert plastic[:10] == [[0]] * 10 and plastic[10:] == [[1]] * 10  # conv1, then conv2
    assert rule.learning_rates(0)[0] == STDP["lr"] and rule.learning_rates(9)[0] < 0.05 * STDP["lr"]
    simultaneous = make_rule(model, {**STDP, "layer_schedule": "simultaneous"}, epochs=4, steps_per_epoch=5)
    assert all(r > 0 for r in simultaneous.learning_rates(7))


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


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from lrrsa.data.demo import write_training_zip

    path = tmp_path_factory.mktemp("demo") / "train.zip"
    write_training_zip(path, n_train_per_class=8, n_test_per_class=2, seed=0, image_size=16)
    return read_image_folder(path, "train"), read_image_folder(path, "test")


@pytest.mark.parametrize("hyper", [
    {"rule": "backprop", **OPT}, FA, PC_SUP, PC_UNSUP, STDP,
    {**PC_SUP, "inference": "fixed_prediction", "output_energy": "squared_error"},
    {**STDP, "coding": "latency", "layer_schedule": "simultaneous"},
], ids=["backprop", "fa", "pc_supervised", "pc_unsupervised_conv", "stdp", "pc_fixed_prediction_mse",
        "stdp_latency_simultaneous"])
def test_a_short_run_on_the_demo_data_lowers_the_training_loss(hyper, demo_data, tmp_path):
    train_data, test_data = demo_data
    arch = Architecture(widths=(8, 16), pool_size=2, fc_width=32, n_classes=len(train_data.classes))
    model = build_model(arch, seed=0)
    settings = TrainingSettings(epochs=4, batch_size=16, eval_batch_size=100, seed=0)
    x, y = to_tensor(train_data.images, CPU), torch.from_numpy(train_data.labels)
    model.set_input_normalisation(*channel_statistics(train_data.images))
    before, _ = evaluate(model, x, y, 100)
    history = train(model, hyper, train_data, test_data, settings, CPU, tmp_path / "ck.pt")
    after, _ = evaluate(model, x, y, 100)
    assert after < 0.8 * before, (before, after)
    assert history.drop(columns="seconds").iloc[1:].notna().all().all()


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
    assert set(c) == {"untrained", "bp", "fa", "pc", "pc_supervised", "stdp"}
    assert (c["fa"]["rule"], c["fa"]["optimizer"], c["fa"]["lr"], c["fa"]["momentum"], c["fa"]["weight_decay"],
            c["fa"]["schedule"]) == ("feedback_alignment", "sgd", 5e-4, 0.9, 1e-4, "cosine")
    for name, variant in (("pc", "unsupervised_conv"), ("pc_supervised", "supervised")):
        assert (c[name]["rule"], c[name]["variant"], c[name]["inference_steps"], c[name]["inference_rate"]) == (
            "predictive_coding", variant, 10, 0.02)
    s = c["stdp"]
    assert (s["coding"], s["time_steps"], s["a_plus"], s["a_minus"], s["tau_plus"], s["tau_minus"], s["lr"]) == (
        "poisson", 10, 0.003, 0.003, 20.0, 20.0, 5e-4)
    assert config["training"]["augment"] is False


def test_registry_has_the_rules():
    assert {"untrained", "backprop", "feedback_alignment", "predictive_coding", "stdp"} <= set(RULES)
    assert angle_degrees(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
