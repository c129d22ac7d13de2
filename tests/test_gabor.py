"""Gabor fit and spectral peakedness of conv kernels (lrrsa.gabor), against kernels with
known parameters, an independent least-squares solution and closed forms."""

import math

import numpy as np
import pytest

from lrrsa.gabor import bounds, fit_gabor, gabor, score_filters, spectral_peakedness


def colour_gabor(size, gains=(1.0, -0.5, 0.3), offsets=(0.2, 0.1, -0.3), **params):
    g = gabor((size, size), **params)
    return np.stack([a * g + m for a, m in zip(gains, offsets)])


def angle_difference(a, b, period=math.pi):
    d = (a - b) % period
    return min(d, period - d)


@pytest.mark.parametrize("theta_deg", [0, 30, 75, 90, 140])
def test_a_gabor_is_recovered_with_its_parameters(theta_deg):
    truth = dict(x0=0.5, y0=-1.0, sigma=2.5, theta=math.radians(theta_deg), frequency=0.15, phase=0.7)
    fit = fit_gabor(colour_gabor(11, **truth))
    assert fit.r2 == pytest.approx(1.0, abs=1e-6)
    assert angle_difference(fit.theta, truth["theta"]) < math.radians(0.5)
    assert fit.orientation_deg == pytest.approx(math.degrees(fit.theta))
    assert fit.frequency == pytest.approx(0.15, rel=1e-3)
    assert fit.sigma == pytest.approx(2.5, rel=1e-3)
    assert (fit.x0, fit.y0) == pytest.approx((0.5, -1.0), abs=1e-3)
    # The same function up to the canonical (theta, phase, gain sign) form.
    g = gabor((11, 11), fit.x0, fit.y0, fit.sigma, fit.theta, fit.frequency, fit.phase)
    np.testing.assert_allclose(np.outer(fit.gains, g.ravel()),
                               np.outer([1.0, -0.5, 0.3], gabor((11, 11), **truth).ravel()), atol=1e-6)


def test_parameters_are_in_their_canonical_ranges_and_bounds():
    rng = np.random.default_rng(1)
    lower, upper = bounds((3, 3))
    for _ in range(10):
        fit = fit_gabor(rng.standard_normal((3, 3, 3)))
        assert 0 <= fit.theta < math.pi and 0 <= fit.phase < math.pi
        assert lower[0] <= fit.x0 <= upper[0] and lower[1] <= fit.y0 <= upper[1]
        assert 0.5 <= fit.sigma <= 3 and 1 / 6 <= fit.frequency <= 0.5


def test_r2_is_the_share_of_the_variance_about_each_channel_mean():
    """Independent oracle: with the fitted shape, solve gains and offsets by lstsq."""
    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((3, 5, 5))
    fit = fit_gabor(kernel)
    g = gabor((5, 5), fit.x0, fit.y0, fit.sigma, fit.theta, fit.frequency, fit.phase).ravel()
    design = np.column_stack([g, np.ones_like(g)])
    residual = 0.0
    for channel in kernel.reshape(3, -1):
        coef, *_ = np.linalg.lstsq(design, channel, rcond=None)
        residual += ((channel - design @ coef) ** 2).sum()
    total = ((kernel.reshape(3, -1) - kernel.reshape(3, -1).mean(axis=1, keepdims=True)) ** 2).sum()
    assert fit.r2 == pytest.approx(1 - residual / total, abs=1e-9)


def test_r2_ignores_scale_and_channel_means():
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 3))
    shifted = 2.5 * kernel + np.array([1.0, -4.0, 0.5])[:, None, None]
    assert fit_gabor(shifted).r2 == pytest.approx(fit_gabor(kernel).r2, abs=1e-6)


