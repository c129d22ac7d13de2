"""Encoding models against their oracles: scikit-learn's Ridge, a brute-force search of
the penalty, planted voxels with a closed-form ceiling, pure-noise voxels, the closed
forms of the ceilings, brute-force leave-one-out and bootstrap scores, and a leak test
that fails when anything is fitted on held-out images."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from lrrsa.encoding import fit as fit_module
from lrrsa.encoding.ceilings import ceiling_from_nc_testset, ceiling_from_split_halves, split_half_reliability
from lrrsa.encoding.correlation import pearson_columns
from lrrsa.encoding.features import FeatureTransform, fitted_features
from lrrsa.encoding.fit import fit_layer
from lrrsa.encoding.inference import bootstrap_scores, jackknife_influence, leave_one_out_scores, mean_r, median_r
from lrrsa.encoding.protocols import inner_folds, outer_folds, protocol_table
from lrrsa.encoding.responses import RoiResponses
from lrrsa.encoding.ridge import alpha_grid, fit_ridge_cv


def _metadata(n_train_concepts=30, n_exemplars=4, n_test=12, n_repeats=3):
    rows = [("train", f"c{c:02d}_{e:02d}a.jpg", f"c{c:02d}") for c in range(n_train_concepts)
            for e in range(1, n_exemplars + 1)]
    rows += [("test", f"t{i:02d}_01a.jpg", f"t{i:02d}") for i in range(n_test) for _ in range(n_repeats)]
    return pd.DataFrame(rows, columns=["trial_type", "stimulus", "concept"])


# ------------------------------------------------------------------- the ridge


def test_predictions_equal_sklearn_ridge_with_the_chosen_alpha_and_alpha_equals_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = x @ rng.normal(size=(6, 5)) + rng.normal(size=(80, 5)) * np.array([0.1, 1, 4, 20, 60])
    x_test = rng.normal(size=(15, 6))
    splits = inner_folds([f"c{i % 16}" for i in range(80)], 5)
    alphas = alpha_grid(-3, 5, 17)
    fit = fit_ridge_cv(x, y, x_test, alphas=alphas, splits=splits)
    for t in range(y.shape[1]):
        cv = [np.mean([-np.mean((Ridge(alpha=a).fit(x[f], y[f, t]).predict(x[v]) - y[v, t]) ** 2)
                       for f, v in splits]) for a in alphas]
        assert fit.alpha[t] == pytest.approx(alphas[int(np.argmax(cv))])
        assert fit.cv_score[t] == pytest.approx(max(cv))
        expected = Ridge(alpha=fit.alpha[t]).fit(x, y[:, t]).predict(x_test)
        np.testing.assert_allclose(fit.prediction[:, t], expected, rtol=1e-8, atol=1e-10)
    assert len(set(fit.alpha)) > 1, "noisier targets should choose larger penalties"


def test_ridge_refuses_nan_and_mismatched_rows():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="fitted images"):
        fit_ridge_cv(x, np.zeros((9, 1)), x, alphas=[1.0], splits=[(np.arange(5), np.arange(5, 10))])
    y = np.zeros((10, 1))
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_ridge_cv(x, y, x, alphas=[1.0], splits=[(np.arange(5), np.arange(5, 10))])


def test_pearson_columns_equal_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    np.testing.assert_allclose(pearson_columns(a, b), [np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(4)])
    assert np.isnan(pearson_columns(np.ones((5, 1)), a[:5, :1]))[0]


# ---------------------------------------------------------------- the protocol


def test_train_test_protocol_fits_train_images_and_scores_test_images():
    table = protocol_table(_metadata(), "train_test")
    assert (table["fold"] == -1).sum() == 120 and (table["fold"] == 0).sum() == 12
    (fold, fitted, held), = list(outer_folds(table["fold"]))
    assert set(table.loc[held, "stimulus"].str[0]) == {"t"} and set(table.loc[fitted, "stimulus"].str[0]) == {"c"}


def test_kfold_protocol_uses_the_repeated_images_and_stratifies_by_category():
    meta = _metadata(n_test=20)
    categories = pd.Series({f"t{i:02d}": "ab"[i % 2] for i in range(20)})
    table = protocol_table(meta, "kfold", n_folds=5, seed=3, categories=categories)
    assert len(table) == 20 and sorted(table["fold"].value_counts()) == [4] * 5
    per_fold = table.assign(cat=table["concept"].map(categories)).groupby("fold")["cat"].value_counts()
    assert set(per_fold) == {2}, "each fold holds both categories equally"
    held = np.concatenate([h for _, _, h in outer_folds(table["fold"])])
    assert sorted(held) == list(range(20))


def test_protocol_errors_name_the_problem():
    with pytest.raises(ValueError, match="no test trials"):
        protocol_table(_metadata().query("trial_type == 'train'"), "train_test", source="meta.csv")
    with pytest.raises(ValueError, match="n_folds"):
        protocol_table(_metadata(n_test=3), "kfold", n_folds=5)
    with pytest.raises(ValueError, match="unknown encoding protocol"):
        protocol_table(_metadata(), "leave_one_out")


def test_inner_folds_never_split_a_concept():
    concepts = [f"c{i % 7}" for i in range(50)]
    for fit, val in inner_folds(concepts, 5):
        assert not {concepts[i] for i in fit} & {concepts[i] for i in val}
    with pytest.raises(ValueError, match="2 concepts"):
        inner_folds(["a"] * 5, 5)


# ------------------------------------------------------------------ ceilings


def test_ceiling_from_nc_testset_is_the_square_root_of_the_explainable_share():
    np.testing.assert_allclose(ceiling_from_nc_testset([25.0, 100.0, 0.0, -3.0]), [0.5, 1.0, 0.0, 0.0])
    assert np.isnan(ceiling_from_nc_testset([np.nan]))[0]


def test_split_half_ceiling_recovers_the_planted_reliability():
    rng = np.random.default_rng(2)
    n, v, repeats, noise = 400, 300, 6, 1.5
    signal = rng.normal(size=(n, v))
    trials = signal[:, None, :] + noise * rng.normal(size=(n, repeats, v))
    odd, even = trials[:, ::2].mean(1), trials[:, 1::2].mean(1)
    expected = 1 / (1 + noise**2 / repeats)  # reliability of the mean of all repeats
    assert np.median(split_half_reliability(odd, even)) == pytest.approx(expected, abs=0.02)
    r = pearson_columns(odd, even)
    np.testing.assert_allclose(split_half_reliability(odd, even), 2 * r / (1 + r))
    assert np.median(ceiling_from_split_halves(odd, even)) == pytest.approx(np.sqrt(expected), abs=0.02)


# ---------------------------------------------------- planted and noise voxels


def _planted_study(rng, n_train=600, n_test=60, p=20, n_signal=40, n_noise=40, repeats=4, noise=1.0):
    """Train images with single trials, test images averaged over ``repeats``; signal
    voxels linear in the features, noise voxels pure noise."""
    x = rng.normal(size=(n_train + n_test, p))
    w = rng.normal(size=(p, n_signal)) / np.sqrt(p)
    signal = x @ w
    trials = np.where(np.arange(n_train + n_test)[:, None] < n_train, 1, repeats)
    y_signal = signal + noise * rng.normal(size=signal.shape) / np.sqrt(trials)
    y_noise = rng.normal(size=(n_train + n_test, n_noise)) / np.sqrt(trials)
    table = pd.DataFrame({"stimulus": [f"s{i}" for i in range(n_train + n_test)],
                          "concept": [f"c{i % 150}" for i in range(n_train)] + [f"t{i}" for i in range(n_test)],
                          "fold": [-1] * n_train + [0] * n_test})
    ceiling = np.sqrt(1 / (1 + noise**2 / repeats))  # var(signal) = 1 on average
    targets = {("V1", "sub-01"): RoiResponses(y_signal, np.full(n_signal, ceiling), np.arange(n_signal)),
               ("IT", "sub-01"): RoiResponses(y_noise, np.zeros(n_noise), np.arange(n_noise))}
    return x, table, targets, ceiling


def test_planted_linear_voxels_reach_their_ceiling_and_noise_voxels_score_zero():
    rng = np.random.default_rng(3)
    x, table, targets, ceiling = _planted_study(rng)
    held, fits, n_features, n_fitted = fit_layer(x, table, targets, transform=FeatureTransform("none"),
                                                 alphas=alpha_grid(-2, 4, 13), n_inner_folds=5)
    assert n_features == 20 and n_fitted == 600 and list(held) == list(range(600, 660))
    r_signal = pearson_columns(fits[("V1", "sub-01")][0], targets[("V1", "sub-01")].responses[held])
    r_noise = pearson_columns(fits[("IT", "sub-01")][0], targets[("IT", "sub-01")].responses[held])
    assert np.median(r_signal) == pytest.approx(ceiling, abs=0.05)
    assert abs(r_noise.mean()) < 0.05
    assert fits[("IT", "sub-01")][1].mean() > fits[("V1", "sub-01")][1].mean(), "noise voxels get larger penalties"


@pytest.mark.parametrize("method", ["pca", "random_projection"])
def test_reduced_features_still_predict_planted_voxels(method):
    rng = np.random.default_rng(4)
    x, table, targets, ceiling = _planted_study(rng, p=10)
    wide = x @ rng.normal(size=(10, 50))  # 50 redundant features of rank 10: both reductions keep the signal
    _, fits, n_features, _ = fit_layer(wide, table, targets, transform=FeatureTransform(method, n_components=30),
                                       alphas=alpha_grid(-2, 4, 13), n_inner_folds=5)
    assert n_features == 30
    r = pearson_columns(fits[("V1", "sub-01")][0], targets[("V1", "sub-01")].responses[600:])
    assert np.median(r) > ceiling - 0.1


# --------------------------------------------------------------------- leaks


class SpyTransform(FeatureTransform):
    """Records every matrix it is fitted on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def fit(self, x):
        self.seen.append(np.asarray(x).copy())
        return super().fit(x)


