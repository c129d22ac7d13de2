"""The optimisers and learning-rate schedules the rules share (configured by the
condition's ``optimizer``, ``lr``, ``weight_decay``, ``momentum``, ``schedule``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def make_optimizer(params, hyper: Mapping[str, Any]) -> torch.optim.Optimizer:
    """adam (L2 weight decay added to the gradient: the paper's setting, not AdamW's
    decoupled decay), adamw, or sgd with momentum."""
    name = hyper["optimizer"]
    if name == "adam":
        return torch.optim.Adam(params, lr=hyper["lr"], weight_decay=hyper["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=hyper["lr"], weight_decay=hyper["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"]
        )
    raise ValueError(f"unknown optimizer {name!r}; expected adam, adamw or sgd")


def make_schedule(optimizer: torch.optim.Optimizer, hyper: Mapping[str, Any], epochs: int):
    """Per-epoch schedule: cosine annealing to 0 over all epochs, or constant."""
    if hyper["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if hyper["schedule"] == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    raise ValueError(f"unknown schedule {hyper['schedule']!r}; expected cosine or constant")
