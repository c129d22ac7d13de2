"""Inference on condition scores and their differences that generalises over stimuli,
network instances (seeds) and, optionally, subjects.

The statistic. Condition c's score is the mean over its K seeds of the RSA score of seed
k's model RDM against the group RDM (the mean of the s subjects' RDMs); a contrast w
(a score: w = e_c; a difference: e_a - e_b) is ``D = sum_c w_c score_c``. Seed k of every
condition starts from the same initialisation, so D is the mean over seeds of the paired
per-seed contrasts ``d_k``.

Its variance. D varies with the sample of stimuli, of network instances and of subjects,
three crossed random factors. With ``u_T`` the variance of D that a factor set T alone
would produce, counting each variance component of the factors in T (their main effects
and all their interactions) once, the variance of D over all random factors F is the
inclusion-exclusion sum (Moebius inversion over the subsets of F)

    Var(D) = sum over non-empty T of F of (-1)^(|T|+1) u_T,

e.g. ``u_stim + u_seed - u_stim,seed`` for two factors: the interaction is counted in
both one-factor terms and removed once. This is the k-factor form of the correction of
Schuett, Kipnis, Diedrichsen & Kriegeskorte (2023, eLife 12:e82566) for the 2-factor
bootstrap; instead of resampling, each ``u_T`` is an unbiased moment estimate:

- seeds: the sample variance of the K per-seed contrasts, over K;
- subjects: the leave-one-subject-out jackknife of D (Quenouille-Tukey pseudo-values).
  A group RDM of s - 1 subjects is less reliable than one of s, which shrinks every
  leave-one-out score towards zero by ``sqrt(R_(s-1) / R_s)`` (R_k: Spearman-Brown
  reliability of a k-subject mean from the mean inter-subject RDM correlation, as the
  group noise ceiling); the leave-one-out deviations are scaled back by its inverse;
- stimuli: the U-statistic variance (:class:`lrrsa.rsa.influence.PairDesign`) of the
  pair influence functions of D (:mod:`lrrsa.rsa.influence`);
- interactions: the same estimators applied to the interaction residuals (deviations of
  the per-seed influence functions from their seed mean, of the subject pseudo-values
  from their subject mean, and the two-way residuals of both), scaled as in a balanced
  random-effects ANOVA.

Pooling. A component without stimuli (the seeds' or subjects' main effect on D) is
estimated from K - 1 or s - 1 degrees of freedom; where it is absent (a network
instance's score differs from another's only stimulus by stimulus) its estimate is pure
noise around its stimulus interaction, which the pairs estimate far more precisely. So
``u_T`` of such a term is replaced by ``u_(T+stimuli)`` unless the chi-square test of
``u_T / u_(T+stimuli)`` rejects at ``pool_alpha`` (0.25: Bozivich, Bancroft & Hartley
1956's "sometimes pool" rule). Without it the estimate is unbiased but can be negative,
and its few degrees of freedom cost most of the power where the variance is all
stimulus x seed interaction; the benchmark shows both.

The interval is ``D +- t_(df) se`` and the test of ``D = 0`` (no difference between two
conditions, or a zero score) is two-sided, with Welch-Satterthwaite degrees of freedom
``2 V^2 / Var_hat(V)``, at least 1 (below, the variance estimate is mostly its own noise
and the t quantiles explode): each kept mean square without stimuli contributes
``2 u_T^2 / df_T`` (K - 1, s - 1, (K - 1)(s - 1)), the signed sum of the terms with
stimuli the spread of its per-stimulus contributions (they share their noise).
``docs/STATISTICS.md`` has the derivation and the calibration benchmark
(``benchmarks/calibration.py``).

Degenerate input: stimuli with a NaN row in any RDM are dropped (every score drops
them); fewer than 4 stimuli left is an error; identical conditions give a difference of
exactly 0 with se 0, interval [0, 0] and p = 1; a constant RDM gives NaN; with no
random factor left (one seed, stimuli not generalised over) se is 0 and p NaN.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from lrrsa.rsa.condensed import condensed, prepared
from lrrsa.rsa.influence import METHODS, PairDesign, StimulusDesign, influence

#: The random factors an inference can generalise over.
FACTORS = ("stimuli", "subjects", "seeds")
#: Significance level below which a variance component without stimuli (seeds,
#: subjects) is kept apart; above it, it is pooled into its stimulus interaction
#: (Bozivich, Bancroft & Hartley 1956's "sometimes pool" at 0.25). 0: never pool.
POOL_ALPHA = 0.25
#: Floor of the Welch-Satterthwaite degrees of freedom (see :func:`_combine`).
MIN_DF = 1.0


@dataclass(frozen=True)
class ContrastResult:
    """Inference on q contrasts of condition scores.

    ``estimate``, ``se``, ``df``, ``low``, ``high``, ``p`` (q,): the contrast, its
    standard error, Welch-Satterthwaite degrees of freedom, the ``level`` t-interval
    and the two-sided t-test p of ``contrast = 0``. ``terms``: factor set (e.g.
    ``"stimuli+seeds"``) -> (q,) ``u_T`` estimates; ``factors``: the random factors the
    inference generalises over (those with at least two levels among the requested).
    """

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray
    level: float
    factors: tuple[str, ...]
    n_stimuli: int
    terms: dict[str, np.ndarray] = field(default_factory=dict)


def _weigh(w: np.ndarray, x: np.ndarray, axis: int = 0) -> np.ndarray:
    """sum_c w_c x[c] along ``axis``, condition by condition in a fixed order (exact
    cancellation of identical conditions, unlike BLAS)."""
    x = np.moveaxis(x, axis, 0)
    out = np.zeros(x.shape[1:])
    for weight, values in zip(w, x):
        if weight:
            out += weight * values
    return out


def _subsets(factors: Sequence[str]) -> list[tuple[str, ...]]:
    return [t for r in range(1, len(factors) + 1) for t in itertools.combinations(factors, r)]


def reliability_ratio(subject_vectors: np.ndarray, method: str) -> float:
    """R_s / R_(s-1): how much more reliable a group RDM of s subjects is than one of s - 1,
    by Spearman-Brown from the mean inter-subject correlation r (Spearman's rho converted
    to Pearson's scale, 2 sin(pi rho / 6)); r is clipped to [0, 1] (at r <= 0 the ratio is
    the noise-only limit s / (s - 1))."""
    s = subject_vectors.shape[0]
    z = prepared(subject_vectors, method)
    agreement = z @ z.T
    r = float(agreement[np.triu_indices(s, k=1)].mean())
    if method == "spearman":
        r = 2 * np.sin(np.pi * r / 6)
    r = min(max(r, 0.0), 1.0)
    return s * (1 + (s - 2) * r) / ((s - 1) * (1 + (s - 1) * r))


def _check_factors_and_level(factors: Sequence[str], level: float) -> None:
    unknown = sorted(set(factors) - set(FACTORS))
    if unknown:
        raise ValueError(f"unknown random factor(s) {unknown}; expected some of {FACTORS}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")


def _drop_missing(models: np.ndarray, subjects: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop the stimuli with a NaN row in any RDM; refuse NaN pairs of other shapes."""
    i, j = np.triu_indices(n, k=1)
    nan = np.isnan(models).any(axis=(0, 1)) | np.isnan(subjects).any(axis=0)
    if not nan.any():
        return models, subjects, n
    counts = np.bincount(i[nan], minlength=n) + np.bincount(j[nan], minlength=n)
    bad = counts == n - 1
    if not np.array_equal(nan, bad[i] | bad[j]):
        raise ValueError("NaN dissimilarities that are not whole stimuli (a NaN row and column) are not supported")
    keep = ~(bad[i] | bad[j])
    return models[..., keep], subjects[:, keep], int(n - bad.sum())


