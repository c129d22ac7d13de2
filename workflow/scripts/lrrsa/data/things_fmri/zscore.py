"""z-scoring each voxel over a chosen set of trials (all, train, test, or per session), in
place on a chunk of voxel rows, with an error naming the voxels without variance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.things_fmri._common import _preview

#: Values of ``trials`` in :func:`stimulus_patterns`: the trials whose mean and standard
#: deviation z-score each voxel. ``"all"`` (the paper): all trials of the subject;
#: ``"train"`` / ``"test"``: the statistics of those trials only, applied to every
#: trial; ``"session"``: each session z-scored by its own statistics.
ZSCORE_TRIALS = ("all", "train", "test", "session")


def _zscore_groups(metadata: pd.DataFrame, trials: str) -> list[tuple[np.ndarray | slice, np.ndarray | slice]]:
    """(columns giving mean/std, columns they standardise) for a ``trials`` choice."""
    n = len(metadata)
    if trials == "all":
        return [(slice(None), slice(None))]
    if trials in ("train", "test"):
        cols = np.flatnonzero(metadata["trial_type"].to_numpy() == trials)
        if cols.size < 2:
            raise ValueError(f"z-scoring over {trials} trials needs at least 2 of them, found {cols.size}")
        return [(cols, slice(None))]
    if trials == "session":
        out = []
        for _, idx in sorted(metadata.groupby("session").indices.items()):
            if idx.size < 2:
                raise ValueError("z-scoring per session needs at least 2 trials in every session")
            out.append((np.sort(idx), np.sort(idx)))
        assert sum(c.size for c, _ in out) == n
        return out
    raise ValueError(f"trials must be one of {', '.join(ZSCORE_TRIALS)}; got {trials!r}")


def _zscore_inplace(
    x: np.ndarray, groups: list[tuple[np.ndarray | slice, np.ndarray | slice]], *, source: Path, voxel_ids: np.ndarray
) -> None:
    """Standardise each row of ``x`` (float64) in place; population std (ddof=0).

    For the "all" case no temporary of the size of ``x`` is made: centre in place, then
    the sum of squares by ``einsum``.
    """

    def check(std: np.ndarray) -> None:
        flat = ~(std > 0)
        if flat.any():
            raise ValueError(
                f"{source}: {int(flat.sum())} ROI voxel(s) have zero variance over the z-scoring trials "
                f"(voxel_id {_preview(voxel_ids[flat].tolist())}); drop them or set zscore=False"
            )

    for stat_cols, apply_cols in groups:
        if isinstance(stat_cols, slice) and isinstance(apply_cols, slice):
            x -= x.mean(axis=1)[:, None]
            std = np.sqrt(np.einsum("ij,ij->i", x, x) / x.shape[1])
            check(std)
            x /= std[:, None]
            continue
        ref = x[:, stat_cols]
        mean = ref.mean(axis=1)
        std = ref.std(axis=1)
        del ref
        check(std)
        if isinstance(apply_cols, slice):
            x -= mean[:, None]
            x /= std[:, None]
        else:
            x[:, apply_cols] = (x[:, apply_cols] - mean[:, None]) / std[:, None]
