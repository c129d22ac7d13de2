"""Shared pieces of the learning-rule tests: a tiny architecture, random batches, and
the oracles (autograd's gradient, the cosine of two tensors)."""

import torch
import torch.nn.functional as F

from lrrsa.learning_rules import make_rule
from lrrsa.model import Architecture

TINY = Architecture(widths=(4, 8), pool_size=2, fc_width=16, n_classes=4)
CPU = torch.device("cpu")


def batch(n=16, size=12, seed=0, classes=4):
    """(images (n, 3, size, size) uniform in [0, 1], labels (n,)) from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


def cosine(a, b):
    """Cosine of two tensors seen as vectors, in float64."""
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def autograd_gradients(model, x, y):
    """autograd's gradient of the mean cross-entropy w.r.t. model.parameters(), training mode."""
    model.train()
    loss = F.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, list(model.parameters()))


def states_under_labels(build_model, hyper, images, label_sets, *, steps=2, seed=9):
    """For each labels tensor of ``label_sets``: a model from ``build_model()`` trained for
    ``steps`` steps of the rule ``hyper`` on (``images``, labels) from the same start and
    generator; its state_dict with the rule's model_state. Checks that no gradient reached
    the conv stack. Comparing the states shows which tensors the labels reach."""
    states = []
    for labels in label_sets:
        model = build_model()
        rule = make_rule(model, hyper, epochs=2, steps_per_epoch=steps)
        rule.start_epoch(1, torch.Generator().manual_seed(seed))
        for _ in range(steps):
            rule.step(images, labels)
        assert all(p.grad is None for p in model.blocks.parameters())
        states.append({**model.state_dict(), **rule.model_state()})
    return states


def sabotage(weights, factor):
    """Multiply the gradient of every tensor in ``weights`` by ``factor`` (0: the update
    is off, -1: its sign is flipped); returns the hook handles. Tensor hooks fire in
    ``backward`` and in ``torch.autograd.grad``, which computes every PC update."""
    return [w.register_hook(lambda g, f=factor: g * f) for w in weights]
