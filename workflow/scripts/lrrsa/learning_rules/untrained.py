"""The untrained control: the He-normal initialisation, never updated."""

from __future__ import annotations

import torch

from lrrsa.learning_rules.base import LearningRule, StepResult, register


@register
class Untrained(LearningRule):
    name = "untrained"
    trains = False

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        raise RuntimeError("the untrained condition takes no training steps")
