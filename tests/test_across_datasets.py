"""The rank agreement across a run's brain datasets (lrrsa.stats.across_datasets) and its
two thin scripts: tables built here with known per-seed scores at the mapped layers
(every other layer and subject a decoy), pixel baselines written by the project's own
pixel_baseline_table, tau and p against scipy, the pairs formed, their bootstrap seeds,
and the errors."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lrrsa.figures.style
from conftest import REPO
from lrrsa.scoring import SCORE_COLUMNS
from lrrsa.stats.across_datasets import (
    DATASET_AGREEMENT_COLUMNS, DATASET_PIXEL_COLUMNS, DATASET_SIDE_BY_SIDE_COLUMNS, compare_datasets,
    corresponding_rois, mapped_seed_scores, pixel_scores,
)
from lrrsa.stats.pixel_baseline import PIXEL, PIXEL_TEST_COLUMNS
from lrrsa.stats.study_tables import pixel_baseline_table
from lrrsa.tsv import read_table, write_table

CONDITIONS = ["untrained", "bp", "fa", "pc", "stdp"]
LAYERS = ["conv1", "conv2", "fc1", "fc2"]
SUBJECTS = ["sub-01", "sub-02"]
# Each dataset's ROIs (all of them, mapped or not) and its layer map.
ROIS = {"things": ["V1", "V2", "LOC", "IT"], "macaque": ["V1", "V4", "IT"], "other": ["V4", "IT"],
        "mouse": ["VISp", "VISl"]}
LAYER_MAPS = {"things": {"V1": "conv1", "V2": "conv1", "IT": "fc1"},
              "macaque": {"V1": "conv1", "V4": "conv2", "IT": "fc1"},
              "other": {"IT": "fc2", "V4": "conv2"},
              "mouse": {"VISp": "conv1"}}
DECOY = 5.0  # every score not at a mapped layer's group RDM is at least this


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def truth(dataset: str, n_seeds: int = 3) -> dict[tuple[str, str, int], float]:
    """(roi, condition, seed) -> the group rho at the ROI's mapped layer; distinct values."""
    rng = np.random.default_rng(sum(map(ord, dataset)))
    return {(roi, c, seed): float(rng.uniform(-0.1, 0.4)) for roi in LAYER_MAPS[dataset] for c in CONDITIONS
            for seed in range(1, n_seeds + 1)}


def rsa_scores(dataset: str, n_seeds: int = 3) -> pd.DataFrame:
    """An rsa/scores.tsv table: every layer against every ROI, the group and each subject;
    the truth at the mapped layer's group rows, a decoy everywhere else."""
    known, layer_map = truth(dataset, n_seeds), LAYER_MAPS[dataset]
    rng = np.random.default_rng(0)
    rows = []
    for roi in ROIS[dataset]:
        for layer in LAYERS:
            for subject in ["group", *SUBJECTS]:
                for c in CONDITIONS:
                    for seed in range(1, n_seeds + 1):
                        mapped = subject == "group" and layer_map.get(roi) == layer
                        rho = known[roi, c, seed] if mapped else DECOY + rng.random()
                        rows.append([c, seed, layer, roi, subject, rho, 1225])
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def pixel_rho(dataset: str, roi: str) -> float:
    return 0.01 * ROIS[dataset].index(roi) + 0.1 * sorted(ROIS).index(dataset) + 0.005


