"""The workflow's statistics: per-ROI tests and the tables under ``stats/``.

One job per ROI (:func:`roi_tests`) runs every test that needs the RDMs: Mantel
permutation tests of each condition (the mean score over its seeds) against the
group RDM and of every pair of conditions under the same permutations, bootstrap
intervals of both, partial RSA controlling the pixel RDM, and the subject-level
tests. Its long table (``stats/tests/<roi>.tsv``) feeds the study tables, which
apply the FDR correction over the family the config names (:func:`with_fdr`).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.rdm_io import load_matching, load_rdm
from lrrsa.tsv import read_table, write_table
from lrrsa.rsa import (
    bootstrap_ci, fdr, inter_subject_consistency, mantel_pvalues, noise_ceiling, partial_rsa, permutation_test,
    rsa_score, split_half_reliability,
)

log = logging.getLogger(__name__)

TEST_COLUMNS = ["roi", "layer", "test", "condition", "condition_b", "subject", "estimate", "std", "ci_low", "ci_high",
                "p", "n_pairs"]
#: Values of ``stats.fdr.family``: which p-values are corrected together.
FDR_FAMILIES = ("comparisons", "per_roi", "all", "none")


def derived_seed(seed: int, stream: str) -> int:
    """An independent seed per use (permutations, bootstrap, stimulus split) from one config seed."""
    return int(np.random.SeedSequence([seed, *stream.encode()]).generate_state(1)[0])


def _condition_pairs(conditions: Sequence[str]) -> list[tuple[int, int]]:
    """(a, b) with b before a in the config order: delta = rho_a - rho_b, so every
    condition is compared with the first one (the reference, e.g. untrained)."""
    return [(a, b) for b, a in itertools.combinations(range(len(conditions)), 2)]


def _load_all(paths: Sequence[Path], stimuli: Sequence[str]) -> np.ndarray:
    return np.stack(load_matching(paths, stimuli))


def roi_tests(
    roi: str, layer: str, model_rdms: Mapping[tuple[str, int], Path], group_rdm: Path,
    subject_rdms: Mapping[str, Path], pixel_rdm: Path | None, *, conditions: Sequence[str], method: str,
    n_permutations: int, permutation_scheme: str, n_bootstrap: int, bootstrap_scheme: str,
    bootstrap_subjects: bool, ci_method: str, ci_level: float, seed: int, device: str = "cpu",
    threads: int | None = None,
) -> pd.DataFrame:
    """Every test of one ROI and its mapped layer, as a long table (TEST_COLUMNS).

    Rows by ``test``: ``score`` (a condition's mean rho over seeds vs the group RDM,
    one-sided Mantel p, bootstrap CI), ``difference`` (condition - condition_b,
    two-sided p under the same permutations, bootstrap CI), ``seed_average_rdm`` (rho
    of the seeds' mean RDM), ``partial`` (mean partial rho controlling the pixel RDM),
    ``subject`` (mean rho vs each subject's RDM, and subject ``mean``: the mean over
    subjects, tested with the subjects' nulls averaged under the same permutations).
    """
    group, stimuli = load_rdm(group_rdm)
    keys = list(model_rdms)
    models = _load_all([model_rdms[k] for k in keys], stimuli)
    cond_index = {c: [i for i, (cond, _) in enumerate(keys) if cond == c] for c in conditions}
    missing = [c for c, idx in cond_index.items() if not idx]
    if missing:
        raise ValueError(f"no model RDMs for condition(s) {missing}")
    means = np.zeros((len(conditions), len(keys)))
    for row, c in enumerate(conditions):
        means[row, cond_index[c]] = 1.0 / len(cond_index[c])
    pairs = _condition_pairs(conditions)
    diffs = np.array([means[a] - means[b] for a, b in pairs]).reshape(len(pairs), len(keys))
    perm_seed, boot_seed = derived_seed(seed, "permutations"), derived_seed(seed, "bootstrap")
    rows = []

    def add(test, condition, estimate, p=np.nan, *, condition_b="", subject="group", std=np.nan, ci=(np.nan, np.nan),
            n_pairs=np.nan):
        rows.append([roi, layer, test, condition, condition_b, subject, estimate, std, ci[0], ci[1], p, n_pairs])

    def seed_std(scores: np.ndarray) -> np.ndarray:
        return np.array([np.std(scores[cond_index[c]], ddof=1) if len(cond_index[c]) > 1 else np.nan
                         for c in conditions])

    test = permutation_test(models, group, n_permutations, perm_seed, method=method, scheme=permutation_scheme,
                            device=device, threads=threads)
    by_condition = test.combine(means)
    log.info("%s/%s: %d models, %d permutations (%s)", roi, layer, len(keys), n_permutations, permutation_scheme)
    ci_scores = ci_diffs = np.full((max(len(conditions), len(pairs)), 2), np.nan)
    if n_bootstrap > 0:
        brain = np.stack([load_rdm(subject_rdms[s])[0] for s in subject_rdms]) if bootstrap_subjects else group
        boot = bootstrap_ci(models, brain, method=method, n_bootstrap=n_bootstrap, ci=ci_method, level=ci_level,
                            seed=boot_seed, scheme=bootstrap_scheme, resample_subjects=bootstrap_subjects,
                            contrasts=np.vstack([means, diffs]), threads=threads)
        bounds = np.column_stack([boot.low, boot.high])
        ci_scores, ci_diffs = bounds[: len(conditions)], bounds[len(conditions):]
        log.info("%s: %d bootstrap samples (%s, %s)", roi, n_bootstrap, bootstrap_scheme, ci_method)
    std = seed_std(test.rho)
    for row, c in enumerate(conditions):
        add("score", c, by_condition.rho[row], by_condition.p[row], std=std[row], ci=ci_scores[row], n_pairs=test.n_pairs)
    for row, (a, b) in enumerate(pairs):
        add("difference", conditions[a], by_condition.rho[a] - by_condition.rho[b], by_condition.p_diff[a, b],
            condition_b=conditions[b], ci=ci_diffs[row], n_pairs=test.n_pairs)
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

    subject_nulls, subject_rhos = [], []
    for subject, path in subject_rdms.items():
        brain, ids = load_rdm(path)
        if list(ids) != list(stimuli):
            raise ValueError(f"{path}: its stimuli differ from the group RDM's")
        per_model = permutation_test(models, brain, n_permutations, perm_seed, method=method,
                                     scheme=permutation_scheme, device=device, threads=threads)
        result = per_model.combine(means)
        std = seed_std(per_model.rho)
        subject_nulls.append(result.null)
        subject_rhos.append(result.rho)
        for row, c in enumerate(conditions):
            add("subject", c, result.rho[row], result.p[row], subject=subject, std=std[row], n_pairs=result.n_pairs)
    if subject_rhos:
        rho, null = np.mean(subject_rhos, axis=0), np.mean(subject_nulls, axis=0)
        p, _ = mantel_pvalues(rho, null)
        for row, c in enumerate(conditions):
            add("subject", c, rho[row], p[row], subject="mean", n_pairs=test.n_pairs)
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


# ------------------------------------------------------------------- corrections


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
    all ROIs together, as the paper's 40 comparisons; the condition-vs-zero tests
    together; the partial tests together; the subject tests together. ``per_roi``:
    the same, within each ROI. ``all``: every group-level test (scores, differences,
    partial) in one family. ``none``: p_fdr = p.
    """
    tests = tests.copy()
    if family == "none":
        tests["p_fdr"] = tests["p"]
        return tests
    tests["p_fdr"] = np.nan
    has_p = tests["p"].notna()
    for _, index in tests[has_p].groupby(_family(tests[has_p], family)).groups.items():
        tests.loc[index, "p_fdr"] = fdr(tests.loc[index, "p"].to_numpy(), method)
    return tests


def read_tests(paths: Sequence[Path | str]) -> pd.DataFrame:
    tables = [read_table(p) for p in paths]
    tests = pd.concat(tables, ignore_index=True)
    for column in ("condition_b", "subject"):
        tests[column] = tests[column].fillna("").astype(str)
    return tests


def _order(table: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    keys = {"roi": list(rois), "condition": list(conditions), "condition_a": list(conditions),
            "condition_b": list(conditions)}
    ranks = {c: table[c].map({v: i for i, v in enumerate(keys[c])}) if c in keys else table[c] for c in by}
    order = pd.DataFrame(ranks).sort_values(list(by), kind="stable").index
    return table.loc[order].reset_index(drop=True)


# ------------------------------------------------------------------------ tables


def summary_table(
    summary: pd.DataFrame, tests: pd.DataFrame, *, reference: str | None, family: str, fdr_method: str,
) -> pd.DataFrame:
    """summary.tsv: :func:`lrrsa.scoring.summarise`'s columns plus, per (roi, layer,
    condition): rho of the seed-averaged RDM, the bootstrap CI of rho_mean, its
    Mantel p (rho > 0) and FDR p, and the two-sided p of rho - rho(reference)."""
    tests = with_fdr(tests, family, fdr_method)
    score = tests[tests["test"] == "score"].rename(columns={"ci_low": "ci_low", "ci_high": "ci_high"})
    out = summary.merge(score[["roi", "layer", "condition", "ci_low", "ci_high", "p", "p_fdr"]],
                        on=["roi", "layer", "condition"], how="left")
    seed_avg = tests[tests["test"] == "seed_average_rdm"][["roi", "layer", "condition", "estimate"]]
    out = out.merge(seed_avg.rename(columns={"estimate": "rho_seed_average_rdm"}), on=["roi", "layer", "condition"],
                    how="left")
    out["reference"] = reference or ""
    out["p_vs_reference"] = np.nan
    out["p_vs_reference_fdr"] = np.nan
    if reference:
        diff = tests[(tests["test"] == "difference") & (tests["condition_b"] == reference)]
        diff = diff[["roi", "layer", "condition", "p", "p_fdr"]].rename(
            columns={"p": "p_vs_reference", "p_fdr": "p_vs_reference_fdr"})
        out = out.drop(columns=["p_vs_reference", "p_vs_reference_fdr"]).merge(
            diff, on=["roi", "layer", "condition"], how="left")
    columns = ["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "rho_min", "rho_max", "rho_subject_mean",
               "rho_seed_average_rdm", "ci_low", "ci_high", "p", "p_fdr", "reference", "p_vs_reference",
               "p_vs_reference_fdr"]
    return out[columns]


def pairwise_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                   fdr_method: str) -> pd.DataFrame:
    """pairwise.tsv: every pair of conditions per ROI: delta_rho = rho_a - rho_b (seed
    means, group RDM), its bootstrap CI, two-sided permutation p and FDR p."""
    tests = with_fdr(tests, family, fdr_method)
    diff = tests[tests["test"] == "difference"].rename(
        columns={"condition": "condition_a", "estimate": "delta_rho"})
    diff = _order(diff, rois, conditions, ["roi", "condition_b", "condition_a"])
    return diff[["roi", "layer", "condition_a", "condition_b", "delta_rho", "ci_low", "ci_high", "p", "p_fdr"]]


def partial_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                  fdr_method: str, control: str = "pixel") -> pd.DataFrame:
    """partial.tsv: per (roi, layer, condition) the mean over seeds of the partial
    Spearman rho controlling the pixel RDM, its std over seeds, permutation p and FDR
    p, next to the plain rho_mean."""
    tests = with_fdr(tests, family, fdr_method)
    partial = tests[tests["test"] == "partial"]
    plain = tests[tests["test"] == "score"][["roi", "layer", "condition", "estimate"]].rename(
        columns={"estimate": "rho_mean"})
    out = partial.rename(columns={"estimate": "rho_partial_mean", "std": "rho_partial_std"}).merge(
        plain, on=["roi", "layer", "condition"], how="left")
    out["control"] = control
    out = _order(out, rois, conditions, ["roi", "condition"])
    return out[["roi", "layer", "condition", "control", "rho_mean", "rho_partial_mean", "rho_partial_std", "p", "p_fdr"]]


def subjects_table(tests: pd.DataFrame, ceiling: pd.DataFrame | None, rois: Sequence[str],
                   conditions: Sequence[str], *, family: str, fdr_method: str) -> pd.DataFrame:
    """subjects.tsv: per (roi, layer, condition, subject) the mean over seeds of rho
    against that subject's own RDM, its std over seeds, permutation p and FDR p; the
    ``mean`` rows average the subjects (the quantity the noise ceiling bounds), with
    the ROI's lower and upper noise ceiling."""
    tests = with_fdr(tests, family, fdr_method)
    out = tests[tests["test"] == "subject"].rename(columns={"estimate": "rho_mean", "std": "rho_std"})
    out["nc_lower"] = np.nan
    out["nc_upper"] = np.nan
    if ceiling is not None:
        bounds = ceiling[ceiling["subject"] == "mean"].set_index("roi")
        is_mean = out["subject"] == "mean"
        out.loc[is_mean, "nc_lower"] = out.loc[is_mean, "roi"].map(bounds["lower"])
        out.loc[is_mean, "nc_upper"] = out.loc[is_mean, "roi"].map(bounds["upper"])
    subjects = [s for s in dict.fromkeys(out["subject"]) if s != "mean"] + ["mean"]
    out["_s"] = out["subject"].map({s: i for i, s in enumerate(subjects)})
    out = _order(out, rois, conditions, ["roi", "condition", "_s"])
    return out[["roi", "layer", "condition", "subject", "rho_mean", "rho_std", "p", "p_fdr", "nc_lower", "nc_upper"]]


def _to_pearson(r, method: str):
    """A comparator's value as the Pearson r it implies for bivariate normal data:
    Spearman rho_s = (6 / pi) asin(r / 2), Kendall tau = (2 / pi) asin(r) (Greiner)."""
    r = np.asarray(r, dtype=np.float64)
    if method == "pearson":
        return r
    if method == "spearman":
        return 2 * np.sin(np.pi * r / 6)
    return np.sin(np.pi * r / 2)  # kendall (tau-b) and kendall_tau_a


def _from_pearson(r, method: str):
    """Inverse of :func:`_to_pearson`."""
    r = np.asarray(r, dtype=np.float64)
    if method == "pearson":
        return r
    if method == "spearman":
        return 6 / np.pi * np.arcsin(r / 2)
    return 2 / np.pi * np.arcsin(r)


def group_noise_ceiling(mean_inter_subject: float, n_subjects: int, method: str = "spearman") -> tuple[float, float]:
    """Noise ceiling of scores against the group RDM (the mean of ``n_subjects``
    subjects' RDMs), from the subjects' mean pairwise agreement ``mean_inter_subject``.

    Model: subject RDM = true RDM + independent noise of equal variance. The mean
    inter-subject correlation r estimates the reliability of one subject's RDM; the
    group RDM's reliability is its Spearman-Brown prophecy R = n r / (1 + (n - 1) r).
    ``lower`` = R: the expected agreement of the group RDM with the group RDM of n
    other subjects (a replication); ``upper`` = sqrt(R): the expected agreement of the
    true RDM (a perfect model) with the group RDM, which no model independent of the
    subjects' noise exceeds in expectation. For rank comparators r is converted to
    Pearson's scale and the bounds back to the comparator's (bivariate-normal
    relations). With r <= 0 (no shared structure) both are 0; with one subject, NaN.
    """
    if n_subjects < 2 or not np.isfinite(mean_inter_subject):
        return np.nan, np.nan
    r = float(np.clip(_to_pearson(mean_inter_subject, method), -1.0, 1.0))
    reliability = n_subjects * r / (1 + (n_subjects - 1) * r) if r > 0 else 0.0  # Spearman-Brown
    return float(_from_pearson(reliability, method)), float(_from_pearson(np.sqrt(reliability), method))


def noise_ceiling_table(
    subject_rdms: Mapping[str, Mapping[str, Path]], split_half: Mapping[str, Path] | None, method: str,
) -> pd.DataFrame:
    """noise_ceiling.tsv: per ROI, each subject and their ``mean``: the lower bound
    (subject vs the pooled RDM of the others) and upper bound (vs the pooled RDM of
    all), the mean agreement with the other subjects, and the split-half reliability
    of the subject's RDM (odd vs even sessions on the repeated stimuli), raw and
    Spearman-Brown corrected. Row ``group`` bounds the scores against the group RDM
    (:func:`group_noise_ceiling` of the mean inter-subject agreement); its split-half
    columns compare the subjects' mean odd-session RDM with their mean even one."""
    rows = []
    for roi, paths in subject_rdms.items():
        subjects = list(paths)
        loaded = [load_rdm(paths[s]) for s in subjects]
        stimuli = loaded[0][1]
        for (_, ids), s in zip(loaded, subjects):
            if list(ids) != list(stimuli):
                raise ValueError(f"{paths[s]}: its stimuli differ from {paths[subjects[0]]}")
        rdms = np.stack([r for r, _ in loaded])
        ceiling = noise_ceiling(rdms, method)
        consistency = inter_subject_consistency(rdms, method)
        others = (consistency.sum(axis=1) - 1) / (len(subjects) - 1) if len(subjects) > 1 else np.full(1, np.nan)
        halves = {"r": np.full(len(subjects), np.nan), "sb": np.full(len(subjects), np.nan)}
        group_half = (np.nan, np.nan)
        n_split = 0
        if split_half is not None and roi in split_half:
            with np.load(split_half[roi]) as data:
                split_subjects = data["subjects"].tolist()
                n_split = int(data["odd"].shape[1]) if data["odd"].ndim == 3 else 0
                found = [split_subjects.index(s) for s in subjects if s in split_subjects]
                for i, s in enumerate(subjects):
                    if s in split_subjects and n_split >= 3:
                        j = split_subjects.index(s)
                        half = split_half_reliability(data["odd"][j], data["even"][j], method)
                        halves["r"][i], halves["sb"][i] = half.r, half.r_corrected
                if found and n_split >= 3:
                    half = split_half_reliability(data["odd"][found].mean(axis=0), data["even"][found].mean(axis=0),
                                                  method)
                    group_half = (half.r, half.r_corrected)
        for i, s in enumerate(subjects):
            rows.append([roi, s, ceiling.lower_subjects[i], ceiling.upper_subjects[i], others[i], halves["r"][i],
                         halves["sb"][i], len(stimuli), n_split])
        rows.append([roi, "mean", ceiling.lower, ceiling.upper, np.mean(others) if len(subjects) > 1 else np.nan,
                     np.nanmean(halves["r"]) if np.isfinite(halves["r"]).any() else np.nan,
                     np.nanmean(halves["sb"]) if np.isfinite(halves["sb"]).any() else np.nan, len(stimuli), n_split])
        mean_agreement = np.mean(consistency[np.triu_indices(len(subjects), k=1)]) if len(subjects) > 1 else np.nan
        group_lower, group_upper = group_noise_ceiling(mean_agreement, len(subjects), method)
        rows.append([roi, "group", group_lower, group_upper, mean_agreement, *group_half, len(stimuli), n_split])
    return pd.DataFrame(rows, columns=["roi", "subject", "lower", "upper", "inter_subject_rho", "split_half_r",
                                       "split_half_r_corrected", "n_stimuli", "n_split_half_stimuli"])


def layer_table(
    scores: pd.DataFrame, model_rdms: Mapping[tuple[str, int, str], Path], group_rdms: Mapping[str, Path],
    layer_map: Mapping[str, str], conditions: Sequence[str], *, method: str, seed: int,
) -> pd.DataFrame:
    """layers.tsv: every layer against every ROI's group RDM (mean, std over seeds),
    and per (roi, condition) the best layer chosen without double dipping: a random
    half of the stimuli (seeded) picks the layer with the highest mean rho, and the
    other half scores it (``rho_select``, ``rho_heldout``; ``best`` marks the pick;
    ``mapped`` marks rsa.layer_map's layer)."""
    group = scores[scores["subject"] == "group"]
    table = (group.groupby(["roi", "layer", "condition"], sort=False)["rho"]
             .agg(rho_mean="mean", rho_std="std", n_seeds="count").reset_index())
    layers = list(dict.fromkeys(k[2] for k in model_rdms))
    table["mapped"] = [layer_map.get(r) == lay for r, lay in zip(table["roi"], table["layer"])]
    rng = np.random.default_rng(derived_seed(seed, "layer_selection"))
    halves: dict[str, list[np.ndarray]] = {}
    brains = {}
    for roi, path in group_rdms.items():
        brain, stimuli = load_rdm(path)
        order = rng.permutation(len(stimuli))
        halves[roi] = [np.sort(order[: len(stimuli) // 2]), np.sort(order[len(stimuli) // 2:])]
        brains[roi] = (brain, stimuli)
    half_scores = {}  # (roi, layer, condition) -> [[select, heldout] per seed]
    for (condition, model_seed, layer), path in model_rdms.items():
        model, ids = load_rdm(path)
        for roi, (brain, stimuli) in brains.items():
            if list(ids) != list(stimuli):
                raise ValueError(f"{path}: its stimuli differ from {group_rdms[roi]}")
            pair = [rsa_score(model[np.ix_(h, h)], brain[np.ix_(h, h)], method).rho for h in halves[roi]]
            half_scores.setdefault((roi, layer, condition), []).append(pair)
    means = {key: np.mean(v, axis=0) for key, v in half_scores.items()}
    table["rho_select"] = [means.get((r, lay, c), [np.nan])[0] for r, lay, c in zip(table["roi"], table["layer"], table["condition"])]
    table["rho_heldout"] = [means.get((r, lay, c), [np.nan, np.nan])[1] for r, lay, c in zip(table["roi"], table["layer"], table["condition"])]
    table["best"] = False
    for (_, _), index in table.groupby(["roi", "condition"]).groups.items():
        sub = table.loc[index, "rho_select"]
        if sub.notna().any():
            table.loc[sub.idxmax(), "best"] = True
    rois = list(dict.fromkeys([*layer_map, *table["roi"]]))
    table["_l"] = table["layer"].map({lay: i for i, lay in enumerate(layers)})
    table = _order(table, rois, conditions, ["roi", "condition", "_l"])
    return table[["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "mapped", "rho_select", "rho_heldout",
                  "best"]]


# ---------------------------------------------------------------- split-half RDMs


def write_split_half_rdms(
    betas_dir: Path, subjects: Sequence[str], roi_columns: Sequence[str], out: Path, *, zscore: bool,
    min_nc_testset: float | None, metric: str,
) -> None:
    """Each subject's RDMs of the repeated (test) stimuli from odd and from even sessions.

    The stimuli are the distinct test-trial images that every subject saw in both
    halves; the patterns are z-scored as the main RDMs (over all trials), then
    averaged within each half (:func:`lrrsa.data.things_fmri.split_half_patterns`).
    Writes ``odd``, ``even`` (s, n, n), ``stimuli`` and ``subjects`` to an ``.npz``.
    """
    from lrrsa.data.things_fmri import read_stimulus_metadata, split_half_patterns, subject_files
    from lrrsa.rsa import rdm

    stimuli: list[str] | None = None
    for subject in subjects:
        meta = read_stimulus_metadata(subject_files(betas_dir, subject).stimulus_metadata)
        test = meta[meta["trial_type"] == "test"]
        seen = {s for s, g in test.groupby("stimulus")["session"] if (g % 2 == 1).any() and (g % 2 == 0).any()}
        stimuli = sorted(seen) if stimuli is None else [s for s in stimuli if s in seen]
    stimuli = stimuli or []
    odd, even = [], []
    for subject in subjects:
        if len(stimuli) < 3:
            break
        halves = split_half_patterns(Path(betas_dir), subject, roi_columns, stimuli, zscore=zscore,
                                     min_nc_testset=min_nc_testset)
        odd.append(rdm(halves.odd, metric))
        even.append(rdm(halves.even, metric))
        log.info("%s %s: %d voxels, %d repeated stimuli", subject, "|".join(roi_columns), halves.odd.shape[1],
                 len(stimuli))
    if len(stimuli) < 3:
        log.warning("fewer than 3 stimuli with trials in odd and even sessions: no split-half reliability")
        odd = even = np.zeros((len(subjects), 0, 0))
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, odd=np.asarray(odd, dtype=np.float64), even=np.asarray(even, dtype=np.float64),
             stimuli=np.asarray(stimuli, dtype=str), subjects=np.asarray(list(subjects), dtype=str))
    os.replace(tmp, out)


# ------------------------------------------------------------- the jobs' entries


def write_roi_tests(
    roi: str, layer: str, models: Sequence[tuple[str, int]], model_paths: Sequence[Path], group_path: Path,
    subjects: Sequence[str], subject_paths: Sequence[Path], pixel_path: Path | None, out: Path, *,
    conditions: Sequence[str], method: str, stats: Mapping, device: str = "cpu", threads: int | None = None,
) -> None:
    """The test_roi_scores job: :func:`roi_tests` with the config's ``stats`` section."""
    tests = roi_tests(
        roi, layer, {(c, int(s)): Path(p) for (c, s), p in zip(models, model_paths)}, Path(group_path),
        {s: Path(p) for s, p in zip(subjects, subject_paths)}, Path(pixel_path) if pixel_path else None,
        conditions=conditions, method=method, n_permutations=stats["n_permutations"],
        permutation_scheme=stats["permutation_scheme"], n_bootstrap=stats["n_bootstrap"],
        bootstrap_scheme=stats["bootstrap_scheme"], bootstrap_subjects=stats["bootstrap_subjects"],
        ci_method=stats["ci_method"], ci_level=stats["ci_level"], seed=stats["seed"], device=device, threads=threads,
    )
    write_table(tests, out)


def write_summary(scores: Path, tests: Sequence[Path], out: Path, *, layer_map: Mapping[str, str],
                  conditions: Sequence[str], reference: str | None, fdr_config: Mapping) -> None:
    from lrrsa.scoring import summarise

    summary = summarise(pd.read_csv(scores, sep="\t"), layer_map, conditions)
    write_table(summary_table(summary, read_tests(tests), reference=reference, family=fdr_config["family"],
                              fdr_method=fdr_config["method"]), out)


def write_pairwise(tests: Sequence[Path], out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                   fdr_config: Mapping) -> None:
    write_table(pairwise_table(read_tests(tests), rois, conditions, family=fdr_config["family"],
                               fdr_method=fdr_config["method"]), out)


def write_partial(tests: Sequence[Path], out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                  fdr_config: Mapping) -> None:
    write_table(partial_table(read_tests(tests), rois, conditions, family=fdr_config["family"],
                              fdr_method=fdr_config["method"]), out)


def write_subjects(tests: Sequence[Path], ceiling: Path, out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                   fdr_config: Mapping) -> None:
    write_table(subjects_table(read_tests(tests), pd.read_csv(ceiling, sep="\t"), rois, conditions,
                               family=fdr_config["family"], fdr_method=fdr_config["method"]), out)


def write_noise_ceiling(rois: Sequence[str], subjects: Sequence[str], subject_paths: Sequence[Path],
                        split_half_paths: Sequence[Path], out: Path, *, method: str) -> None:
    """``subject_paths`` ROI-major (every subject of the first ROI, then the next);
    ``split_half_paths`` one per ROI, or empty where there are none (an rdm_set)."""
    paths = iter(subject_paths)
    by_roi = {roi: {s: Path(next(paths)) for s in subjects} for roi in rois}
    split = dict(zip(rois, map(Path, split_half_paths))) if split_half_paths else None
    write_table(noise_ceiling_table(by_roi, split, method), out)


def write_layers(scores: Path, models: Sequence[tuple[str, int, str]], model_paths: Sequence[Path],
                 rois: Sequence[str], group_paths: Sequence[Path], out: Path, *, layer_map: Mapping[str, str],
                 conditions: Sequence[str], method: str, seed: int) -> None:
    table = layer_table(
        pd.read_csv(scores, sep="\t"), {(c, int(s), lay): Path(p) for (c, s, lay), p in zip(models, model_paths)},
        dict(zip(rois, map(Path, group_paths))), layer_map, conditions, method=method, seed=seed,
    )
    write_table(table, out)
