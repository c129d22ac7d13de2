"""Spike-timing-dependent plasticity for the conv layers, a backprop read-out on top.

Each conv layer learns without labels from the spikes of the layer below, in the
manner of Masquelier & Thorpe (2007) and Kheradpisheh et al. (2018, Neural Netw.
99:56), with a pair-based exponential STDP window (Bi & Poo 1998; Song, Miller &
Abbott 2000):

1. **Encoding.** The layer's input activity ``a`` (the normalised image for
   conv1, the pooled output of the block below otherwise; detached) becomes
   spikes over ``T`` steps. ``poisson`` (the paper): at every step a neuron fires
   with probability ``|a| / max|a|`` (per image). ``latency``: one spike at step
   ``floor((1 - |a| / max|a|) T)`` (stronger fires earlier), none for ``a = 0``.
   Signed inputs (the normalised image) are ON/OFF pairs with tied weights: a
   spike from a negative input carries the sign -1, so its synapse changes in
   the opposite direction (what the OFF cell's synapse ``-w`` would do).
2. **Post-synaptic neurons** are the conv layer's units: non-leaky
   integrate-and-fire, ``V_t = conv(W, cumulative input spikes up to t)``, firing
   at the first step with ``V_t >= theta``. The threshold is set per layer and
   batch so that a fraction ``firing_fraction`` of all units fires by step T
   (an adaptive threshold; scale-free, since the filters' norm is fixed anyway).
3. **Competition.** At each position only the earliest-firing map may learn
   (winner-take-all across maps, ties to the larger potential: lateral
   inhibition), and each map learns from at most one position per image, its
   earliest winner (Kheradpisheh et al.'s one-winner-per-map rule).
4. **Window.** Every winner pairs its first spike ``t_post`` with the first spike
   ``t_pre`` of each input in its receptive field (the per-position conv weight
   it drives): ``dw = +A+ exp(-(t_post - t_pre)/tau+)`` if ``t_pre <= t_post``
   (pre before post), ``-A- exp(-(t_pre - t_post)/tau-)`` otherwise; inputs that
   never spike are not paired. The paper's "first-spike timing updates".
   A layer's update is ``lr`` times the sum over the batch's winners (as if each
   image's winners updated the weights in turn).
5. **Bounds.** Each filter is rescaled to a fixed L2 norm (the root-mean-square
   norm of the layer's initial filters) at the start and after every update:
   weights can neither blow up nor die, and all maps compete on equal terms.
   (BatchNorm follows every conv, so the rescaling alone does not change what
   the network computes.)

``layer_schedule: sequential`` trains conv1, then conv2, ... each for an equal
share of all training steps (layer by layer, as Kheradpisheh et al.), with a
cosine decay of ``lr`` inside each share so that each layer settles before the
next starts; ``simultaneous`` trains every layer at every step. BatchNorm's
affine parameters stay at their initial values (only its running statistics
follow the data); fc1 and fc2 are a read-out trained by backprop on the detached
conv features, so no classification gradient reaches any conv parameter.

Per epoch: ``weight_change_<conv>`` = ||W_end - W_start|| / ||W_start|| over the
epoch (a convergence measure, -> 0), ``drift_<conv>`` = the same from the
initialisation, ``silent_maps_<conv>`` = fraction of maps with no spike on the
epoch's first batch, ``plastic_<conv>`` = 1 where the layer learned during the
epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import Drift, Readout, block, conv_layer_names
from lrrsa.model import ConvNet


@dataclass(frozen=True)
class Window:
    """The pair-based STDP window."""

    a_plus: float = 0.003
    a_minus: float = 0.003
    tau_plus: float = 20.0
    tau_minus: float = 20.0

    def __call__(self, t_pre: torch.Tensor, t_post: torch.Tensor) -> torch.Tensor:
        """Weight change for a pre spike at ``t_pre`` and a post spike at ``t_post``."""
        dt = (t_post - t_pre).to(torch.float32)
        return torch.where(dt >= 0, self.a_plus * torch.exp(-dt / self.tau_plus),
                           -self.a_minus * torch.exp(dt / self.tau_minus))


@dataclass
class Spikes:
    """A spike code of activity (N, C, H, W) over T steps: each neuron's spikes per
    step, its first spike time (T where it never fires) and its sign (ON/OFF)."""

    first: torch.Tensor  # (N, C, H, W) long in 0..T
    sign: torch.Tensor  # (N, C, H, W) float in {-1, 0, 1}
    frames: torch.Tensor  # (T, N, C, H, W) bool: spikes at each step
    steps: int


def encode(activity: torch.Tensor, steps: int, coding: str, generator: torch.Generator | None) -> Spikes:
    """Spike code of (N, C, H, W) activity (see the module docstring)."""
    magnitude = activity.abs()
    peak = magnitude.flatten(1).amax(1).clamp_min(1e-12)[:, None, None, None]
    rate = magnitude / peak
    sign = torch.sign(activity)
    if coding == "poisson":
        draws = torch.rand((steps, *activity.shape), generator=generator, device=activity.device,
                           dtype=activity.dtype)
        frames = draws < rate
    elif coding == "latency":
        when = torch.floor((1 - rate) * steps).clamp_max(steps - 1).long()
        when = torch.where(magnitude > 0, when, torch.full_like(when, steps))
        frames = torch.arange(steps, device=activity.device)[:, None, None, None, None] == when
    else:
        raise ValueError(f"unknown spike coding {coding!r}")
    first = torch.zeros(activity.shape, dtype=torch.long, device=activity.device)
    silent = torch.ones(activity.shape, dtype=torch.bool, device=activity.device)
    for frame in frames:  # first spike time = steps before the first spike (T: never)
        silent &= ~frame
        first += silent
    return Spikes(first=first, sign=sign, frames=frames, steps=steps)


def adaptive_threshold(final: torch.Tensor, firing_fraction: float) -> torch.Tensor:
    """The threshold at which a fraction ``firing_fraction`` of the units reaches it by
    the last step (the (1 - fraction) quantile of the final potentials; at least > 0)."""
    k = max(1, min(final.numel(), math.ceil((1 - firing_fraction) * final.numel())))
    return torch.kthvalue(final.flatten().float().cpu(), k).values.to(final.device).clamp_min(1e-12)


def post_spikes(weight: torch.Tensor, spikes: Spikes, padding: int, *, firing_fraction: float | None = None,
                threshold: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """First spike times (N, K, H, W; T = never) of integrate-and-fire units
    ``V_t = conv(W, signed input spikes up to t)`` and their final potentials.

    The threshold is ``threshold`` if given, else :func:`adaptive_threshold`.
    """
    signed = spikes.frames.to(weight.dtype) * spikes.sign
    final = F.conv2d(signed.sum(0), weight, padding=padding)
    if threshold is None:
        threshold = adaptive_threshold(final, firing_fraction)
    # first = the number of steps before the potential first reaches the threshold (T: never).
    first = torch.zeros(final.shape, dtype=torch.long, device=final.device)
    below = torch.ones(final.shape, dtype=torch.bool, device=final.device)
    potential = torch.zeros_like(final)
    for t in range(spikes.steps):
        potential += F.conv2d(signed[t], weight, padding=padding)
        below &= potential < threshold
        first += below
    return first, final


def winners(first: torch.Tensor, final: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Competition: per position the earliest map (ties: larger potential); per map and
    image its earliest winning position. Returns (flat position index (N, K), valid (N, K))."""
    fired = first < steps
    scale = final.abs().amax().clamp_min(1e-12)
    priority = (steps - first).to(final.dtype) + 0.5 * final / scale
    priority = torch.where(fired, priority, torch.full_like(priority, -math.inf))
    best_map = priority.argmax(1, keepdim=True)
    maps = torch.arange(priority.shape[1], device=priority.device)[None, :, None, None]
    won = (maps == best_map) & fired
    priority = torch.where(won, priority, torch.full_like(priority, -math.inf)).flatten(2)
    best, index = priority.max(2)
    return index, torch.isfinite(best)


