"""Significance marks shared by the tables and the figures: stars for FDR-corrected
p-values of a test against zero, a dagger for a difference from the reference
condition; and the words that say what an interval and a difference test are."""

from __future__ import annotations

from collections.abc import Mapping

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


def _factors(stats: Mapping) -> str:
    factors = list(stats.get("generalise_over", ["stimuli", "seeds"]))
    return " and ".join([", ".join(factors[:-1]), factors[-1]] if len(factors) > 1 else factors)


def interval_label(stats: Mapping) -> str:
    """What an interval of a score or difference is, from the config's ``stats`` section:
    e.g. '95% t-interval over stimuli and seeds' or '95% BCa bootstrap CI (stimuli resampled)'."""
    level = f"{100 * stats['ci_level']:g}%"
    if stats.get("inference", "variance_components") == "variance_components":
        return f"{level} t-interval over {_factors(stats)}"
    method = "BCa" if stats["ci_method"] == "bca" else stats["ci_method"]
    resampled = stats["bootstrap_scheme"] + (" and subjects" if stats.get("bootstrap_subjects") else "")
    return f"{level} {method} bootstrap CI ({resampled} resampled)"


def difference_test_label(stats: Mapping) -> str:
    """What the test of a difference of two conditions is, in words."""
    if stats.get("inference", "variance_components") == "variance_components":
        return (f"two-sided t-test of the difference, generalising over {_factors(stats)} (variance components, "
                "Welch-Satterthwaite df)")
    return "two-sided percentile-bootstrap test of the difference"


def encoding_interval_label(stats: Mapping) -> str:
    """What the interval of an encoding score or difference is (:mod:`lrrsa.encoding.inference`):
    the t-interval of the RSA, or a percentile bootstrap over the held-out images."""
    if stats.get("inference", "variance_components") == "variance_components":
        return interval_label(stats)
    return f"{100 * stats['ci_level']:g}% percentile bootstrap CI (held-out images resampled)"
