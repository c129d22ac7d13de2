"""The FDR families ``stats.fdr.family`` names, and ``p_fdr`` over them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrrsa.rsa.fdr import fdr

#: Values of ``stats.fdr.family``: which p-values are corrected together.
FDR_FAMILIES = ("comparisons", "per_roi", "all", "none")


def _family(tests: pd.DataFrame, family: str) -> pd.Series:
    kind = tests["test"].where(~((tests["test"] == "subject") & (tests["subject"] == "mean")), "subject_mean")
    if family == "comparisons":  # each kind of test across ROIs; the comparisons are the paper's family
        return kind
    if family == "per_roi":
        return kind + "/" + tests["roi"]
    if family == "all":  # every group-level test of the study tables together; subject-level apart
        return kind.where(kind.isin(["subject", "subject_mean"]), "group")
    raise ValueError(f"unknown FDR family {family!r}; expected one of {FDR_FAMILIES}")


def with_fdr(tests: pd.DataFrame, family: str = "comparisons", method: str = "fdr_bh") -> pd.DataFrame:
    """``tests`` with ``p_fdr``: FDR-adjusted within each family.

    Families (``stats.fdr.family``): ``comparisons`` (default) corrects each kind of
    test over all ROIs: all condition differences (vs the reference and pairwise) of
    all ROIs together (the paper's family: with c conditions and r ROIs in the run's
    config, c (c - 1) / 2 x r comparisons); the condition-vs-zero tests together; the
    partial tests together; the subject tests together. ``per_roi``: the same, within
    each ROI. ``all``: every group-level test (scores, differences, partial) in one
    family. ``none``: p_fdr = p. Undefined tests (p NaN) are not counted in a family.
    A ``p_exchangeable`` column (the Mantel p of a difference, the paper's test) gets
    ``p_exchangeable_fdr`` over the same families.
    """
    tests = tests.copy()
    for column in ("p", "p_exchangeable"):
        if column not in tests:
            continue
        out = f"{column}_fdr"
        if family == "none":
            tests[out] = tests[column]
            continue
        tests[out] = np.nan
        has_p = tests[column].notna()
        for _, index in tests[has_p].groupby(_family(tests[has_p], family)).groups.items():
            tests.loc[index, out] = fdr(tests.loc[index, column].to_numpy(), method)
    return tests
