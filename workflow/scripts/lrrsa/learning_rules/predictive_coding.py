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
    only: ``dtheta_l = -(d f_l / d theta_l)^T eps_l`` evaluated at the relaxed
    ``r_{l-1}`` (for a conv layer the convolutional weight gradient of its error,
    passed back through its own BatchNorm/ReLU/pool, at every position; for the
    output layer ``eps_L = -dE_out/df_L``). No gradient ever flows from one layer
    into another.

    *Numerics.* Near a low loss the errors of the lower layers are many orders
    of magnitude smaller than the activities (conv1: ~1e-9 against ~1), below
    float32's resolution, so value nodes stored as float32 lose them. Inference
    therefore carries the offsets ``delta_l = r_l - m_l`` from the feed-forward
    values ``m_l`` explicitly, in float64, and evaluates the *change* of a
    prediction, ``f_l(m_{l-1} + delta_{l-1}) - f_l(m_{l-1})``, exactly: a layer is
    a linear map ``C_l`` (the convolution, or pool-flatten-fc) followed by an
    element-wise/batch-statistic part ``F_l`` (BatchNorm-ReLU-max-pool, or bias
    and ReLU), so the change is ``F_l(z_l + C_l delta_{l-1}) - F_l(z_l)`` with
    ``z_l = C_l m_{l-1}``; ``C_l`` runs in float32 on the offset itself (relative
    precision of the offset; TF32 off on GPUs), ``F_l`` in float64. This is the
    same energy as in value-node form (a test checks it); only the element-wise
    parts run in float64.

    ``inference: fixed_prediction`` holds the predictions at their feed-forward
    values during inference (Millidge, Tschantz & Buckley 2022, Neural Comput.
    34:1329; Song et al. 2020): the errors then follow the linear dynamics
    ``eps_l <- (1 - alpha) eps_l + alpha J_{l+1}^T eps_{l+1}``, so after T steps
    the error k layers below the output is ``P(Binomial(T, alpha) >= k)`` times
    backprop's; with ``alpha = 1`` and at least L - 1 steps they equal backprop's
    gradients exactly (tests check both). Here the errors are carried explicitly
    and only multiplied by Jacobians, so float32 keeps their relative precision.
    With predictions held, the energy ``E_out + sum 1/2 ||eps_l||^2`` *rises*
    during inference as the errors arrive. benchmarks/LEARNING_RULES.md derives how
    T and alpha set convergence for both kinds of inference, with measurements.

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
before and after inference, averaged over the epoch's batches) and, on the epoch's
first batch, ``cos_bp_<layer>`` and ``norm_ratio_bp_<layer>``: the cosine and the
norm ratio of the rule's weight update to backprop's gradient of the mean
cross-entropy (:func:`network.alignment_with_backprop`; every layer for
``supervised``, the conv layers for ``unsupervised_conv``, where they describe how
the label-free update relates to the supervised gradient).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import (
    Readout, alignment_with_backprop, backprop_gradients, conv_layer_names, conv_sweep, layer, layer_weights, n_layers, sweep,
)
from lrrsa.learning_rules.optimisers import make_optimizer, make_schedule
from lrrsa.model import ConvNet


OUTPUT_ENERGIES = ("cross_entropy", "squared_error")
INFERENCE = ("standard", "fixed_prediction")


