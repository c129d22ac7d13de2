"""ROI scores of encoding models, their intervals and the condition comparisons.

A model's score in an ROI and subject is the mean over voxels of the Pearson r between
its held-out predictions and the responses over the n held-out images; a condition's
score is its mean over seeds and subjects. Its sampling variance over held-out images
comes from the leave-one-image-out jackknife, the influence of image i being
``(n - 1) (mean_j theta_(-j) - theta_(-i))``: the mean over voxels is a smooth function of
the images' sums, and its jackknife standard error matches the spread over image samples
(ratio 1.00-1.04 in ``benchmarks/encoding_calibration.py``). The median over voxels
(Brain-Score's summary) is reported beside it but not tested: leaving one image out moves
every voxel's r by about 1/n, far more than the gap between neighbouring voxels near the
median, so the median jumps from voxel to voxel and its jackknife is about 3 times too
wide for a difference (no false positives, no power: measured in the same benchmark).

``variance_components`` (default) feeds those influences, per condition, seed and subject,
to :func:`lrrsa.rsa.contrasts.contrast_inference_from_influence`: the same variance
components over images, seeds and subjects, pooling and Welch-Satterthwaite t-intervals
and tests as the RSA comparisons. ``bootstrap`` resamples the held-out images (the same
draw for every model, seeds and subjects fixed) and gives percentile intervals and the
percentile-bootstrap p. Both are conditional on the fitted images: the fitted weights
are not refitted per resample or leave-out.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lrrsa.rsa.bootstrap import bootstrap_pvalue
from lrrsa.rsa.contrasts import contrast_inference_from_influence

log = logging.getLogger(__name__)

#: Columns of ``encoding/tests.tsv``; ``estimate`` is a mean voxel r (score) or a difference of
#: two; ``median_r`` the (descriptive) median voxel r beside it.
TEST_COLUMNS = ["roi", "layer", "test", "condition", "condition_b", "subject", "estimate", "std", "se", "df",
                "ci_low", "ci_high", "p", "median_r", "ceiling", "normalised", "n_voxels", "n_images"]


def _centred_sums(prediction: np.ndarray, observed: np.ndarray):
    x = prediction - prediction.mean(axis=0)
    y = observed - observed.mean(axis=0)
    return x, y, (x * y).sum(0), (x * x).sum(0), (y * y).sum(0)


def _r(n, sx, sy, sxy, sxx, syy) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))


def voxel_r(prediction: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(v,) Pearson r of each column of ``prediction`` with ``observed`` (n_images, v)."""
    x, y, sxy, sxx, syy = _centred_sums(prediction, observed)
    return _r(x.shape[0], 0.0, 0.0, sxy, sxx, syy)


def mean_r(prediction: np.ndarray, observed: np.ndarray) -> float:
    """Mean over voxels of :func:`voxel_r` (the score that is tested)."""
    return float(np.nanmean(voxel_r(prediction, observed)))


def median_r(prediction: np.ndarray, observed: np.ndarray) -> float:
    """Median over voxels of :func:`voxel_r` (reported, not tested; see the module docstring)."""
    return float(np.nanmedian(voxel_r(prediction, observed)))


def leave_one_out_scores(prediction: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n,) the mean over voxels of r with each held-out image left out in turn."""
    x, y, sxy, sxx, syy = _centred_sums(prediction, observed)
    n = x.shape[0]
    r = _r(n - 1, -x, -y, sxy - x * y, sxx - x * x, syy - y * y)  # (n, v): sums without image i
    return np.nanmean(r, axis=1)


def jackknife_influence(prediction: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n,) jackknife influence of each held-out image on the mean r,
    ``(n - 1) (mean theta_(-j) - theta_(-i))``; their mean square over n - 1, over n, is
    the jackknife variance."""
    loo = leave_one_out_scores(prediction, observed)
    return (loo.size - 1) * (loo.mean() - loo)


