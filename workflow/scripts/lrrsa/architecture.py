"""The architecture as a table, read off the model itself: one row per stage, with the
output shape a forward pass gives at each image size and the trainable parameters."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from lrrsa.model import Architecture, ConvNet


def _shape(tensor: torch.Tensor) -> str:
    return " x ".join(str(d) for d in tensor.shape[1:])


def _n_parameters(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)


def describe_architecture(arch: Architecture, image_sizes: Sequence[int]) -> pd.DataFrame:
    """One row per stage of the network (input, each conv block's conv -> BatchNorm ->
    ReLU and its max-pool, the adaptive average pool, fc1, fc2): ``layer``,
    ``operation``, ``units`` (channels or features), ``kernel``, ``output_<size>px``
    (channels x height x width, or features) from a forward pass of one image of each
    size, and ``parameters`` (trainable; BatchNorm's scale and shift count with their
    conv). ``layer`` is the name the RSA reads (conv1, ..., fc1, fc2) where there is one.
    """
    image_sizes = list(dict.fromkeys(int(s) for s in image_sizes))
    if not image_sizes:
        raise ValueError("give at least one image size")
    model = ConvNet(arch).eval()
    rows: list[dict] = [{"layer": "input", "operation": "RGB image, normalised per channel", "units": arch.in_channels,
                         "kernel": "", "parameters": 0}]
    hooks: list[tuple[torch.nn.Module, int]] = []  # (module whose output is the row's, row index)
    for i, block in enumerate(model.blocks, start=1):
        conv = block.conv
        rows.append({"layer": f"conv{i}", "operation": "conv (no bias) -> BatchNorm -> ReLU", "units": conv.out_channels,
                     "kernel": "x".join(map(str, conv.kernel_size)), "parameters": _n_parameters(conv, block.bn)})
        hooks.append((block.relu, len(rows) - 1))
        size = block.pool.kernel_size
        rows.append({"layer": f"pool{i}", "operation": "max-pool", "units": conv.out_channels,
                     "kernel": f"{size}x{size}" if isinstance(size, int) else "x".join(map(str, size)), "parameters": 0})
        hooks.append((block.pool, len(rows) - 1))
    rows.append({"layer": "avgpool", "operation": f"adaptive avg. pool to {arch.pool_size}x{arch.pool_size}, flatten",
                 "units": arch.widths[-1], "kernel": "", "parameters": 0})
    hooks.append((model.avgpool, len(rows) - 1))
    rows.append({"layer": "fc1", "operation": "linear -> ReLU", "units": model.fc1.out_features, "kernel": "",
                 "parameters": _n_parameters(model.fc1)})
    hooks.append((model.fc1, len(rows) - 1))
    rows.append({"layer": "fc2", "operation": "linear (class logits)", "units": model.fc2.out_features, "kernel": "",
                 "parameters": _n_parameters(model.fc2)})
    hooks.append((model.fc2, len(rows) - 1))

    for size in image_sizes:
        shapes: dict[int, str] = {0: f"{arch.in_channels} x {size} x {size}"}
        handles = [module.register_forward_hook(lambda _m, _i, out, row=row: shapes.__setitem__(row, _shape(out)))
                   for module, row in hooks]
        try:
            with torch.no_grad():
                model.features(torch.zeros(1, arch.in_channels, size, size))
        finally:
            for handle in handles:
                handle.remove()
        missing = [rows[r]["layer"] for r in range(len(rows)) if r not in shapes]
        if missing:
            raise RuntimeError(f"the forward pass at {size} px did not reach {missing}")
        for row, shape in shapes.items():
            rows[row][f"output_{size}px"] = shape
    total = _n_parameters(model)
    if sum(r["parameters"] for r in rows) != total:
        raise RuntimeError(f"the table's parameters do not add up to the model's {total}")
    columns = ["layer", "operation", "units", "kernel", *[f"output_{s}px" for s in image_sizes], "parameters"]
    return pd.DataFrame(rows)[columns]
