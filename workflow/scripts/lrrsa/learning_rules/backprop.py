"""Error backpropagation: autograd gradients of the cross-entropy, a standard optimiser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import forward
from lrrsa.learning_rules.optimisers import make_optimizer, make_schedule
from lrrsa.model import ConvNet

__all__ = ["Backprop", "make_optimizer", "make_schedule"]  # the factories, for the rules that import them here


@register
class Backprop(LearningRule):
    """One optimiser step on autograd's gradient of the batch's mean cross-entropy, the
    forward pass as in training (BatchNorm on the batch's statistics, running statistics
    updated once) whatever the module's train/eval mode."""

    name = "backprop"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.optimizer = make_optimizer(model.parameters(), self.hyper)
        self.schedule = make_schedule(self.optimizer, self.hyper, epochs)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        logits = forward(self.model, images)
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        n_correct = int((logits.argmax(1) == labels).sum())
        return StepResult(loss_sum=float(loss.detach()) * len(labels), n_correct=n_correct)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        lr = self.optimizer.param_groups[0]["lr"]
        self.schedule.step()
        return {"lr": lr}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
