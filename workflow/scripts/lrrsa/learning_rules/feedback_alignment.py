"""Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016, Nat. Commun. 7:13276).

The forward pass is the ConvNet's own. In the backward pass every conv and
linear layer sends the error to the layer below through a fixed random kernel
``B`` of its weight's shape instead of through ``W`` itself (no weight
transport), while its own weight gradient is the true local one,
``dW = delta_out x_in^T`` (for conv layers the convolutional weight gradient at
every position). Element-wise derivatives (ReLU, max-pool routing) and
BatchNorm's backward are exact: only the transport of the error through the
weights is replaced, as in Lillicrap et al. and in the conv-net FA literature
(Nokland 2016; Moskovitz et al. 2018; Bartunov et al. 2018).

``B`` exists for every layer that sends an error down: conv2..convN, fc1, fc2
(conv1's input is the image, which needs no error). It is drawn once at
initialisation from the rule's seeded generator, with the same distribution as
the forward weights (He-normal, or a uniform of the same variance), is never
updated, and is saved with the model (``rule_state`` in model.pt) and in every
checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from lrrsa.learning_rules.base import LearningRule, StepResult, register
from lrrsa.learning_rules.network import (
    alignment_with_backprop, angle_degrees, backprop_gradients, block, layer_weights,
)
from lrrsa.learning_rules.optimisers import make_optimizer, make_schedule
from lrrsa.model import ConvNet


class FAConv2d(torch.autograd.Function):
    """conv2d(x, W) whose input gradient goes through ``feedback`` instead of W."""

    @staticmethod
    def forward(ctx, x, weight, feedback, padding):
        ctx.save_for_backward(x, weight, feedback)
        ctx.padding = padding
        return F.conv2d(x, weight, None, 1, padding)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, feedback = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(x.shape, feedback, grad_out, 1, ctx.padding)
        if ctx.needs_input_grad[1]:  # the true local gradient: independent of feedback
            grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, 1, ctx.padding)
        return grad_x, grad_w, None, None


class FALinear(torch.autograd.Function):
    """x W^T + b whose input gradient goes through ``feedback`` instead of W."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback):
        ctx.save_for_backward(x, feedback)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, feedback = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ feedback
        if ctx.needs_input_grad[1]:
            grad_w = grad_out.t() @ x
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(0)
        return grad_x, grad_w, grad_b, None


def fa_conv2d(x: torch.Tensor, weight: torch.Tensor, feedback: torch.Tensor | None, padding: int) -> torch.Tensor:
    if feedback is None:  # no error is sent below this layer (conv1)
        return F.conv2d(x, weight, None, 1, padding)
    return FAConv2d.apply(x, weight, feedback, padding)


def fa_linear(x: torch.Tensor, layer: torch.nn.Linear, feedback: torch.Tensor) -> torch.Tensor:
    return FALinear.apply(x, layer.weight, layer.bias, feedback)


def feedback_layers(model: ConvNet) -> dict[str, torch.Tensor]:
    """Name -> forward weight of every layer that sends an error down (has a B):
    every layer but conv1, whose input is the image."""
    return {name: w for name, w in layer_weights(model).items() if name != "conv1"}


def draw_feedback(model: ConvNet, init: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Fixed random kernels B, one per layer that sends an error down, of W's shape.

    he_normal: N(0, 2 / fan_in), the forward weights' own initial distribution;
    uniform: U(-a, a) with the same variance (a = sqrt(6 / fan_in)).
    """
    feedback = {}
    for name, weight in feedback_layers(model).items():
        fan_in = weight[0].numel()
        if init == "he_normal":
            b = torch.randn(weight.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif init == "uniform":
            b = (torch.rand(weight.shape, generator=generator) * 2 - 1) * math.sqrt(6.0 / fan_in)
        else:
            raise ValueError(f"unknown feedback_init {init!r}")
        feedback[name] = b.to(weight.device, weight.dtype)
    return feedback


def fa_forward(model: ConvNet, images: torch.Tensor, feedback: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The ConvNet's logits as in training (BatchNorm on the batch's statistics, running
    statistics updated once, whatever the module's mode) with FA's backward pass."""
    x = model.normalise(images)
    for i, module in enumerate(model.blocks, start=1):
        b = feedback.get(f"conv{i}")
        padding = module.conv.padding[0]
        x, _ = block(module, x, conv=lambda z, m=module, b=b, p=padding: fa_conv2d(z, m.conv.weight, b, p),
                     update_stats=True)
    hidden = F.relu(fa_linear(torch.flatten(model.pool(x), 1), model.fc1, feedback["fc1"]))
    return fa_linear(hidden, model.fc2, feedback["fc2"])


@register
class FeedbackAlignment(LearningRule):
    """Feedback alignment: backprop's forward pass and local weight gradients, with the
    error sent down through fixed random kernels B. Diagnostics per epoch:
    ``angle_WB_<layer>`` (degrees between W and B, at the end of the epoch), and on the
    epoch's first batch, before its update, ``cos_bp_<layer>`` and
    ``norm_ratio_bp_<layer>``: cosine and norm ratio of the FA weight gradient (the
    update direction, before momentum and weight decay) to backprop's gradient of the
    same loss (:func:`~lrrsa.learning_rules.network.alignment_with_backprop`)."""

    name = "feedback_alignment"

    def __init__(self, model: ConvNet, hyper: Mapping[str, Any], *, epochs: int, steps_per_epoch: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, hyper, epochs=epochs, steps_per_epoch=steps_per_epoch, generator=generator)
        self.feedback = draw_feedback(model, self.hyper["feedback_init"], self.init_generator)
        self.optimizer = make_optimizer(model.parameters(), self.hyper)
        self.schedule = make_schedule(self.optimizer, self.hyper, epochs)
        self._alignment: dict[str, float] = {}

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        super().start_epoch(epoch, generator)
        self._alignment = {}

    def gradients(self, images: torch.Tensor, labels: torch.Tensor,
                  feedback: Mapping[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits, FA gradients of the mean cross-entropy w.r.t. model.parameters())."""
        logits = fa_forward(self.model, images, self.feedback if feedback is None else feedback)
        loss = F.cross_entropy(logits, labels)
        return logits, list(torch.autograd.grad(loss, list(self.model.parameters()), allow_unused=True))

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        reference = backprop_gradients(self.model, images, labels) if not self._alignment else None
        logits, grads = self.gradients(images, labels)
        if reference is not None:
            index = {id(p): i for i, p in enumerate(self.model.parameters())}
            updates = {name: grads[index[id(w)]] for name, w in layer_weights(self.model).items()}
            self._alignment = alignment_with_backprop(updates, reference)
        loss = F.cross_entropy(logits.detach(), labels)
        for p, g in zip(self.model.parameters(), grads):
            p.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(loss_sum=float(loss) * len(labels), n_correct=int((logits.argmax(1) == labels).sum()))

    def end_epoch(self, epoch: int) -> dict[str, float]:
        lr = self.optimizer.param_groups[0]["lr"]
        self.schedule.step()
        weights = feedback_layers(self.model)
        wb = {f"angle_WB_{name}": angle_degrees(weights[name], b) for name, b in self.feedback.items()}
        return {"lr": lr, **wb, **self._alignment}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "feedback": {k: v.clone() for k, v in self.feedback.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.feedback = {k: v.to(self.feedback[k].device) for k, v in state["feedback"].items()}

    def model_state(self) -> dict[str, torch.Tensor]:
        return {f"feedback.{name}": b.detach().cpu().clone() for name, b in self.feedback.items()}
