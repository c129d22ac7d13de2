"""Layer-wise views of the ConvNet and helpers shared by the local learning rules.

FA, PC and STDP all need the network as a chain of layer functions
``r_l = f_l(r_{l-1})`` instead of one opaque ``forward``:

- ``f_1 .. f_N``: the conv blocks, conv 3x3 -> BatchNorm -> ReLU -> max-pool 2
  (the value a block passes on is its *pooled* output);
- ``f_{N+1}``: adaptive average pool -> flatten -> fc1 -> ReLU;
- ``f_{N+2}``: fc2 (the logits).

:func:`block` and :func:`layer` evaluate one of them with BatchNorm on the
batch's statistics *without* touching the running statistics, so that a rule
may evaluate a layer many times per batch (PC inference) while the running
statistics still see every batch exactly once, in :func:`sweep`.

None of these depends on the module's train/eval mode: BatchNorm is always in
batch mode, as in training (a rule's step on an eval-mode model is the same step).
The module also holds the per-layer diagnostics the training loop logs for every
rule (:func:`weight_diagnostics`) and the read-out of the rules whose conv layers
learn without labels (:class:`Readout`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrrsa.learning_rules.optimisers import make_schedule
from lrrsa.model import ConvBlock, ConvNet


def block(
    module: ConvBlock, x: torch.Tensor, *, conv: Callable[[torch.Tensor], torch.Tensor] | None = None,
    update_stats: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled output, ReLU activation) of a conv block, BatchNorm in batch mode.

    ``conv`` replaces the block's convolution (FA's feedback-aligned conv);
    ``update_stats`` lets BatchNorm update its running statistics (once per batch).
    """
    z = conv(x) if conv is not None else module.conv(x)
    bn = module.bn
    if update_stats:
        z = batch_norm_training(bn, z)
    else:
        z = F.batch_norm(z, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    activation = F.relu(z)
    return F.max_pool2d(activation, 2), activation


def batch_norm_training(bn: nn.BatchNorm2d, z: torch.Tensor) -> torch.Tensor:
    """What ``bn(z)`` computes in training mode, whatever ``bn.training`` is: normalise
    by the batch's statistics and update the running statistics once, with the
    module's momentum (``momentum=None``: cumulative average over the batches since
    ``num_batches_tracked`` was 0), exactly as torch.nn.BatchNorm2d.forward does."""
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    return F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=True,
                        momentum=momentum, eps=bn.eps)


def head(model: ConvNet, x: torch.Tensor) -> torch.Tensor:
    """f_{N+1}: average pool -> flatten -> fc1 -> ReLU."""
    return F.relu(model.fc1(torch.flatten(model.pool(x), 1)))


def n_layers(model: ConvNet) -> int:
    """Number of layer functions: the conv blocks, fc1 and fc2."""
    return len(model.blocks) + 2


def layer(model: ConvNet, index: int, x: torch.Tensor) -> torch.Tensor:
    """Layer function ``f_index`` (1-based) applied to its input, BatchNorm in batch mode."""
    n_blocks = len(model.blocks)
    if index <= n_blocks:
        return block(model.blocks[index - 1], x)[0]
    if index == n_blocks + 1:
        return head(model, x)
    if index == n_blocks + 2:
        return model.fc2(x)
    raise IndexError(f"layer {index} of a network with {n_blocks + 2} layers")


def layer_parameters(model: ConvNet, index: int) -> list[nn.Parameter]:
    """The parameters of layer function ``f_index`` (1-based)."""
    n_blocks = len(model.blocks)
    if index <= n_blocks:
        return list(model.blocks[index - 1].parameters())
    return list((model.fc1 if index == n_blocks + 1 else model.fc2).parameters())


@torch.no_grad()
def conv_sweep(model: ConvNet, images: torch.Tensor) -> list[torch.Tensor]:
    """The feed-forward values ``[r_0, r_1, ..., r_N]`` of a batch through the conv
    blocks (r_0 the normalised images, r_N the last block's pooled output), without
    gradients; BatchNorm's running statistics are updated once."""
    values = [model.normalise(images)]
    for module in model.blocks:
        values.append(block(module, values[-1], update_stats=True)[0])
    return values


@torch.no_grad()
def sweep(model: ConvNet, images: torch.Tensor) -> list[torch.Tensor]:
    """The feed-forward values ``[r_0, r_1, ..., r_L]`` of a batch (r_0 the normalised
    images, r_L the logits); BatchNorm's running statistics are updated once."""
    values = conv_sweep(model, images)
    values.append(head(model, values[-1]))
    values.append(model.fc2(values[-1]))
    return values


def forward(model: ConvNet, images: torch.Tensor, *, update_stats: bool = True) -> torch.Tensor:
    """The logits (N, classes) of [0, 1] images as in training, with gradients:
    BatchNorm on the batch's statistics whatever the module's mode; ``update_stats``
    updates its running statistics once (as ``model.train(); model(images)`` does)."""
    x = model.normalise(images)
    for module in model.blocks:
        x = block(module, x, update_stats=update_stats)[0]
    return model.fc2(head(model, x))


def conv_layer_names(model: ConvNet) -> list[str]:
    return [f"conv{i}" for i in range(1, len(model.blocks) + 1)]