def test_noise_added_to_a_gabor_lowers_r2_by_its_share():
    rng = np.random.default_rng(4)
    clean = colour_gabor(9, offsets=(0, 0, 0), x0=0, y0=0, sigma=2.0, theta=1.0, frequency=0.2, phase=0.0)
    noise = rng.standard_normal(clean.shape)
    noise *= 0.3 * np.linalg.norm(clean) / np.linalg.norm(noise)  # noise energy 9 % of the signal's
    fit = fit_gabor(clean + noise)
    centred = lambda k: k - k.mean(axis=(1, 2), keepdims=True)  # noqa: E731
    share = (centred(clean) ** 2).sum() / (centred(clean + noise) ** 2).sum()
    assert share - 0.03 < fit.r2 < 1.0
    assert angle_difference(fit.theta, 1.0) < math.radians(5)


def test_white_noise_rarely_passes_on_larger_kernels_and_less_so_the_larger():
    rng = np.random.default_rng(5)
    mean_r2 = {}
    for size in (3, 5, 7):
        r2 = np.array([fit_gabor(rng.standard_normal((3, size, size))).r2 for _ in range(15)])
        mean_r2[size] = r2.mean()
        if size >= 5:
            assert (r2 >= 0.5).mean() == 0
    assert mean_r2[3] > mean_r2[5] > mean_r2[7]
    assert mean_r2[7] < 0.25


def test_kernels_without_spatial_variance_have_no_r2():
    assert math.isnan(fit_gabor(np.ones((3, 3, 3))).r2)
    uniform_colours = np.array([1.0, -2.0, 0.5])[:, None, None] * np.ones((3, 3, 3))
    assert math.isnan(fit_gabor(uniform_colours).r2)


def test_a_single_channel_kernel_is_accepted():
    fit = fit_gabor(gabor((7, 7), 0, 0, 1.5, 0.4, 0.25, 1.2))
    assert fit.r2 == pytest.approx(1.0, abs=1e-6) and len(fit.gains) == 1


@pytest.mark.parametrize("shape", [(3,), (2, 3, 3, 3), (3, 1, 3)])
def test_bad_shapes_are_refused(shape):
    with pytest.raises(ValueError, match="kernel"):
        fit_gabor(np.ones(shape))


def test_peakedness_of_a_pure_grating_is_half_the_number_of_frequencies():
    for n, k in [(3, (1, 2)), (5, (2, 1)), (7, (3, 0))]:
        y, x = np.mgrid[0:n, 0:n]
        grating = np.cos(2 * np.pi * (k[0] * x + k[1] * y) / n + 0.3)
        # Colour channels that differ only by a uniform offset keep the channel mean a grating.
        kernel = np.stack([grating + 1, grating - 2, grating])
        assert spectral_peakedness(kernel) == pytest.approx(n * n / 2)


def test_peakedness_of_a_flat_spectrum_is_n_over_n_minus_one():
    for n in (3, 5):
        delta = np.zeros((3, n, n))
        delta[:, 1, 2] = 1.0  # a point: |DFT| is 1 at every frequency
        assert spectral_peakedness(delta) == pytest.approx(n * n / (n * n - 1))


def test_peakedness_uses_the_channel_mean_and_ignores_scale():
    rng = np.random.default_rng(6)
    kernel = rng.standard_normal((3, 3, 3))
    assert spectral_peakedness(kernel) == pytest.approx(spectral_peakedness(kernel.mean(axis=0)))
    assert spectral_peakedness(-3 * kernel) == pytest.approx(spectral_peakedness(kernel))
    opponent = np.stack([kernel[0], -kernel[0], np.zeros((3, 3))])  # channel mean 0
    assert math.isnan(spectral_peakedness(opponent))


def test_score_filters_gives_one_value_per_filter():
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((4, 3, 3, 3))
    weights[2] = colour_gabor(3, offsets=(0, 0, 0), x0=0, y0=0, sigma=1.0, theta=0.0, frequency=1 / 3, phase=0.0)
    scores = score_filters(weights)
    assert list(scores["filter"]) == [0, 1, 2, 3]
    assert all(len(v) == 4 for v in scores.values())
    assert scores["gabor_r2"][2] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(scores["norm"], np.linalg.norm(weights.reshape(4, -1), axis=1))
    np.testing.assert_allclose(scores["peakedness"], [spectral_peakedness(w) for w in weights])
    with pytest.raises(ValueError, match="filters, channels"):
        score_filters(weights[0])
