"""The untrained control: the seed's He-normal initialisation, never updated.

By default (``batchnorm: calibrated``) its BatchNorm running statistics are
estimated on the training images, so that at extraction (eval mode) its BatchNorm
is a per-channel affine map calibrated on the data exactly like every trained
network's, and untrained-vs-trained comparisons differ only in the weights:
one pass over the training set in the training loop's batch order, forward passes
in training mode (batch statistics), no weight change, the running mean and
variance the cumulative average of the batches' statistics (BatchNorm with
``momentum=None``). ``batchnorm: identity`` keeps the running statistics at 0 and
1, i.e. BatchNorm is the identity in eval mode, as in the paper's untrained model.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import conv_sweep
from lrrsa.model import ConvNet

BATCHNORM_MODES = ("calibrated", "identity")


@torch.no_grad()
def calibrate_batchnorm(model: ConvNet, batches: Iterable[torch.Tensor]) -> int:
    """Estimate every conv block's BatchNorm running statistics on ``batches`` of [0, 1]
    images (N, 3, H, W), without changing any weight: the running mean (variance) ends
    as the mean over the batches of each batch's per-channel mean (unbiased variance)
    of the conv output, the batch normalised by its own statistics as in training.
    Returns the number of batches; an empty iterable is an error."""
    norms = [b.bn for b in model.blocks]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    n = 0
    try:
        for images in batches:
            conv_sweep(model, images)
            n += 1
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
    if n == 0:
        raise ValueError("calibrate_batchnorm: no batches to estimate the BatchNorm statistics from")
    return n


@register
class Untrained(LearningRule):
    """The He-normal initialisation; ``hyper["batchnorm"]``: calibrated (default) or identity."""

    name = "untrained"
    trains = False

    def __init__(self, model: ConvNet, hyper, *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.batchnorm = self.hyper.get("batchnorm", "calibrated")
        if self.batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"untrained: batchnorm is {self.batchnorm!r}; expected one of {list(BATCHNORM_MODES)}")

    def calibrate(self, batches: Iterable[torch.Tensor]) -> None:
        if self.batchnorm == "calibrated":
            calibrate_batchnorm(self.model, batches)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        raise RuntimeError("the untrained condition takes no training steps")