def bootstrap_scores(prediction: np.ndarray, observed: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B,) mean r of each bootstrap sample of the held-out images, ``counts`` (B, n)
    the number of times each image is drawn."""
    x, y, *_ = _centred_sums(prediction, observed)
    m = counts.sum(axis=1, keepdims=True).astype(np.float64)
    r = _r(m, counts @ x, counts @ y, counts @ (x * y), counts @ (x * x), counts @ (y * y))
    return np.nanmean(r, axis=1)


def _pairs(conditions: Sequence[str]) -> list[tuple[int, int]]:
    """(a, b) with b before a in the config order, as the RSA pairwise table."""
    return [(a, b) for b, a in itertools.combinations(range(len(conditions)), 2)]


def encoding_tests(roi: str, layer: str, fits: Mapping[tuple[str, int, str], tuple[np.ndarray, np.ndarray, float]],
                   *, conditions: Sequence[str], seeds: Sequence[int], subjects: Sequence[str],
                   inference: str = "variance_components", generalise_over: Sequence[str] = ("stimuli", "seeds"),
                   ci_level: float = 0.95, n_bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Scores and condition differences of one ROI and layer, as a long table (TEST_COLUMNS).

    ``fits``: (condition, seed, subject) -> (prediction, observed (n_images, v), mean voxel
    ceiling). Rows by ``test``: ``score`` (a condition's mean voxel r, two-sided p of
    score = 0), ``difference`` (condition - condition_b, two-sided p of equal scores) and
    ``subject`` (per subject, mean over seeds; estimate only); ``median_r`` beside each score. A subject without voxels in
    the ROI is left out, with a warning. Raises ValueError for a missing fit, an unknown
    inference, or fewer than 4 held-out images.
    """
    used = [j for j in subjects if fits[(conditions[0], seeds[0], j)][0].shape[1] > 0]
    if len(used) < len(subjects):
        log.warning("ROI %s: subject(s) %s have no voxels and are left out", roi, sorted(set(subjects) - set(used)))
    if not used:
        raise ValueError(f"ROI {roi}: no subject has voxels")
    n_images = fits[(conditions[0], seeds[0], used[0])][1].shape[0]
    if n_images < 4:
        raise ValueError(f"ROI {roi}: {n_images} held-out images; the intervals need at least 4")
    shape = (len(conditions), len(seeds), len(used))
    scores, medians, ceilings = np.empty(shape), np.empty(shape), np.empty(shape)
    for (c, cond), (k, s), (j, subject) in itertools.product(enumerate(conditions), enumerate(seeds), enumerate(used)):
        prediction, observed, ceiling = fits[(cond, s, subject)]
        r = voxel_r(prediction, observed)
        scores[c, k, j], medians[c, k, j], ceilings[c, k, j] = np.nanmean(r), np.nanmedian(r), ceiling
    pairs = _pairs(conditions)
    eye = np.eye(len(conditions))
    weights = np.vstack([eye] + [eye[a] - eye[b] for a, b in pairs])
    estimate = weights @ scores.mean(axis=(1, 2))
    se = df = np.full(len(weights), np.nan)
    if inference == "variance_components":
        influences = np.empty((*shape, n_images))
        for (c, cond), (k, s), (j, subject) in itertools.product(enumerate(conditions), enumerate(seeds),
                                                                 enumerate(used)):
            influences[c, k, j] = jackknife_influence(*fits[(cond, s, subject)][:2])
        result = contrast_inference_from_influence(scores, influences, weights, level=ci_level,
                                                   factors=generalise_over)
        low, high, p, se, df = result.low, result.high, result.p, result.se, result.df
        log.info("%s/%s: variance components over %s", roi, layer, ", ".join(result.factors))
    elif inference == "bootstrap":
        from lrrsa.stats.seeds import derived_seed

        rng = np.random.default_rng(derived_seed(seed, "encoding bootstrap"))
        counts = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=n_bootstrap).astype(np.float64)
        samples = np.empty((n_bootstrap, *shape))
        for (c, cond), (k, s), (j, subject) in itertools.product(enumerate(conditions), enumerate(seeds),
                                                                 enumerate(used)):
            samples[:, c, k, j] = bootstrap_scores(*fits[(cond, s, subject)][:2], counts)
        contrasts = samples.mean(axis=(2, 3)) @ weights.T  # (B, q)
        tail = (1 - ci_level) / 2
        low, high = np.nanquantile(contrasts, tail, axis=0), np.nanquantile(contrasts, 1 - tail, axis=0)
        p = bootstrap_pvalue(contrasts)
        log.info("%s/%s: %d bootstrap samples of the held-out images", roi, layer, n_bootstrap)
    else:
        raise ValueError(f"unknown stats.inference {inference!r}; expected variance_components or bootstrap")
    n_voxels = {j: fits[(conditions[0], seeds[0], j)][0].shape[1] for j in used}
    seed_std = scores.mean(axis=2).std(axis=1, ddof=1) if len(seeds) > 1 else np.full(len(conditions), np.nan)
    rows = []
    for c, cond in enumerate(conditions):
        ceiling = float(ceilings[c].mean())
        rows.append([roi, layer, "score", cond, "", "mean", estimate[c], seed_std[c], se[c], df[c], low[c], high[c],
                     p[c], float(medians[c].mean()), ceiling, estimate[c] / ceiling if ceiling > 0 else np.nan,
                     sum(n_voxels.values()), n_images])
        for j, subject in enumerate(used):
            top = float(ceilings[c, :, j].mean())
            value = float(scores[c, :, j].mean())
            rows.append([roi, layer, "subject", cond, "", subject, value, np.nan, np.nan, np.nan, np.nan, np.nan,
                         np.nan, float(medians[c, :, j].mean()), top, value / top if top > 0 else np.nan,
                         n_voxels[subject], n_images])
    for row, (a, b) in enumerate(pairs, start=len(conditions)):
        rows.append([roi, layer, "difference", conditions[a], conditions[b], "mean", estimate[row], np.nan, se[row],
                     df[row], low[row], high[row], p[row], np.nan, np.nan, np.nan, sum(n_voxels.values()), n_images])
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
