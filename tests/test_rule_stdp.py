"""STDP (lrrsa.learning_rules.stdp) against oracles and as a learning rule.

Oracles: the window's closed form on constructed spike trains (potentiation of inputs
that fired at or before the post spike, depression of the others, ON/OFF signs), the
encodings' definitions, the centre-surround stage against an explicit loop, the
threshold's quantile, the competition's rules. Behaviour: filters align with repeated
input patterns (a test that fails with the update zeroed or its sign flipped, checked
by a meta-test), homeostasis keeps most maps winning where without it learning lets a
few maps take over, weights stay bounded, labels never reach the conv layers, the
homeostatic state survives a checkpoint, and a step does not depend on train/eval mode.

Tiny networks and images keep the module to a few seconds.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lrrsa.learning_rules.stdp as stdp
from lrrsa.learning_rules import make_rule
from lrrsa.learning_rules.stdp import (
    Spikes, Window, centre_surround, encode, layer_threshold, stdp_update, winners,
)
from lrrsa.model import Architecture, build_model
from lrrsa.training import configure_torch
from rule_helpers import TINY, cosine, states_under_labels

STDP = {"rule": "stdp", "coding": "poisson", "time_steps": 10, "a_plus": 0.003, "a_minus": 0.003,
        "tau_plus": 20.0, "tau_minus": 20.0, "lr": 0.05, "schedule": "cosine", "firing_fraction": 0.1,
        "homeostasis": 0.1, "winners_per_image": None, "layer_schedule": "sequential",
        "readout_lr": 0.01, "readout_weight_decay": 0.0, "readout_schedule": "cosine"}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(1)  # tiny tensors: one thread is faster and immune to a busy machine


def filter_cosines(weight, vectors):
    """(filters, vectors) cosines between a conv weight's filters and flat vectors."""
    return F.normalize(weight.detach().flatten(1), dim=1) @ F.normalize(vectors, dim=1).T


# --------------------------------------------------------------------------
# oracles
# --------------------------------------------------------------------------

def spikes_at(times, signs, steps=10):
    """A (1, C, 1, 1) input whose channel c fires once at times[c] (None: never)."""
    first = torch.tensor([steps if t is None else t for t in times]).reshape(1, -1, 1, 1)
    frames = torch.arange(steps)[:, None, None, None, None] == first
    return Spikes(first=first, sign=torch.tensor(signs, dtype=torch.float32).reshape(1, -1, 1, 1),
                  frames=frames, steps=steps)


def test_window_potentiates_inputs_that_fired_first_and_depresses_the_others():
    a_plus, a_minus, tau_plus, tau_minus = 0.003, 0.002, 20.0, 10.0
    window = Window(a_plus, a_minus, tau_plus, tau_minus)
    # One input at step 2 drives the post at once (threshold 1): potentiation A+ times the
    # filter's RMS tap (here the weight itself, 2).
    change, won = stdp_update(torch.full((1, 1, 1, 1), 2.0), spikes_at([2], [1.0]), 0, window, threshold=1.0)
    assert change.item() == pytest.approx(a_plus * 2.0) and won.tolist() == [[True]]
    # Inputs at 1 and 3 are both needed (threshold 2): the post fires at 3. An input at 7
    # comes after it, a fourth never fires: both are depressed in proportion to their
    # weight (the never-firing one as if at T = 10).
    weight = torch.tensor([1.0, 1.0, 1.0, 0.5]).reshape(1, 4, 1, 1)
    rms_tap = float(weight.norm()) / 2
    change, won = stdp_update(weight, spikes_at([1, 3, 7, None], [1.0, 1.0, 1.0, 1.0]), 0, window, threshold=2.0)
    expected = [a_plus * math.exp(-2 / tau_plus) * rms_tap, a_plus * rms_tap,
                -a_minus * math.exp(-4 / tau_minus) * 1.0, -a_minus * math.exp(-7 / tau_minus) * 0.5]
    np.testing.assert_allclose(change.flatten().numpy(), expected, rtol=1e-6)
    assert won.tolist() == [[True]]
    # An OFF input (negative activity) that drives the post through a negative weight: its
    # spike came first, so its synapse strengthens (the weight grows more negative).
    weight = torch.tensor([-1.0, 1.0, 1.0]).reshape(1, 3, 1, 1)
    rms_tap = float(weight.norm()) / math.sqrt(3)
    change, _ = stdp_update(weight, spikes_at([0, 5, None], [-1.0, 1.0, 0.0]), 0, window, threshold=1.0)
    expected = [-a_plus * rms_tap, -a_minus * math.exp(-5 / tau_minus) * 1.0, -a_minus * math.exp(-10 / tau_minus)]
    np.testing.assert_allclose(change.flatten().numpy(), expected, rtol=1e-6)
    # A post that never reaches its threshold learns nothing.
    change, won = stdp_update(weight, spikes_at([0, 5, None], [-1.0, 1.0, 0.0]), 0, window, threshold=5.0)
    assert torch.count_nonzero(change) == 0 and won.tolist() == [[False]]