def output_energy(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """E_out summed over the batch: cross-entropy or 1/2 ||one_hot - logits||^2.

    ``logits`` (N, classes), any float dtype; ``labels`` (N,) class indices. Both are
    written with a one-hot mask (no gather or NLL kernel), which is deterministic on CUDA.
    """
    if kind not in OUTPUT_ENERGIES:
        raise ValueError(f"output_energy must be one of {OUTPUT_ENERGIES}, got {kind!r}")
    target = (labels[:, None] == torch.arange(logits.shape[1], device=logits.device)).to(logits.dtype)
    if kind == "cross_entropy":
        return -(target * F.log_softmax(logits, dim=1)).sum()
    return 0.5 * (target - logits).pow(2).sum()


def supervised_energy(model: ConvNet, values: Sequence[torch.Tensor], labels: torch.Tensor,
                      kind: str, first_prediction: torch.Tensor | None = None) -> torch.Tensor:
    """E of value nodes ``[r_0, r_1, ..., r_{L-1}]`` with the output clamped to ``labels``
    (summed over the batch), in value-node form: the definition the offset form of
    :class:`FeedForwardPoint` computes accurately. ``first_prediction``: f_1(r_0) if
    already known (r_0 is clamped, so it does not change during inference)."""
    n = n_layers(model)
    energy = output_energy(layer(model, n, values[n - 1]), labels, kind)
    for index in range(1, n):
        prediction = first_prediction if index == 1 and first_prediction is not None else \
            layer(model, index, values[index - 1])
        energy = energy + 0.5 * (values[index] - prediction).pow(2).sum()
    return energy


def linear_part(model: ConvNet, index: int, x: torch.Tensor) -> torch.Tensor:
    """C_l: the linear map of layer function ``f_index`` (1-based), without bias and
    with detached weights: the convolution of a conv block, pool-flatten-fc1 for fc1,
    fc2's matrix for fc2. Runs in ``x``'s dtype (float32 for the model's weights)."""
    n_blocks = len(model.blocks)
    if index <= n_blocks:
        conv = model.blocks[index - 1].conv
        return F.conv2d(x, conv.weight.detach(), None, conv.stride, conv.padding)
    if index == n_blocks + 1:
        return F.linear(torch.flatten(model.pool(x), 1), model.fc1.weight.detach())
    return F.linear(x, model.fc2.weight.detach())


def nonlinear_part(model: ConvNet, index: int, z: torch.Tensor) -> torch.Tensor:
    """F_l: the rest of ``f_index`` after :func:`linear_part`, in ``z``'s dtype (float64
    in inference): BatchNorm (batch statistics, running statistics untouched) -> ReLU
    -> max-pool 2 for a conv block, bias -> ReLU for fc1, bias for fc2."""
    n_blocks = len(model.blocks)
    if index <= n_blocks:
        bn = model.blocks[index - 1].bn
        z = F.batch_norm(z, None, None, bn.weight.detach().to(z.dtype), bn.bias.detach().to(z.dtype),
                         training=True, eps=bn.eps)
        return F.max_pool2d(F.relu(z), 2)
    bias = (model.fc1 if index == n_blocks + 1 else model.fc2).bias.detach().to(z.dtype)
    return F.relu(z + bias) if index == n_blocks + 1 else z + bias


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """cuDNN convolutions and cuBLAS matrix products in full float32 inside the block.

    On recent GPUs PyTorch lets cuDNN convolve float32 tensors in TF32 (10-bit mantissa)
    by default; the offset form's errors are differences of such products and would keep
    only about three digits. No effect on the CPU.
    """
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32
    cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved


class FeedForwardPoint:
    """A batch's feed-forward pass, the point the value nodes are offsets from.

    ``values``: :func:`network.sweep`'s ``[m_0, ..., m_L]`` (float32; m_0 the
    normalised images (N, 3, H, W), m_L the logits (N, classes)). Keeps, per layer
    l = 1..L, ``z_l = C_l m_{l-1}`` and ``F_l(z_l)`` in float64, so that the change of
    a prediction under an offset ``delta`` of its input,
    ``f_l(m_{l-1} + delta) - f_l(m_{l-1}) = F_l(z_l + C_l delta) - F_l(z_l)``, is exact
    to float64's resolution relative to the change itself (C_l is linear and runs on
    the offset alone). Offsets are float64 tensors shaped like ``m_l``.
    """

    def __init__(self, model: ConvNet, values: Sequence[torch.Tensor], labels: torch.Tensor, kind: str) -> None:
        self.model, self.labels, self.kind = model, labels, kind
        self.n = n_layers(model)
        self.values = [v.detach() for v in values]
        with torch.no_grad(), full_float32():
            self.pre = [None] + [linear_part(model, i, self.values[i - 1]).double() for i in range(1, self.n + 1)]
            self.base = [None] + [nonlinear_part(model, i, self.pre[i]) for i in range(1, self.n + 1)]

    def prediction(self, index: int, delta: torch.Tensor | None) -> torch.Tensor:
        """f_index at the offset input m_{index-1} + delta (float64; delta None = 0)."""
        if delta is None:
            return self.base[index]
        change = linear_part(self.model, index, delta.to(self.values[index - 1].dtype)).double()
        return nonlinear_part(self.model, index, self.pre[index] + change)

    def change(self, index: int, delta: torch.Tensor) -> torch.Tensor:
        """f_index(m_{index-1} + delta) - f_index(m_{index-1}), float64."""
        return self.prediction(index, delta) - self.base[index]

    def errors(self, deltas: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(hidden errors eps_1..eps_{L-1}, relaxed logits f_L(r_{L-1}), energy E) of the
        hidden offsets ``deltas`` = [delta_1, ..., delta_{L-1}]; all float64, E summed over
        the batch. r_0 is clamped (delta_0 = 0), so eps_1 = delta_1."""
        eps = [deltas[0]] + [deltas[i - 1] - self.change(i, deltas[i - 2]) for i in range(2, self.n)]
        logits = self.prediction(self.n, deltas[-1])
        energy = output_energy(logits, self.labels, self.kind) + sum(0.5 * e.pow(2).sum() for e in eps)
        return eps, logits, energy

    def standard_inference(self, steps: int, rate: float) -> tuple[list[torch.Tensor], list[torch.Tensor], list[float]]:
        """Gradient descent on E w.r.t. the hidden offsets, predictions recomputed at
        every step. Returns (offsets delta_1..delta_{L-1}, errors eps_1..eps_L,
        energies summed over the batch before each step and after the last)."""
        deltas = [torch.zeros_like(v, dtype=torch.float64, requires_grad=True) for v in self.values[1:self.n]]
        energies = []
        with full_float32():
            for _ in range(steps):
                _, _, energy = self.errors(deltas)
                energies.append(float(energy.detach()))
                grads = torch.autograd.grad(energy, deltas)
                with torch.no_grad():
                    for delta, grad in zip(deltas, grads):
                        delta.sub_(rate * grad)
            with torch.no_grad():
                eps, logits, energy = self.errors(deltas)
        energies.append(float(energy))
        return [d.detach() for d in deltas], [*eps, output_error(logits, self.labels, self.kind)], energies

    def relaxed_inputs(self, deltas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The layers' inputs at the relaxed nodes, ``[m_0, m_1 + delta_1, ...]`` in the
        model's dtype (rounding the offsets here only moves the point at which a layer's
        weight gradient is taken, by a relative 1e-7)."""
        return [self.values[0]] + [(m.double() + d).to(m.dtype) for m, d in zip(self.values[1:self.n], deltas)]


def output_error(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """eps_L = -dE_out/df_L at ``logits`` (N, classes), in float64."""
    logits = logits.detach().double().requires_grad_(True)
    with torch.enable_grad():
        return -torch.autograd.grad(output_energy(logits, labels, kind), logits)[0]


def fixed_prediction_inference(model: ConvNet, values: Sequence[torch.Tensor], labels: torch.Tensor, kind: str,
                               steps: int, rate: float,
                               ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[float]]:
    """Inference with the predictions held at their feed-forward values ``values`` =
    :func:`network.sweep`'s ``[m_0, ..., m_L]``:
    ``eps_l <- eps_l - rate (eps_l - J_{l+1}^T eps_{l+1})``, J_{l+1} the Jacobian of f_{l+1}
    at m_l, eps_L = -dE_out/dm_L fixed.

    Every quantity is a product of Jacobians and errors, never a difference of nearly
    equal activities, so float32 keeps its relative precision here. Returns (the layers'
    inputs m_0..m_{L-1}, their outputs mu_1..mu_L on a graph whose leaves are those
    detached inputs and the parameters, the errors eps_1..eps_L, the energies
    ``E_out(m_L) + sum_l 1/2 ||eps_l||^2`` summed over the batch before each step and
    after the last).
    """
    n = n_layers(model)
    inputs = [v.detach().clone().requires_grad_(i > 0) for i, v in enumerate(values[:n])]
    with torch.enable_grad():
        mus = [layer(model, index, inputs[index - 1]) for index in range(1, n + 1)]
    eps_out = output_error(mus[-1], labels, kind).to(mus[-1].dtype)
    errors = [torch.zeros_like(mu) for mu in mus[:-1]] + [eps_out]
    out_energy = float(output_energy(mus[-1].detach().double(), labels, kind))

    def energy() -> float:
        return out_energy + sum(0.5 * float(e.double().pow(2).sum()) for e in errors[:-1])

    energies = []
    for _ in range(steps):
        energies.append(energy())
        # v_l = J_{l+1}^T eps_{l+1}: each layer's own vector-Jacobian product, at its feed-forward input.
        drive = sum((mu * eps).sum() for mu, eps in zip(mus[1:], errors[1:]))
        feedback = torch.autograd.grad(drive, inputs[1:], retain_graph=True)
        errors = [eps - rate * (eps - v) for eps, v in zip(errors[:-1], feedback)] + [eps_out]
    energies.append(energy())
    return inputs, mus, errors, energies


def local_updates(outputs: Sequence[torch.Tensor], errors: Sequence[torch.Tensor], params: Sequence[nn.Parameter],
                  n_images: int) -> list[torch.Tensor | None]:
    """Each layer's update from its own error, ``dtheta_l = -(d f_l / d theta_l)^T eps_l / N``
    (the gradient of the mean energy w.r.t. its parameters), in the order of ``params``
    (None for a parameter no layer uses). ``outputs[l]`` is f_l evaluated on a detached
    input, so no gradient passes from one layer into another."""
    drive = sum((out * eps.to(out.dtype)).sum() for out, eps in zip(outputs, errors))
    return list(torch.autograd.grad(-drive / n_images, list(params), allow_unused=True))


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
            for key, allowed in (("inference", INFERENCE), ("output_energy", OUTPUT_ENERGIES)):
                if self.hyper[key] not in allowed:
                    raise ValueError(f"predictive_coding {key} must be one of {allowed}, got {self.hyper[key]!r}")
            self.decoders = None
            self.readout = None
            params = list(model.parameters())
        elif self.variant == "unsupervised_conv":
            self.decoders = make_decoders(model, self.init_generator)
            self.readout = Readout(model, self.hyper, epochs)
            params = [*model.blocks.parameters(), *self.decoders.parameters()]
        else:
            raise ValueError(f"predictive_coding variant must be 'supervised' or 'unsupervised_conv', "
                             f"got {self.variant!r}")
        self.params = params
        self.optimizer = make_optimizer(params, self.hyper)
        self.schedule = make_schedule(self.optimizer, self.hyper, epochs)
        self._energy = [0.0, 0.0, 0]
        self._alignment: dict[str, float] = {}

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        super().start_epoch(epoch, generator)
        self._energy = [0.0, 0.0, 0]
        self._alignment = {}

    # -- supervised ---------------------------------------------------------------

    def supervised_gradients(self, images: torch.Tensor, labels: torch.Tensor,
                             ) -> tuple[torch.Tensor, list[torch.Tensor | None], list[float]]:
        """(feed-forward logits, PC weight updates as gradients of the mean energy in the
        order of ``self.params``, energies per image before each inference step and
        after the last). Updates BatchNorm's running statistics once (the sweep)."""
        model, kind, n = self.model, self.hyper["output_energy"], len(labels)
        values = sweep(model, images)
        if self.hyper["inference"] == "fixed_prediction":
            # dtheta_l = -(d f_l / d theta_l)^T eps_l, each at its feed-forward input.
            _, outputs, errors, energies = fixed_prediction_inference(model, values, labels, kind,
                                                                      self.steps, self.rate)
        else:
            point = FeedForwardPoint(model, values, labels, kind)
            deltas, errors, energies = point.standard_inference(self.steps, self.rate)
            with torch.enable_grad():
                outputs = [layer(model, index, x) for index, x in enumerate(point.relaxed_inputs(deltas), start=1)]
        grads = local_updates(outputs, errors, self.params, n)
        return values[-1], grads, [e / n for e in energies]

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

    def _compare_with_backprop(self, grads: Sequence[torch.Tensor | None], reference: Mapping[str, torch.Tensor],
                               ) -> dict[str, float]:
        """cos_bp_<layer>, norm_ratio_bp_<layer> of this step's updates (the layers this
        variant updates by PC: every layer, or the conv layers)."""
        index = {id(p): i for i, p in enumerate(self.params)}
        names = conv_layer_names(self.model) if self.variant == "unsupervised_conv" else list(reference)
        weights = layer_weights(self.model)
        updates = {name: grads[index[id(weights[name])]] for name in names}
        return alignment_with_backprop(updates, reference)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        # Backprop's gradient on the epoch's first batch, before anything changes.
        reference = backprop_gradients(self.model, images, labels) if not self._alignment else None
        if self.variant == "supervised":
            logits, grads, energies = self.supervised_gradients(images, labels)
            loss_sum = float(output_energy(logits, labels, "cross_entropy"))
            n_correct = int((logits.argmax(1) == labels).sum())
        else:
            values = conv_sweep(self.model, images)
            # The read-out first, on the detached feed-forward features of this batch.
            loss_sum, n_correct = self.readout.step(values[-1], labels)
            grads, energies = self.unsupervised_gradients(values)
        if reference is not None:
            self._alignment = self._compare_with_backprop(grads, reference)
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
        return {**out, **self._alignment}

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}
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

    def model_state(self) -> dict[str, torch.Tensor]:
        if self.decoders is None:
            return {}
        return {f"decoders.{k}": v.detach().cpu().clone() for k, v in self.decoders.state_dict().items()}
