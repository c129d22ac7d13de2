"""Predictive coding: inference on value nodes, then local weight updates.

Two variants, chosen per condition by ``variant``.

``supervised`` (Whittington & Bogacz 2017, Neural Comput. 29:1229)
    Every layer function ``f_l`` of the ConvNet (see :mod:`network`: the conv
    blocks, fc1, fc2) gets value nodes ``r_l``; the input ``r_0`` is clamped to
    the (normalised) images and the output to the labels. The energy is

        E = sum_{l<L} 1/2 ||eps_l||^2 + E_out(f_L(r_{L-1}), y),   eps_l = r_l - f_l(r_{l-1}),

    with ``E_out`` the cross-entropy (default; the "generalised" PC of Pinchetti
    et al. 2022, so that PC's exact limit is the gradient of the very loss the BP
    condition minimises) or 1/2 ||y - f_L||^2 (Whittington & Bogacz's Gaussian
    output). The value nodes start at the feed-forward pass (all hidden errors
    zero), then T steps of gradient descent on E at rate ``alpha`` (the
    "inference"), then one weight update of every layer from its *own* error
    only: ``dtheta_l ~ (d f_l / d theta_l)^T eps_l`` evaluated at the relaxed
    ``r_{l-1}`` (for a conv layer the convolutional weight gradient of its error,
    passed back through its own BatchNorm/ReLU/pool, at every position). Both
    are computed on a graph whose inputs are detached value nodes, so no
    gradient ever flows from one layer into another.

    ``inference: fixed_prediction`` holds the predictions at their feed-forward
    values during inference (Millidge, Tschantz & Buckley 2022, Neural Comput.
    34:1329; Song et al. 2020): with ``alpha = 1`` and at least L - 1 steps the
    errors equal backprop's gradients exactly (a test checks this).

``unsupervised_conv`` (the paper's description; Rao & Ballard 1999 with an
amortised bottom-up sweep, i.e. "hybrid" PC, Tschantz et al. 2023 PLoS Comput.
Biol. 19:e1011280)
    Value nodes ``r_1..r_N`` at the conv blocks' outputs; ``r_0`` clamped to the
    images. Each level makes two predictions: a learned *top-down* prediction of
    the level below, ``g_l(r_l)`` (nearest upsampling x2, then a 3x3 conv: the
    decoders, trained, saved with the model), and the block's own *bottom-up*
    prediction ``f_l(r_{l-1})`` (the ConvNet's conv block). The energy is

        E = sum_l 1/2 ||r_{l-1} - g_l(r_l)||^2 + lambda/2 ||r_l - f_l(r_{l-1})||^2.

    Inference relaxes ``r_1..r_N`` from the feed-forward sweep; then the
    decoders and the conv blocks (conv weights and BatchNorm affine) take one
    local step on E. No label enters; fc1/fc2 are a read-out trained by
    backprop on the detached feed-forward conv features.

Per epoch the rule logs ``energy_before``/``energy_after`` (mean energy per image
before and after inference, averaged over the epoch's batches) and
``drift_<conv>`` = ||W - W_init|| / ||W_init|| of every conv layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrrsa.learning_rules.backprop import make_optimizer, make_schedule
from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import Drift, Readout, layer, n_layers, sweep
from lrrsa.model import ConvNet


def output_energy(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """E_out summed over the batch: cross-entropy or 1/2 ||one_hot - logits||^2."""
    if kind == "cross_entropy":
        return F.cross_entropy(logits, labels, reduction="sum")
    if kind == "squared_error":
        target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        return 0.5 * (target - logits).pow(2).sum()
    raise ValueError(f"unknown output_energy {kind!r}")


def supervised_energy(model: ConvNet, values: Sequence[torch.Tensor], labels: torch.Tensor,
                      kind: str, first_prediction: torch.Tensor | None = None) -> torch.Tensor:
    """E of value nodes ``[r_0, r_1, ..., r_{L-1}]`` with the output clamped to ``labels``
    (summed over the batch). ``first_prediction``: f_1(r_0) if already known (r_0 is
    clamped, so it does not change during inference)."""
    n = n_layers(model)
    energy = output_energy(layer(model, n, values[n - 1]), labels, kind)
    for index in range(1, n):
        prediction = first_prediction if index == 1 and first_prediction is not None else \
            layer(model, index, values[index - 1])
        energy = energy + 0.5 * (values[index] - prediction).pow(2).sum()
    return energy


class Decoder(nn.Module):
    """Top-down prediction g_l of the level below: upsample to its size, conv 3x3 (+ bias)."""

    def __init__(self, channels_above: int, channels_below: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_above, channels_below, kernel_size=3, padding=1)

    def forward(self, above: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(above, size=size, mode="nearest"))


def make_decoders(model: ConvNet, generator: torch.Generator) -> nn.ModuleList:
    """One decoder per conv block, N(0, 1/fan_in) weights (a linear map that keeps the
    scale), zero biases, drawn from the rule's seeded generator."""
    channels = (model.arch.in_channels, *model.arch.widths)
    decoders = nn.ModuleList(Decoder(above, below) for below, above in zip(channels[:-1], channels[1:]))
    with torch.no_grad():
        for decoder in decoders:
            w = decoder.conv.weight
            w.copy_(torch.randn(w.shape, generator=generator) / math.sqrt(w[0].numel()))
            decoder.conv.bias.zero_()
    return decoders.to(next(model.parameters()).device)