def assert_nothing_fitted_on_held_out_images(protocol):
    """Features carry their row number; every matrix the transform was fitted on must
    hold only rows of the fold's fitted images."""
    meta = _metadata(n_test=20)
    table = protocol_table(meta, protocol, n_folds=4)
    rng = np.random.default_rng(5)
    rows = np.arange(len(table), dtype=float)[:, None]
    features = np.hstack([rows, rng.normal(size=(len(table), 3))])
    targets = {("V1", "sub-01"): RoiResponses(rng.normal(size=(len(table), 5)), np.ones(5), np.arange(5))}
    spy = SpyTransform("pca", n_components=2)
    fit_layer(features, table, targets, transform=spy, alphas=[1.0, 10.0], n_inner_folds=3)
    folds = list(outer_folds(table["fold"]))
    assert len(spy.seen) == len(folds)
    for seen, (_, fitted, held_out) in zip(spy.seen, folds):
        used = set(seen[:, 0].astype(int))
        assert not used & set(held_out), f"fitted on held-out image rows {sorted(used & set(held_out))[:5]}"
        assert used == set(fitted)


@pytest.mark.parametrize("protocol", ["train_test", "kfold"])
def test_no_feature_transform_is_fitted_on_held_out_images(protocol):
    assert_nothing_fitted_on_held_out_images(protocol)