def pixel_baseline(dataset: str, tmp_path: Path) -> pd.DataFrame:
    """A stats/pixel_baseline.tsv as the workflow writes it: pixel_baseline_table over
    pixel test rows (the pixel's group score, each subject's and their mean, and, at
    mapped ROIs, each condition's difference whose rho_pixel is a decoy), written and
    read back as the scripts do."""
    rows = []

    def add(roi, test, condition, condition_b, subject, estimate, rho_pixel, rho_condition=np.nan):
        rows.append([roi, LAYER_MAPS[dataset].get(roi, ""), test, condition, condition_b, subject, estimate,
                     np.nan, 0.01, 10, estimate - 0.02, estimate + 0.02, 0.01, np.nan, 1225, np.nan, rho_pixel,
                     rho_condition])

    for roi in ROIS[dataset]:
        rho = pixel_rho(dataset, roi)
        add(roi, "pixel", PIXEL, "", "group", rho, rho)
        for i, subject in enumerate([*SUBJECTS, "mean"]):
            add(roi, "pixel_subject", PIXEL, "", subject, DECOY + i, DECOY + i)
        if roi in LAYER_MAPS[dataset]:
            for c in CONDITIONS:
                add(roi, "pixel_difference", c, PIXEL, "group", 0.2 - DECOY, DECOY, 0.2)
    tests = pd.DataFrame(rows, columns=PIXEL_TEST_COLUMNS)
    table = pixel_baseline_table(tests, ROIS[dataset], CONDITIONS, family="comparisons", fdr_method="fdr_bh")
    path = tmp_path / f"pixel_baseline_{dataset}.tsv"
    write_table(table, path)
    return read_table(path)


def inputs(names, tmp_path, n_seeds=3):
    return {name: (rsa_scores(name, n_seeds), LAYER_MAPS[name], pixel_baseline(name, tmp_path)) for name in names}


def seed_means(dataset: str, roi: str) -> np.ndarray:
    known = truth(dataset)
    return np.array([np.mean([v for (r, c, _), v in known.items() if r == roi and c == cond]) for cond in CONDITIONS])


# ------------------------------------------------------------------ the pieces


def test_mapped_seed_scores_are_the_group_rows_at_each_rois_mapped_layer():
    table = mapped_seed_scores(rsa_scores("things"), LAYER_MAPS["things"])
    assert list(table.columns) == ["roi", "condition", "seed", "score"]
    assert len(table) == 3 * len(CONDITIONS) * 3 and set(table["roi"]) == {"V1", "V2", "IT"}  # LOC: not mapped
    got = {(r, c, s): v for r, c, s, v in table.itertuples(index=False)}
    assert got == pytest.approx(truth("things"))
    assert (table["score"] < DECOY).all()
    assert set(mapped_seed_scores(rsa_scores("things"), {**LAYER_MAPS["things"], "LOC": ""})["roi"]) == {"V1", "V2", "IT"}


def test_a_mapped_roi_without_rows_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"dataset macaque: rsa scores: no group scores for ROI 'V4' at its mapped "
                                         r"layer 'conv2'"):
        mapped_seed_scores(rsa_scores("things"), {"V1": "conv1", "V4": "conv2"}, source="dataset macaque: rsa scores")
    missing_layer = rsa_scores("things").query("layer != 'fc1'")
    with pytest.raises(ValueError, match=r"ROI 'IT' at its mapped layer 'fc1'"):
        mapped_seed_scores(missing_layer, LAYER_MAPS["things"])
    with pytest.raises(ValueError, match="missing column.*rho"):
        mapped_seed_scores(rsa_scores("things").drop(columns="rho"), LAYER_MAPS["things"])


def test_corresponding_rois_are_those_both_map_in_as_order():
    assert corresponding_rois(LAYER_MAPS["things"], LAYER_MAPS["macaque"]) == [("V1", "V1"), ("IT", "IT")]
    assert corresponding_rois(LAYER_MAPS["other"], LAYER_MAPS["macaque"]) == [("IT", "IT"), ("V4", "V4")]
    assert corresponding_rois({"V1": "conv1", "IT": ""}, {"V1": "conv2", "IT": "fc1"}) == [("V1", "V1")]
    assert corresponding_rois(LAYER_MAPS["things"], LAYER_MAPS["mouse"]) == []


def test_pixel_scores_are_the_pixels_own_group_rows_of_every_roi(tmp_path):
    table = pixel_scores(pixel_baseline("things", tmp_path))
    assert list(table.columns) == ["roi", "rho_pixel"]
    assert table["roi"].tolist() == ROIS["things"]  # LOC too, which has no layer
    assert table["rho_pixel"].tolist() == pytest.approx([pixel_rho("things", r) for r in ROIS["things"]])
    with pytest.raises(ValueError, match="pixel baseline: ROI 'V1' has more than one"):
        baseline = pixel_baseline("things", tmp_path)
        pixel_scores(pd.concat([baseline, baseline.iloc[:1]]), source="pixel baseline")
    with pytest.raises(ValueError, match="no rows of the pixel RDM's own score"):
        pixel_scores(pixel_baseline("things", tmp_path).query("subject != 'group'"))


