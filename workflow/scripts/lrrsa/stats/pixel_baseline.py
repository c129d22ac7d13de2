"""The pixel RDM as a low-level baseline: its own RSA score in every ROI, and the test of
each condition against it (``stats/tests/pixel_baseline.tsv``, job
``run_pixel_baseline_tests``; the table ``stats/pixel_baseline.tsv`` is
:func:`lrrsa.stats.study_tables.pixel_baseline_table`).

Per ROI of ``brain_data.rois`` (mapped to a layer or not), the pixel RDM (the stimuli's
RGB pixels at the models' input size) is scored like a model: with ``rsa.method``
against the group RDM and each subject's RDM; its one-sided Mantel p (rho > 0) permutes
the brain RDM's stimulus labels with the ROI tests' permutations
(:func:`lrrsa.stats.seeds.derived_seed`); its interval is that of ``stats.inference``:
:func:`lrrsa.rsa.contrasts.contrast_inference` with one condition and one seed (over
stimuli, and subjects where ``generalise_over`` names them and the row is the group's),
or the stimulus bootstrap of :mod:`lrrsa.rsa.bootstrap`.

At an ROI with a mapped layer, each condition is compared with the pixel baseline:
delta = rho_condition - rho_pixel, the condition's seed mean minus the pixel's score
against the group RDM. The pixel RDM enters the condition comparisons as one more
condition whose K seeds are all the same RDM, so the contrast ``e_c - e_pixel`` is the
mean over seeds of the paired differences ``d_k = rho_(c,k) - rho_pixel``. Its seed
variance is the sample variance of the d_k, which is the condition's own seed variance
(the pixel's part is constant over seeds and cancels), and its stimulus x seed
interaction is the condition's alone for the same reason; the stimulus term is the
U-statistic variance of the paired influence ``psi_c - psi_pixel``. So the test is the
calibrated test of two conditions (``docs/STATISTICS.md``) with one condition fixed.
With the bootstrap, the same K copies of the pixel RDM are scored on the same samples
as the models and the contrast is their mean subtracted from the condition's.

Rows (the columns of :data:`lrrsa.stats.roi_tests.TEST_COLUMNS` plus ``rho_pixel``,
``rho_condition``): ``pixel`` (subject ``group``), ``pixel_subject`` (each subject, and
``mean``: the mean over the subjects with data, tested with their nulls averaged under
the same permutations; no interval), ``pixel_difference`` (condition minus the pixel,
``condition_b`` ``pixel``). Degenerate input as in :func:`lrrsa.stats.roi_tests.roi_tests`:
stimuli with a NaN row are dropped, a subject without data has NaN rows with
``n_pairs`` 0 and is left out of the mean and of the group inference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.rdm_io import load_matching, load_rdm
from lrrsa.rsa.bootstrap import bootstrap_ci, bootstrap_pvalue, contrast
from lrrsa.rsa.comparators import compare_vectors, rsa_score, upper_triangle
from lrrsa.rsa.condensed import MIN_STIMULI, condensed
from lrrsa.rsa.contrasts import contrast_inference
from lrrsa.rsa.permutation import mantel_pvalues, permutation_test
from lrrsa.stats.roi_tests import INFERENCES, TEST_COLUMNS, _has_data, _seed_grid
from lrrsa.stats.seeds import derived_seed
from lrrsa.tsv import write_table

log = logging.getLogger(__name__)

#: The per-ROI test columns, plus the two scores a difference compares.
PIXEL_TEST_COLUMNS = [*TEST_COLUMNS, "rho_pixel", "rho_condition"]
#: ``condition`` of the pixel rows, ``condition_b`` of the differences.
PIXEL = "pixel"


def _interval(pixel: np.ndarray, brain: np.ndarray, subjects: Sequence[np.ndarray], *, method: str, inference: str,
              factors: Sequence[str], n_bootstrap: int, bootstrap_scheme: str, bootstrap_subjects: bool,
              ci_method: str, ci_level: float, boot_seed: int, threads: int | None) -> dict:
    """The interval of the pixel RDM's score against ``brain`` (the group RDM, the mean
    of the ``subjects`` RDMs with data, or one subject's RDM with ``subjects`` that one):
    se, df, ci, n_boot_undefined."""
    out = {"se": np.nan, "df": np.nan, "ci": (np.nan, np.nan), "undefined": np.nan}
    if inference == "variance_components":
        result = contrast_inference(pixel[None, None], np.stack(list(subjects) or [brain]), np.ones((1, 1)),
                                    method=method, level=ci_level, factors=factors)
        out.update(se=result.se[0], df=result.df[0], ci=(result.low[0], result.high[0]))
    elif inference == "bootstrap" and n_bootstrap > 0:
        resample = bootstrap_subjects and len(subjects) > 1
        boot = bootstrap_ci(pixel[None], np.stack(subjects) if resample else brain, method=method,
                            n_bootstrap=n_bootstrap, ci=ci_method, level=ci_level, seed=boot_seed,
                            scheme=bootstrap_scheme, resample_subjects=resample, threads=threads)
        out.update(ci=(boot.low[0], boot.high[0]), undefined=boot.n_undefined[0])
    return out


def pixel_roi_tests(
    roi: str, layer: str, model_rdms: Mapping[tuple[str, int], Path] | None, group_rdm: Path,
    subject_rdms: Mapping[str, Path], pixel_rdm: Path, *, conditions: Sequence[str], method: str,
    n_permutations: int, permutation_scheme: str, inference: str = "variance_components",
    generalise_over: Sequence[str] = ("stimuli", "seeds"), n_bootstrap: int = 1000, bootstrap_scheme: str = "stimuli",
    bootstrap_subjects: bool = False, ci_method: str = "bca", ci_level: float = 0.95, seed: int = 0,
    device: str = "cpu", threads: int | None = None,
) -> pd.DataFrame:
    """The pixel baseline of one ROI (PIXEL_TEST_COLUMNS, see the module docstring).

    ``layer``: the ROI's mapped layer ("" where it has none); ``model_rdms``: its
    (condition, seed) RDMs, or None (no ``pixel_difference`` rows). The arguments after
    ``method`` are the config's ``stats`` keys, as for
    :func:`lrrsa.stats.roi_tests.roi_tests`. Error naming the ROI and the file: fewer
    than 4 stimuli, stimuli that differ from the group RDM's.
    """
    if inference not in INFERENCES:
        raise ValueError(f"unknown stats.inference {inference!r}; expected one of {INFERENCES}")
    group, stimuli = load_rdm(group_rdm)
    if len(stimuli) < MIN_STIMULI:
        raise ValueError(f"ROI {roi}: {group_rdm} has {len(stimuli)} stimuli; the statistics need at least "
                         f"{MIN_STIMULI}")
    pixel, pixel_stimuli = load_rdm(pixel_rdm)
    if list(pixel_stimuli) != list(stimuli):
        raise ValueError(f"ROI {roi}: {pixel_rdm}: its stimuli differ from {group_rdm}'s")
    subjects = dict(zip(subject_rdms, load_matching(list(subject_rdms.values()), stimuli)))
    empty = [s for s, brain in subjects.items() if not _has_data(brain)]
    with_data = [brain for s, brain in subjects.items() if s not in empty]
    perm_seed, boot_seed = derived_seed(seed, "permutations"), derived_seed(seed, "bootstrap")
    settings = dict(method=method, inference=inference, n_bootstrap=n_bootstrap, bootstrap_scheme=bootstrap_scheme,
                    bootstrap_subjects=bootstrap_subjects, ci_method=ci_method, ci_level=ci_level, boot_seed=boot_seed,
                    threads=threads)
    within_subject = [f for f in generalise_over if f != "subjects"]
    rows = []

    def add(test, condition, estimate, p=np.nan, *, condition_b="", subject="group", std=np.nan, se=np.nan,
            df=np.nan, ci=(np.nan, np.nan), n_pairs=np.nan, undefined=np.nan, rho_pixel=np.nan, rho_condition=np.nan):
        rows.append([roi, layer, test, condition, condition_b, subject, estimate, std, se, df, ci[0], ci[1], p,
                     np.nan, n_pairs, undefined, rho_pixel, rho_condition])

    def mantel(brain):
        return permutation_test(pixel, brain, n_permutations, perm_seed, method=method, scheme=permutation_scheme,
                                device=device, threads=threads)

    test = mantel(group)
    rho_pixel = float(test.rho[0])
    interval = _interval(pixel, group, with_data, factors=generalise_over, **settings)
    add("pixel", PIXEL, rho_pixel, test.p[0], se=interval["se"], df=interval["df"], ci=interval["ci"],
        n_pairs=test.n_pairs, undefined=interval["undefined"], rho_pixel=rho_pixel)
    log.info("%s: pixel RDM rho %.4f (p %.4g, %d permutations, %s)", roi, rho_pixel, test.p[0], n_permutations,
             permutation_scheme)

    rhos, nulls, pairs = [], [], []
    for subject, brain in subjects.items():
        if subject in empty:
            add("pixel_subject", PIXEL, np.nan, subject=subject, n_pairs=0)
            continue
        result = mantel(brain)
        interval = _interval(pixel, brain, [brain], factors=within_subject, **settings)
        add("pixel_subject", PIXEL, result.rho[0], result.p[0], subject=subject, se=interval["se"], df=interval["df"],
            ci=interval["ci"], n_pairs=result.n_pairs, undefined=interval["undefined"], rho_pixel=result.rho[0])
        rhos.append(result.rho[0])
        nulls.append(result.null[:, 0])
        pairs.append(result.n_pairs)
    if rhos:
        rho, null = float(np.mean(rhos)), np.mean(nulls, axis=0)
        p, _ = mantel_pvalues(np.array([rho]), null[:, None])
        add("pixel_subject", PIXEL, rho, p[0], subject="mean", n_pairs=min(pairs), rho_pixel=rho)

    if model_rdms:
        rows.extend(_differences(roi, layer, model_rdms, group, with_data, pixel, stimuli, conditions=conditions,
                                 generalise_over=generalise_over, **settings))
    return pd.DataFrame(rows, columns=PIXEL_TEST_COLUMNS)


def _differences(roi, layer, model_rdms, group, with_data, pixel, stimuli, *, conditions, method, inference,
                 generalise_over, n_bootstrap, bootstrap_scheme, bootstrap_subjects, ci_method, ci_level, boot_seed,
                 threads) -> list[list]:
    """The ``pixel_difference`` rows: each condition minus the pixel RDM, the pixel as a
    condition of K identical seeds (see the module docstring). ``rho_pixel`` and
    ``rho_condition`` of a row are the two scores its delta subtracts, on the pairs every
    RDM of the comparison has (the pixel row's own score where none is missing)."""
    keys = list(model_rdms)
    missing = [c for c in conditions if not any(cond == c for cond, _ in keys)]
    if missing:
        raise ValueError(f"ROI {roi}: no model RDMs for condition(s) {missing}")
    models = np.stack(load_matching([model_rdms[k] for k in keys], stimuli))
    cond_index = {c: [i for i, (cond, _) in enumerate(keys) if cond == c] for c in conditions}
    n_cond = len(conditions)
    # q = 2 C + 1 contrasts: each condition's score, the pixel's, each condition minus the pixel.
    out = {"estimate": np.full(2 * n_cond + 1, np.nan), "se": np.full(2 * n_cond + 1, np.nan),
           "df": np.full(2 * n_cond + 1, np.nan), "ci": np.full((2 * n_cond + 1, 2), np.nan),
           "p": np.full(2 * n_cond + 1, np.nan), "undefined": np.full(2 * n_cond + 1, np.nan)}
    if inference == "variance_components" and with_data:
        grid = _seed_grid(keys, conditions, roi)  # (C, K)
        n_seeds = grid.shape[1]
        stack = np.concatenate([models[grid], np.broadcast_to(pixel, (1, n_seeds, *pixel.shape))])  # (C + 1, K, n, n)
        eye = np.eye(n_cond + 1)
        weights = np.vstack([eye, eye[:n_cond] - eye[n_cond]])
        result = contrast_inference(stack, np.stack(with_data), weights, method=method, level=ci_level,
                                    factors=generalise_over)
        out.update(estimate=result.estimate, se=result.se, df=result.df, ci=np.column_stack([result.low, result.high]),
                   p=result.p)
        log.info("%s/%s: conditions vs the pixel RDM, variance components over %s", roi, layer,
                 ", ".join(result.factors))
    else:
        # The pixel RDM as K copies, one per seed, scored on the same samples as the models.
        k = max(len(idx) for idx in cond_index.values())
        all_models = np.concatenate([models, np.broadcast_to(pixel, (k, *pixel.shape))])
        means = np.zeros((n_cond, all_models.shape[0]))
        copies = np.zeros((n_cond, all_models.shape[0]))
        for row, c in enumerate(conditions):
            means[row, cond_index[c]] = 1.0 / len(cond_index[c])
            copies[row, len(keys):len(keys) + len(cond_index[c])] = 1.0 / len(cond_index[c])
        pixel_mean = np.zeros((1, all_models.shape[0]))
        pixel_mean[0, len(keys):] = 1.0 / k
        contrasts = np.vstack([means, pixel_mean, means - copies])
        if inference == "bootstrap" and n_bootstrap > 0:
            brain = np.stack(with_data) if bootstrap_subjects and with_data else group
            boot = bootstrap_ci(all_models, brain, method=method, n_bootstrap=n_bootstrap, ci=ci_method,
                                level=ci_level, seed=boot_seed, scheme=bootstrap_scheme,
                                resample_subjects=bootstrap_subjects and bool(with_data), contrasts=contrasts,
                                threads=threads)
            out.update(estimate=boot.estimate, ci=np.column_stack([boot.low, boot.high]),
                       p=bootstrap_pvalue(boot.samples), undefined=boot.n_undefined)
            log.info("%s/%s: conditions vs the pixel RDM, %d bootstrap samples", roi, layer, n_bootstrap)
        else:  # no interval (no subject with data, or n_bootstrap 0): the estimates on the shared pairs
            present = ~(np.isnan(condensed(all_models)[0]).any(axis=0) | np.isnan(upper_triangle(group)))
            vectors = condensed(all_models)[0][:, present]
            scores = np.array([compare_vectors(x, upper_triangle(group)[present], method).rho for x in vectors])
            out["estimate"] = contrast(scores, contrasts)[0]
    shared = ~(np.isnan(condensed(np.concatenate([models, pixel[None]]))[0]).any(axis=0)
               | np.isnan(upper_triangle(group)))
    per_seed = np.array([rsa_score(x, group, method).rho for x in models])
    rho_pixel = out["estimate"][n_cond]
    rows = []
    for row, c in enumerate(conditions):
        idx, d = cond_index[c], n_cond + 1 + row
        std = float(np.std(per_seed[idx], ddof=1)) if len(idx) > 1 else np.nan  # = the std of d_k over seeds
        rows.append([roi, layer, "pixel_difference", c, PIXEL, "group", out["estimate"][d], std, out["se"][d],
                     out["df"][d], out["ci"][d, 0], out["ci"][d, 1], out["p"][d], np.nan, int(shared.sum()),
                     out["undefined"][d], rho_pixel, out["estimate"][row]])
    return rows


def pixel_tests(
    rois: Sequence[str], layer_map: Mapping[str, str], model_rdms: Mapping[str, Mapping[tuple[str, int], Path]],
    group_rdms: Mapping[str, Path], subject_rdms: Mapping[str, Mapping[str, Path]], pixel_rdm: Path, **settings,
) -> pd.DataFrame:
    """:func:`pixel_roi_tests` of every ROI in ``rois``; ``layer_map``: the mapped ones
    (ROI -> layer), ``model_rdms``: layer -> (condition, seed) -> RDM."""
    tables = []
    for roi in rois:
        layer = layer_map.get(roi, "")
        tables.append(pixel_roi_tests(roi, layer, model_rdms[layer] if layer else None, group_rdms[roi],
                                      subject_rdms[roi], pixel_rdm, **settings))
    return pd.concat(tables, ignore_index=True)


def write_pixel_tests(
    rois: Sequence[str], layer_map: Mapping[str, str], subjects: Sequence[str], group_paths: Sequence[Path],
    subject_paths: Sequence[Path], pixel_path: Path, models: Sequence[tuple[str, int]], model_paths: Sequence[Path],
    out: Path, *, conditions: Sequence[str], method: str, stats: Mapping, device: str = "cpu",
    threads: int | None = None,
) -> None:
    """The run_pixel_baseline_tests job. ``group_paths``: one per ROI; ``subject_paths``
    ROI-major; ``model_paths``: per mapped layer in the order of first appearance in
    ``layer_map``, the ``models`` (condition, seed) in order."""
    layers = list(dict.fromkeys(layer_map.values()))
    paths = iter(model_paths)
    by_layer = {layer: {(c, int(s)): Path(next(paths)) for c, s in models} for layer in layers}
    subject_iter = iter(subject_paths)
    by_roi = {roi: {s: Path(next(subject_iter)) for s in subjects} for roi in rois}
    tests = pixel_tests(
        rois, layer_map, by_layer, {roi: Path(p) for roi, p in zip(rois, group_paths)}, by_roi, Path(pixel_path),
        conditions=conditions, method=method, n_permutations=stats["n_permutations"],
        permutation_scheme=stats["permutation_scheme"], inference=stats["inference"],
        generalise_over=stats["generalise_over"], n_bootstrap=stats["n_bootstrap"],
        bootstrap_scheme=stats["bootstrap_scheme"], bootstrap_subjects=stats["bootstrap_subjects"],
        ci_method=stats["ci_method"], ci_level=stats["ci_level"], seed=stats["seed"], device=device, threads=threads,
    )
    write_table(tests, out)
