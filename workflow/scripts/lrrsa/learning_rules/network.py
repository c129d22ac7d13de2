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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrrsa.learning_rules.backprop import make_schedule
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
        z = bn(z)  # the module in training mode: batch statistics, running statistics updated
    else:
        z = F.batch_norm(z, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    activation = F.relu(z)
    return F.max_pool2d(activation, 2), activation


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
def sweep(model: ConvNet, images: torch.Tensor) -> list[torch.Tensor]:
    """The feed-forward values ``[r_0, r_1, ..., r_L]`` of a batch (r_0 the normalised
    images, r_L the logits); BatchNorm's running statistics are updated once."""
    values = [model.normalise(images)]
    for module in model.blocks:
        values.append(block(module, values[-1], update_stats=True)[0])
    values.append(head(model, values[-1]))
    values.append(model.fc2(values[-1]))
    return values


def conv_layer_names(model: ConvNet) -> list[str]:
    return [f"conv{i}" for i in range(1, len(model.blocks) + 1)]


class Drift:
    """How far each conv layer's weights have moved from where training started:
    ``drift_<conv> = ||W - W_start|| / ||W_start||`` (0 = still the initialisation)."""

    def __init__(self, model: ConvNet) -> None:
        self.model = model
        self.start = [b.conv.weight.detach().clone() for b in model.blocks]

    def __call__(self) -> dict[str, float]:
        return {f"drift_{name}": float((b.conv.weight.detach() - w0).norm() / w0.norm())
                for name, b, w0 in zip(conv_layer_names(self.model), self.model.blocks, self.start)}

    def state_dict(self) -> list[torch.Tensor]:
        return [w.clone() for w in self.start]

    def load_state_dict(self, state: list[torch.Tensor]) -> None:
        self.start = [w.to(self.start[0].device) for w in state]


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
