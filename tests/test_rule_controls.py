"""The controls (untrained with calibrated BatchNorm, read-out only), learning checks that
fail when a rule's update is switched off, and every rule's independence of the module's
train/eval mode.

Sabotage: ``sabotage(model, factor)`` registers tensor hooks that multiply the gradient
of the given weights by ``factor`` (0: the update is off, -1: its sign is flipped). The
hooks fire for ``loss.backward()`` and ``torch.autograd.grad`` alike, so they reach every
gradient-based rule; the meta-tests assert that each learning check fails under them.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import REPO
from lrrsa.config import load_schema, validate_config
from lrrsa.learning_rules import RULES, make_rule
from lrrsa.learning_rules.network import forward, layer_weights, weight_diagnostics
from lrrsa.learning_rules.untrained import calibrate_batchnorm
from lrrsa.model import Architecture, build_model
from lrrsa.training import (
    TrainingSettings, _batches, channel_statistics, configure_torch, epoch_generator, to_tensor, train,
)
from rule_helpers import sabotage
from test_training import coloured_squares

SMALL = Architecture(widths=(8, 16), pool_size=2, fc_width=32, n_classes=4)
CPU = torch.device("cpu")
BP = {"rule": "backprop", "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "schedule": "constant"}
READOUT_ONLY = {"rule": "readout_only", "readout_lr": 0.01, "readout_weight_decay": 0.0, "readout_schedule": "constant"}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(1)


@pytest.fixture(scope="module")
def squares():
    data = coloured_squares(16, 0)
    return data, to_tensor(data.images, CPU), torch.from_numpy(data.labels)


def conv_weights(model):
    return [b.conv.weight for b in model.blocks]


def fc_weights(model):
    return [model.fc1.weight, model.fc2.weight]


def run_steps(hyper, squares, *, seed, steps, factor=None, sabotaged=conv_weights, batch_size=16):
    """``steps`` updates of a fresh seed-``seed`` network on random batches of the squares;
    returns (model, loss on all images with batch-mode BatchNorm, drift per layer)."""
    data, x, y = squares
    model = build_model(SMALL, seed)
    model.set_input_normalisation(*channel_statistics(data.images))
    initial = {name: w.detach().clone() for name, w in layer_weights(model).items()}
    rule = make_rule(model, hyper, epochs=1, steps_per_epoch=steps)
    if factor is not None:
        sabotage(sabotaged(model), factor)
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randperm(len(y), generator=order)[:batch_size]
        rule.step(x[batch], y[batch])
    with torch.no_grad():
        loss = float(F.cross_entropy(forward(model, x, update_stats=False), y))
    drift = {k.removeprefix("drift_"): v for k, v in weight_diagnostics(model, initial).items() if k.startswith("drift_")}
    return model, loss, drift


# --------------------------------------------------------------------------
# learning checks, and the sabotage that must make each fail
# --------------------------------------------------------------------------

def check_backprop_trains_its_conv_layers(squares, factor=None, seeds=(0, 1, 2)):
    """Backprop fits the training images far better in 20 steps than the read-out alone
    from the same seed (loss ratio < 0.2; measured 0.01-0.07 for seeds 0-4, and 0.4-0.76
    with the conv update zeroed), and every conv layer moved."""
    for seed in seeds:
        _, readout_loss, _ = run_steps(READOUT_ONLY, squares, seed=seed, steps=20)
        _, loss, drift = run_steps(BP, squares, seed=seed, steps=20, factor=factor)
        assert loss < 0.2 * readout_loss, (seed, loss, readout_loss)
        assert drift["conv1"] > 1e-3 and drift["conv2"] > 1e-3, drift


def check_readout_only_trains_only_its_readout(squares, factor=None):
    """Conv weights and BatchNorm's affine parameters stay bit-identical (drift exactly 0),
    fc1 and fc2 move, and the training loss falls to a fraction of its initial value."""
    data, x, y = squares
    initial = build_model(SMALL, 0)
    initial.set_input_normalisation(*channel_statistics(data.images))
    with torch.no_grad():
        start = float(F.cross_entropy(forward(initial, x, update_stats=False), y))
    model, loss, drift = run_steps(READOUT_ONLY, squares, seed=0, steps=20, factor=factor, sabotaged=fc_weights)
    assert drift["conv1"] == 0.0 and drift["conv2"] == 0.0
    for (name, value), reference in zip(model.blocks.named_parameters(), initial.blocks.parameters()):
        assert torch.equal(value, reference), name
    assert drift["fc1"] > 1e-3 and drift["fc2"] > 1e-3, drift
    assert loss < 0.2 * start, (start, loss)


def test_backprop_trains_its_conv_layers(squares):
    check_backprop_trains_its_conv_layers(squares, seeds=(0, 1, 2, 3, 4))


def test_readout_only_trains_only_its_readout(squares):
    check_readout_only_trains_only_its_readout(squares)


@pytest.mark.parametrize("factor", [0.0, -1.0], ids=["zeroed", "flipped"])
@pytest.mark.parametrize("check", [check_backprop_trains_its_conv_layers, check_readout_only_trains_only_its_readout],
                         ids=["backprop", "readout_only"])
def test_the_learning_checks_fail_when_the_update_is_off(check, factor, squares):
    """Meta-test: with the rule's update zeroed or its sign flipped, the check fails."""
    with pytest.raises(AssertionError):
        check(squares, factor)


