"""RDMs and RSA scores against scipy."""

import h5py
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from lrrsa.rsa import rdm, rsa_score, upper_triangle


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_rdm_matches_scipy(metric, chunk):
    x = np.random.default_rng(0).normal(size=(12, 50)) + 100.0  # large means stress precision
    np.testing.assert_allclose(rdm(x, metric, chunk=chunk), squareform(pdist(x, metric)), atol=1e-10)


def test_rdm_streams_from_hdf5(tmp_path):
    x = np.random.default_rng(1).normal(size=(9, 333)).astype(np.float32)
    with h5py.File(tmp_path / "f.h5", "w") as h5:
        h5["x"] = x
    with h5py.File(tmp_path / "f.h5") as h5:
        np.testing.assert_allclose(rdm(h5["x"], chunk=64), rdm(x), atol=1e-12)


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
