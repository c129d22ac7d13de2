"""Cache a model's activations on the brain stimuli in one HDF5 file.

Layout: one 2-D float32 dataset per layer, shape (n_stimuli, n_features), rows in
the stimulus table's order; the dataset attribute ``feature_shape`` gives the
shape of one stimulus's features before flattening (C, H, W for full maps).
The stimulus ids are stored in the dataset ``stimuli``.

:func:`write_activations_hdf5` is the one writer of this format; it takes any
feature function. :func:`extract_to_hdf5` feeds it the study's ConvNet, and
:func:`lrrsa.pretrained.extract_pretrained_to_hdf5` a published torchvision network.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
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


FeatureFunction = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
"""Images -> named activations: takes a float32 batch (N, 3, H, W) of RGB values in
[0, 1] on the extraction device and returns at least the requested layers, each
(N, D) or (N, C, H', W'), on that device."""


@torch.no_grad()
def write_activations_hdf5(
    features: FeatureFunction,
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
    """The one activation-cache writer: ``features`` of every stimulus to ``out_path``.

    Each batch of ``batch_size`` stimuli is loaded by :func:`lrrsa.images.load_images`
    (RGB uint8 at ``image_size`` x ``image_size`` px), scaled to float32 [0, 1] as
    (N, 3, image_size, image_size) on ``device`` and passed to ``features`` under
    ``torch.no_grad``; each of ``layers`` is reduced by :func:`reduce_activation`
    and flattened. The file holds ``stimuli`` (the ids, in order), one float32
    dataset (n_stimuli, n_features) per layer in chunks of whole rows (about 1 MB)
    with the attribute ``feature_shape``, and the file attributes image_size,
    reduce, pool_size and ``attrs``. It is written as ``<out_path>.tmp`` and renamed
    when complete, so ``out_path`` is either absent or whole (the temporary file is
    removed when extraction fails).

    Raises ValueError when ``image_paths`` and ``stimulus_ids`` differ in length or
    for an unknown ``reduce``; KeyError when ``features`` omits a layer.
    """
    if len(image_paths) != len(stimulus_ids):
        raise ValueError("image_paths and stimulus_ids differ in length")
    n = len(image_paths)
    tmp = out_path.with_name(out_path.name + ".tmp")
    started = time.perf_counter()
    try:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("stimuli", data=np.array(stimulus_ids, dtype=object), dtype=h5py.string_dtype())
            h5.attrs.update({"image_size": image_size, "reduce": reduce, "pool_size": pool_size, **(attrs or {})})
            datasets: dict[str, h5py.Dataset] = {}
            for start in range(0, n, batch_size):
                batch = load_images(image_paths[start : start + batch_size], image_size)
                images = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                outputs = features(images)
                for name in layers:
                    reduced = reduce_activation(outputs[name], reduce, pool_size)
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
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file left behind
        raise
    os.replace(tmp, out_path)


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
    is written by :func:`write_activations_hdf5` (its layout and errors), under a
    temporary name and renamed when complete.
    """
    model.eval().to(device)
    write_activations_hdf5(
        lambda images: model.features(images, layers), image_paths, stimulus_ids, layers, out_path,
        image_size=image_size, reduce=reduce, pool_size=pool_size, batch_size=batch_size, device=device,
        attrs=attrs,
    )


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
