"""The one CNN architecture every learning rule trains.

Paper architecture: conv blocks [conv 3x3 (no bias) -> BatchNorm -> ReLU ->
max-pool 2] of widths 32/64/128, adaptive average pool to 4x4, fc1 (ReLU), fc2.
It takes 32 px training images and 224 px stimuli alike (the adaptive pool makes
fc1's input size independent of the image size).

The layers the RSA reads are named ``conv1``, ``conv2``, ... (the ReLU output of a
block, before its max-pool), ``fc1`` (after ReLU) and ``fc2`` (the logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Architecture:
    widths: tuple[int, ...] = (32, 64, 128)
    pool_size: int = 4
    fc_width: int = 512
    n_classes: int = 10
    in_channels: int = 3

    @classmethod
    def from_config(cls, model_config: dict, n_classes: int) -> "Architecture":
        return cls(
            widths=tuple(model_config["widths"]),
            pool_size=model_config["pool_size"],
            fc_width=model_config["fc_width"],
            n_classes=n_classes,
        )

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(f"conv{i}" for i in range(1, len(self.widths) + 1)) + ("fc1", "fc2")


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (pooled output, ReLU activation the RSA reads)."""
        activation = self.relu(self.bn(self.conv(x)))
        return self.pool(activation), activation


class ConvNet(nn.Module):
    """The study's CNN. Input normalisation is part of the model (buffers), so a
    saved model maps raw [0, 1] RGB images to features the way it was trained."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        channels = (arch.in_channels, *arch.widths)
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out) for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.avgpool = nn.AdaptiveAvgPool2d(arch.pool_size)
        self.fc1 = nn.Linear(arch.widths[-1] * arch.pool_size**2, arch.fc_width)
        self.fc2 = nn.Linear(arch.fc_width, arch.n_classes)
        self.register_buffer("input_mean", torch.zeros(arch.in_channels))
        self.register_buffer("input_std", torch.ones(arch.in_channels))

    def set_input_normalisation(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.input_mean[:, None, None]) / self.input_std[:, None, None]

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The adaptive average pool to pool_size x pool_size.

        When a CUDA backward pass may follow and the map's sides are multiples of
        pool_size (32 px training images), it is computed as the equivalent plain
        average pool: adaptive pooling's CUDA backward is nondeterministic, and
        torch.use_deterministic_algorithms (training.configure_torch) refuses it.
        """
        p = self.arch.pool_size
        h, w = x.shape[-2:]
        if x.is_cuda and torch.is_grad_enabled() and h % p == 0 and w % p == 0:
            return F.avg_pool2d(x, (h // p, w // p))
        return self.avgpool(x)

    def features(self, images: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Named activations of [0, 1] RGB images (N, 3, H, W); all layers by default."""
        wanted = set(layers) if layers is not None else set(self.arch.layer_names)
        out: dict[str, torch.Tensor] = {}
        x = self.normalise(images)
        for i, block in enumerate(self.blocks, start=1):
            x, activation = block(x)
            if f"conv{i}" in wanted:
                out[f"conv{i}"] = activation
            if wanted <= out.keys():
                break
        else:
            hidden = torch.relu(self.fc1(torch.flatten(self.pool(x), 1)))
            out["fc1"] = hidden
            out["fc2"] = self.fc2(hidden)
        return {name: out[name] for name in self.arch.layer_names if name in wanted}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images, ["fc2"])["fc2"]


def he_normal_init(model: ConvNet) -> None:
    """He-normal (Kaiming, fan-in, ReLU gain) weights; zero biases; BatchNorm at identity."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def build_model(arch: Architecture, seed: int) -> ConvNet:
    """The initial network of a seed: identical for every condition with that seed."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = ConvNet(arch)
    he_normal_init(model)
    torch.random.set_rng_state(generator_state)
    return model


def save_model(path, model: ConvNet, *, rule_state: dict[str, torch.Tensor] | None = None, **metadata) -> None:
    """Save weights, architecture and metadata in one torch file.

    ``rule_state`` holds tensors the learning rule keeps beside the network (FA's
    fixed feedback kernels, PC's top-down predictors); see :func:`load_rule_state`.
    """
    torch.save(
        {"architecture": asdict(model.arch), "state_dict": model.state_dict(), "metadata": metadata,
         "rule_state": dict(rule_state or {})},
        path,
    )


def load_rule_state(path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The learning rule's tensors saved with a model ({} for files saved without them)."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    return dict(payload.get("rule_state", {}))


def load_model(path, map_location: str | torch.device = "cpu") -> tuple[ConvNet, dict]:
    """Load a model saved by save_model, in eval mode, with its metadata."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    arch_fields = payload["architecture"]
    arch_fields["widths"] = tuple(arch_fields["widths"])
    model = ConvNet(Architecture(**arch_fields))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["metadata"]
