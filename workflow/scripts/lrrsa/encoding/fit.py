"""One model's encoding fits: every layer to every ROI of every subject.

For each layer and outer fold (:mod:`lrrsa.encoding.protocols`) the feature transform is
fitted on the fold's fitted images, and one himalaya ridge fit predicts every voxel of
every ROI and subject at once (the targets are independent, each with its own penalty,
so fitting them together only saves the SVDs). Each voxel is scored by the Pearson r of
its held-out predictions with its responses over the held-out images (in ``kfold``, the
out-of-fold predictions of all images pooled, rather than Brain-Score's mean over folds,
so that every image enters one r); an ROI by the mean over its voxels (the median beside
it), and by that mean over the mean voxel ceiling (the fraction of the ceiling reached).

Output: a scores table (:data:`SCORE_COLUMNS`) and ``encoding/fits/<condition>/seed-<seed>.h5``:
``held_out`` (the held-out rows of the stimulus table, in prediction order) and, per
``<layer>/<roi>/<subject>``, the predictions as ``prediction_centred`` (n_held_out, v)
float32 plus ``prediction_mean`` (v,) float64, ``r`` (v,) and ``alpha`` (n_folds, v).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lrrsa.encoding.features import FeatureTransform, fitted_features
from lrrsa.encoding.protocols import inner_folds, outer_folds
from lrrsa.encoding.responses import RoiResponses
from lrrsa.encoding.correlation import pearson_columns
from lrrsa.encoding.ridge import fit_ridge_cv

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["condition", "seed", "layer", "roi", "subject", "n_voxels", "n_features", "n_fitted", "n_held_out",
                 "mean_r", "median_r", "ceiling", "normalised", "median_alpha"]


def _read_features(path: Path, layer: str, stimuli: Sequence[str]) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        stored = [s.decode() if isinstance(s, bytes) else s for s in h5["stimuli"][()]]
        if stored != list(stimuli):
            raise ValueError(f"{path}: its images differ from the encoding stimulus table's")
        if layer not in h5:
            raise ValueError(f"{path}: no layer {layer!r} (has {sorted(k for k in h5 if k != 'stimuli')})")
        return h5[layer][()].astype(np.float64)


def fit_layer(features: np.ndarray, table: pd.DataFrame, targets: Mapping[tuple[str, str], RoiResponses], *,
              transform: FeatureTransform, alphas: Sequence[float], n_inner_folds: int, device: str = "cpu",
              ) -> tuple[np.ndarray, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], int, int]:
    """Held-out predictions of every (roi, subject) target set from one layer's ``features``
    (n_images, p) in ``table`` order. Returns (held-out rows, {(roi, subject):
    (prediction (n_held_out, v), alpha (n_folds, v))}, number of features after the
    transform, images fitted per fold (the first fold's))."""
    keys = [k for k, t in targets.items() if t.voxel_ids.size]
    widths = [targets[k].voxel_ids.size for k in keys]
    y = np.hstack([targets[k].responses for k in keys]) if keys else np.zeros((len(table), 0))
    folds = table["fold"].to_numpy()
    concepts = table["concept"].to_numpy()
    held_rows, predictions, alphas_by_fold, n_features, n_fitted = [], [], [], 0, 0
    for _, fitted, held_out in outer_folds(folds):
        n_fitted = n_fitted or fitted.size
        x_fit, x_held = fitted_features(features, fitted, held_out, transform)
        n_features = x_fit.shape[1]
        if y.shape[1]:
            fit = fit_ridge_cv(x_fit, y[fitted], x_held, alphas=alphas, splits=inner_folds(concepts[fitted],
                                                                                           n_inner_folds),
                               device=device)
            predictions.append(fit.prediction)
            alphas_by_fold.append(fit.alpha)
        held_rows.append(held_out)
    rows = np.concatenate(held_rows)
    out = {}
    if keys:
        prediction, alpha = np.vstack(predictions), np.vstack(alphas_by_fold)
        edges = np.cumsum([0, *widths])
        out = {k: (prediction[:, a:b], alpha[:, a:b]) for k, a, b in zip(keys, edges[:-1], edges[1:])}
    return rows, out, n_features, n_fitted


def roi_score(r: np.ndarray, ceiling: np.ndarray) -> dict[str, float]:
    """mean_r, median_r, ceiling (mean voxel ceiling) and normalised (mean_r / ceiling) of
    per-voxel r (v,); NaN without voxels."""
    if r.size == 0:
        return {"mean_r": np.nan, "median_r": np.nan, "ceiling": np.nan, "normalised": np.nan}
    mean, top = float(np.nanmean(r)), float(np.nanmean(ceiling))
    return {"mean_r": mean, "median_r": float(np.nanmedian(r)), "ceiling": top,
            "normalised": mean / top if top > 0 else np.nan}


def fit_model(activations: Path | str, table: pd.DataFrame, responses: Mapping[str, Mapping[str, RoiResponses]],
              out: Path | str, *, condition: str, seed: int, layers: Sequence[str], transform: Mapping,
              alphas: Sequence[float], n_inner_folds: int, device: str = "cpu") -> pd.DataFrame:
    """The fit_encoding job: fits of every layer to ``responses`` (subject -> ROI ->
    :class:`RoiResponses`), written to ``out`` (HDF5, see the module docstring; under a
    temporary name, renamed when complete); returns the scores (:data:`SCORE_COLUMNS`)."""
    out = Path(out)
    targets = {(roi, subject): found for subject, rois in responses.items() for roi, found in rois.items()}
    rows, started = [], time.perf_counter()
    tmp = out.with_name(out.name + ".tmp")
    with h5py.File(tmp, "w") as h5:
        h5.attrs.update({"condition": condition, "seed": seed})
        for layer in layers:
            features = _read_features(Path(activations), layer, table["stimulus"].tolist())
            method = FeatureTransform(transform["method"], transform["n_components"], seed=transform["seed"])
            held, fits, n_features, n_fitted = fit_layer(features, table, targets, transform=method, alphas=alphas,
                                               n_inner_folds=n_inner_folds, device=device)
            if "held_out" not in h5:
                h5.create_dataset("held_out", data=held)
            for (roi, subject), found in targets.items():
                prediction, alpha = fits.get((roi, subject), (np.zeros((held.size, 0)), np.zeros((1, 0))))
                r = pearson_columns(prediction, found.responses[held]) if prediction.shape[1] else np.zeros(0)
                group = h5.create_group(f"{layer}/{roi}/{subject}")
                # float32 of the centred predictions: a heavily penalised voxel's predictions vary
                # far less than their mean, and float32 of the raw values would lose that variation
                mean = prediction.mean(axis=0)
                group.create_dataset("prediction_centred", data=(prediction - mean).astype(np.float32))
                group.create_dataset("prediction_mean", data=mean)
                group.create_dataset("r", data=r)
                group.create_dataset("alpha", data=alpha)
                rows.append({"condition": condition, "seed": seed, "layer": layer, "roi": roi, "subject": subject,
                             "n_voxels": int(found.voxel_ids.size), "n_features": n_features,
                             "n_fitted": n_fitted,
                             "n_held_out": int(held.size), **roi_score(r, found.ceiling),
                             "median_alpha": float(np.median(alpha)) if alpha.size else np.nan})
            log.info("%s seed %d %s: %d features, %d targets (%.1f s)", condition, seed, layer, n_features,
                     sum(t.voxel_ids.size for t in targets.values()), time.perf_counter() - started)
    os.replace(tmp, out)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def ridge_device(device: str) -> str:
    """The himalaya device of the config's ``device``: auto is cuda when PyTorch sees a GPU."""
    if device == "cpu":
        return "cpu"
    from lrrsa.training import resolve_device

    return resolve_device(device).type


def write_model_fits(activations: Path | str, table_path: Path | str, response_paths: Mapping[str, Path | str],
                     fits_out: Path | str, scores_out: Path | str, *, condition: str, seed: int,
                     layers: Sequence[str], transform: Mapping, alphas: Mapping, inner_folds: int,
                     device: str = "cpu", threads: int = 1) -> None:
    """The fit_encoding job: :func:`fit_model` on the files of the workflow, BLAS limited to
    ``threads``; ``alphas``: the config's ``log10_min``, ``log10_max``, ``n``."""
    from threadpoolctl import threadpool_limits

    from lrrsa.encoding.protocols import read_protocol_table
    from lrrsa.encoding.responses import read_subject_responses
    from lrrsa.encoding.ridge import alpha_grid
    from lrrsa.tsv import write_table

    table = read_protocol_table(table_path)
    responses = {s: read_subject_responses(p, table["stimulus"].tolist()) for s, p in response_paths.items()}
    grid = alpha_grid(alphas["log10_min"], alphas["log10_max"], alphas["n"])
    with threadpool_limits(limits=max(1, threads)):
        scores = fit_model(activations, table, responses, fits_out, condition=condition, seed=seed, layers=layers,
                           transform=transform, alphas=grid, n_inner_folds=inner_folds,
                           device=ridge_device(device))
    write_table(scores, scores_out)


def write_reference_fits(activations: Path | str, table_path: Path | str, response_paths: Mapping[str, Path | str],
                         fits_outs: Sequence[Path | str], scores_outs: Sequence[Path | str], *, condition: str,
                         seeds: Sequence[int], **options) -> None:
    """The fit_reference_encoding job: a pretrained reference network is the same network
    in every seed (its activation files are equal), so it is fitted once, as seed
    ``seeds[0]`` (:func:`write_model_fits`, ``options`` passed on), and each other seed's
    files are that fit relabelled: the fits' ``seed`` attribute and the scores' ``seed``
    column, what a fit of its own would write, at 1/len(seeds) of the cost. Each file is
    written under a temporary name and renamed."""
    from lrrsa.tsv import write_table

    if not len(seeds) == len(fits_outs) == len(scores_outs):
        raise ValueError(f"{len(seeds)} seeds but {len(fits_outs)} fit and {len(scores_outs)} score files")
    write_model_fits(activations, table_path, response_paths, fits_outs[0], scores_outs[0], condition=condition,
                     seed=seeds[0], **options)
    scores = pd.read_csv(scores_outs[0], sep="\t")
    for seed, fits_out, scores_out in zip(seeds[1:], fits_outs[1:], scores_outs[1:]):
        tmp = Path(fits_out).with_name(Path(fits_out).name + ".tmp")
        shutil.copyfile(fits_outs[0], tmp)
        with h5py.File(tmp, "r+") as h5:
            h5.attrs["seed"] = seed
        os.replace(tmp, fits_out)
        write_table(scores.assign(seed=seed), scores_out)
        log.info("%s seed %d: the fit of seed %d, relabelled (the same network)", condition, seed, seeds[0])
