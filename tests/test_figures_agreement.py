"""Figure of the cross-dataset rank agreement (lrrsa.figures.agreement): points, error
bars, colours, the corner text and the labels, checked against the tables of
lrrsa.stats.rank_agreement.agreement_table built here from known per-seed scores."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer

from lrrsa.figures.agreement import agreement_text, plot_rank_agreement
from lrrsa.figures.style import condition_palette
from lrrsa.stats.rank_agreement import agreement_table

CONDITIONS = ["untrained", "bp", "fa", "pc", "stdp"]
# Per (ROI, condition) the scores of seeds 1, 2, 3: human and macaque.
HUMAN = {"V1": [[0.07, 0.08, 0.078], [0.03, 0.035, 0.037], [0.01, 0.012, 0.014], [0.05, 0.056, 0.062], [0.06, 0.064, 0.068]],
         "IT": [[0.008, 0.007, 0.009], [0.013, 0.012, 0.014], [0.012, 0.011, 0.013], [0.014, 0.015, 0.013], [0.011, 0.012, 0.013]]}
MACAQUE = {"V1": [[0.25, 0.27, 0.26], [0.16, 0.18, 0.17], [0.15, 0.14, 0.16], [0.27, 0.28, 0.29], [0.30, 0.29, 0.31]],
           "IT": [[0.10, 0.09, 0.11], [0.07, 0.08, 0.09], [0.13, 0.12, 0.14], [0.08, 0.09, 0.07], [0.12, 0.11, 0.10]]}
PAIRS = [("V1", "V1"), ("IT", "IT")]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def long_table(scores: dict) -> pd.DataFrame:
    return pd.DataFrame([[roi, c, seed, value] for roi, rows in scores.items() for c, row in zip(CONDITIONS, rows)
                         for seed, value in zip([1, 2, 3], row)], columns=["roi", "condition", "seed", "score"])


def tables(n_bootstrap=200):
    return agreement_table(long_table(HUMAN), long_table(MACAQUE), PAIRS, n_bootstrap=n_bootstrap, seed=1)


def errorbars(ax) -> dict[str, ErrorbarContainer]:
    return {c.lines[0].get_gid(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def test_each_panel_draws_each_condition_at_its_seed_means_with_seed_sd_error_bars():
    agreement, side = tables()
    fig = plot_rank_agreement(agreement, side, CONDITIONS, dataset_a="human fMRI", dataset_b="macaque")
    axes = [ax for ax in fig.axes if ax.containers]
    assert [ax.get_title() for ax in axes] == ["V1 – V1", "IT – IT"]
    palette = condition_palette(CONDITIONS)
    for ax, (roi_a, roi_b) in zip(axes, PAIRS):
        bars = errorbars(ax)
        assert sorted(bars) == sorted(f"condition:{c}" for c in CONDITIONS)
        for condition, a, b in zip(CONDITIONS, HUMAN[roi_a], MACAQUE[roi_b]):
            container = bars[f"condition:{condition}"]
            point, (xbar, ybar) = container.lines[0], container.lines[2]
            assert (point.get_xdata()[0], point.get_ydata()[0]) == (pytest.approx(np.mean(a)), pytest.approx(np.mean(b)))
            assert to_hex(point.get_color()) == palette[condition]
            (x_segment,), (y_segment,) = xbar.get_segments(), ybar.get_segments()
            assert x_segment[:, 0] == pytest.approx([np.mean(a) - np.std(a, ddof=1), np.mean(a) + np.std(a, ddof=1)])
            assert y_segment[:, 1] == pytest.approx([np.mean(b) - np.std(b, ddof=1), np.mean(b) + np.std(b, ddof=1)])
        assert ax.get_xlabel() == "human fMRI: Spearman ρ"
    assert axes[0].get_ylabel() == "macaque: Spearman ρ"


def test_the_corner_gives_tau_exact_p_and_the_bootstrap_interval_of_the_table():
    agreement, side = tables()
    fig = plot_rank_agreement(agreement, side, CONDITIONS)
    axes = [ax for ax in fig.axes if ax.containers]
    for ax, (_, row) in zip(axes, agreement.iterrows()):
        (text,) = [t for t in ax.texts if t.get_gid() == "kendall-tau"]
        assert text.get_text() == (f"τ = {row['tau']:.2f}\nexact p = {row['p_exact']:.2g}\n"
                                   f"95% CI [{row['ci_low']:.2f}, {row['ci_high']:.2f}]")
    # Human and macaque V1 rank the five conditions alike but for untrained against pc and
    # stdp: 8 concordant, 2 discordant pairs, tau = 0.6.
    assert agreement["tau"].iloc[0] == pytest.approx(0.6)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:5] == CONDITIONS and "mean ± 1 SD\nover seeds" in legend
    assert any("exact permutation test" in text for text in legend)


def test_no_interval_and_undefined_tau_are_said_so():
    agreement, _ = tables(n_bootstrap=0)
    assert "CI" not in agreement_text(agreement.iloc[0]) and "exact p" in agreement_text(agreement.iloc[0])
    undefined = agreement.iloc[0].copy()
    undefined[["tau", "p_exact"]] = np.nan
    assert agreement_text(undefined) == "τ undefined\n(a constant ranking)"


def test_missing_columns_or_conditions_raise_naming_them():
    agreement, side = tables(n_bootstrap=0)
    with pytest.raises(ValueError, match="rank agreement: missing column.*p_exact"):
        plot_rank_agreement(agreement.drop(columns="p_exact"), side, CONDITIONS)
    with pytest.raises(ValueError, match=r"ROI pair \(IT, IT\) lacks condition\(s\) stdp"):
        plot_rank_agreement(agreement, side[~((side["roi_a"] == "IT") & (side["condition"] == "stdp"))], CONDITIONS)


def test_a_pixel_row_is_a_grey_cross_per_panel_not_a_condition():
    agreement, side = tables(n_bootstrap=0)
    pixel = pd.DataFrame([["pixel", a, b, 0.02 * i, 0.1 * i, np.nan, np.nan, 0] for i, (a, b) in enumerate(PAIRS, 1)],
                         columns=side.columns)
    fig = plot_rank_agreement(agreement, pd.concat([side, pixel], ignore_index=True), CONDITIONS)
    axes = [ax for ax in fig.axes if ax.containers]
    for i, ax in enumerate(axes, 1):
        assert sorted(errorbars(ax)) == sorted(f"condition:{c}" for c in CONDITIONS)
        (cross,) = [line for line in ax.lines if line.get_gid() == "pixel"]
        assert (cross.get_xdata()[0], cross.get_ydata()[0]) == (pytest.approx(0.02 * i), pytest.approx(0.1 * i))
        assert cross.get_marker() == "x" and to_hex(cross.get_color()) == to_hex("0.5")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:6] == [*CONDITIONS, "pixel RDM"]
    plain = plot_rank_agreement(agreement, side, CONDITIONS)
    assert not [line for ax in plain.axes for line in ax.lines if line.get_gid() == "pixel"]
    assert "pixel RDM" not in [t.get_text() for t in plain.legends[0].get_texts()]


def test_the_pixel_rows_are_those_the_tables_write():
    from lrrsa.figures import agreement
    from lrrsa.stats import pixel_baseline

    assert agreement.PIXEL == pixel_baseline.PIXEL