def contrast_inference(
    model_rdms, subject_rdms, contrasts, *, method: str = "spearman", level: float = 0.95,
    factors: Sequence[str] = ("stimuli", "seeds"), pool_alpha: float = POOL_ALPHA,
) -> ContrastResult:
    """Contrasts of condition scores with standard errors, intervals and t-tests that
    generalise over ``factors`` (see the module docstring).

    ``model_rdms``: (C, K, n, n) RDMs of C conditions x K seeds (seed k of every
    condition from the same initialisation); ``subject_rdms``: (s, n, n), the group RDM
    is their mean; ``contrasts``: (q, C) weights. ``method``: spearman or pearson. A
    factor with a single level (one seed, one subject) cannot be generalised over and
    is left out of ``factors`` of the result. Raises ValueError for an unknown factor
    or method, mismatched shapes, or fewer than 4 stimuli.
    """
    if method not in METHODS:
        raise ValueError(f"contrast inference supports rsa.method {METHODS}, not {method!r} (use the bootstrap)")
    _check_factors_and_level(factors, level)
    arr = np.asarray(model_rdms, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[2] != arr.shape[3]:
        raise ValueError(f"model_rdms must be (conditions, seeds, n, n), got shape {arr.shape}")
    n_cond, n_seeds, n = arr.shape[:3]
    models = condensed(arr.reshape(-1, n, n))[0].reshape(n_cond, n_seeds, -1)
    subjects, n_subj = condensed(subject_rdms)
    if n_subj != n:
        raise ValueError(f"subject RDMs have {n_subj} stimuli, the models {n}")
    weights = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    if weights.shape[1] != n_cond:
        raise ValueError(f"contrasts have {weights.shape[1]} columns for {n_cond} conditions")
    models, subjects, n = _drop_missing(models, subjects, n)
    design = PairDesign(n)
    s = subjects.shape[0]
    random = tuple(f for f in FACTORS if f in factors and {"stimuli": n, "subjects": s, "seeds": n_seeds}[f] > 1)

    # Brains: the group RDM, then (for the subject factor) each leave-one-subject-out group.
    brains = [subjects.mean(axis=0)]
    if "subjects" in random:
        brains += [(subjects.sum(axis=0) - subjects[j]) / (s - 1) for j in range(s)]
    flat = models.reshape(n_cond * n_seeds, -1)
    flat_prepared = prepared(flat, method)
    # Row by row (not a matrix product, whose blocking can differ between rows), so
    # identical conditions get bit-identical scores and their difference is exactly 0.
    scores = np.stack([(flat_prepared * prepared(b[None], method)[0]).sum(axis=1) for b in brains])  # (B, C*K)
    psi = np.stack([influence(flat, b, method) for b in brains]) if "stimuli" in random else None  # (B, C*K, m)
    if "subjects" in random:
        scale = np.sqrt(reliability_ratio(subjects, method))
        loo = scores[1:]
        scores = np.concatenate([scores[:1], loo.mean(0) + scale * (loo - loo.mean(0))])
        pseudo = s * scores[0] - (s - 1) * scores[1:]  # (s, C*K)
        if psi is not None:
            loo = psi[1:]
            psi_pseudo = s * psi[0] - (s - 1) * (loo.mean(0) + scale * (loo - loo.mean(0)))  # (s, C*K, m)
    else:
        pseudo = scores[:1]
        psi_pseudo = psi[:1] if psi is not None else None

    return _infer(scores[0], pseudo, psi[0] if psi is not None else None, psi_pseudo, weights, design,
                  n_cond=n_cond, n_seeds=n_seeds, s=s, random=random, level=level, pool_alpha=pool_alpha)


def contrast_inference_from_influence(
    scores, influences, contrasts, *, level: float = 0.95, factors: Sequence[str] = ("stimuli", "seeds"),
    pool_alpha: float = POOL_ALPHA,
) -> ContrastResult:
    """Contrasts of condition scores that are means over subjects of per-subject scores
    on i.i.d. stimuli (an encoding model's score on held-out images), with the same
    variance components, pooling and degrees of freedom as :func:`contrast_inference`.

    ``scores``: (C, K, s) per condition, seed and subject; ``influences``: (C, K, s, n)
    the influence of each of the n stimuli on each score (e.g. the leave-one-stimulus-out
    jackknife ``(n - 1) (mean_i theta_(-i) - theta_(-i))``), whose mean over stimuli
    linearises the score. A score is ``mean_k mean_j scores[c, k, j]``; as it is linear
    in the subjects, their pseudo-values are the subjects' own scores (no reliability
    correction, unlike a group RDM). The stimulus variance terms use
    :class:`lrrsa.rsa.influence.StimulusDesign`. Raises ValueError for mismatched shapes,
    an unknown factor or fewer than 4 stimuli.
    """
    _check_factors_and_level(factors, level)
    values = np.asarray(scores, dtype=np.float64)
    psi = np.asarray(influences, dtype=np.float64)
    if values.ndim != 3 or psi.shape[:3] != values.shape or psi.ndim != 4:
        raise ValueError(f"scores must be (conditions, seeds, subjects) and influences (conditions, seeds, subjects, "
                         f"stimuli); got {values.shape} and {psi.shape}")
    n_cond, n_seeds, s = values.shape
    n = psi.shape[3]
    design = StimulusDesign(n)
    weights = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    if weights.shape[1] != n_cond:
        raise ValueError(f"contrasts have {weights.shape[1]} columns for {n_cond} conditions")
    random = tuple(f for f in FACTORS if f in factors and {"stimuli": n, "subjects": s, "seeds": n_seeds}[f] > 1)
    per_subject = values.transpose(2, 0, 1).reshape(s, -1)  # (s, C*K)
    psi_subject = psi.transpose(2, 0, 1, 3).reshape(s, n_cond * n_seeds, n) if "stimuli" in random else None
    return _infer(per_subject.mean(0), per_subject, psi_subject.mean(0) if psi_subject is not None else None,
                  psi_subject, weights, design, n_cond=n_cond, n_seeds=n_seeds, s=s, random=random, level=level,
                  pool_alpha=pool_alpha)


def _infer(score, pseudo, psi, psi_pseudo, weights, design, *, n_cond: int, n_seeds: int, s: int,
           random: tuple[str, ...], level: float, pool_alpha: float) -> ContrastResult:
    """The contrasts' estimates and variance terms from the per-model quantities: ``score``
    (C*K,) at the group level, ``pseudo`` (s or 1, C*K) subject pseudo-values, ``psi``
    (C*K, m) and ``psi_pseudo`` (s or 1, C*K, m) their influence vectors over the
    ``design``'s m units (pairs or stimuli); None without the stimulus factor."""
    q = weights.shape[0]
    estimate = np.empty(q)
    terms = {"+".join(t): np.full(q, np.nan) for t in _subsets(random)}
    term_df = {name: np.full(q, np.inf) for name in terms}
    contributions = {name: np.zeros((q, design.n)) for name in terms if "stimuli" in name}  # per stimulus, per term
    for row, w in enumerate(weights):
        d = _weigh(w, score.reshape(n_cond, n_seeds))  # (K,) per-seed contrasts at the group level
        estimate[row] = d.mean()
        y = _weigh(w, pseudo.reshape(-1, n_cond, n_seeds), axis=1)  # (s or 1, K)
        psi_d = phi = None
        if psi is not None:  # influence of the units on each seed's contrast, and on its pseudo-values
            psi_d = _weigh(w, psi.reshape(n_cond, n_seeds, -1))
            phi = _weigh(w, psi_pseudo.reshape(psi_pseudo.shape[0], n_cond, n_seeds, -1), axis=1)
        for t in _subsets(random):
            name = "+".join(t)
            terms[name][row], term_df[name][row], g = _term(t, d, y, psi_d, phi, design, s, n_seeds)
            if g is not None:
                contributions[name][row] = g
    return _combine(estimate, terms, term_df, contributions, level, random, design.n, pool_alpha)


def _term(t: tuple[str, ...], d, y, psi_d, phi, design: PairDesign | StimulusDesign, s: int, k: int,
          ) -> tuple[float, float, np.ndarray | None]:
    """``u_T``, its degrees of freedom, and (terms with stimuli) its per-stimulus
    contributions (n,), for one contrast (see the module docstring).

    ``d`` (K,) per-seed contrasts and ``psi_d`` (K, m) their pair influence functions,
    both at the group RDM; ``y`` (s, K) and ``phi`` (s, K, m) the subject pseudo-values
    of both. Terms without the subject factor use the group-RDM quantities (pseudo-values
    are only unbiased in their deviations across subjects)."""
    over_seeds, over_subjects = "seeds" in t, "subjects" in t
    if "stimuli" not in t:
        if over_seeds and over_subjects:  # two-way interaction mean square of the pseudo-values
            r = y - y.mean(0, keepdims=True) - y.mean(1, keepdims=True) + y.mean()
            return float((r**2).sum() / ((s - 1) * (k - 1)) / (s * k)), (s - 1) * (k - 1), None
        if over_seeds:
            return float(d.var(ddof=1) / k), k - 1, None
        return float(y.mean(1).var(ddof=1) / s), s - 1, None
    # Influence vectors of the terms' residuals, and the normaliser of a balanced design.
    if over_seeds and over_subjects:
        v = phi - phi.mean(0, keepdims=True) - phi.mean(1, keepdims=True) + phi.mean((0, 1), keepdims=True)
        vectors, norm = v.reshape(-1, v.shape[-1]), s * k * (s - 1) * (k - 1)
    elif over_seeds:
        vectors, norm = psi_d - psi_d.mean(0, keepdims=True), k * (k - 1)
    elif over_subjects:
        v = phi.mean(1)
        vectors, norm = v - v.mean(0, keepdims=True), s * (s - 1)
    else:
        vectors, norm = psi_d.mean(0)[None], 1
    g, const = design.contributions(vectors)
    g = (g.sum(0) + const.sum() / design.n) / norm  # per-stimulus contributions of u_T
    return float(g.sum()), float(design.degrees_of_freedom(g[None])[0]), g


def _combine(estimate, terms, term_df, contributions, level, random, n, pool_alpha) -> ContrastResult:
    """The inclusion-exclusion variance with pooling, and its Welch-Satterthwaite degrees
    of freedom ``2 V^2 / Var_hat(V)`` (see the module docstring)."""
    sign = {name: (-1) ** (name.count("+")) for name in terms}  # (-1)^(|T| + 1)
    q = estimate.shape[0]
    var, noise, part = np.zeros(q), np.zeros(q), np.zeros((q, n))
    for name, u in terms.items():
        if "stimuli" in name:
            var += sign[name] * u
            part += sign[name] * contributions[name]
            continue
        partner = f"stimuli+{name}" if "stimuli" in random else None
        pooled = np.zeros(q, dtype=bool)
        if partner is not None and pool_alpha > 0:
            # H0: no variance without stimuli, E[u_T] = E[u_(T+stimuli)]; df_T u_T / u_(T+stimuli) ~ chi2(df_T).
            with np.errstate(invalid="ignore", divide="ignore"):
                statistic = term_df[name] * u / terms[partner]
            pooled = (terms[partner] > 0) & ~(stats.chi2.sf(statistic, term_df[name]) < pool_alpha)
            part += sign[name] * np.where(pooled[:, None], contributions[partner], 0.0)
        var += sign[name] * np.where(pooled, terms[partner] if partner else 0.0, u)
        noise += np.where(pooled, 0.0, 2 * u**2 / term_df[name])  # mean squares: independent chi-squares
    if "stimuli" in random:  # the stimulus terms share their noise: the spread of their summed contributions
        noise += n / (n - 1) * ((part - part.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(noise > 0, 2 * var**2 / np.where(noise > 0, noise, 1), np.inf)
        # Below 1 the variance estimate is mostly its own noise and t quantiles explode
        # (t_0.975 at df 0.05 is ~1e26); df 1 (the Cauchy) is the widest interval reported.
        df = np.maximum(df, MIN_DF)
        t_crit = stats.t.ppf(0.5 + level / 2, df)
        p = np.where(se > 0, 2 * stats.t.sf(np.abs(estimate) / np.where(se > 0, se, 1), df),
                     np.where(estimate == 0, 1.0, np.nan))
    return ContrastResult(estimate=estimate, se=se, df=df, low=estimate - t_crit * se, high=estimate + t_crit * se,
                          p=p, level=level, factors=random, n_stimuli=n, terms=terms)
