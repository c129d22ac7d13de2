"""Significance marks shared by the tables and the figures: stars for FDR-corrected
p-values of a test against zero, a dagger for a difference from the reference condition."""

from __future__ import annotations

import numpy as np

#: (threshold, stars), strictest first: a p_fdr below the threshold earns the stars.
STAR_LEVELS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
#: Marks a condition whose difference from the reference condition has p_fdr below DAGGER_LEVEL.
DAGGER, DAGGER_LEVEL = "†", 0.05


def stars(p: float | None) -> str:
    """'***', '**', '*' or '' for a p-value (NaN or None: '')."""
    if p is None or not np.isfinite(p):
        return ""
    return next((mark for level, mark in STAR_LEVELS if p < level), "")


def dagger(p_vs_reference: float | None) -> str:
    """The dagger where the difference from the reference is significant, else ''."""
    return DAGGER if p_vs_reference is not None and np.isfinite(p_vs_reference) and p_vs_reference < DAGGER_LEVEL else ""
