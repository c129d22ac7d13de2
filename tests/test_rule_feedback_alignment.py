"""Feedback alignment against oracles: autograd (FA with B = W is backprop), a layer-by-layer
recomputation of FA's weight gradients with the error sent down through B explicitly,
the distributions B is drawn from (Kolmogorov-Smirnov against scipy), and invariances
(B never changes; flipping every conv update is FA with another B).

Tiny architectures and images keep the module to a few seconds.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from lrrsa.learning_rules import make_rule
from lrrsa.learning_rules.feedback_alignment import FAConv2d, FALinear, draw_feedback, feedback_layers
from lrrsa.learning_rules.network import layer_weights
from lrrsa.model import Architecture, build_model, load_model, load_rule_state, save_model
from lrrsa.training import TrainingSettings, configure_torch, epoch_generator, train
from rule_helpers import CPU, TINY, autograd_gradients, batch, cosine
from test_training import coloured_squares

FA = {"rule": "feedback_alignment", "feedback_init": "he_normal", "optimizer": "sgd", "lr": 0.05,
      "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine"}


@pytest.fixture(autouse=True)
def _torch():
    configure_torch(1)


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


# --------------------------------------------------------------------------
# one FA step is its definition, and the check fails when the conv update is off
# --------------------------------------------------------------------------

def fa_oracle_weight_gradients(model, feedback, images, labels):
    """FA's weight gradients by a second route: the network as a chain of layers, each
    differentiated on its own by autograd (BatchNorm in batch mode, ReLU, pooling exact);
    the error reaching a layer's input is autograd's gradient of the same operation with
    B in place of W (a plain F.conv2d / F.linear), then passed back through the layer
    below's ReLU, BatchNorm and pooling. Returns layer name -> gradient of the weight."""
    blocks = list(model.blocks)
    chain = []  # per layer: name, weight, input leaf u, output z of the weight's operation, op, post
    a = model.normalise(images)
    for i, blk in enumerate(blocks, start=1):
        u = a.detach().requires_grad_()
        op = (lambda v, w: F.conv2d(v, w, padding=1))
        z = op(u, blk.conv.weight)
        out = F.max_pool2d(F.relu(F.batch_norm(z, None, None, blk.bn.weight, blk.bn.bias, training=True,
                                               eps=blk.bn.eps)), 2)
        chain.append((f"conv{i}", blk.conv.weight, u, z, op, out))
        a = out
    leaf = a.detach().requires_grad_()
    u = torch.flatten(F.adaptive_avg_pool2d(leaf, model.arch.pool_size), 1)
    fc1_in = (leaf, u)  # the pooling between conv{N} and fc1
    u = u.detach().requires_grad_()
    z = F.linear(u, model.fc1.weight, model.fc1.bias)
    chain.append(("fc1", model.fc1.weight, u, z, F.linear, F.relu(z)))
    u = chain[-1][5].detach().requires_grad_()
    z = F.linear(u, model.fc2.weight, model.fc2.bias)
    chain.append(("fc2", model.fc2.weight, u, z, F.linear, z))

    error = torch.autograd.grad(F.cross_entropy(z, labels), z)[0]  # at fc2's output
    grads = {}
    for k in range(len(chain) - 1, -1, -1):
        name, weight, u, z, op, _ = chain[k]
        grads[name] = torch.autograd.grad(z, weight, error, retain_graph=True)[0]
        if k == 0:
            break
        u_b = u.detach().requires_grad_()
        error_in = torch.autograd.grad(op(u_b, feedback[name]), u_b, error)[0]  # through B, not W
        if name == "fc1":  # back through the average pool to conv{N}'s pooled output
            error_in = torch.autograd.grad(fc1_in[1], fc1_in[0], error_in)[0]
        below_z, below_out = chain[k - 1][3], chain[k - 1][5]
        error = torch.autograd.grad(below_out, below_z, error_in, retain_graph=True)[0]
    return grads