def layer_weights(model: ConvNet) -> dict[str, nn.Parameter]:
    """Layer name -> weight of every layer with weights, input to output: conv1..convN, fc1, fc2."""
    weights = {f"conv{i}": b.conv.weight for i, b in enumerate(model.blocks, start=1)}
    weights["fc1"] = model.fc1.weight
    weights["fc2"] = model.fc2.weight
    return weights


def backprop_gradients(model: ConvNet, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Backprop's gradient of the mean cross-entropy w.r.t. every layer's weight
    (:func:`layer_weights`) on one batch, BatchNorm in batch mode as in training.

    The reference the local rules are compared with; BatchNorm's running statistics
    are left untouched, so calling it does not change the network.
    """
    loss = F.cross_entropy(forward(model, images, update_stats=False), labels)
    weights = layer_weights(model)
    grads = torch.autograd.grad(loss, list(weights.values()))
    return {name: g.detach() for name, g in zip(weights, grads)}


def alignment_with_backprop(updates: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
                            ) -> dict[str, float]:
    """How a rule's weight updates compare with backprop's gradients, per layer.

    ``updates``: layer name -> the rule's update direction in gradient convention
    (the quantity its optimiser subtracts), ``reference``: :func:`backprop_gradients`.
    Returns ``cos_bp_<layer>`` (cosine of the two, 1 = backprop's direction, NaN if
    either is zero) and ``norm_ratio_bp_<layer>`` (|update| / |backprop gradient|),
    computed in float64.
    """
    out: dict[str, float] = {}
    for name, update in updates.items():
        u, g = update.detach().flatten().double(), reference[name].detach().flatten().double()
        nu, ng = float(u.norm()), float(g.norm())
        out[f"cos_bp_{name}"] = float(u @ g) / (nu * ng) if nu > 0 and ng > 0 else math.nan
        out[f"norm_ratio_bp_{name}"] = nu / ng if ng > 0 else math.nan
    return out


def unit_drift(weight: torch.Tensor, initial: torch.Tensor) -> float:
    """How far a layer's units have turned from where they started, scale-free:
    ``1 - mean_u cos(w_u, w0_u)`` over the output units u (a conv layer's filters, a
    linear layer's rows), in float64. 0 = every unit points where it started (a unit
    that is bit-identical counts exactly 0), 1 = orthogonal on average, 2 = reversed.

    Scale-free because BatchNorm follows every conv (rescaling a filter does not change
    the network's function) and STDP renormalises its filters. A zero unit has cosine 0.
    ``weight``, ``initial``: tensors of one shape (units, ...).
    """
    if weight.shape != initial.shape:
        raise ValueError(f"weight of shape {tuple(weight.shape)} vs initial {tuple(initial.shape)}")
    w, w0 = weight.detach().flatten(1).double(), initial.detach().flatten(1).to(weight.device).double()
    cosines = F.cosine_similarity(w, w0, dim=1, eps=1e-300)
    cosines = torch.where((w == w0).all(1), torch.ones_like(cosines), cosines)
    return float(1.0 - cosines.mean())


def filter_similarity(weight: torch.Tensor) -> float:
    """Mean cosine over all pairs of distinct units (filters) of a layer, in float64:
    near 0 for random filters, 1 when they are all alike (a collapse of diversity).
    ``weight``: (units, ...) with at least two units."""
    w = weight.detach().flatten(1).double()
    n = w.shape[0]
    if n < 2:
        raise ValueError(f"filter similarity needs at least two filters; got {n}")
    unit = w / w.norm(dim=1, keepdim=True).clamp_min(1e-300)
    gram = unit @ unit.T
    return float((gram.sum() - gram.diagonal().sum()) / (n * (n - 1)))


def weight_diagnostics(model: ConvNet, initial: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The diagnostics the training loop logs for every rule and epoch: ``drift_<layer>``
    (:func:`unit_drift` from ``initial``, the seed's initialisation, for every layer of
    :func:`layer_weights`) and ``filter_similarity_<conv>`` (:func:`filter_similarity`
    of every conv layer)."""
    weights = layer_weights(model)
    out = {f"drift_{name}": unit_drift(w, initial[name]) for name, w in weights.items()}
    out.update({f"filter_similarity_{name}": filter_similarity(weights[name]) for name in conv_layer_names(model)})
    return out


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    """Angle between two tensors seen as vectors, in degrees (NaN if one is zero)."""
    a, b = a.detach().flatten().double(), b.detach().flatten().double()
    norm = a.norm() * b.norm()
    if norm == 0:
        return math.nan
    return math.degrees(math.acos(float((a @ b / norm).clamp(-1.0, 1.0))))


class Readout:
    """fc1 and fc2 trained by backprop on *detached* conv features: the read-out of
    the rules that train their conv layers without labels (PC unsupervised_conv,
    STDP). Adam with L2 weight decay and a cosine schedule, the paper's BP settings.
    """

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], epochs: int) -> None:
        self.model = model
        params = [*model.fc1.parameters(), *model.fc2.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=hyper["readout_lr"], weight_decay=hyper["readout_weight_decay"])
        self.schedule = make_schedule(self.optimizer, {"schedule": hyper["readout_schedule"]}, epochs)

    def step(self, features: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        """One update on the last block's pooled output; returns (loss sum, n correct)."""
        logits = self.model.fc2(head(self.model, features.detach()))
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()) * len(labels), int((logits.argmax(1) == labels).sum())

    def end_epoch(self) -> float:
        lr = self.optimizer.param_groups[0]["lr"]
        self.schedule.step()
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
