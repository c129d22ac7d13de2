"""The FDR families ``stats.fdr.family`` names, and ``p_fdr`` over them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrrsa.rsa.fdr import fdr

#: Values of ``stats.fdr.family``: which p-values are corrected together.
FDR_FAMILIES = ("comparisons", "per_roi", "all", "none")
#: Kinds of test against single subjects' RDMs (their ``mean`` rows a kind of their
#: own): never in the group-level family of ``all``.
SUBJECT_TESTS = ("subject", "pixel_subject")


def _family(tests: pd.DataFrame, family: str) -> pd.Series:
    subject_level = tests["test"].isin(SUBJECT_TESTS)
    kind = tests["test"].where(~(subject_level & (tests["subject"] == "mean")), tests["test"] + "_mean")
    if family == "comparisons":  # each kind of test across ROIs; the comparisons are the paper's family
        return kind
    if family == "per_roi":
        return kind + "/" + tests["roi"]
    if family == "all":  # every group-level test of the study tables together; subject-level apart
        return kind.where(subject_level, "group")
    raise ValueError(f"unknown FDR family {family!r}; expected one of {FDR_FAMILIES}")


def with_fdr(tests: pd.DataFrame, family: str = "comparisons", method: str = "fdr_bh") -> pd.DataFrame:
    """``tests`` with ``p_fdr``: FDR-adjusted within each family.

    Families (``stats.fdr.family``): ``comparisons`` (default) corrects each kind of
    test over all ROIs: all condition differences (vs the reference and pairwise) of
    all ROIs together (the paper's family: with c conditions and r ROIs in the run's
    config, c (c - 1) / 2 x r comparisons); the condition-vs-zero tests together; the
    partial tests together; the subject tests together; and the pixel baseline's kinds
    (:mod:`lrrsa.stats.pixel_baseline`) each apart: ``pixel`` (the pixel RDM's score
    against the group RDM, all ROIs), ``pixel_difference`` (every condition minus the
    pixel RDM, all ROIs), ``pixel_subject`` and its ``mean`` rows. ``per_roi``: the same,
    within each ROI. ``all``: every group-level test (scores, differences, partial, the
    pixel's score and the differences from it) in one family; the subject-level kinds
    apart. ``none``: p_fdr = p. Undefined tests (p NaN) are not counted in a family.
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
