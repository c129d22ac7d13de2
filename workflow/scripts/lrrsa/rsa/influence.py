"""Influence functions of RSA comparators, and the variance of pair means over stimuli.

An RSA score compares two RDMs' upper triangles: m = n (n - 1) / 2 pairs, pair p = (i, j)
built from stimuli i < j. To first order a score is the mean over pairs of its
influence function (Hampel 1974), ``rho_hat - rho ~ (1/m) sum_p IF_p``. Pairs that share a
stimulus are dependent, so that mean is, in the stimuli, a U-statistic of degree 2
(Hoeffding 1948), with variance ``4 (n-2) zeta_1 / (n (n-1)) + 2 zeta_2 / (n (n-1))``: the
stimulus effect ``zeta_1`` (pairs sharing a stimulus covary) and the pair-specific
effect ``zeta_2``. :class:`PairDesign` estimates that variance (and covariances) without
bias, ``U^2 - U(theta^2)`` where ``U(theta^2)`` averages ``x_p y_q`` over pairs of
*disjoint* pairs. The stimulus bootstrap instead counts ``zeta_2`` about three times and
the leave-one-stimulus-out jackknife twice, which is why their intervals are too wide
when the pair-specific variance is large (unrelated or noisy RDMs); see
docs/STATISTICS.md.

Influence functions (``(k, m)`` for k model vectors against one brain vector):

- Pearson r of standardised ``x~, y~`` (population sd): ``x~ y~ - r (x~^2 + y~^2) / 2``.
- Spearman rho, the Pearson r of the mid-ranks: with ``a, b`` the centred mid-rank CDFs
  ``(rank - 1/2) / m``, ``IF_p = [a_p b_p + A_p + B_p - 3 phi] / sqrt(var a var b)``,
  ``phi = mean(a b)``, ``A_p = (1/m) sum_q (1{x_q > x_p} + 1{x_q = x_p} / 2) b_q`` (how
  pair p moves every other pair's model rank) and ``B_p`` the same with the roles of
  x and y swapped (Croux & Dehon 2010, Stat. Methods Appl. 19:497, for the
  population form). Ties are handled through mid-ranks; the tie correction of the
  normalising variances is not differentiated (it is zero without ties).

Kendall's tau has no cheap influence function here: the callers refuse it.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

#: Comparators with an influence function.
METHODS = ("spearman", "pearson")


def _centred_mid_cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centred mid-rank CDF (m,), ascending order, group index of each sorted position)."""
    m = values.size
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.ones(m, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(starts) - 1
    sizes = np.bincount(group)
    below = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    cdf = np.empty(m)
    cdf[order] = (below[group] + sizes[group] / 2) / m
    return cdf - cdf.mean(), order, group


def _above(order: np.ndarray, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per element p: sum of ``weights`` over elements with a larger value, plus half of
    those with an equal value (p included), given :func:`_centred_mid_cdf`'s order."""
    sums = np.bincount(group, weights=weights[order])
    after = sums.sum() - np.cumsum(sums)  # strictly larger groups
    out = np.empty(weights.size)
    out[order] = (after + sums / 2)[group]
    return out


def spearman_influence(models: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(k, m) influence of every pair on Spearman's rho of each model vector (k, m) with
    ``brain`` (m,). NaN-free input; a constant vector gives NaN."""
    models = np.atleast_2d(np.asarray(models, dtype=np.float64))
    m = brain.size
    b, b_order, b_group = _centred_mid_cdf(np.asarray(brain, dtype=np.float64))
    var_b = float(np.mean(b * b))
    out = np.empty(models.shape)
    for row, x in enumerate(models):
        a, a_order, a_group = _centred_mid_cdf(x)
        var_a = float(np.mean(a * a))
        if var_a == 0 or var_b == 0:
            out[row] = np.nan
            continue
        phi = float(np.mean(a * b))
        pull = _above(a_order, a_group, b) / m + _above(b_order, b_group, a) / m
        out[row] = (a * b + pull - 3 * phi) / np.sqrt(var_a * var_b)
    return out


def pearson_influence(models: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(k, m) influence of every pair on Pearson's r of each model vector with ``brain``."""
    models = np.atleast_2d(np.asarray(models, dtype=np.float64))
    y = np.asarray(brain, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ys = (y - y.mean()) / y.std()
        xs = (models - models.mean(axis=1, keepdims=True)) / models.std(axis=1, keepdims=True)
    r = np.mean(xs * ys, axis=1, keepdims=True)
    return xs * ys - r * (xs * xs + ys * ys) / 2


def influence(models: np.ndarray, brain: np.ndarray, method: str) -> np.ndarray:
    """:func:`spearman_influence` or :func:`pearson_influence` by comparator name."""
    if method == "spearman":
        return spearman_influence(models, brain)
    if method == "pearson":
        return pearson_influence(models, brain)
    raise ValueError(f"no influence function for RSA method {method!r}; expected one of {METHODS}")


class PairDesign:
    """The pairs of n stimuli (condensed order) and the unbiased U-statistic (co)variance
    of pair means.

    For pair vectors x, y (m,), :meth:`covariance` estimates Cov(mean x, mean y) over
    samples of n stimuli as ``S_x S_y / m^2 - sum over ordered pairs of disjoint pairs
    (x_p y_q) / (m (n-2)(n-3) / 2)``: exactly unbiased when x and y are the values of a
    fixed symmetric kernel at the pairs of an i.i.d. sample of stimuli. Written with the
    stimulus sums ``R_i = sum_j x_ij`` it is ``sum_i g_i + const`` with per-stimulus
    contributions ``g_i = (R^x_i R^y_i - Q_i / 2) / c``, ``Q_i = sum_j x_ij y_ij``,
    ``c = m (n-2)(n-3) / 2``, from which :meth:`degrees_of_freedom` follows.
    """

    def __init__(self, n: int) -> None:
        if n < 4:
            raise ValueError(f"the variance over stimuli needs at least 4 stimuli, got {n}")
        self.n = n
        i, j = np.triu_indices(n, k=1)
        self.m = i.size
        self.c = self.m * (n - 2) * (n - 3) / 2
        rows = np.repeat(np.arange(self.m), 2)
        cols = np.column_stack([i, j]).ravel()
        #: (m, n) incidence of pairs and stimuli: ``x @ incidence`` are the stimulus sums.
        self.incidence = sparse.csr_matrix((np.ones(2 * self.m), (rows, cols)), shape=(self.m, n))

    def contributions(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-stimulus contributions (N, n) and the constant (N,) of the covariance of
        each row of x (N, m) with the same row of y (default: x itself)."""
        x = np.atleast_2d(x)
        y = x if y is None else np.atleast_2d(y)
        rx = np.asarray(x @ self.incidence)
        ry = rx if y is x else np.asarray(y @ self.incidence)
        q = np.asarray((x * y) @ self.incidence)
        sx, sy = x.sum(axis=1), y.sum(axis=1)
        const = sx * sy * (1 / self.m**2 - 1 / self.c)
        return (rx * ry - q / 2) / self.c, const

    def covariance(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """(N,) unbiased covariance of the pair means of each row of x and y (N, m)."""
        g, const = self.contributions(x, y)
        return g.sum(axis=1) + const

    @staticmethod
    def degrees_of_freedom(g: np.ndarray) -> np.ndarray:
        """Satterthwaite's degrees of freedom of a variance estimate that is a sum of
        per-stimulus contributions g (N, n): ``2 (sum g)^2 / Var_hat(sum g)``, with
        ``Var_hat(sum g) = n / (n - 1) sum (g - mean g)^2`` (n for i.i.d. normal pairs of a
        plain mean; fewer when a few stimuli dominate)."""
        g = np.atleast_2d(g)
        n = g.shape[1]
        spread = n / (n - 1) * ((g - g.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(spread > 0, 2 * g.sum(axis=1) ** 2 / np.where(spread > 0, spread, 1), np.inf)


class StimulusDesign:
    """n i.i.d. stimuli, each with one influence value per statistic (an encoding score on
    held-out images), and the unbiased (co)variance of their means.

    For vectors x, y (n,), :meth:`covariance` estimates Cov(mean x, mean y) over samples of
    n stimuli as ``S_x S_y / n^2 - sum over i != j (x_i y_j) / (n (n - 1))``, which is
    ``sum_i (x_i - mean x)(y_i - mean y) / (n (n - 1))``: the sample covariance over n. As
    :class:`PairDesign`, it is returned as per-stimulus contributions
    ``g_i = x_i y_i / (n (n - 1))`` plus a constant, so that the same Satterthwaite
    degrees of freedom apply (n - 1 for a plain mean of i.i.d. normal values).
    """

    def __init__(self, n: int) -> None:
        if n < 4:
            raise ValueError(f"the variance over stimuli needs at least 4 stimuli, got {n}")
        self.n = n

    def contributions(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-stimulus contributions (N, n) and the constant (N,) of the covariance of
        each row of x (N, n) with the same row of y (default: x itself)."""
        x = np.atleast_2d(x)
        y = x if y is None else np.atleast_2d(y)
        n = self.n
        const = x.sum(axis=1) * y.sum(axis=1) * (1 / n**2 - 1 / (n * (n - 1)))
        return x * y / (n * (n - 1)), const

    def covariance(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """(N,) unbiased covariance of the means of each row of x and y (N, n)."""
        g, const = self.contributions(x, y)
        return g.sum(axis=1) + const

    degrees_of_freedom = staticmethod(PairDesign.degrees_of_freedom)