# ------------------------------------------------------------------ compare_datasets


def test_tau_and_exact_p_equal_scipys_exact_test_on_the_seed_means(tmp_path):
    agreement, side, _ = compare_datasets(inputs(["things", "macaque"], tmp_path), CONDITIONS, n_bootstrap=50,
                                          seed=3, level=0.9)
    assert list(agreement.columns) == DATASET_AGREEMENT_COLUMNS and list(side.columns) == DATASET_SIDE_BY_SIDE_COLUMNS
    assert agreement[["dataset_a", "dataset_b", "roi_a", "roi_b"]].values.tolist() == [
        ["things", "macaque", "V1", "V1"], ["things", "macaque", "IT", "IT"]]
    for _, row in agreement.iterrows():
        x, y = seed_means("things", row["roi_a"]), seed_means("macaque", row["roi_b"])
        assert len(set(x)) == len(set(y)) == len(CONDITIONS)  # no ties
        expected = stats.kendalltau(x, y, method="exact")
        assert row["tau"] == pytest.approx(expected.statistic, abs=1e-12)
        assert row["p_exact"] == pytest.approx(expected.pvalue, abs=1e-12)
        assert row["n_bootstrap"] == 50 and row["level"] == 0.9 and row["ci_low"] <= row["ci_high"]
        conditions = side[(side["roi_a"] == row["roi_a"]) & (side["condition"] != PIXEL)]
        assert conditions["condition"].tolist() == CONDITIONS
        assert conditions["score_a"].to_numpy() == pytest.approx(x)
        assert conditions["score_b"].to_numpy() == pytest.approx(y)


def test_every_roi_pair_has_a_pixel_row_and_every_roi_of_every_dataset_a_pixel_score(tmp_path):
    _, side, pixel = compare_datasets(inputs(["things", "macaque", "mouse"], tmp_path), CONDITIONS, n_bootstrap=0,
                                      seed=0)
    rows = side[side["condition"] == PIXEL]
    assert rows[["roi_a", "roi_b"]].values.tolist() == [["V1", "V1"], ["IT", "IT"]]
    assert rows["score_a"].tolist() == pytest.approx([pixel_rho("things", "V1"), pixel_rho("things", "IT")])
    assert rows["score_b"].tolist() == pytest.approx([pixel_rho("macaque", "V1"), pixel_rho("macaque", "IT")])
    assert rows[["sd_a", "sd_b"]].isna().all().all() and (rows["n_seeds"] == 0).all()
    # each ROI pair: its conditions, then the pixel
    assert side["condition"].tolist() == [*CONDITIONS, PIXEL] * 2
    assert list(pixel.columns) == DATASET_PIXEL_COLUMNS
    assert pixel[["dataset", "roi"]].values.tolist() == [[d, r] for d in ["things", "macaque", "mouse"] for r in ROIS[d]]
    assert pixel["rho_pixel"].tolist() == pytest.approx([pixel_rho(d, r) for d, r in pixel[["dataset", "roi"]].values])


def test_pairs_without_shared_rois_are_left_out(tmp_path):
    agreement, side, pixel = compare_datasets(inputs(["mouse", "things", "macaque"], tmp_path), CONDITIONS,
                                              n_bootstrap=0, seed=0)
    assert set(map(tuple, agreement[["dataset_a", "dataset_b"]].values)) == {("things", "macaque")}
    assert set(map(tuple, side[["dataset_a", "dataset_b"]].values)) == {("things", "macaque")}
    assert "mouse" in set(pixel["dataset"])
    agreement, side, pixel = compare_datasets(inputs(["mouse", "things"], tmp_path), CONDITIONS, n_bootstrap=0, seed=0)
    assert agreement.empty and side.empty and len(pixel) == len(ROIS["mouse"]) + len(ROIS["things"])
    assert list(agreement.columns) == DATASET_AGREEMENT_COLUMNS and list(side.columns) == DATASET_SIDE_BY_SIDE_COLUMNS


