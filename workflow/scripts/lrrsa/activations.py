"""Cache a model's activations on the brain stimuli in one HDF5 file.

Layout: one 2-D float32 dataset per layer, shape (n_stimuli, n_features), rows in
the stimulus table's order; the dataset attribute ``feature_shape`` gives the
shape of one stimulus's features before flattening (C, H, W for full maps).
The stimulus ids are stored in the dataset ``stimuli``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from lrrsa.images import load_images
from lrrsa.model import ConvNet

log = logging.getLogger(__name__)

REDUCTIONS = ("spatial_mean", "full", "avgpool")


def reduce_activation(activation: torch.Tensor, how: str, pool_size: int) -> torch.Tensor:
    """Reduce a conv map (N, C, H, W) as ``activations.reduce`` says; (N, D) passes through.

    Returns the per-stimulus features unflattened: (N, C) for spatial_mean,
    (N, C, k, k) for avgpool, (N, C, H, W) for full.
    """
    if activation.ndim == 2 or how == "full":
        return activation
    if how == "spatial_mean":
        return activation.mean(dim=(2, 3))
    if how == "avgpool":
        return F.adaptive_avg_pool2d(activation, pool_size)
    raise ValueError(f"unknown reduction {how!r}; expected one of {REDUCTIONS}")


@torch.no_grad()
def extract_to_hdf5(
    model: ConvNet,
    image_paths: Sequence[Path],
    stimulus_ids: Sequence[str],
    layers: Sequence[str],
    out_path: Path,
    *,
    image_size: int,
    reduce: str,
    pool_size: int,
    batch_size: int,
    device: torch.device,
    attrs: dict | None = None,
) -> None:
    """Write the activations of ``layers`` for every stimulus to ``out_path``.

    The model is put in eval mode, so BatchNorm uses its running statistics and a
    stimulus's features never depend on the other stimuli in its batch. The file
    is written under a temporary name and renamed when complete.
    """
    if len(image_paths) != len(stimulus_ids):
        raise ValueError("image_paths and stimulus_ids differ in length")
    model.eval().to(device)
    n = len(image_paths)
    tmp = out_path.with_name(out_path.name + ".tmp")
    started = time.perf_counter()
    with h5py.File(tmp, "w") as h5:
        h5.create_dataset("stimuli", data=np.array(stimulus_ids, dtype=object), dtype=h5py.string_dtype())
        h5.attrs.update({"image_size": image_size, "reduce": reduce, "pool_size": pool_size, **(attrs or {})})
        datasets: dict[str, h5py.Dataset] = {}
        for start in range(0, n, batch_size):
            batch = load_images(image_paths[start : start + batch_size], image_size)
            images = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            features = model.features(images, layers)
            for name in layers:
                reduced = reduce_activation(features[name], reduce, pool_size)
                values = torch.flatten(reduced, 1).float().cpu().numpy()
                if name not in datasets:
                    n_features = values.shape[1]
                    # About 1 MB chunks of whole rows: RDMs stream over rows and columns.
                    rows_per_chunk = min(n, max(1, 2**18 // n_features))
                    datasets[name] = h5.create_dataset(
                        name, shape=(n, n_features), dtype="float32", chunks=(rows_per_chunk, n_features)
                    )
                    datasets[name].attrs["feature_shape"] = tuple(reduced.shape[1:])
                datasets[name][start : start + len(batch)] = values
            done = min(start + batch_size, n)
            log.info("%d/%d stimuli (%.1f s)", done, n, time.perf_counter() - started)
    os.replace(tmp, out_path)


def extract_file(
    model_path: Path, stimulus_table: Path, images_dir: Path, out_path: Path, *,
    layers: Sequence[str], image_size: int, reduce: str, pool_size: int, batch_size: int,
    device: str, threads: int,
) -> None:
    """The extract_activations job: a saved model's activations on the stimulus table's images."""
    from lrrsa.data.stimuli import image_path, read_stimulus_table
    from lrrsa.model import load_model
    from lrrsa.training import configure_torch, resolve_device

    configure_torch(threads)
    model, meta = load_model(model_path)
    table = read_stimulus_table(stimulus_table)
    paths = [image_path(Path(images_dir), s, c) for s, c in zip(table["stimulus"], table["concept"])]
    log.info(
        "%s: %d stimuli, layers %s, reduce %s (CUDA_VISIBLE_DEVICES=%s)", model_path, len(paths),
        list(layers), reduce, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
    )
    extract_to_hdf5(
        model, paths, table["stimulus"].tolist(), layers, Path(out_path),
        image_size=image_size, reduce=reduce, pool_size=pool_size, batch_size=batch_size,
        device=resolve_device(device), attrs={"condition": meta["condition"], "seed": meta["seed"]},
    )
