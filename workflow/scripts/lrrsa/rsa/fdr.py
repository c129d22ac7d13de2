"""False discovery rate over one family of p-values (statsmodels)."""

from __future__ import annotations

import numpy as np

FDR_METHODS = ("fdr_bh", "fdr_by")


def fdr(pvalues, method: str = "fdr_bh") -> np.ndarray:
    """FDR-adjusted p-values of one family (statsmodels ``multipletests``): fdr_bh
    (Benjamini-Hochberg, valid under positive dependence) or fdr_by (any dependence).
    NaN p-values (undefined tests) stay NaN and are not counted in the family."""
    from statsmodels.stats.multitest import multipletests

    if method not in FDR_METHODS:
        raise ValueError(f"unknown FDR method {method!r}; expected one of {FDR_METHODS}")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    if keep.any():
        out[keep] = multipletests(p[keep], method=method)[1]
    return out