def unsupervised_energy(model: ConvNet, decoders: nn.ModuleList, values: Sequence[torch.Tensor],
                        bottom_up_weight: float, first_prediction: torch.Tensor | None = None) -> torch.Tensor:
    """E of the conv hierarchy's value nodes ``[r_0, r_1, ..., r_N]`` (summed over the batch).
    ``first_prediction``: f_1(r_0) if already known."""
    energy = values[0].new_zeros(())
    for index in range(1, len(values)):
        below, above = values[index - 1], values[index]
        top_down = decoders[index - 1](above, below.shape[-2:])
        energy = energy + 0.5 * (below - top_down).pow(2).sum()
        if bottom_up_weight:
            bottom_up = first_prediction if index == 1 and first_prediction is not None else \
                layer(model, index, below)
            energy = energy + 0.5 * bottom_up_weight * (above - bottom_up).pow(2).sum()
    return energy


def relax(energy_of, clamped: torch.Tensor, free: Sequence[torch.Tensor], steps: int, rate: float,
          first_prediction: torch.Tensor | None = None) -> tuple[torch.Tensor, list[float]]:
    """Gradient descent on ``energy_of([clamped, *free])`` w.r.t. the free value nodes.

    Returns the energy at the relaxed nodes, on a graph whose inputs are the
    detached relaxed nodes (so its parameter gradients are the local weight
    updates), and the energies (summed over the batch) before each step and after
    the last: steps + 1 values. ``first_prediction`` (f_1 of the clamped input,
    detached) is passed on to ``energy_of`` during inference, where it cannot change.
    """
    free = [v.detach().clone().requires_grad_(True) for v in free]
    energies = []
    for _ in range(steps):
        energy = energy_of([clamped, *free], first_prediction) if first_prediction is not None else \
            energy_of([clamped, *free])
        energies.append(float(energy.detach()))
        grads = torch.autograd.grad(energy, free)
        with torch.no_grad():
            for value, grad in zip(free, grads):
                value.sub_(rate * grad)
    energy = energy_of([clamped, *(v.detach() for v in free)])
    energies.append(float(energy.detach()))
    return energy, energies


def fixed_prediction_errors(model: ConvNet, values: Sequence[torch.Tensor], labels: torch.Tensor, kind: str,
                            steps: int, rate: float) -> tuple[list[torch.Tensor], list[torch.Tensor], list[float]]:
    """Inference with the predictions held at their feed-forward values.

    ``values`` is the feed-forward sweep ``[r_0, ..., r_L]``. Returns the predictions
    ``mu_1..mu_L`` (on a graph whose inputs are the detached feed-forward values), the
    errors ``eps_1..eps_L`` (eps_L = -dE_out/dmu_L, fixed) and the energies.
    """
    n = n_layers(model)
    inputs = [v.detach().clone().requires_grad_(i > 0) for i, v in enumerate(values[:n])]
    mus = [layer(model, index, inputs[index - 1]) for index in range(1, n + 1)]
    out_energy = output_energy(mus[-1], labels, kind)
    eps_out = -torch.autograd.grad(out_energy, mus[-1], retain_graph=True)[0]
    errors = [torch.zeros_like(mu) for mu in mus[:-1]] + [eps_out]

    def energy() -> float:
        return float(out_energy.detach()) + sum(0.5 * float(e.pow(2).sum()) for e in errors[:-1])

    energies = []
    for _ in range(steps):
        energies.append(energy())
        # v_l = J_{l+1}^T eps_{l+1}: each layer's own vector-Jacobian product, at its feed-forward input.
        drive = sum((mu * eps).sum() for mu, eps in zip(mus[1:], errors[1:]))
        feedback = torch.autograd.grad(drive, inputs[1:], retain_graph=True)
        errors = [eps - rate * (eps - v) for eps, v in zip(errors[:-1], feedback)] + [eps_out]
    energies.append(energy())
    return mus, errors, energies


