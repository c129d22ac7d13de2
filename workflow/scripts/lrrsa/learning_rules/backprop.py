"""Error backpropagation: autograd gradients of the cross-entropy, a standard optimiser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.model import ConvNet


def make_optimizer(params, hyper: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = hyper["optimizer"]
    if name == "adam":
        # The paper's setting: L2 weight decay added to the gradient (not AdamW's decoupled decay).
        return torch.optim.Adam(params, lr=hyper["lr"], weight_decay=hyper["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=hyper["lr"], weight_decay=hyper["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"]
        )
    raise ValueError(f"unknown optimizer {name!r}")


def make_schedule(optimizer: torch.optim.Optimizer, hyper: Mapping[str, Any], epochs: int):
    """Per-epoch schedule: cosine annealing to 0 over all epochs, or constant."""
    if hyper["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


@register
class Backprop(LearningRule):
    name = "backprop"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.optimizer = make_optimizer(model.parameters(), self.hyper)
        self.schedule = make_schedule(self.optimizer, self.hyper, epochs)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        logits = self.model(images)
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