def stdp_update(weight: torch.Tensor, spikes: Spikes, padding: int, window: Window, *,
                firing_fraction: float | None = None, threshold: float | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed STDP change of a conv weight (K, C, kh, kw) for one batch of input
    spikes, and the number of post spikes per map (for the silent-map count)."""
    post, final = post_spikes(weight, spikes, padding, firing_fraction=firing_fraction, threshold=threshold)
    index, valid = winners(post, final, spikes.steps)
    # Pre codes: sign * (first spike + 1), 0 for no spike, so that padding reads as "no spike".
    code = torch.where(spikes.first < spikes.steps, (spikes.first + 1).to(weight.dtype), 0.0) * spikes.sign
    chosen = receptive_fields(F.pad(code, (padding,) * 4), index, post.shape[-1], weight.shape[-2:])
    t_post = post.flatten(2).gather(2, index[:, :, None])  # (N, K, 1)
    t_pre = chosen.abs().flatten(2) - 1  # (N, K, C*kh*kw)
    change = window(t_pre, t_post) * torch.sign(chosen.flatten(2))  # sign 0 where the input never spiked
    change = (change * valid[:, :, None]).sum(0).reshape(weight.shape)
    return change, (post < spikes.steps).sum((0, 2, 3))


def receptive_fields(padded: torch.Tensor, index: torch.Tensor, width: int, kernel: tuple[int, int],
                     ) -> torch.Tensor:
    """The (N, K, C, kh, kw) input patches under the output positions ``index`` (N, K;
    flat indices into an output map of ``width`` columns) of a stride-1 convolution
    whose (already padded) input is ``padded`` (N, C, H, W)."""
    n, c = padded.shape[:2]
    kh, kw = kernel
    device = padded.device
    rows = (index // width)[:, :, None, None, None] + torch.arange(kh, device=device)[:, None]
    cols = (index % width)[:, :, None, None, None] + torch.arange(kw, device=device)
    images = torch.arange(n, device=device)[:, None, None, None, None]
    channels = torch.arange(c, device=device)[:, None, None]
    return padded[images, channels, rows, cols]


def renormalise_(weight: torch.Tensor, norm: float) -> None:
    """Rescale every filter (output map) of a conv weight to L2 norm ``norm``, in place."""
    norms = weight.flatten(1).norm(dim=1).clamp_min(1e-12)
    weight.mul_((norm / norms)[:, None, None, None])


@register
class STDP(LearningRule):
    """STDP conv layers (see the module docstring) and a backprop read-out."""

    name = "stdp"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        h = self.hyper
        self.window = Window(h["a_plus"], h["a_minus"], h["tau_plus"], h["tau_minus"])
        self.readout = Readout(model, h, epochs)
        self.norms = [float(b.conv.weight.detach().flatten(1).norm(dim=1).pow(2).mean().sqrt())
                      for b in model.blocks]
        with torch.no_grad():
            for b, norm in zip(model.blocks, self.norms):
                # Equal filter norms from the start: fair competition, and weight_change measures
                # STDP alone. BatchNorm follows every conv, so this leaves the network's function as it was.
                renormalise_(b.conv.weight, norm)
        for b in model.blocks:  # no gradient of any kind reaches the conv stack
            b.requires_grad_(False)
        self.drift = Drift(model)
        self.total_steps = max(1, epochs * steps_per_epoch)
        self._epoch, self._step, self._device_generator = 1, 0, None
        self._diagnostics: dict[str, float] = {}
        self._start_weights: list[torch.Tensor] = []
        self._plastic: set[int] = set()

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        super().start_epoch(epoch, generator)
        device = next(self.model.parameters()).device
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._device_generator = torch.Generator(device=device).manual_seed(seed)
        self._epoch, self._step = epoch, 0
        self._diagnostics = {}
        self._start_weights = [b.conv.weight.detach().clone() for b in self.model.blocks]
        self._plastic = set()

    def learning_rates(self, global_step: int) -> list[float]:
        """STDP learning rate of every conv layer at a global step (0-based)."""
        n = len(self.model.blocks)
        rates = []
        for i in range(n):
            if self.hyper["layer_schedule"] == "sequential":
                start, end = (i * self.total_steps) // n, ((i + 1) * self.total_steps) // n
            else:
                start, end = 0, self.total_steps
            if not start <= global_step < end:
                rates.append(0.0)
                continue
            progress = (global_step - start) / max(1, end - start)
            factor = 0.5 * (1 + math.cos(math.pi * progress)) if self.hyper["schedule"] == "cosine" else 1.0
            rates.append(self.hyper["lr"] * factor)
        return rates

    def layer_update(self, index: int, activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed STDP change, post spikes per map) of conv block ``index`` (0-based)."""
        conv = self.model.blocks[index].conv
        spikes = encode(activity, self.hyper["time_steps"], self.hyper["coding"], self._device_generator)
        return stdp_update(conv.weight, spikes, conv.padding[0], self.window,
                           firing_fraction=self.hyper["firing_fraction"])

    @torch.no_grad()
    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        if self._device_generator is None:
            self.start_epoch(self._epoch, torch.Generator().manual_seed(0))
        values = [self.model.normalise(images)]
        for module in self.model.blocks:
            values.append(block(module, values[-1], update_stats=True)[0])
        with torch.enable_grad():
            loss_sum, n_correct = self.readout.step(values[-1], labels)
        rates = self.learning_rates((self._epoch - 1) * self.steps_per_epoch + self._step)
        first_batch = self._step == 0
        for i, rate in enumerate(rates):
            if rate == 0 and not first_batch:
                continue
            change, post_counts = self.layer_update(i, values[i])
            if first_batch:
                self._diagnostics[f"silent_maps_conv{i + 1}"] = float((post_counts == 0).float().mean())
            if rate > 0:
                weight = self.model.blocks[i].conv.weight
                weight.add_(rate * change)
                renormalise_(weight, self.norms[i])
                self._plastic.add(i)
        self._step += 1
        return StepResult(loss_sum=loss_sum, n_correct=n_correct)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        out = {"readout_lr": self.readout.end_epoch()}
        for i, (name, module) in enumerate(zip(conv_layer_names(self.model), self.model.blocks)):
            start = self._start_weights[i]
            out[f"weight_change_{name}"] = float((module.conv.weight - start).norm() / start.norm())
            out[f"silent_maps_{name}"] = self._diagnostics.get(f"silent_maps_{name}", math.nan)
            out[f"plastic_{name}"] = float(i in self._plastic)
        return {**out, **self.drift()}

    def state_dict(self) -> dict[str, Any]:
        return {"readout": self.readout.state_dict(), "norms": list(self.norms), "drift": self.drift.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.readout.load_state_dict(state["readout"])
        self.norms = list(state["norms"])
        self.drift.load_state_dict(state["drift"])
