"""Spike-timing-dependent plasticity for the conv layers, a backprop read-out on top.

Each conv layer learns without labels from the spikes of the layer below, as the
convolutional STDP networks of Masquelier & Thorpe (2007) and Kheradpisheh et al.
(2018, Neural Netw. 99:56) do, with per-map homeostasis as in Diehl & Cook (2015,
Front. Comput. Neurosci. 9:99) and the paper's pair-based exponential window (Bi &
Poo 1998; Song, Miller & Abbott 2000). For one conv layer and one batch:

1. **Input.** The layer's input activity (N, C, H, W), detached: the normalised
   image for conv1, the pooled output of the block below otherwise, through a
   centre-surround stage: each channel minus its mean over the kernel's window
   around every position (the role of Kheradpisheh et al.'s difference-of-
   Gaussians stage), giving signed activity ``a``. Uniform regions fall silent and
   contrast spikes first. (Without it conv1 learns uniform luminance blobs, and
   the non-negative ReLU inputs of conv2/conv3 give every update a shared
   all-positive component: many maps end as near-copies of one filter.)
2. **Encoding.** ``a`` becomes spikes over ``T`` steps. ``poisson`` (the paper):
   at every step a neuron fires with probability ``|a| / max|a|`` (max per image).
   ``latency``: one spike at step ``floor((1 - |a| / max|a|) T)`` (stronger fires
   earlier), none for ``a = 0``. Signed activity is an ON/OFF pair of cells per
   input with tied weights ``+w`` (ON) and ``-w`` (OFF): a spike from a negative
   input is the OFF cell's and carries the sign -1.
3. **Post-synaptic units** are the conv layer's units: non-leaky
   integrate-and-fire, ``V_t = conv(W, signed input spikes up to t)``, firing at
   the first step with ``V_t >= theta_k``. Map ``k``'s threshold is
   ``theta_k = theta * exp(h_k)``: ``theta`` is set per layer and batch so that a
   fraction ``firing_fraction`` of the units fires by step T (scale-free, since
   the filters' norm is fixed), ``h_k`` is the map's homeostatic offset.
4. **Competition** (lateral inhibition). At each position only the earliest
   firing map may learn (ties to the larger ``V_T / theta_k``), and each map
   learns from at most one position per image, its earliest winning one
   (Kheradpisheh et al.'s one winner per map and image).
5. **Homeostasis.** After each learning step every map's offset moves by
   ``homeostasis * (f_k - mean_k f_k)``, ``f_k`` the fraction of the batch's
   images in which map k won: maps that win often fire later, maps that never win
   fire earlier until they do (an adaptive threshold, Diehl & Cook 2015; the
   "conscience" of competitive learning, DeSieno 1988). The offsets sum to zero.
6. **Window.** A winner at ``t_post`` (its first spike) pairs with each input of
   its receptive field, ``t_pre`` = the first spike of the input's ON/OFF pair
   (``T`` if neither fired; padding never fires). Kheradpisheh's rule for the tied
   pair, with the paper's exponential window and the filter norm as the bound:

   - pre at or before post: the synapse of the cell that fired is potentiated
     and its partner's, which did not fire first, depressed; both move ``w``
     towards the spike's sign ``s``:
     ``dw = +A+ exp(-(t_post - t_pre)/tau+) * s * u``;
   - pre after post, or never: both synapses of the pair are depressed, so the
     pair's weight decays towards 0:
     ``dw = -A- exp(-(t_pre - t_post)/tau-) * w``,

   ``u = ||W_k|| / sqrt(C kh kw)`` the filter's root-mean-square tap, so that
   ``A+`` and ``A-`` are fractions of a typical weight (as Kheradpisheh's
   amplitudes are of the weight range [0, 1]). A layer's change is ``lr`` times
   the sum over the batch's winners (as if each image's winners updated the
   weights in turn).
7. **Bounds.** Each filter is rescaled to a fixed L2 norm (the root-mean-square
   norm of the layer's initial filters) at the start and after every update:
   weights can neither blow up nor die, and all maps compete on equal terms.
   (BatchNorm follows every conv, so the rescaling alone does not change what
   the network computes.)

At the paper's ``lr = 5e-4`` and ``A+- = 0.003`` a winning pair changes a weight by
1.5e-6 of a typical tap: the conv layers stay at their random initialisation.
The study config uses a rate at which they learn (benchmarks/LEARNING_RULES.md).

``layer_schedule: sequential`` trains conv1, then conv2, ... each for an equal
share of all training steps (layer by layer, as Kheradpisheh et al.), with a
cosine decay of ``lr`` inside each share so that each layer settles before the
next starts; ``simultaneous`` trains every layer at every step. BatchNorm's
affine parameters stay at their initial values (only its running statistics
follow the data); fc1 and fc2 are a read-out trained by backprop on the detached
conv features, so no classification gradient reaches any conv parameter.

Per epoch and conv layer: ``won_maps_<conv>`` = fraction of maps that won at
least once on the batches where the layer's competition ran (every batch of the
epoch while the layer learns, else the epoch's first batch only);
``weight_change_<conv>`` = ||W_end - W_start|| / ||W_start|| over the epoch (a
convergence measure, -> 0); ``threshold_spread_<conv>`` = the standard deviation
of the homeostatic offsets ``h_k`` (0 = equal thresholds); ``plastic_<conv>`` = 1
where the layer learned during the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import Readout, conv_layer_names, conv_sweep
from lrrsa.model import ConvNet


@dataclass(frozen=True)
class Window:
    """The pair-based STDP window: amplitude of a pre spike at ``t_pre`` paired with a
    post spike at ``t_post`` (time steps), ``+A+ exp(-(t_post - t_pre)/tau+)`` for pre at
    or before post (potentiation), ``-A- exp(-(t_pre - t_post)/tau-)`` after (depression)."""

    a_plus: float = 0.003
    a_minus: float = 0.003
    tau_plus: float = 20.0
    tau_minus: float = 20.0

    def __call__(self, t_pre: torch.Tensor, t_post: torch.Tensor) -> torch.Tensor:
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


def centre_surround(activity: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Activity (N, C, H, W) minus its local mean: each channel's mean over the
    ``kernel`` window around every position (stride 1, same size; at the borders over
    the part of the window inside the map). Odd kernel sides only."""
    kh, kw = kernel
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"centre_surround needs an odd kernel; got {kernel}")
    local = F.avg_pool2d(activity, (kh, kw), stride=1, padding=(kh // 2, kw // 2), count_include_pad=False)
    return activity - local


def encode(activity: torch.Tensor, steps: int, coding: str, generator: torch.Generator | None) -> Spikes:
    """Spike code of (N, C, H, W) activity over ``steps`` steps: ``poisson`` (rate
    ``|a| / max|a|`` per step, max per image) or ``latency`` (one spike at
    ``floor((1 - |a| / max|a|) steps)``, none for 0); the sign of ``a`` is the ON/OFF cell."""
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
        raise ValueError(f"unknown spike coding {coding!r}; expected 'poisson' or 'latency'")
    return Spikes(first=first_spikes(frames), sign=sign, frames=frames, steps=steps)


def first_spikes(frames: torch.Tensor) -> torch.Tensor:
    """First spike time of each neuron of (T, ...) bool frames: the number of steps
    before its first spike (T where it never fires)."""
    first = torch.zeros(frames.shape[1:], dtype=torch.long, device=frames.device)
    silent = torch.ones(frames.shape[1:], dtype=torch.bool, device=frames.device)
    for frame in frames:
        silent &= ~frame
        first += silent
    return first


def layer_threshold(final: torch.Tensor, scale: torch.Tensor, firing_fraction: float) -> torch.Tensor:
    """Per-map thresholds (1, K, 1, 1) ``theta * scale``: ``theta`` is the (1 - fraction)
    quantile of the final potentials ``final`` (N, K, H, W) divided by their map's
    ``scale`` (K,), so that a fraction ``firing_fraction`` of the units reaches its
    threshold by the last step (theta > 0)."""
    relative = (final / scale[None, :, None, None]).flatten().float().cpu()
    k = max(1, min(relative.numel(), math.ceil((1 - firing_fraction) * relative.numel())))
    # kthvalue on the CPU: it has no deterministic CUDA kernel.
    theta = torch.kthvalue(relative, k).values.to(final.device).clamp_min(1e-12)
    return (theta * scale)[None, :, None, None]


def post_spikes(weight: torch.Tensor, spikes: Spikes, padding: int, *, threshold: torch.Tensor | float | None = None,
                firing_fraction: float | None = None, scale: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrate-and-fire units ``V_t = conv(W, signed input spikes up to t)`` of a conv
    weight (K, C, kh, kw): their first spike times (N, K, H, W; T = never), final
    potentials ``V_T`` and thresholds (broadcastable to (N, K, H, W)).

    The threshold is ``threshold`` if given (a number or a tensor), else
    :func:`layer_threshold` with ``firing_fraction`` and the per-map ``scale``
    (default: ones, one threshold for the layer).
    """
    signed = spikes.frames.to(weight.dtype) * spikes.sign
    final = F.conv2d(signed.sum(0), weight, padding=padding)
    if threshold is None:
        if firing_fraction is None:
            raise ValueError("post_spikes needs a threshold or a firing_fraction")
        scale = torch.ones(weight.shape[0], device=weight.device) if scale is None else scale
        threshold = layer_threshold(final, scale, firing_fraction)
    threshold = torch.as_tensor(threshold, dtype=final.dtype, device=final.device)
    first = torch.zeros(final.shape, dtype=torch.long, device=final.device)
    below = torch.ones(final.shape, dtype=torch.bool, device=final.device)
    potential = torch.zeros_like(final)
    for t in range(spikes.steps):
        potential += F.conv2d(signed[t], weight, padding=padding)
        below &= potential < threshold
        first += below
    return first, final, threshold


def winners(first: torch.Tensor, drive: torch.Tensor, steps: int, per_image: int | None = None,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Competition among units with first spike times ``first`` (N, K, H, W; ``steps`` =
    never): per position the earliest map (ties: larger ``drive``, e.g. V_T / theta);
    per map and image its earliest winning position (same ties); per image at most
    ``per_image`` maps, the earliest (None: every map that won a position).
    Returns (flat position index (N, K), won (N, K) bool)."""
    fired = first < steps
    scale = drive.abs().amax().clamp_min(1e-12)
    priority = (steps - first).to(drive.dtype) + 0.5 * drive / scale
    priority = torch.where(fired, priority, torch.full_like(priority, -math.inf))
    best_map = priority.argmax(1, keepdim=True)
    maps = torch.arange(priority.shape[1], device=priority.device)[None, :, None, None]
    won = (maps == best_map) & fired
    priority = torch.where(won, priority, torch.full_like(priority, -math.inf)).flatten(2)
    best, index = priority.max(2)
    won = torch.isfinite(best)
    if per_image is not None and per_image < best.shape[1]:
        keep = torch.zeros_like(won)
        keep[torch.arange(len(keep), device=keep.device)[:, None], best.topk(per_image, dim=1).indices] = True
        won &= keep
    return index, won


def stdp_update(weight: torch.Tensor, spikes: Spikes, padding: int, window: Window, *,
                threshold: torch.Tensor | float | None = None, firing_fraction: float | None = None,
                scale: torch.Tensor | None = None, per_image: int | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The STDP change of a conv weight (K, C, kh, kw) summed over one batch of input
    spikes (module docstring, steps 3-6), and which map won in which image (N, K) bool.

    Thresholds as in :func:`post_spikes`, competition as in :func:`winners`. The change
    is in the weight's units: the window's amplitude times the filter's root-mean-square
    tap (potentiation, signed by the spike) or times the weight itself (depression);
    ``lr`` is applied by the caller.
    """
    steps = spikes.steps
    post, final, threshold = post_spikes(weight, spikes, padding, threshold=threshold,
                                         firing_fraction=firing_fraction, scale=scale)
    index, won = winners(post, final / threshold, steps, per_image)
    t_post = post.flatten(2).gather(2, index[:, :, None])[:, :, 0]
    t_post = torch.where(won, t_post, steps)  # steps: not a winner, pairs with nothing
    # Pre codes sign * (first spike + 1), 0 for no spike (so that padding reads as "no spike").
    codes = torch.where(spikes.first < steps, spikes.first + 1, 0) * spikes.sign.long()
    patches = receptive_fields(codes.to(weight.dtype), index, weight.shape[-2:], padding).round().long()
    potentiation, depression = pair_tables(window, steps, device=weight.device)
    pair = (patches + steps) * (steps + 1) + t_post[:, :, None]  # row: pre code, column: t_post
    filters = weight.flatten(1)
    rms_tap = filters.norm(dim=1, keepdim=True) / math.sqrt(filters.shape[1])
    change = rms_tap * potentiation.take(pair).sum(0) + filters * depression.take(pair).sum(0)
    return change.reshape(weight.shape), won


def pair_tables(window: Window, steps: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The update of one (pre, post) pair as lookup tables, flattened from
    (2 steps + 1, steps + 1): row ``c + steps`` for the pre code ``c = s (t_pre + 1)``
    (0: no spike, ``t_pre = steps``), column ``t_post`` (``steps``: no post spike, 0).
    ``potentiation`` = ``s * window`` where the pre spike came at or before the post
    (a multiple of the filter's RMS tap), ``depression`` = ``window`` (< 0) where it
    came later or never (a multiple of the weight)."""
    codes = torch.arange(-steps, steps + 1, device=device)[:, None]
    t_post = torch.arange(steps + 1, device=device)[None, :]
    t_pre = torch.where(codes != 0, codes.abs() - 1, steps)
    amplitude = torch.where(t_post < steps, window(t_pre, t_post), 0.0)
    before = (codes != 0) & (t_pre <= t_post)
    potentiation = torch.where(before, amplitude * codes.sign(), 0.0)
    depression = torch.where(before, 0.0, amplitude)
    return potentiation.flatten(), depression.flatten()


def receptive_fields(x: torch.Tensor, index: torch.Tensor, kernel: tuple[int, int], padding: int,
                     ) -> torch.Tensor:
    """The (N, K, C * kh * kw) input patches of a stride-1 convolution of ``x``
    (N, C, H, W; zero padding) under the output positions ``index`` (N, K; flat
    indices into the H x W output), in the order of a flattened conv filter."""
    columns = F.unfold(x, kernel, padding=padding)  # (N, C*kh*kw, H*W)
    return columns.gather(2, index[:, None, :].expand(-1, columns.shape[1], -1)).transpose(1, 2)


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
                # Equal filter norms from the start: fair competition. BatchNorm follows every
                # conv, so this leaves the network's (batch-mode) function as it was.
                renormalise_(b.conv.weight, norm)
        for b in model.blocks:  # no gradient of any kind reaches the conv stack
            b.requires_grad_(False)
        device = next(model.parameters()).device
        #: Homeostatic log-threshold offsets h_k per conv layer (rule state, checkpointed).
        self.offsets = [torch.zeros(b.conv.out_channels, device=device) for b in model.blocks]
        self.total_steps = max(1, epochs * steps_per_epoch)
        self._epoch, self._step, self._device_generator = 1, 0, None
        self._won: list[torch.Tensor] = []
        self._start_weights: list[torch.Tensor] = []
        self._plastic: set[int] = set()

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        super().start_epoch(epoch, generator)
        device = next(self.model.parameters()).device
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._device_generator = torch.Generator(device=device).manual_seed(seed)
        self._epoch, self._step = epoch, 0
        self._won = [torch.zeros(b.conv.out_channels, dtype=torch.bool, device=device) for b in self.model.blocks]
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
        """(summed STDP change, won (N, K)) of conv block ``index`` (0-based) on its input
        ``activity`` (the pooled output of the block below, or the normalised images)."""
        conv = self.model.blocks[index].conv
        spikes = encode(centre_surround(activity, conv.kernel_size), self.hyper["time_steps"], self.hyper["coding"],
                        self._device_generator)
        return stdp_update(conv.weight, spikes, conv.padding[0], self.window,
                           firing_fraction=self.hyper["firing_fraction"], scale=self.offsets[index].exp(),
                           per_image=self.hyper["winners_per_image"])

    @torch.no_grad()
    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        if self._device_generator is None:
            self.start_epoch(self._epoch, torch.Generator().manual_seed(0))
        values = conv_sweep(self.model, images)
        with torch.enable_grad():
            loss_sum, n_correct = self.readout.step(values[-1], labels)
        rates = self.learning_rates((self._epoch - 1) * self.steps_per_epoch + self._step)
        for i, rate in enumerate(rates):
            if rate == 0 and self._step > 0:
                continue  # a frozen layer's competition is only watched on the epoch's first batch
            change, won = self.layer_update(i, values[i])
            self._won[i] |= won.any(0)
            if rate > 0:
                weight = self.model.blocks[i].conv.weight
                weight.add_(rate * change)
                renormalise_(weight, self.norms[i])
                wins = won.float().mean(0)
                self.offsets[i] += self.hyper["homeostasis"] * (wins - wins.mean())
                self._plastic.add(i)
        self._step += 1
        return StepResult(loss_sum=loss_sum, n_correct=n_correct)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        out = {"readout_lr": self.readout.end_epoch()}
        for i, (name, module) in enumerate(zip(conv_layer_names(self.model), self.model.blocks)):
            start = self._start_weights[i]
            out[f"weight_change_{name}"] = float((module.conv.weight - start).norm() / start.norm())
            out[f"won_maps_{name}"] = float(self._won[i].float().mean())
            out[f"threshold_spread_{name}"] = float(self.offsets[i].std(correction=0))
            out[f"plastic_{name}"] = float(i in self._plastic)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"readout": self.readout.state_dict(), "norms": list(self.norms),
                "offsets": [h.clone() for h in self.offsets]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.readout.load_state_dict(state["readout"])
        self.norms = list(state["norms"])
        device = self.offsets[0].device
        self.offsets = [h.to(device) for h in state["offsets"]]