# --------------------------------------------------------------------------
# the read-out-only control
# --------------------------------------------------------------------------

def test_readout_only_step_is_adam_on_the_readout_of_frozen_batch_normalised_features(squares):
    """Oracle: the frozen conv stack's features with BatchNorm on the batch's statistics
    (computed here with F.conv2d and explicit moments), then torch.optim.Adam with L2
    decay on autograd's gradient of the cross-entropy w.r.t. fc1/fc2 only."""
    data, x, y = squares
    hyper = {**READOUT_ONLY, "readout_lr": 0.003, "readout_weight_decay": 0.01}
    model = build_model(SMALL, 3)
    model.set_input_normalisation(*channel_statistics(data.images))
    reference = copy.deepcopy(model)
    rule = make_rule(model, hyper, epochs=1, steps_per_epoch=1)
    result = rule.step(x[:24], y[:24])

    features = reference.normalise(x[:24])
    for block in reference.blocks:
        z = F.conv2d(features, block.conv.weight.detach(), padding=1)
        mean, var = z.mean((0, 2, 3), keepdim=True), z.var((0, 2, 3), unbiased=False, keepdim=True)
        z = (z - mean) / torch.sqrt(var + block.bn.eps) * block.bn.weight.detach()[:, None, None] \
            + block.bn.bias.detach()[:, None, None]
        features = F.max_pool2d(F.relu(z), 2)
    params = [*reference.fc1.parameters(), *reference.fc2.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.003, weight_decay=0.01)
    logits = reference.fc2(F.relu(reference.fc1(torch.flatten(F.adaptive_avg_pool2d(features, 2), 1))))
    loss = F.cross_entropy(logits, y[:24])
    loss.backward()
    optimizer.step()
    assert result.loss_sum == pytest.approx(24 * loss.item(), rel=1e-5)
    for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]:
        torch.testing.assert_close(model.state_dict()[name], reference.state_dict()[name], msg=name)
    for name, value in reference.blocks.state_dict().items():
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(model.blocks.state_dict()[name], value), name
    # The running statistics saw the batch once, as a train-mode forward pass updates them.
    train_mode = copy.deepcopy(reference).train()
    with torch.no_grad():
        train_mode(x[:24])
    for name, value in train_mode.blocks.state_dict().items():
        torch.testing.assert_close(model.blocks.state_dict()[name], value, msg=name)


def test_readout_only_uses_the_readout_hyperparameters_of_pc_and_stdp():
    schema = load_schema(REPO / "workflow/schemas/config.schema.yaml")["$defs"]
    names = set(schema["readout_only"]["properties"]) - {"rule"}
    assert names == {"readout_lr", "readout_weight_decay", "readout_schedule"}
    for rule in ("stdp", "predictive_coding"):
        for name in names:
            assert schema[rule]["properties"][name]["default"] == schema["readout_only"]["properties"][name]["default"]


# --------------------------------------------------------------------------
# the untrained control's BatchNorm calibration
# --------------------------------------------------------------------------

def batch_moments(model, batches):
    """Per conv block, the mean over ``batches`` of each batch's per-channel mean and
    unbiased variance of the conv output, the batch normalised by its own moments
    (explicit arithmetic, no BatchNorm module)."""
    means = [[] for _ in model.blocks]
    variances = [[] for _ in model.blocks]
    with torch.no_grad():
        for images in batches:
            x = model.normalise(images)
            for i, block in enumerate(model.blocks):
                z = F.conv2d(x, block.conv.weight, padding=1).double()
                means[i].append(z.mean((0, 2, 3)))
                variances[i].append(z.var((0, 2, 3), unbiased=True))
                normalised = (z - z.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
                    z.var((0, 2, 3), unbiased=False, keepdim=True) + block.bn.eps)
                x = F.max_pool2d(F.relu(normalised.float()), 2)  # BatchNorm's affine is 1, 0 here
    return [torch.stack(m).mean(0) for m in means], [torch.stack(v).mean(0) for v in variances]