def test_three_datasets_give_three_pairs_and_a_third_leaves_the_first_pairs_interval_alone(tmp_path):
    two, _, _ = compare_datasets(inputs(["things", "macaque"], tmp_path), CONDITIONS, n_bootstrap=200, seed=7)
    three, side, _ = compare_datasets(inputs(["things", "macaque", "other"], tmp_path), CONDITIONS, n_bootstrap=200,
                                      seed=7)
    assert three[["dataset_a", "dataset_b", "roi_a"]].values.tolist() == [
        ["things", "macaque", "V1"], ["things", "macaque", "IT"], ["things", "other", "IT"],
        ["macaque", "other", "V4"], ["macaque", "other", "IT"]]
    assert len(three.groupby(["dataset_a", "dataset_b"])) == 3
    pd.testing.assert_frame_equal(three.iloc[:2].reset_index(drop=True), two)
    assert set(map(tuple, side[["dataset_a", "dataset_b"]].drop_duplicates().values)) == {
        ("things", "macaque"), ("things", "other"), ("macaque", "other")}


def test_the_pair_seed_depends_on_the_seed_and_the_dataset_names(tmp_path, monkeypatch):
    import lrrsa.stats.across_datasets as across

    seeds = []
    real = across.agreement_table
    monkeypatch.setattr(across, "agreement_table", lambda *a, **k: seeds.append(k["seed"]) or real(*a, **k))
    across.compare_datasets(inputs(["things", "macaque", "other"], tmp_path), CONDITIONS, n_bootstrap=5, seed=7)
    across.compare_datasets(inputs(["things", "macaque"], tmp_path), CONDITIONS, n_bootstrap=5, seed=7)
    across.compare_datasets(inputs(["things", "macaque"], tmp_path), CONDITIONS, n_bootstrap=5, seed=8)
    assert len(set(seeds[:3])) == 3 and seeds[3] == seeds[0] and seeds[4] != seeds[0]


def test_one_seed_gives_no_interval(tmp_path):
    agreement, side, _ = compare_datasets(inputs(["things", "macaque"], tmp_path, n_seeds=1), CONDITIONS,
                                          n_bootstrap=500, seed=0)
    assert agreement[["ci_low", "ci_high"]].isna().all().all() and (agreement["n_bootstrap"] == 0).all()
    assert agreement["tau"].notna().all() and (agreement["n_seeds"] == 1).all()
    assert side[["sd_a", "sd_b"]].isna().all().all()


def test_errors_name_the_dataset_and_roi(tmp_path):
    data = inputs(["things", "macaque"], tmp_path)
    scores, layer_map, baseline = data["macaque"]
    broken = dict(data, macaque=(scores[scores["roi"] != "IT"], layer_map, baseline))
    with pytest.raises(ValueError, match=r"dataset macaque: rsa scores: no group scores for ROI 'IT'"):
        compare_datasets(broken, CONDITIONS, n_bootstrap=0, seed=0)
    broken = dict(data, macaque=(scores, layer_map, baseline[baseline["roi"] != "V1"]))
    with pytest.raises(ValueError, match=r"dataset macaque: its pixel baseline has no score for ROI 'V1'"):
        compare_datasets(broken, CONDITIONS, n_bootstrap=0, seed=0)
    broken = dict(data, macaque=(scores[scores["condition"] != "stdp"], layer_map, baseline))
    with pytest.raises(ValueError, match=r"datasets things \(summary_a\) and macaque \(summary_b\): summary_b ROI V1: "
                                         r"no scores for condition\(s\) stdp"):
        compare_datasets(broken, CONDITIONS, n_bootstrap=0, seed=0)
    with pytest.raises(ValueError, match="dataset things: pixel baseline: missing column"):
        compare_datasets(dict(data, things=(*data["things"][:2], data["things"][2].drop(columns="rho_pixel"))),
                         CONDITIONS, n_bootstrap=0, seed=0)
    with pytest.raises(ValueError, match="condition 'pixel'"):
        compare_datasets(data, [*CONDITIONS, PIXEL], n_bootstrap=0, seed=0)


