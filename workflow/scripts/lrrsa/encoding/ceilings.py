"""Noise ceilings of single voxels or neurons on the scale of Pearson r.

A target's ceiling is the correlation a perfect model of its stimulus-driven response
would reach with the measured, trial-averaged data: ``sqrt(reliability)``, the
reliability being the share of the averaged data's variance that the stimulus drives.

- THINGS-fMRI's ``nc_testset`` (VoxelMetadata; Hebart et al. 2023, after Allen et al.
  2022's NSD) is that share in percent for the test images averaged over their 12
  repetitions, ``100 ncsnr^2 / (ncsnr^2 + 1/12)``: the ceiling is ``sqrt(nc_testset/100)``.
- Split halves of the repetitions (Brain-Score's internal consistency): Pearson r of the
  two half means across stimuli, Spearman-Brown corrected to the full number of
  repetitions, ``2 r / (1 + r)``, is the reliability; the ceiling its square root.
  Brain-Score divides a score by the reliability itself, not its square root, which is
  why its normalised scores can exceed 1; here both routes give the ceiling of r.
"""

from __future__ import annotations

import numpy as np

from lrrsa.encoding.correlation import pearson_columns


def ceiling_from_nc_testset(nc_testset: np.ndarray) -> np.ndarray:
    """r-scale ceiling ``sqrt(nc / 100)`` of THINGS-fMRI ``nc_testset`` values (percent, (v,));
    negative values (noise estimates above the total) give 0, NaN stays NaN."""
    nc = np.asarray(nc_testset, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.clip(nc, 0, None) / 100.0)


def split_half_reliability(first_half: np.ndarray, second_half: np.ndarray) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability per target of half means
    (n_stimuli, v) -> (v,): ``2 r / (1 + r)`` with r the Pearson r across stimuli."""
    r = pearson_columns(np.asarray(first_half, dtype=np.float64), np.asarray(second_half, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * r / (1 + r)


def ceiling_from_split_halves(first_half: np.ndarray, second_half: np.ndarray) -> np.ndarray:
    """r-scale ceiling ``sqrt(max(reliability, 0))`` of :func:`split_half_reliability`."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.clip(split_half_reliability(first_half, second_half), 0, None))