def check_fa_step_is_its_definition(factor=None):
    """One FA step with plain SGD moves every weight by -lr times FA's gradient, computed
    by :func:`fa_oracle_weight_gradients` from the rule's own B."""
    x, y = batch(n=12, seed=8)
    model = build_model(TINY, seed=8)
    rule = make_rule(model, {**FA, "momentum": 0.0, "lr": 0.1}, epochs=1, steps_per_epoch=1)
    reference = copy.deepcopy(model)
    if factor is not None:
        for b in model.blocks:
            b.conv.weight.register_hook(lambda g, f=factor: g * f)
    expected = fa_oracle_weight_gradients(reference, rule.feedback, x, y)
    before = {name: w.detach().clone() for name, w in layer_weights(model).items()}
    rule.start_epoch(1, torch.Generator().manual_seed(0))
    rule.step(x, y)
    for name, w in layer_weights(model).items():
        step = (before[name] - w.detach()) / 0.1
        assert torch.count_nonzero(expected[name]) > 0, name
        torch.testing.assert_close(step, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_fa_step_is_its_definition():
    check_fa_step_is_its_definition()
    # The oracle itself: with B = W it is autograd's backprop.
    x, y = batch(n=12, seed=8)
    model = build_model(TINY, seed=8)
    exact = {name: w.detach().clone() for name, w in layer_weights(model).items()}
    oracle = fa_oracle_weight_gradients(model, exact, x, y)
    expected = dict(zip(layer_weights(model), torch.autograd.grad(
        F.cross_entropy(model.train()(x), y), list(layer_weights(model).values()))))
    for name, g in oracle.items():
        torch.testing.assert_close(g, expected[name], rtol=1e-5, atol=1e-8, msg=name)


@pytest.mark.parametrize("factor", [0.0, -1.0], ids=["zeroed", "flipped"])
def test_the_fa_step_check_fails_when_the_conv_update_is_off(factor):
    with pytest.raises(AssertionError):
        check_fa_step_is_its_definition(factor)


def test_flipping_every_conv_update_is_fa_with_the_fc1_feedback_negated():
    """Why no learning curve can see a flipped conv update: the error reaching conv{N} is
    B_fc1^T delta (times exact derivatives), and everything below is linear in it, so
    negating every conv block's update (weights and BatchNorm affine) is exactly FA with
    -B_fc1, a draw from the same distribution as B_fc1. The per-step oracle above is the
    test that sees the sign."""
    x, y = batch(n=16, seed=9)
    flipped, negated = build_model(TINY, seed=9), build_model(TINY, seed=9)
    rule_flipped = make_rule(flipped, FA, epochs=1, steps_per_epoch=3)
    rule_negated = make_rule(negated, FA, epochs=1, steps_per_epoch=3)
    rule_negated.feedback["fc1"] = -rule_negated.feedback["fc1"]
    for p in flipped.blocks.parameters():
        p.register_hook(lambda g: -g)
    for rule in (rule_flipped, rule_negated):
        rule.start_epoch(1, torch.Generator().manual_seed(0))
        for i in range(3):
            rule.step(*batch(n=16, seed=20 + i))
    for (name, a), b in zip(flipped.state_dict().items(), negated.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)
    assert not torch.equal(flipped.blocks[0].conv.weight, build_model(TINY, seed=9).blocks[0].conv.weight)


# --------------------------------------------------------------------------
# the feedback kernels B
# --------------------------------------------------------------------------

@pytest.mark.parametrize("init", ["he_normal", "uniform"])
def test_feedback_kernels_have_the_forward_weights_distribution(init):
    """B ~ N(0, 2/fan_in) (he_normal) or U(-a, a) with a = sqrt(6/fan_in), variance 2/fan_in
    (uniform): each layer's B passes a Kolmogorov-Smirnov test against that distribution
    and its sample mean and variance are within 4 standard errors of 0 and 2/fan_in."""
    model = build_model(Architecture(widths=(16, 32), pool_size=4, fc_width=64, n_classes=10), seed=0)
    feedback = draw_feedback(model, init, torch.Generator().manual_seed(3))
    assert set(feedback) == {"conv2", "fc1", "fc2"}
    for name, b in feedback.items():
        weight = layer_weights(model)[name]
        assert b.shape == weight.shape and b.dtype == weight.dtype, name
        fan_in = weight[0].numel()
        values = b.flatten().double().numpy()
        variance = 2.0 / fan_in
        if init == "he_normal":
            reference = stats.norm(0, math.sqrt(variance))
            var_of_var = 2 * variance**2  # of one squared draw
        else:
            a = math.sqrt(6.0 / fan_in)
            reference = stats.uniform(-a, 2 * a)
            var_of_var = a**4 / 5 - variance**2
        assert stats.kstest(values, reference.cdf).pvalue > 1e-3, name
        n = len(values)
        assert abs(values.mean()) < 4 * math.sqrt(variance / n), name
        assert abs(np.mean(values**2) - variance) < 4 * math.sqrt(var_of_var / n), name
    with pytest.raises(ValueError, match="feedback_init 'orthogonal'"):
        draw_feedback(model, "orthogonal", torch.Generator())


def test_fa_feedback_is_fixed_seeded_and_saved_with_the_model(tmp_path):
    data = coloured_squares(6, 0)
    settings = TrainingSettings(epochs=3, batch_size=8, eval_batch_size=50, seed=5)
    expected = draw_feedback(build_model(TINY, seed=5), "he_normal", epoch_generator(5, 0, stream=2))
    model, state = build_model(TINY, seed=5), {}
    history = train(model, FA, data, coloured_squares(3, 1), settings, CPU, tmp_path / "ck.pt", state)
    assert set(state) == {"feedback.conv2", "feedback.fc1", "feedback.fc2"}
    for name, b in expected.items():
        assert torch.equal(state[f"feedback.{name}"], b), name  # bit-identical after training
    other = draw_feedback(build_model(TINY, seed=6), "he_normal", epoch_generator(6, 0, stream=2))
    assert not torch.equal(other["fc1"], expected["fc1"])
    save_model(tmp_path / "m.pt", model, rule_state=state, condition="fa", seed=5)
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta == {"condition": "fa", "seed": 5}
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    saved = load_rule_state(tmp_path / "m.pt")
    assert all(torch.equal(saved[k], v) for k, v in state.items())
    # Every layer moved; fc2's FA gradient is backprop's own (cosine 1, norm ratio 1), the
    # others are cosines.
    trained = history.iloc[1:]
    assert (trained[[f"drift_{name}" for name in ("conv1", "conv2", "fc1", "fc2")]] > 1e-4).all().all()
    np.testing.assert_allclose(trained["cos_bp_fc2"], 1, atol=1e-5)
    np.testing.assert_allclose(trained["norm_ratio_bp_fc2"], 1, atol=1e-5)
    cosines = trained[[f"cos_bp_{name}" for name in ("conv1", "conv2", "fc1")]].to_numpy()
    assert np.isfinite(cosines).all() and (np.abs(cosines) <= 1).all() and (np.abs(cosines) < 0.999).all()
    assert (trained.filter(like="norm_ratio_bp_") > 0).all().all()
    assert {"angle_WB_conv2", "angle_WB_fc1", "angle_WB_fc2"} <= set(history.columns)