@pytest.mark.parametrize("protocol", ["train_test", "kfold"])
def test_the_leak_test_catches_a_transform_fitted_on_every_image(protocol, monkeypatch):
    def leaky(x, fitted, held_out, transform):
        transform.fit(x)  # the planted leak: statistics of the held-out images too
        return transform.transform(x[fitted]), transform.transform(x[held_out])

    monkeypatch.setattr(fit_module, "fitted_features", leaky)
    with pytest.raises(AssertionError, match="held-out"):
        assert_nothing_fitted_on_held_out_images(protocol)


def test_fitted_features_use_the_fitted_rows_statistics():
    x = np.array([[0.0], [2.0], [100.0]])
    fit, held = fitted_features(x, np.array([0, 1]), np.array([2]), FeatureTransform("none"))
    np.testing.assert_allclose(fit[:, 0], [-1, 1])
    np.testing.assert_allclose(held[:, 0], [99.0])


# ------------------------------------------------------------ score inference


def test_leave_one_out_and_bootstrap_scores_equal_brute_force():
    rng = np.random.default_rng(6)
    prediction = rng.normal(size=(15, 9))
    observed = prediction + rng.normal(size=(15, 9))
    r = lambda rows: [np.corrcoef(prediction[rows, v], observed[rows, v])[0, 1] for v in range(9)]  # noqa: E731
    assert mean_r(prediction, observed) == pytest.approx(np.mean(r(np.arange(15))))
    assert median_r(prediction, observed) == pytest.approx(np.median(r(np.arange(15))))
    np.testing.assert_allclose(leave_one_out_scores(prediction, observed),
                               [np.mean(r(np.delete(np.arange(15), i))) for i in range(15)], atol=1e-12)
    counts = rng.multinomial(15, np.full(15, 1 / 15), size=4).astype(float)
    expected = [np.mean(r(np.repeat(np.arange(15), c.astype(int)))) for c in counts]
    np.testing.assert_allclose(bootstrap_scores(prediction, observed, counts), expected, atol=1e-12)