@register
class PredictiveCoding(LearningRule):
    """Predictive coding, ``supervised`` or ``unsupervised_conv`` (see the module docstring)."""

    name = "predictive_coding"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.variant = self.hyper["variant"]
        self.steps = self.hyper["inference_steps"]
        self.rate = self.hyper["inference_rate"]
        if self.variant == "supervised":
            self.decoders = None
            self.readout = None
            params = list(model.parameters())
        elif self.variant == "unsupervised_conv":
            self.decoders = make_decoders(model, self.init_generator)
            self.readout = Readout(model, self.hyper, epochs)
            params = [*model.blocks.parameters(), *self.decoders.parameters()]
        else:
            raise ValueError(f"unknown predictive coding variant {self.variant!r}")
        self.params = params
        self.optimizer = make_optimizer(params, self.hyper)
        self.schedule = make_schedule(self.optimizer, self.hyper, epochs)
        self._energy = [0.0, 0.0, 0]
        self.drift = Drift(model)

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        super().start_epoch(epoch, generator)
        self._energy = [0.0, 0.0, 0]

    # -- supervised ---------------------------------------------------------------

    def supervised_gradients(self, images: torch.Tensor, labels: torch.Tensor,
                             ) -> tuple[torch.Tensor, list[torch.Tensor], list[float]]:
        """(feed-forward logits, PC weight updates as gradients of the mean energy,
        energies per image before each inference step and after the last)."""
        model, kind, n = self.model, self.hyper["output_energy"], len(labels)
        values = sweep(model, images)
        if self.hyper["inference"] == "fixed_prediction":
            mus, errors, energies = fixed_prediction_errors(model, values, labels, kind, self.steps, self.rate)
            # dtheta_l = -(d mu_l / d theta_l)^T eps_l, each at its feed-forward input.
            drive = sum((mu * eps.detach()).sum() for mu, eps in zip(mus, errors))
            grads = torch.autograd.grad(-drive / n, self.params, allow_unused=True)
        else:
            energy, energies = relax(lambda v, first=None: supervised_energy(model, v, labels, kind, first),
                                     values[0], values[1:-1], self.steps, self.rate, values[1])
            grads = torch.autograd.grad(energy / n, self.params, allow_unused=True)
        return values[-1], list(grads), [e / n for e in energies]

    # -- unsupervised_conv ----------------------------------------------------------

    def unsupervised_gradients(self, values: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[float]]:
        """PC weight updates (gradients of the mean energy) of the conv blocks and decoders,
        from the feed-forward conv values ``[r_0, ..., r_N]``; energies per image."""
        weight, n = self.hyper["bottom_up_weight"], len(values[0])

        def energy_of(v, first=None):
            return unsupervised_energy(self.model, self.decoders, v, weight, first)

        energy, energies = relax(energy_of, values[0], values[1:], self.steps, self.rate, values[1])
        grads = torch.autograd.grad(energy / n, self.params, allow_unused=True)
        return list(grads), [e / n for e in energies]

    # -- the rule ------------------------------------------------------------------

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        if self.variant == "supervised":
            logits, grads, energies = self.supervised_gradients(images, labels)
            loss_sum = float(F.cross_entropy(logits, labels, reduction="sum"))
            n_correct = int((logits.argmax(1) == labels).sum())
        else:
            values = sweep(self.model, images)[: len(self.model.blocks) + 1]
            # The read-out first, on the detached feed-forward features of this batch.
            loss_sum, n_correct = self.readout.step(values[-1], labels)
            grads, energies = self.unsupervised_gradients(values)
        for p, g in zip(self.params, grads):
            p.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._energy[0] += energies[0]
        self._energy[1] += energies[-1]
        self._energy[2] += 1
        return StepResult(loss_sum=loss_sum, n_correct=n_correct)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        out = {"lr": self.optimizer.param_groups[0]["lr"]}
        self.schedule.step()
        if self.readout is not None:
            out["readout_lr"] = self.readout.end_epoch()
        batches = max(self._energy[2], 1)
        out["energy_before"] = self._energy[0] / batches
        out["energy_after"] = self._energy[1] / batches
        return {**out, **self.drift()}

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                 "drift": self.drift.state_dict()}
        if self.decoders is not None:
            state["decoders"] = self.decoders.state_dict()
            state["readout"] = self.readout.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.decoders is not None:
            self.decoders.load_state_dict(state["decoders"])
            self.readout.load_state_dict(state["readout"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.drift.load_state_dict(state["drift"])

    def model_state(self) -> dict[str, torch.Tensor]:
        if self.decoders is None:
            return {}
        return {f"decoders.{k}": v.detach().cpu().clone() for k, v in self.decoders.state_dict().items()}