def test_competition_one_winner_per_position_and_per_map_and_k_per_image():
    steps = 10
    first = torch.full((1, 2, 1, 3), steps)
    first[0, 0, 0, :] = torch.tensor([4, 2, 6])
    first[0, 1, 0, :] = torch.tensor([3, 2, steps])
    drive = torch.tensor([[[[1.0, 5.0, 1.0]], [[1.0, 1.0, 1.0]]]])
    index, won = winners(first, drive, steps)
    # position 0: map 1 (earlier); position 1: tie at 2 -> map 0 (larger drive); position 2: map 0 alone.
    # map 0 wins at 1 and 2 -> earliest is position 1; map 1 wins only at 0.
    assert index.tolist() == [[1, 0]] and won.tolist() == [[True, True]]
    # One map per image: map 0's winning spike (step 2) is earlier than map 1's (step 3).
    _, won = winners(first, drive, steps, per_image=1)
    assert won.tolist() == [[True, False]]
    # A map that never fires never wins.
    _, won = winners(torch.full((1, 2, 1, 3), steps), drive, steps)
    assert won.tolist() == [[False, False]]


def test_encodings():
    activity = torch.tensor([0.0, 0.25, 0.5, -1.0]).reshape(1, 4, 1, 1).expand(4000, 4, 1, 1).contiguous()
    poisson = encode(activity, 10, "poisson", torch.Generator().manual_seed(0))
    rates = poisson.frames.float().mean((0, 1))[:, 0, 0]
    np.testing.assert_allclose(rates.numpy(), [0.0, 0.25, 0.5, 1.0], atol=0.01)
    assert poisson.sign[0].flatten().tolist() == [0.0, 1.0, 1.0, -1.0]
    first = torch.where(poisson.frames.any(0), poisson.frames.float().argmax(0), 10)
    assert torch.equal(poisson.first, first)
    latency = encode(activity[:1], 10, "latency", None)
    assert latency.first.flatten().tolist() == [10, 7, 5, 0]  # stronger fires earlier; zero never
    assert latency.frames.sum(0).flatten().tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="unknown spike coding 'burst'"):
        encode(activity, 10, "burst", None)


def test_centre_surround_subtracts_each_channels_local_mean():
    x = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    expected = torch.empty_like(x)
    for i in range(5):
        for j in range(6):
            window = x[:, :, max(0, i - 1) : i + 2, max(0, j - 1) : j + 2]
            expected[:, :, i, j] = x[:, :, i, j] - window.mean((2, 3))
    torch.testing.assert_close(centre_surround(x, (3, 3)), expected)
    assert torch.count_nonzero(centre_surround(torch.full((1, 2, 4, 4), 3.0), (3, 3))) == 0
    with pytest.raises(ValueError, match="odd kernel"):
        centre_surround(x, (2, 2))