# ------------------------------------------------------------------ thin scripts


def run_script(name: str, snakemake: SimpleNamespace) -> None:
    runpy.run_path(str(REPO / "workflow" / "scripts" / f"{name}.py"), init_globals={"snakemake": snakemake})


def test_the_scripts_write_the_tables_and_one_figure_per_pair(tmp_path, restore_logging, monkeypatch):
    names = ["things", "macaque", "other"]
    scores, pixels = [], []
    for name, (table, _, baseline) in inputs(names, tmp_path).items():
        scores.append(tmp_path / f"scores_{name}.tsv")
        pixels.append(tmp_path / f"pixel_baseline_{name}.tsv")
        write_table(table, scores[-1])
        write_table(baseline, pixels[-1])
    out = SimpleNamespace(agreement=str(tmp_path / "agreement.tsv"), scores=str(tmp_path / "scores.tsv"),
                          pixel=str(tmp_path / "pixel.tsv"))
    params = SimpleNamespace(datasets=names, layer_maps={n: LAYER_MAPS[n] for n in names}, conditions=CONDITIONS,
                             n_bootstrap=100, seed=0, ci_level=0.95)
    run_script("compare_datasets", SimpleNamespace(
        input=SimpleNamespace(scores=list(map(str, scores)), pixel_baseline=list(map(str, pixels))), output=out,
        params=params, log=[str(tmp_path / "compare.log")]))
    agreement = read_table(out.agreement)
    expected = compare_datasets(inputs(names, tmp_path), CONDITIONS, n_bootstrap=100, seed=0, level=0.95)
    pd.testing.assert_frame_equal(agreement, expected[0], atol=1e-5)
    assert len(read_table(out.scores)) == len(expected[1]) and len(read_table(out.pixel)) == len(expected[2])

    saved = []
    save = lrrsa.figures.style.save_figure
    monkeypatch.setattr(lrrsa.figures.style, "save_figure", lambda fig, paths: saved.append(fig) or save(fig, paths))
    for a, b, n_panels in [("things", "macaque", 2), ("macaque", "other", 2), ("things", "other", 1)]:
        png, pdf = tmp_path / f"{a}_{b}.png", tmp_path / f"{a}_{b}.pdf"
        run_script("plot_dataset_agreement", SimpleNamespace(
            input=SimpleNamespace(agreement=out.agreement, scores=out.scores),
            output=SimpleNamespace(png=str(png), pdf=str(pdf)),
            params=SimpleNamespace(dataset_a=a, dataset_b=b, conditions=CONDITIONS, method="spearman"),
            log=[str(tmp_path / f"plot_{a}_{b}.log")]))
        panels = [ax for ax in saved[-1].axes if ax.containers]
        assert len(panels) == n_panels
        for ax in panels:
            assert len(ax.containers) == len(CONDITIONS)  # the pixel row is no condition point
            (cross,) = [line for line in ax.lines if line.get_gid() == PIXEL]
            roi = ax.get_title().split(" – ")[0]
            assert (cross.get_xdata()[0], cross.get_ydata()[0]) == (pytest.approx(pixel_rho(a, roi), abs=1e-6),
                                                                    pytest.approx(pixel_rho(b, roi), abs=1e-6))
        assert plt.imread(png)[..., :3].std() > 0.05 and pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="no rows for datasets macaque and things"):
        run_script("plot_dataset_agreement", SimpleNamespace(
            input=SimpleNamespace(agreement=out.agreement, scores=out.scores),
            output=SimpleNamespace(png=str(tmp_path / "x.png"), pdf=str(tmp_path / "x.pdf")),
            params=SimpleNamespace(dataset_a="macaque", dataset_b="things", conditions=CONDITIONS, method="spearman"),
            log=[str(tmp_path / "plot_x.log")]))