def test_calibration_sets_the_running_statistics_to_the_mean_of_the_batch_statistics(squares):
    data, x, _ = squares
    model = build_model(SMALL, 4)
    model.set_input_normalisation(*channel_statistics(data.images))
    before = {k: v.clone() for k, v in model.named_parameters()}
    batches = list(x.split(20))  # 64 images: 20, 20, 20, 4
    assert calibrate_batchnorm(model, batches) == 4
    means, variances = batch_moments(model, batches)
    for block, mean, var in zip(model.blocks, means, variances):
        torch.testing.assert_close(block.bn.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(block.bn.running_var.double(), var, rtol=1e-5, atol=1e-6)
        assert block.bn.momentum == 0.1 and int(block.bn.num_batches_tracked) == 4
    assert all(torch.equal(v, before[k]) for k, v in model.named_parameters())
    with pytest.raises(ValueError, match="no batches"):
        calibrate_batchnorm(model, [])


@pytest.mark.parametrize("batchnorm", ["calibrated", "identity"])
def test_the_untrained_condition_calibrates_on_the_loops_batches(batchnorm, squares, tmp_path):
    data, x, _ = squares
    settings = TrainingSettings(epochs=3, batch_size=24, eval_batch_size=50, seed=7)
    model = build_model(SMALL, 7)
    history = train(model, {"rule": "untrained", "batchnorm": batchnorm}, data, data, settings, CPU,
                    tmp_path / "ck.pt")
    assert list(history["epoch"]) == [0]
    if batchnorm == "identity":
        for block in model.blocks:
            assert torch.equal(block.bn.running_mean, torch.zeros_like(block.bn.running_mean))
            assert torch.equal(block.bn.running_var, torch.ones_like(block.bn.running_var))
        return
    order = _batches(len(x), 24, epoch_generator(7, 1, stream=0))  # epoch 1's order: 24, 24, 16
    means, variances = batch_moments(model, [x[b] for b in order])
    for block, mean, var in zip(model.blocks, means, variances):
        torch.testing.assert_close(block.bn.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(block.bn.running_var.double(), var, rtol=1e-5, atol=1e-6)


def test_untrained_refuses_an_unknown_batchnorm_mode():
    with pytest.raises(ValueError, match="batchnorm.*'running'.*calibrated"):
        make_rule(build_model(SMALL, 0), {"rule": "untrained", "batchnorm": "running"}, epochs=1, steps_per_epoch=1)


# --------------------------------------------------------------------------
# every rule: a step does not depend on the module's train/eval mode
# --------------------------------------------------------------------------

def demo_conditions():
    config = validate_config(yaml.safe_load((REPO / "config/demo.yaml").read_text()),
                             load_schema(REPO / "workflow/schemas/config.schema.yaml"))
    return {name: hyper for name, hyper in config["conditions"].items() if RULES[hyper["rule"]].trains}


@pytest.mark.parametrize("condition", sorted(demo_conditions()))
def test_a_step_on_an_eval_mode_model_is_the_step_on_a_train_mode_model(condition, squares):
    """Same weights, BatchNorm statistics and result from one step, whatever the mode
    the model was left in (every trained condition of the demo config, through the registry)."""
    hyper = demo_conditions()[condition]
    data, x, y = squares
    states, results = [], []
    for mode in ("train", "eval"):
        model = build_model(SMALL, 5)
        model.set_input_normalisation(*channel_statistics(data.images))
        rule = make_rule(model, hyper, epochs=2, steps_per_epoch=2, generator=torch.Generator().manual_seed(1))
        model.train(mode == "train")
        rule.start_epoch(1, torch.Generator().manual_seed(2))
        results.append(rule.step(x[:20], y[:20]))
        assert model.training == (mode == "train")
        states.append(copy.deepcopy(model.state_dict()))
    assert results[0] == results[1]
    initial = build_model(SMALL, 5).state_dict()
    assert any(not torch.equal(states[0][k], initial[k]) for k in initial if "running" in k)  # it did update
    for name, value in states[0].items():
        assert torch.equal(value, states[1][name]), name