def test_threshold_lets_the_firing_fraction_reach_each_maps_threshold():
    final = torch.randn(8, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    scale = torch.tensor([0.5, 1.0, 4.0])
    threshold = layer_threshold(final, scale, firing_fraction=0.2)
    assert threshold.shape == (1, 3, 1, 1)
    torch.testing.assert_close(threshold.flatten() / scale, threshold.flatten()[1].expand(3))  # theta * scale
    fired = (final >= threshold).float().mean()
    assert float(fired) == pytest.approx(0.2, abs=2 / final.numel())


# --------------------------------------------------------------------------
# the rule learns
# --------------------------------------------------------------------------

def prototypes(n, generator):
    """n signed 3 x 3 x 3 patterns in {-1, 0, 1} minus each channel's mean, mutually far apart."""
    found = []
    while len(found) < n:
        p = torch.randint(-1, 2, (3, 3, 3), generator=generator).float()
        p = p - p.mean((1, 2), keepdim=True)
        if p.norm() > 0 and all(abs(cosine(p, q)) < 0.3 for q in found):
            found.append(p)
    return torch.stack(found)


SLOTS = [(1, 1), (1, 6), (6, 1), (6, 6)]


def pattern_images(patterns, n, generator, noise=0.02):
    """(n, 3, 10, 10) images in [0, 1]: grey with the patterns, in random order, at the four SLOTS."""
    x = 0.5 + noise * torch.randn(n, 3, 10, 10, generator=generator)
    for image in x:
        for (r, c), j in zip(SLOTS, torch.randperm(len(patterns), generator=generator)):
            image[:, r : r + 3, c : c + 3] += 0.2 * patterns[j]
    return x


def one_layer_model(maps, seed=0):
    model = build_model(Architecture(widths=(maps,), pool_size=1, fc_width=8, n_classes=2), seed=seed)
    model.set_input_normalisation([0.5] * 3, [0.2] * 3)
    return model


def train_on_patterns(maps, hyper, steps=60):
    """A one-block network trained by STDP on pattern images. Returns its initial and
    trained conv weights, all 3 x 3 windows of a noise-free image as the layer's input
    stage sees them (positions, 27), and the epoch's diagnostics."""
    g = torch.Generator().manual_seed(0)
    patterns = prototypes(len(SLOTS), g)
    model = one_layer_model(maps)
    initial = model.blocks[0].conv.weight.detach().clone()
    rule = make_rule(model, hyper, epochs=1, steps_per_epoch=steps)
    rule.start_epoch(1, torch.Generator().manual_seed(1))
    for _ in range(steps):
        rule.step(pattern_images(patterns, 16, g), torch.zeros(16, dtype=torch.long))
    clean = centre_surround(model.normalise(pattern_images(patterns, 1, g, noise=0.0)), (3, 3))
    windows = F.unfold(clean, 3, padding=1)[0].T
    return initial, model.blocks[0].conv.weight, windows, rule.end_epoch(1)


PATTERN_STDP = {**STDP, "lr": 5.0, "schedule": "constant", "layer_schedule": "simultaneous"}


def alignment_with_the_patterns():
    """Per filter of 8, before and after 60 steps, its best cosine with any window of the
    repeated patterns."""
    initial, trained, windows, _ = train_on_patterns(8, PATTERN_STDP)
    return filter_cosines(initial, windows).max(1).values, filter_cosines(trained, windows).max(1).values


def test_filters_align_with_repeated_input_patterns():
    before, after = alignment_with_the_patterns()
    assert float(before.max()) < 0.8  # random filters
    assert float(after.min()) > 0.95, after  # the learning check


@pytest.mark.parametrize("factor", [0.0, -1.0], ids=["zeroed", "flipped"])
def test_the_learning_check_fails_when_the_update_is_zeroed_or_flipped(factor, monkeypatch):
    original = stdp.stdp_update

    def sabotaged(*args, **kwargs):
        change, won = original(*args, **kwargs)
        return factor * change, won

    monkeypatch.setattr(stdp, "stdp_update", sabotaged)
    assert float(alignment_with_the_patterns()[1].min()) < 0.8


def test_homeostasis_keeps_most_maps_winning_where_learning_alone_lets_a_few_take_over():
    """One winner per image among 16 maps: without homeostasis the maps that learn first
    win ever more often; with it, thresholds of frequent winners rise until the others win."""
    competitive = {**PATTERN_STDP, "winners_per_image": 1}
    balanced = train_on_patterns(16, competitive)[-1]
    unbalanced = train_on_patterns(16, {**competitive, "homeostasis": 0.0})[-1]
    assert balanced["won_maps_conv1"] >= 0.9 and balanced["threshold_spread_conv1"] > 0.1
    assert unbalanced["won_maps_conv1"] <= 0.5 and unbalanced["threshold_spread_conv1"] == 0.0


def images(n=16, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_rule_keeps_every_filter_bounded_and_every_map_winning_over_many_updates():
    model = build_model(TINY, seed=7)
    initial = [b.conv.weight.detach().clone() for b in model.blocks]
    rule = make_rule(model, {**STDP, "lr": 5.0, "schedule": "constant", "layer_schedule": "simultaneous"},
                     epochs=1, steps_per_epoch=100)
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    for i in range(100):
        rule.step(*images(n=8, seed=100 + i))
    diagnostics = rule.end_epoch(1)
    for block, norm, start in zip(model.blocks, rule.norms, initial):
        norms = block.conv.weight.flatten(1).norm(dim=1)
        assert torch.isfinite(block.conv.weight).all()
        torch.testing.assert_close(norms, torch.full_like(norms, norm))
        drift = 1 - F.cosine_similarity(block.conv.weight.flatten(1), start.flatten(1)).mean()
        assert drift > 0.2  # they did move
    assert diagnostics["weight_change_conv1"] > 0.2
    assert diagnostics["won_maps_conv1"] == 1.0 and diagnostics["won_maps_conv2"] == 1.0


def test_layer_schedule():
    model = build_model(TINY, seed=0)
    rule = make_rule(model, STDP, epochs=4, steps_per_epoch=5)
    plastic = [[i for i, r in enumerate(rule.learning_rates(s)) if r > 0] for s in range(20)]
    assert plastic[:10] == [[0]] * 10 and plastic[10:] == [[1]] * 10  # conv1, then conv2
    assert rule.learning_rates(0)[0] == STDP["lr"] and rule.learning_rates(9)[0] < 0.05 * STDP["lr"]
    simultaneous = make_rule(model, {**STDP, "layer_schedule": "simultaneous"}, epochs=4, steps_per_epoch=5)
    assert all(r > 0 for r in simultaneous.learning_rates(7))


def test_frozen_layers_are_watched_on_the_first_batch_only():
    model = build_model(TINY, seed=0)
    rule = make_rule(model, STDP, epochs=2, steps_per_epoch=2)  # conv1 learns in epoch 1, conv2 in epoch 2
    conv2 = model.blocks[1].conv.weight.detach().clone()
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    for i in range(2):
        rule.step(*images(seed=i))
    diagnostics = rule.end_epoch(1)
    assert torch.equal(model.blocks[1].conv.weight, conv2)
    assert (diagnostics["plastic_conv1"], diagnostics["plastic_conv2"]) == (1.0, 0.0)
    assert 0 < diagnostics["won_maps_conv2"] <= 1 and diagnostics["weight_change_conv2"] == 0.0


# --------------------------------------------------------------------------
# invariances and state
# --------------------------------------------------------------------------

def test_labels_never_reach_the_conv_layers_and_conv1_learns():
    x, y = images(n=24, seed=5)
    hyper = {**STDP, "lr": 10.0, "schedule": "constant"}
    initial = build_model(TINY, seed=5).state_dict()
    states = states_under_labels(lambda: build_model(TINY, seed=5), hyper, x, (y, (y + 1) % 4))
    changed = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert changed and all(k.startswith(("fc1.", "fc2.")) for k in changed), changed
    # conv1's filters turned (the constructor's renormalisation alone keeps every direction).
    turned = F.cosine_similarity(states[0]["blocks.0.conv.weight"].flatten(1),
                                 initial["blocks.0.conv.weight"].flatten(1))
    assert float(turned.min()) < 0.99
    for k in ("blocks.0.bn.weight", "blocks.0.bn.bias", "blocks.1.bn.weight", "blocks.1.bn.bias"):
        assert torch.equal(states[0][k], initial[k])  # BatchNorm's affine parameters are never trained


def run_steps(model, rule, seeds, epoch=1):
    rule.start_epoch(epoch, torch.Generator().manual_seed(epoch))
    for seed in seeds:
        rule.step(*images(seed=seed))
    return rule.end_epoch(epoch)


def test_homeostatic_thresholds_are_checkpointed_rule_state():
    hyper = {**STDP, "lr": 2.0, "winners_per_image": 1, "layer_schedule": "simultaneous"}
    model = build_model(TINY, seed=3)
    rule = make_rule(model, hyper, epochs=2, steps_per_epoch=4)
    run_steps(model, rule, range(4))
    state, weights = rule.state_dict(), {k: v.clone() for k, v in model.state_dict().items()}
    assert all(float(h.abs().max()) > 0 for h in state["offsets"])
    copies = []
    for restore in (True, False):
        copy = build_model(TINY, seed=3)
        copy_rule = make_rule(copy, hyper, epochs=2, steps_per_epoch=4)
        copy.load_state_dict(weights)
        if restore:
            copy_rule.load_state_dict(state)
        run_steps(copy, copy_rule, range(4, 8), epoch=2)
        copies.append((copy, copy_rule))
    run_steps(model, rule, range(4, 8), epoch=2)
    resumed, fresh = copies
    for a, b in zip(model.blocks, resumed[0].blocks):
        assert torch.equal(a.conv.weight, b.conv.weight)
    assert all(torch.equal(a, b) for a, b in zip(rule.offsets, resumed[1].offsets))
    # Without the thresholds the continuation differs: they are part of the rule's state.
    assert not all(torch.equal(a.conv.weight, b.conv.weight) for a, b in zip(model.blocks, fresh[0].blocks))


def test_a_step_does_not_depend_on_the_modules_mode():
    results = []
    for mode in ("train", "eval"):
        model = build_model(TINY, seed=2)
        getattr(model, mode)()
        rule = make_rule(model, {**STDP, "lr": 1.0}, epochs=1, steps_per_epoch=2)
        run_steps(model, rule, range(2))
        results.append(model.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_study_config_uses_a_rate_at_which_conv_learns_and_keeps_the_papers_other_settings():
    import yaml

    from conftest import REPO
    from lrrsa.config import load_schema, validate_config

    schema = load_schema(REPO / "workflow/schemas/config.schema.yaml")
    study = validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), schema)
    s = study["conditions"]["stdp"]
    assert (s["coding"], s["time_steps"], s["a_plus"], s["a_minus"], s["tau_plus"], s["tau_minus"]) == (
        "poisson", 10, 0.003, 0.003, 20.0, 20.0)
    paper_lr = schema["$defs"]["stdp"]["properties"]["lr"]["default"]
    assert paper_lr == 5e-4 and s["lr"] >= 100 * paper_lr  # the paper's rate leaves conv at its start
