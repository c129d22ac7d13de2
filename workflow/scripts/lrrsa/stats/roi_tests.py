"""Every test of one ROI and its mapped layer, as a long table (``stats/tests/<roi>.tsv``).

One job per ROI (:func:`roi_tests`) runs every test that needs the RDMs: the
Mantel permutation test of each condition (the mean score over its seeds) against
the group RDM (rho > 0), the intervals of every condition score and every
difference of two conditions with the test of each difference
(:mod:`lrrsa.rsa.contrasts`, or the bootstrap), the paper's Mantel test of each
difference beside it (``p_exchangeable``), partial RSA controlling the pixel RDM,
and the subject-level tests. The study tables (:mod:`lrrsa.stats.study_tables`) read it and apply the FDR
correction over the family the config names.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.rdm_io import load_matching, load_rdm
from lrrsa.rsa.bootstrap import bootstrap_ci, bootstrap_pvalue
from lrrsa.rsa.comparators import rsa_score, upper_triangle
from lrrsa.rsa.condensed import MIN_STIMULI
from lrrsa.rsa.contrasts import contrast_inference
from lrrsa.rsa.partial import partial_rsa
from lrrsa.rsa.permutation import mantel_pvalues, permutation_test
from lrrsa.stats.seeds import derived_seed
from lrrsa.tsv import write_table

log = logging.getLogger(__name__)

#: ``se``, ``df``: standard error and degrees of freedom of the variance-components
#: inference (NaN with the bootstrap); ``p_exchangeable``: the Mantel p of a difference
#: (stimulus labels permuted: the paper's test, whose null is that neither condition
#: shares structure with the brain); ``n_boot_undefined``: bootstrap samples whose
#: statistic was undefined and left out of the interval (NaN where there is none).
TEST_COLUMNS = ["roi", "layer", "test", "condition", "condition_b", "subject", "estimate", "std", "se", "df",
                "ci_low", "ci_high", "p", "p_exchangeable", "n_pairs", "n_boot_undefined"]
#: Values of stats.inference.
INFERENCES = ("variance_components", "bootstrap")


def _condition_pairs(conditions: Sequence[str]) -> list[tuple[int, int]]:
    """(a, b) with b before a in the config order: delta = rho_a - rho_b, so every
    condition is compared with the first one (the reference, e.g. untrained)."""
    return [(a, b) for b, a in itertools.combinations(range(len(conditions)), 2)]


def _load_all(paths: Sequence[Path], stimuli: Sequence[str]) -> np.ndarray:
    return np.stack(load_matching(paths, stimuli))


def _seed_grid(keys: Sequence[tuple[str, int]], conditions: Sequence[str], roi: str) -> np.ndarray:
    """(conditions, seeds) indices into ``keys``: seed k of every condition in one column
    (they share their initialisation). ValueError naming the ROI if the conditions do not
    have the same seeds."""
    seeds = {c: sorted(s for cond, s in keys if cond == c) for c in conditions}
    first = seeds[conditions[0]]
    if any(v != first for v in seeds.values()):
        raise ValueError(f"ROI {roi}: the conditions have different seeds {seeds}; the variance-components inference "
                         "pairs seed k of every condition (use stats.inference: bootstrap)")
    index = {key: i for i, key in enumerate(keys)}
    return np.array([[index[(c, s)] for s in first] for c in conditions])


def _has_data(rdm: np.ndarray) -> bool:
    """Whether an RDM has any dissimilarity (a subject without voxels in the ROI has none)."""
    return bool((~np.isnan(upper_triangle(rdm))).any())


def roi_tests(
    roi: str, layer: str, model_rdms: Mapping[tuple[str, int], Path], group_rdm: Path,
    subject_rdms: Mapping[str, Path], pixel_rdm: Path | None, *, conditions: Sequence[str], method: str,
    n_permutations: int, permutation_scheme: str, inference: str = "variance_components",
    generalise_over: Sequence[str] = ("stimuli", "seeds"), n_bootstrap: int = 1000, bootstrap_scheme: str = "stimuli",
    bootstrap_subjects: bool = False, ci_method: str = "bca", ci_level: float = 0.95, seed: int = 0,
    device: str = "cpu", threads: int | None = None,
) -> pd.DataFrame:
    """Every test of one ROI and its mapped layer, as a long table (TEST_COLUMNS).

    Rows by ``test``: ``score`` (a condition's mean rho over seeds vs the group RDM,
    one-sided Mantel p of rho > 0, its interval), ``difference`` (condition -
    condition_b: its interval and two-sided p, and the Mantel p under the same
    permutations as ``p_exchangeable``). Intervals and difference tests by
    ``inference``: ``variance_components`` (:func:`lrrsa.rsa.contrasts.contrast_inference`
    over ``generalise_over``, with ``se`` and ``df``) or ``bootstrap`` (``ci_method``
    interval, percentile-bootstrap p). ``seed_average_rdm`` (rho
    of the seeds' mean RDM), ``partial`` (mean partial rho controlling the pixel RDM),
    ``subject`` (mean rho vs each subject's RDM, and subject ``mean``: the mean over
    subjects, tested with the subjects' nulls averaged under the same permutations).

    Degenerate input: missing pairs (NaN rows of stimuli with constant features) are
    dropped from every test; a subject whose RDM has no dissimilarity at all (no
    voxels in the ROI) gets NaN rows with ``n_pairs`` 0 and is left out of the
    subject mean and of the subject bootstrap; undefined values are NaN. Error naming
    the ROI and the file: fewer than 4 stimuli, model RDMs missing for a condition.
    """
    group, stimuli = load_rdm(group_rdm)
    if len(stimuli) < MIN_STIMULI:
        raise ValueError(f"ROI {roi}: {group_rdm} has {len(stimuli)} stimuli; the statistics need at least "
                         f"{MIN_STIMULI}")
    keys = list(model_rdms)
    models = _load_all([model_rdms[k] for k in keys], stimuli)
    cond_index = {c: [i for i, (cond, _) in enumerate(keys) if cond == c] for c in conditions}
    missing = [c for c, idx in cond_index.items() if not idx]
    if missing:
        raise ValueError(f"ROI {roi}: no model RDMs for condition(s) {missing}")
    means = np.zeros((len(conditions), len(keys)))
    for row, c in enumerate(conditions):
        means[row, cond_index[c]] = 1.0 / len(cond_index[c])
    pairs = _condition_pairs(conditions)
    diffs = np.array([means[a] - means[b] for a, b in pairs]).reshape(len(pairs), len(keys))
    perm_seed, boot_seed = derived_seed(seed, "permutations"), derived_seed(seed, "bootstrap")
    subjects = dict(zip(subject_rdms, load_matching(list(subject_rdms.values()), stimuli)))
    empty = [s for s, brain in subjects.items() if not _has_data(brain)]
    if empty:
        log.warning("ROI %s: no dissimilarities for subject(s) %s (no voxels in the ROI?): their rows are NaN and "
                    "they are left out of the subject mean and bootstrap", roi, empty)
    rows = []

    def add(test, condition, estimate, p=np.nan, *, condition_b="", subject="group", std=np.nan, se=np.nan, df=np.nan,
            ci=(np.nan, np.nan), p_exchangeable=np.nan, n_pairs=np.nan, undefined=np.nan):
        rows.append([roi, layer, test, condition, condition_b, subject, estimate, std, se, df, ci[0], ci[1], p,
                     p_exchangeable, n_pairs, undefined])

    def seed_std(scores: np.ndarray) -> np.ndarray:
        return np.array([np.std(scores[cond_index[c]], ddof=1) if len(cond_index[c]) > 1 else np.nan
                         for c in conditions])

    test = permutation_test(models, group, n_permutations, perm_seed, method=method, scheme=permutation_scheme,
                            device=device, threads=threads)
    by_condition = test.combine(means)
    log.info("%s/%s: %d models, %d permutations (%s)", roi, layer, len(keys), n_permutations, permutation_scheme)
    n_rows = len(conditions) + len(pairs)
    interval = {"ci": np.full((n_rows, 2), np.nan), "se": np.full(n_rows, np.nan), "df": np.full(n_rows, np.nan),
                "p": np.full(n_rows, np.nan), "undefined": np.full(n_rows, np.nan)}
    with_data = [brain for s, brain in subjects.items() if s not in empty]
    if inference == "variance_components" and with_data:
        grid = _seed_grid(keys, conditions, roi)
        weights = np.vstack([np.eye(len(conditions))] + [np.eye(len(conditions))[a] - np.eye(len(conditions))[b]
                                                         for a, b in pairs])
        result = contrast_inference(models[grid], np.stack(with_data), weights, method=method, level=ci_level,
                                    factors=generalise_over)
        interval.update(ci=np.column_stack([result.low, result.high]), se=result.se, df=result.df, p=result.p)
        log.info("%s: variance components over %s", roi, ", ".join(result.factors))
    elif inference == "bootstrap" and n_bootstrap > 0:
        brain = np.stack(with_data) if bootstrap_subjects and with_data else group
        boot = bootstrap_ci(models, brain, method=method, n_bootstrap=n_bootstrap, ci=ci_method, level=ci_level,
                            seed=boot_seed, scheme=bootstrap_scheme, resample_subjects=bootstrap_subjects,
                            contrasts=np.vstack([means, diffs]), threads=threads)
        interval.update(ci=np.column_stack([boot.low, boot.high]), p=bootstrap_pvalue(boot.samples),
                        undefined=boot.n_undefined)
        log.info("%s: %d bootstrap samples (%s, %s), %d undefined at most", roi, n_bootstrap, bootstrap_scheme,
                 ci_method, int(boot.n_undefined.max()))
    elif inference not in INFERENCES:
        raise ValueError(f"unknown stats.inference {inference!r}; expected one of {INFERENCES}")
    std = seed_std(test.rho)
    for row, c in enumerate(conditions):
        add("score", c, by_condition.rho[row], by_condition.p[row], std=std[row], se=interval["se"][row],
            df=interval["df"][row], ci=interval["ci"][row], n_pairs=test.n_pairs, undefined=interval["undefined"][row])
    for row, (a, b) in enumerate(pairs, start=len(conditions)):
        add("difference", conditions[a], by_condition.rho[a] - by_condition.rho[b], interval["p"][row],
            condition_b=conditions[b], se=interval["se"][row], df=interval["df"][row], ci=interval["ci"][row],
            p_exchangeable=by_condition.p_diff[a, b], n_pairs=test.n_pairs, undefined=interval["undefined"][row])
    for c in conditions:
        score = rsa_score(models[cond_index[c]].mean(axis=0), group, method)
        add("seed_average_rdm", c, score.rho, n_pairs=score.n_pairs)

    if pixel_rdm is not None and method in ("spearman", "pearson"):
        pixel, pixel_stimuli = load_rdm(pixel_rdm)
        if list(pixel_stimuli) != list(stimuli):
            raise ValueError(f"{pixel_rdm}: its stimuli differ from the brain RDM's")
        partial = partial_rsa(models, group, pixel, n_permutations=n_permutations, seed=perm_seed, method=method,
                              scheme=permutation_scheme, device=device, threads=threads)
        partial_means = partial.combine(means)
        std = seed_std(partial.rho)
        for row, c in enumerate(conditions):
            add("partial", c, partial_means.rho[row], partial_means.p[row], std=std[row], n_pairs=partial.n_pairs)

    subject_nulls, subject_rhos, subject_pairs = [], [], []
    for subject, brain in subjects.items():
        if subject in empty:
            for c in conditions:
                add("subject", c, np.nan, subject=subject, n_pairs=0)
            continue
        per_model = permutation_test(models, brain, n_permutations, perm_seed, method=method,
                                     scheme=permutation_scheme, device=device, threads=threads)
        result = per_model.combine(means)
        std = seed_std(per_model.rho)
        subject_nulls.append(result.null)
        subject_rhos.append(result.rho)
        subject_pairs.append(result.n_pairs)
        for row, c in enumerate(conditions):
            add("subject", c, result.rho[row], result.p[row], subject=subject, std=std[row], n_pairs=result.n_pairs)
    if subject_rhos:
        rho, null = np.mean(subject_rhos, axis=0), np.mean(subject_nulls, axis=0)
        p, _ = mantel_pvalues(rho, null)
        for row, c in enumerate(conditions):
            add("subject", c, rho[row], p[row], subject="mean", n_pairs=min(subject_pairs))
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def write_roi_tests(
    roi: str, layer: str, models: Sequence[tuple[str, int]], model_paths: Sequence[Path], group_path: Path,
    subjects: Sequence[str], subject_paths: Sequence[Path], pixel_path: Path | None, out: Path, *,
    conditions: Sequence[str], method: str, stats: Mapping, device: str = "cpu", threads: int | None = None,
) -> None:
    """The run_roi_tests job: :func:`roi_tests` with the config's ``stats`` section."""
    tests = roi_tests(
        roi, layer, {(c, int(s)): Path(p) for (c, s), p in zip(models, model_paths)}, Path(group_path),
        {s: Path(p) for s, p in zip(subjects, subject_paths)}, Path(pixel_path) if pixel_path else None,
        conditions=conditions, method=method, n_permutations=stats["n_permutations"],
        permutation_scheme=stats["permutation_scheme"], inference=stats["inference"],
        generalise_over=stats["generalise_over"], n_bootstrap=stats["n_bootstrap"],
        bootstrap_scheme=stats["bootstrap_scheme"], bootstrap_subjects=stats["bootstrap_subjects"],
        ci_method=stats["ci_method"], ci_level=stats["ci_level"], seed=stats["seed"], device=device, threads=threads,
    )
    write_table(tests, out)
