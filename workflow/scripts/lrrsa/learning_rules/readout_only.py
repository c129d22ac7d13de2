"""The read-out-only control: conv layers frozen at the seed's initialisation, fc1/fc2
trained by backprop on their features.

It separates "a read-out was trained" from "the rule changed the conv layers": the
PC (unsupervised_conv) and STDP conditions train exactly this read-out
(:class:`~lrrsa.learning_rules.network.Readout`: Adam with L2 weight decay and a
schedule, the same hyperparameter names) on conv layers their rule changed; here the
conv layers stay as initialised. Conv weights and BatchNorm's affine parameters never
change; BatchNorm's running statistics follow the data (updated once per batch, as in
the PC and STDP read-outs), so that in eval mode BatchNorm is calibrated like every
trained network's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import Readout, conv_sweep
from lrrsa.model import ConvNet


@register
class ReadoutOnly(LearningRule):
    """fc1/fc2 by backprop on the detached features of the frozen conv stack."""

    name = "readout_only"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.readout = Readout(model, self.hyper, epochs)
        for b in model.blocks:  # no gradient of any kind reaches the conv stack
            b.requires_grad_(False)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        features = conv_sweep(self.model, images)[-1]
        loss_sum, n_correct = self.readout.step(features, labels)
        return StepResult(loss_sum=loss_sum, n_correct=n_correct)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        return {"readout_lr": self.readout.end_epoch()}

    def state_dict(self) -> dict[str, Any]:
        return {"readout": self.readout.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.readout.load_state_dict(state["readout"])
