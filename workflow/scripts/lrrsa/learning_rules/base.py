"""The interface every learning rule implements, and the registry that finds them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from lrrsa.model import ConvNet


@dataclass
class StepResult:
    """What one mini-batch update reports: the summed loss and number correct
    (sums, so that epoch means weight every image equally)."""

    loss_sum: float
    n_correct: int


class LearningRule(ABC):
    """Trains a ConvNet one mini-batch at a time.

    A rule owns its optimiser state and any random state it needs; the training
    loop owns data order, evaluation and checkpoints. ``hyper`` is the rule's
    validated condition config (see the schema's $defs).
    """

    name: ClassVar[str]
    #: False for rules that leave the network at its initialisation.
    trains: ClassVar[bool] = True

    def __init__(
        self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.hyper = dict(hyper)
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        #: Seeded from (seed, epoch 0) by the training loop: the rule's own random
        #: initial state (e.g. FA's feedback kernels) is reproducible per seed.
        self.init_generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.generator: torch.Generator | None = None

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Called before each epoch (1-based) with a generator seeded from (seed, epoch),
        so that a resumed run draws the same random numbers as an uninterrupted one."""
        self.generator = generator

    @abstractmethod
    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        """Update the model on one batch of normalised-by-the-model [0, 1] images.

        The step must not depend on the module's train/eval mode (BatchNorm in batch
        mode, as in training: see lrrsa.learning_rules.network)."""

    def calibrate(self, batches: Iterable[torch.Tensor]) -> None:
        """Called once instead of training by a rule that takes no steps (``trains``
        False), with the training images in the loop's batch order (epoch 1's), before
        epoch 0 is evaluated. The untrained control estimates BatchNorm's running
        statistics here; by default nothing happens."""

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Advance schedules; return the rule's own diagnostics for history.tsv."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Optimiser and schedule state for checkpoints (model weights are saved separately)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def model_state(self) -> dict[str, torch.Tensor]:
        """Tensors that belong with the trained model (e.g. FA's fixed feedback kernels,
        PC's learned top-down predictors); saved in model.pt as ``rule_state``."""
        return {}


RULES: dict[str, type[LearningRule]] = {}


def register(cls: type[LearningRule]) -> type[LearningRule]:
    """Class decorator adding a rule to RULES under its ``name``."""
    if cls.name in RULES:
        raise ValueError(f"learning rule {cls.name!r} registered twice")
    RULES[cls.name] = cls
    return cls


def make_rule(
    model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
    generator: torch.Generator | None = None,
) -> LearningRule:
    """Instantiate the rule a condition config names (``hyper["rule"]``).

    ``generator`` seeds the rule's own random initial state (default: seed 0).
    """
    try:
        cls = RULES[hyper["rule"]]
    except KeyError:
        raise ValueError(f"unknown learning rule {hyper['rule']!r}; known: {sorted(RULES)}") from None
    return cls(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