def test_jackknife_standard_error_of_a_difference_matches_its_spread():
    """The tested score is the mean over voxels because its jackknife is calibrated: over
    simulated studies of two equally good models, the mean jackknife se of their difference
    is within 20 % of the difference's sd (the median over voxels gives about 3 times)."""
    rng = np.random.default_rng(9)
    n, v, studies = 60, 80, 150
    weights = rng.normal(size=(5, v))
    estimates, ses = [], []
    for _ in range(studies):
        latent = rng.normal(size=(n, 5))
        observed = latent @ weights + 2 * rng.normal(size=(n, v))
        a = latent @ weights + rng.normal(size=(n, v))  # two models with independent errors
        b = latent @ weights + rng.normal(size=(n, v))
        estimates.append(mean_r(a, observed) - mean_r(b, observed))
        psi = jackknife_influence(a, observed) - jackknife_influence(b, observed)
        ses.append(np.sqrt((psi**2).sum() / (n * (n - 1))))
    assert np.mean(ses) / np.std(estimates, ddof=1) == pytest.approx(1.0, abs=0.2)


def test_one_model_interval_is_the_jackknife_t_interval():
    from scipy import stats

    from lrrsa.rsa.contrasts import contrast_inference_from_influence

    rng = np.random.default_rng(7)
    prediction = rng.normal(size=(30, 12))
    observed = prediction + 2 * rng.normal(size=(30, 12))
    loo = leave_one_out_scores(prediction, observed)
    jack_se = np.sqrt((loo.size - 1) / loo.size * ((loo - loo.mean()) ** 2).sum())
    psi = jackknife_influence(prediction, observed)
    result = contrast_inference_from_influence(np.full((1, 1, 1), mean_r(prediction, observed)),
                                               psi[None, None, None], [[1.0]], factors=["stimuli"])
    assert result.se[0] == pytest.approx(jack_se)
    g = psi**2
    assert result.df[0] == pytest.approx(2 * g.sum() ** 2 / (30 / 29 * ((g - g.mean()) ** 2).sum()))
    half = stats.t.ppf(0.975, result.df[0]) * jack_se
    assert result.low[0] == pytest.approx(mean_r(prediction, observed) - half)


def test_fit_files_round_trip_the_held_out_predictions(tmp_path):
    import h5py

    from lrrsa.encoding.fit import fit_model
    from lrrsa.encoding.tables import read_predictions

    rng = np.random.default_rng(8)
    x, table, targets, _ = _planted_study(rng, n_train=200, n_test=12, p=6)
    with h5py.File(tmp_path / "acts.h5", "w") as h5:
        h5.create_dataset("stimuli", data=table["stimulus"].to_numpy(dtype=object), dtype=h5py.string_dtype())
        h5.create_dataset("conv1", data=x.astype(np.float32))
    responses = {"sub-01": {roi: found for (roi, _), found in targets.items()}}
    alphas = alpha_grid(3, 6, 4)  # heavy penalties: predictions vary far less than their mean
    scores = fit_model(tmp_path / "acts.h5", table, responses, tmp_path / "fits.h5", condition="bp", seed=1,
                       layers=["conv1"], transform={"method": "none", "n_components": 2, "seed": 0}, alphas=alphas,
                       n_inner_folds=3)
    for roi in ("V1", "IT"):
        held, prediction = read_predictions(tmp_path / "fits.h5", "conv1", roi, "sub-01")
        r = pearson_columns(prediction, targets[(roi, "sub-01")].responses[held])
        row = scores.query("roi == @roi").iloc[0]
        assert np.median(r) == pytest.approx(row["median_r"], abs=1e-6)
        assert np.mean(r) == pytest.approx(row["mean_r"], abs=1e-6)
        assert row["n_voxels"] == r.size and row["n_fitted"] == 200 and row["n_held_out"] == 12
