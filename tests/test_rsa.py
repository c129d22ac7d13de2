"""RDMs and RSA scores against scipy, rsatoolbox and brute force."""

import tracemalloc
import warnings

import h5py
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from lrrsa.rsa import _kernels
from lrrsa.rsa.comparators import compare_vectors, kendall_tau_a, rsa_score, upper_triangle
from lrrsa.rsa.rdm import _column_chunks, _rdm_torch, rdm


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_rdm_matches_scipy(metric, chunk):
    x = np.random.default_rng(0).normal(size=(12, 50)) + 100.0  # large means stress precision
    np.testing.assert_allclose(rdm(x, metric, chunk=chunk), squareform(pdist(x, metric)), atol=1e-10)


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
def test_rdm_is_exact_for_huge_offsets_and_uneven_chunks(metric):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 301)) * rng.uniform(0.5, 2, size=(9, 1)) + rng.normal(size=(9, 1)) * 1e4
    np.testing.assert_allclose(rdm(x, metric, chunk=64), squareform(pdist(x, metric)), atol=1e-10)


def test_rdm_torch_path_gives_the_same_numbers():
    pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(size=(10, 200)) + 50
    for metric in ["correlation", "euclidean"]:
        chunks = _column_chunks(200, 37)
        np.testing.assert_allclose(_rdm_torch(x, metric, chunks, "cpu"), rdm(x, metric), atol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("chunks", [None, (1, 333), (9, 40)])  # contiguous, whole rows (activations.py), blocks
def test_rdm_streams_from_hdf5(tmp_path, dtype, chunks):
    x = np.random.default_rng(1).normal(size=(9, 333)).astype(dtype)
    with h5py.File(tmp_path / "f.h5", "w") as h5:
        h5.create_dataset("x", data=x, chunks=chunks)
    with h5py.File(tmp_path / "f.h5") as h5:
        streamed = rdm(h5["x"], chunk=64)
    np.testing.assert_allclose(streamed, rdm(x.astype(np.float64)), atol=1e-12)
    np.testing.assert_allclose(streamed, squareform(pdist(x.astype(np.float64), "correlation")), atol=1e-10)


def test_rdm_memory_is_bounded_by_the_chunk_not_the_features(tmp_path):
    """A 40 x 200,000 float16 dataset (64 MB as float64) streams in a few MB."""
    n, p, chunk = 40, 200_000, 2048
    with h5py.File(tmp_path / "wide.h5", "w") as h5:
        ds = h5.create_dataset("x", shape=(n, p), dtype="float16")
        rng = np.random.default_rng(2)
        for start in range(0, p, 50_000):
            ds[:, start : start + 50_000] = rng.normal(size=(n, 50_000)).astype(np.float16)
    with h5py.File(tmp_path / "wide.h5") as h5:
        tracemalloc.start()
        result = rdm(h5["x"], chunk=chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sample = h5["x"][:, :5000].astype(np.float64)
    bound = n * n * 8 * 4 + n * chunk * (8 + 2) * 3  # a few n^2 and chunk-sized buffers
    assert peak < bound < n * p * 8 / 10, f"peak {peak / 1e6:.1f} MB"
    assert result.shape == (n, n) and np.isfinite(result).all()
    # the first 5,000 features alone give a different but correlated RDM: the data were read
    assert stats.pearsonr(upper_triangle(result), upper_triangle(rdm(sample))).statistic > 0.1


def test_upper_triangle_is_scipy_condensed_order():
    m = squareform(np.arange(1.0, 11.0))
    np.testing.assert_array_equal(upper_triangle(m), np.arange(1.0, 11.0))
    with pytest.raises(ValueError, match="square"):
        upper_triangle(np.zeros((2, 3)))


@pytest.mark.parametrize("method, oracle", [
    ("spearman", stats.spearmanr), ("pearson", stats.pearsonr), ("kendall", stats.kendalltau)])
def test_rsa_score_matches_scipy_and_drops_nan_pairs(method, oracle):
    rng = np.random.default_rng(2)
    a, b = (squareform(pdist(rng.normal(size=(10, 4)))) for _ in range(2))
    a[0, 1] = a[1, 0] = np.nan
    score = rsa_score(a, b, method)
    ua, ub = upper_triangle(a), upper_triangle(b)
    keep = ~np.isnan(ua)
    assert score.n_pairs == 44
    assert score.rho == pytest.approx(oracle(ua[keep], ub[keep]).statistic, abs=1e-12)


def brute_tau_a(x, y):
    """sum over all pairs of pairs of sign products / (m (m-1) / 2): the definition."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    m = x.size
    return (dx * dy)[np.triu_indices(m, 1)].sum() / (m * (m - 1) / 2)


def test_kendall_tau_a_matches_the_definition_and_rsatoolbox_with_ties():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, size=60).astype(float)  # many ties in both
    y = rng.integers(0, 4, size=60).astype(float) + 0.1 * x
    assert kendall_tau_a(x, y) == pytest.approx(brute_tau_a(x, y), abs=1e-12)
    assert kendall_tau_a(np.ones(5), np.arange(5.0)) == 0.0
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm.compare import _tau_a

    assert kendall_tau_a(x, y) == pytest.approx(_tau_a(x, y), abs=1e-12)
    a, b = (squareform(pdist(rng.normal(size=(9, 3)))) for _ in range(2))
    ref = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(squareform(a)[None]),
                                 rsatoolbox.rdm.RDMs(squareform(b)[None]), "tau-a")[0, 0]
    assert rsa_score(a, b, "kendall_tau_a").rho == pytest.approx(ref, abs=1e-12)


def test_compare_reports_nan_for_too_few_pairs():
    score = compare_vectors(np.array([1.0, np.nan]), np.array([2.0, 3.0]))
    assert np.isnan(score.rho) and score.n_pairs == 1


def test_numba_and_numpy_kernels_agree():
    rng = np.random.default_rng(6)
    n, k = 11, 5
    m = n * (n - 1) // 2
    a = rng.normal(size=(k, m))
    b = squareform(rng.normal(size=m))
    perms = np.array([rng.permutation(n) for _ in range(23)])
    expected = np.array([[a[c] @ upper_triangle(b[np.ix_(p, p)]) for c in range(k)] for p in perms])
    for backend in ["numpy"] + (["numba"] if _kernels.HAVE_NUMBA else []):
        np.testing.assert_allclose(_kernels.null_dots(a, b, perms, backend=backend), expected, atol=1e-12)
    w = rng.integers(0, 3, size=(4, m)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rank in (True, False):
            out = [_kernels.weighted_stats(a, upper_triangle(b)[None], w, rank=rank, backend=be)
                   for be in ["numpy"] + (["numba"] if _kernels.HAVE_NUMBA else ["numpy"])]
            np.testing.assert_allclose(out[0], out[1], atol=1e-12)


def test_a_stimulus_with_constant_features_has_a_nan_row():
    """1 - Pearson r with a constant pattern is 0 / 0: the stimulus's row and column are
    NaN (diagonal 0) and the other distances are those of the other stimuli."""
    x = np.random.default_rng(7).normal(size=(6, 40))
    x[2] = 0.5  # a uniform grey image, a ReLU layer silent for one image
    out = rdm(x, chunk=16)
    others = [0, 1, 3, 4, 5]
    assert np.isnan(np.delete(out[2], 2)).all() and np.isnan(np.delete(out[:, 2], 2)).all() and out[2, 2] == 0.0
    np.testing.assert_allclose(out[np.ix_(others, others)], squareform(pdist(x[others], "correlation")), atol=1e-10)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall", "kendall_tau_a"])
def test_a_constant_rdm_scores_nan_for_every_comparator(method):
    rng = np.random.default_rng(8)
    model = squareform(pdist(rng.normal(size=(7, 3))))
    constant = np.ones((7, 7)) - np.eye(7)
    for a, b in [(model, constant), (constant, model)]:
        score = rsa_score(a, b, method)
        assert np.isnan(score.rho) and score.n_pairs == 21
    half = model.copy()
    half[3, :] = half[:, 3] = np.nan  # constant over the pairs left is constant too
    other = np.where(np.isnan(half), 1.0, 2.0)
    np.fill_diagonal(other, 0.0)
    assert np.isnan(rsa_score(half, other, method).rho)


@pytest.mark.parametrize("rank", [True, False])
@pytest.mark.parametrize("square", [False, True])
def test_ranks_over_the_kept_pairs_are_the_definition(rank, square):
    """kept_standardized: the values (or their mid-ranks among the kept pairs, ties
    included) of the pairs of stimuli not dropped, centred and scaled to unit norm,
    0 elsewhere; the numba and numpy versions agree."""
    rng = np.random.default_rng(9)
    n = 9
    values = rng.integers(0, 7, size=n * (n - 1) // 2).astype(float)  # many ties
    drop = np.zeros(n, dtype=bool)
    drop[[2, 6]] = True
    values[np.isin(_kernels.pair_index(n)[0], [2, 6]) | np.isin(_kernels.pair_index(n)[1], [2, 6])] = np.nan
    i, j = _kernels.pair_index(n)
    keep = ~(drop[i] | drop[j])
    kept = stats.rankdata(values[keep]) if rank else values[keep]
    expected = np.zeros(values.size)
    expected[keep] = (kept - kept.mean()) / np.linalg.norm(kept - kept.mean())
    if square:
        expected = squareform(expected)
    for backend in ["numpy"] + (["numba"] if _kernels.HAVE_NUMBA else []):
        for ties_known in [None, _kernels.kept_info(values, n)] if rank else [None]:
            out, ok = _kernels.kept_standardized(values, drop, rank=rank, info=ties_known, square=square,
                                                 backend=backend)
            assert ok
            np.testing.assert_allclose(out, expected, atol=1e-14)
    tied = np.where(keep, 1.0, np.nan)  # constant over the kept pairs: undefined
    out, ok = _kernels.kept_standardized(tied, drop, rank=rank)
    assert not ok and not out.any()
