"""The whole workflow through Snakemake on a tiny demo: outputs, rerun behaviour, report, lint.

One complete run is shared by the tests of this module (about a minute on 2 cores).
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from config_spellings import other_number_notation, reversed_keys, reversed_sets, spellings, with_values
from conftest import REPO
from lrrsa.config import load_schema, validate_config

pytestmark = pytest.mark.workflow

TINY = {
    "run": "tiny",
    "device": "cpu",
    "demo": {"seed": 0, "train_per_class": 12, "test_per_class": 6, "n_concepts": 16, "n_categories": 4,
             "n_exemplars": 2, "n_test_images": 4, "n_test_repeats": 2, "image_size": 48},
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50, "seed": 0},
    "brain_data": {"source": "demo", "subjects": ["sub-01", "sub-02"], "image_size": 64,
                   "rois": {"V1": ["V1"], "LOC": ["lLOC", "rLOC"], "IT": ["IT"]}},
    "model": {"widths": [8, 16, 16], "fc_width": 32},
    "training": {"epochs": 2, "batch_size": 32},
    "conditions": {"untrained": {"rule": "untrained"}, "bp": {"rule": "backprop", "lr": 0.001}},
    "seeds": [1, 2],
    "rsa": {"layer_map": {"V1": "conv1", "LOC": "conv3", "IT": "fc1"}},
    "stats": {"n_permutations": 999, "n_bootstrap": 100, "generalise_over": ["stimuli"]},
    "encoding": {"enabled": True, "inner_folds": 3, "features": {"pool_size": 2}},
}
LAYERS = ["conv1", "conv2", "conv3", "fc1", "fc2"]
FIGURES = ["architecture", "training_dynamics", "filters", "drift", "rsa_by_roi", "hierarchy", "seeds",
           "layer_heatmap", "noise_normalised", "pairwise", "subjects", "partial", "encoding_by_roi",
           "rsa_vs_encoding"]
# The figures drawn from the RSA and encoding scores and statistics tables.
RESULT_FIGURES = {f"plot_{name}" for name in FIGURES[4:]}
ENCODING_RULES = {"select_encoding_stimuli", "extract_encoding_activations", "prepare_encoding_responses", "fit_encoding",
                  "collect_encoding_scores", "test_encoding", "summarise_encoding", "plot_encoding_by_roi",
                  "plot_rsa_vs_encoding"}


def snakemake(workdir: Path, *args: str, config: str = "tiny.yaml") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


def write_config(workdir: Path, config: dict, name: str = "tiny.yaml") -> None:
    (workdir / name).write_text(yaml.safe_dump(config, sort_keys=False))


def planned_jobs(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    assert result.returncode == 0, result.stdout + result.stderr
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        if match := re.match(r"^\s*(?:local)?rule (\w+):", line):  # indented inside a group job
            rule = match.group(1)
            jobs.append((rule, ""))
        elif rule and (match := re.match(r"^\s+wildcards: (.*)", line)):
            jobs[-1] = (rule, match.group(1))
    return jobs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, TINY)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir


def test_run_writes_every_output_of_the_contract(tiny_run):
    out = tiny_run / "results" / "tiny"
    for condition in ["untrained", "bp"]:
        for seed in [1, 2]:
            history = pd.read_csv(out / f"models/{condition}/seed-{seed}/history.tsv", sep="\t")
            assert list(history.columns[:6]) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
            assert list(history["epoch"]) == ([0, 1, 2] if condition == "bp" else [0])
            assert (out / f"models/{condition}/seed-{seed}/model.pt").stat().st_size > 0
            assert not (out / f"models/{condition}/seed-{seed}/checkpoint.pt").exists()
            with h5py.File(out / f"activations/{condition}/seed-{seed}.h5") as h5:
                stimuli = h5["stimuli"].asstr()[()].tolist()
                assert set(LAYERS) <= set(h5)
                assert h5["conv1"].shape == (16, 8) and h5["fc1"].shape == (16, 32)
            for layer in LAYERS:
                assert (out / f"rdms/model/{condition}/seed-{seed}/{layer}.npz").exists()
    table = pd.read_csv(out / "data/stimuli.tsv", sep="\t")
    assert table["stimulus"].tolist() == stimuli and len(stimuli) == 16
    for roi in ["V1", "LOC", "IT"]:
        for subject in ["sub-01", "sub-02", "group"]:
            assert (out / f"rdms/brain/{roi}/{subject}.npz").exists()
    assert (out / "rdms/pixel.npz").exists()
    assert (out / "logs/models/bp/seed-1/train.log").read_text().count("epoch") >= 3
    assert (out / "benchmarks/models/bp/seed-1/train.tsv").exists()


def test_scores_cover_every_condition_seed_layer_roi_and_subject(tiny_run):
    scores = pd.read_csv(tiny_run / "results/tiny/rsa/scores.tsv", sep="\t")
    assert list(scores.columns) == ["condition", "seed", "layer", "roi", "subject", "rho", "n_pairs"]
    assert len(scores) == 2 * 2 * len(LAYERS) * 3 * 3
    assert not scores.duplicated(["condition", "seed", "layer", "roi", "subject"]).any()
    assert scores["rho"].between(-1, 1).all() and (scores["n_pairs"] == 16 * 15 // 2).all()


def test_group_rdm_is_the_mean_of_the_subject_rdms(tiny_run):
    rdms = tiny_run / "results/tiny/rdms/brain/IT"
    subjects = [np.load(rdms / f"sub-0{i}.npz")["rdm"] for i in (1, 2)]
    np.testing.assert_allclose(np.load(rdms / "group.npz")["rdm"], (subjects[0] + subjects[1]) / 2)


def test_summary_table(tiny_run):
    summary = pd.read_csv(tiny_run / "results/tiny/stats/summary.tsv", sep="\t")
    assert summary[["roi", "layer"]].drop_duplicates().values.tolist() == [["V1", "conv1"], ["LOC", "conv3"], ["IT", "fc1"]]
    assert (summary["n_seeds"] == 2).all()
    markdown = (tiny_run / "results/tiny/stats/summary.md").read_text()
    assert all(f"| {roi} ({layer})" in markdown for roi, layer in [("V1", "conv1"), ("LOC", "conv3"), ("IT", "fc1")])


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_drawn_as_png_and_pdf(tiny_run, name):
    figures = tiny_run / "results/tiny/figures"
    image = np.asarray(Image.open(figures / f"{name}.png").convert("L"))
    assert image.shape[0] > 300 and image.std() > 10, "the figure is blank"
    pdf = (figures / f"{name}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000


def test_nothing_left_to_do_after_a_run(tiny_run):
    assert planned_jobs(snakemake(tiny_run, "-n")) == []


# Keys of TINY that hold their default, and a section it leaves out.
TINY_DEFAULTS = ("demo.seed", "training_data.seed", "conditions.bp.lr")
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def tiny_spellings():
    return spellings(TINY, validate_config(TINY, SCHEMA), TINY_DEFAULTS, empty="figures")


def rerun_reasons(result: subprocess.CompletedProcess) -> str:
    """The distinct reasons a dry run gives for the jobs it plans, but the consequential one."""
    reasons = re.findall(r"^\s+reason: (.*)$", result.stdout, flags=re.M)
    return "\n".join(dict.fromkeys(r[:600] for r in reasons if not r.startswith("Input files updated by another job")))


@pytest.mark.parametrize("spelling", list(tiny_spellings()))
def test_the_same_settings_written_differently_rerun_nothing(tiny_run, spelling):
    """Snakemake compares the repr of every param with the one it recorded: key order, a default
    written out or left out, 1e-3 for 0.001 or 5.0 for 5 must not change it."""
    (tiny_run / "spelling.yaml").write_text(tiny_spellings()[spelling]())
    result = snakemake(tiny_run, "-n", config="spelling.yaml")
    jobs = planned_jobs(result)
    assert jobs == [] and "Nothing to be done" in result.stdout + result.stderr, (
        f"{len(jobs)} jobs planned:\n{rerun_reasons(result)}")


def job_params(workdir: Path, config_text: str, name: str) -> dict[str, dict]:
    """What Snakemake would record of every job's params for this config (tests/job_params.py)."""
    (workdir / name).write_text(config_text)
    result = subprocess.run([sys.executable, str(REPO / "tests" / "job_params.py"), str(workdir), str(workdir / name)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def rdm_set_study(workdir: Path) -> dict:
    """The paper's study on a local RDM set and a local image folder (the rules it alone has)."""
    (workdir / "brain/images").mkdir(parents=True)
    rdms = (1 - np.eye(3))[None].repeat(3, axis=0)  # the DAG reads its subjects (3): subjects all
    np.savez(workdir / "brain/rdms.npz", stimuli=np.array(["a.jpg", "b.jpg", "c.jpg"]), V1=rdms, V2=rdms, LOC=rdms, IT=rdms)
    (workdir / "train").mkdir()
    study = yaml.safe_load((REPO / "config/config.yaml").read_text())
    study["training_data"] = {"source": "image_folder", "path": "train"}
    study["brain_data"] = {"type": "rdm_set", "source": "local", "rdm_file": "brain/rdms.npz",
                           "images_dir": "brain/images", "stimuli": "all",
                           "rois": {"V1": ["V1"], "V2": ["V2"], "LOC": ["LOC"], "IT": ["IT"]}}
    study["encoding"] = {"enabled": False}  # an RDM set has no trials to fit encoding models on
    return study


@pytest.mark.parametrize("study", ["paper", "rdm_set"])
def test_every_job_gets_the_same_plain_params_however_the_settings_are_written(tmp_path, study):
    """Every rule of the paper's study (downloads and all) and of an rdm_set study: the params
    Snakemake records are the same when the config is written with every default, keys and
    sets reversed, other number notations and paths spelt otherwise, and hold only the types a
    YAML file gives (a set's repr changes from run to run; a Path is not recorded at all)."""
    config = (rdm_set_study(tmp_path) if study == "rdm_set"
              else yaml.safe_load((REPO / "config/config.yaml").read_text()))
    rewritten = reversed_keys(reversed_sets(validate_config(config, SCHEMA)))
    if study == "rdm_set":
        rewritten = with_values(rewritten, {"brain_data.rdm_file": "./brain//rdms.npz",
                                            "brain_data.images_dir": "brain/images/", "training_data.path": "./train/"})
    as_written = job_params(tmp_path, yaml.safe_dump(config, sort_keys=False), "as_written.yaml")
    otherwise = job_params(tmp_path, other_number_notation(rewritten), "otherwise.yaml")
    assert {job: v["not_plain"] for job, v in as_written.items() if v["not_plain"]} == {}
    assert list(otherwise) == list(as_written)
    assert {job: v["params"] for job, v in otherwise.items() if v["params"] != as_written[job]["params"]} == {}


def test_changing_bp_lr_reruns_only_bp_and_what_depends_on_it(tiny_run):
    edited = copy.deepcopy(TINY)
    edited["conditions"]["bp"]["lr"] = 0.002
    write_config(tiny_run, edited, "edited.yaml")
    jobs = planned_jobs(snakemake(tiny_run, "-n", config="edited.yaml"))
    rules = {rule for rule, _ in jobs}
    assert sorted(w for r, w in jobs if r == "train_model") == ["condition=bp, seed=1", "condition=bp, seed=2"]
    assert all("condition=untrained" not in w for _, w in jobs)
    assert rules == {"train_model", "extract_activations", "compute_model_rdms", "score_model",
                     "collect_scores", "summarise_scores", "all", "extract_encoding_activations", "fit_encoding",
                     "collect_encoding_scores", "test_encoding", "summarise_encoding",
                     "run_roi_tests", "compare_conditions", "tabulate_partial_rsa", "tabulate_subject_scores",
                     "run_pixel_baseline_tests", "tabulate_pixel_baseline",  # bp's differences from the pixel RDM
                     "select_layers", "render_summary_table", "record_config", *RESULT_FIGURES,
                     "plot_training_dynamics", "plot_drift", "analyse_filters", "plot_filters"}


def test_changing_the_fdr_family_reruns_only_the_tables(tiny_run):
    edited = copy.deepcopy(TINY)
    edited["stats"]["fdr"] = {"family": "per_roi"}
    write_config(tiny_run, edited, "fdr.yaml")
    rules = {rule for rule, _ in planned_jobs(snakemake(tiny_run, "-n", config="fdr.yaml"))}
    assert rules == {"summarise_scores", "compare_conditions", "tabulate_partial_rsa", "tabulate_subject_scores", "all",
                     "tabulate_pixel_baseline", "render_summary_table", "record_config", "summarise_encoding",
                     "plot_rsa_by_roi", "plot_pairwise", "plot_subjects", "plot_partial", "plot_encoding_by_roi",
                     "plot_rsa_vs_encoding"}


def test_statistics_tables(tiny_run):
    stats = tiny_run / "results/tiny/stats"
    read = lambda name: pd.read_csv(stats / f"{name}.tsv", sep="\t")  # noqa: E731
    summary = read("summary")
    assert list(summary.columns[:9]) == ["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "rho_min",
                                         "rho_max", "rho_subject_mean"]
    assert {"rho_seed_average_rdm", "ci_low", "ci_high", "p", "p_fdr", "p_vs_reference", "p_vs_reference_fdr"} <= set(summary)
    assert summary["p"].between(1 / 1000, 1).all() and (summary["p_fdr"] >= summary["p"] - 1e-12).all()
    assert (summary["ci_low"] <= summary["ci_high"]).all() and summary["ci_low"].notna().all()
    assert summary.loc[summary["condition"] == "bp", "p_vs_reference"].notna().all()
    pairwise = read("pairwise")
    assert pairwise[["roi", "condition_a", "condition_b"]].values.tolist() == [
        ["V1", "bp", "untrained"], ["LOC", "bp", "untrained"], ["IT", "bp", "untrained"]]
    merged = summary.pivot(index="roi", columns="condition", values="rho_mean")
    np.testing.assert_allclose(pairwise.set_index("roi")["delta_rho"], (merged["bp"] - merged["untrained"])[pairwise["roi"]],
                               atol=1e-5)
    partial = read("partial")
    assert len(partial) == 3 * 2 and partial["rho_partial_mean"].between(-1, 1).all() and (partial["control"] == "pixel").all()
    ceiling = read("noise_ceiling")
    assert len(ceiling) == 3 * 4 and (ceiling["lower"] <= ceiling["upper"] + 1e-12).all()  # 2 subjects, mean, group
    assert ceiling["split_half_r_corrected"].notna().all() and (ceiling["n_split_half_stimuli"] == 4).all()
    subjects = read("subjects")
    assert len(subjects) == 3 * 2 * 3 and subjects.loc[subjects["subject"] == "mean", "nc_upper"].notna().all()
    layers = read("layers")
    assert len(layers) == 3 * len(LAYERS) * 2 and layers.groupby(["roi", "condition"])["best"].sum().eq(1).all()
    assert layers["mapped"].sum() == 3 * 2 and layers["rho_heldout"].notna().all()
    assert not list(stats.glob("**/*.tmp"))


def test_pixel_baseline_table(tiny_run):
    """Per ROI the pixel RDM's score against the group RDM, both subjects' and their mean,
    then each condition's difference from it at the ROI's layer."""
    table = pd.read_csv(tiny_run / "results/tiny/stats/pixel_baseline.tsv", sep="\t")
    assert list(table.columns) == ["roi", "layer", "test", "condition", "subject", "rho_pixel", "rho_condition",
                                   "delta_rho", "se", "df", "ci_low", "ci_high", "p", "p_fdr", "n_pairs",
                                   "n_boot_undefined"]
    expected = []
    for roi, layer in [("V1", "conv1"), ("LOC", "conv3"), ("IT", "fc1")]:
        expected += [[roi, layer, "score", "", s] for s in ["group", "sub-01", "sub-02", "mean"]]
        expected += [[roi, layer, "difference", c, "group"] for c in ["untrained", "bp"]]
    assert table[["roi", "layer", "test", "condition", "subject"]].fillna("").values.tolist() == expected
    score = table[table["test"] == "score"]
    assert score["rho_pixel"].between(-1, 1).all() and score["p"].between(1 / 1000, 1).all()
    group = score[score["subject"] != "mean"]
    assert (group["ci_low"] <= group["rho_pixel"]).all() and (group["rho_pixel"] <= group["ci_high"]).all()
    assert (table["n_pairs"] == 16 * 15 // 2).all()
    diff = table[table["test"] == "difference"]
    np.testing.assert_allclose(diff["delta_rho"], diff["rho_condition"] - diff["rho_pixel"], atol=2e-6)
    assert diff[["se", "df", "ci_low", "ci_high"]].notna().all().all()
    # 16 stimuli: an unbiased variance estimate can come out <= 0 (se 0, p undefined)
    assert (diff["p"].between(0, 1) | (diff["se"] == 0)).all() and diff["p"].notna().any()
    assert (diff["p_fdr"].isna() | (diff["p_fdr"] >= diff["p"] - 1e-12)).all()
    # rho_condition is summary.tsv's rho_mean; rho_pixel the group row's score
    summary = pd.read_csv(tiny_run / "results/tiny/stats/summary.tsv", sep="\t").set_index(["roi", "condition"])
    np.testing.assert_allclose(diff["rho_condition"], summary.loc[list(zip(diff["roi"], diff["condition"])), "rho_mean"],
                               atol=2e-6)
    by_roi = score[score["subject"] == "group"].set_index("roi")["rho_pixel"]
    np.testing.assert_allclose(diff["rho_pixel"], by_roi[diff["roi"]], atol=1e-12)


def test_a_single_target_builds_only_what_it_needs(tmp_path):
    write_config(tmp_path, TINY)
    jobs = planned_jobs(snakemake(tmp_path, "-n", "results/tiny/rsa/scores.tsv"))
    rules = {rule for rule, _ in jobs}
    assert "collect_scores" in rules and "train_model" in rules
    assert rules.isdisjoint({"summarise_scores", "plot_rsa_by_roi", "compute_pixel_rdm", "all", *ENCODING_RULES})


def test_an_rsa_only_run_plans_no_encoding_job(tmp_path):
    config = copy.deepcopy(TINY)
    config["encoding"]["enabled"] = False
    write_config(tmp_path, config)
    rules = {rule for rule, _ in planned_jobs(snakemake(tmp_path, "-n"))}
    assert "score_model" in rules and rules.isdisjoint(ENCODING_RULES)


def test_encoding_tables(tiny_run):
    out = tiny_run / "results/tiny"
    images = pd.read_csv(out / "data/encoding_stimuli.tsv", sep="\t")
    assert (images["fold"] == -1).sum() == 16 * 2 and (images["fold"] == 0).sum() == 4  # train_test protocol
    scores = pd.read_csv(out / "encoding/scores.tsv", sep="\t")
    assert len(scores) == 2 * 2 * len(LAYERS) * 3 * 2
    assert not scores.duplicated(["condition", "seed", "layer", "roi", "subject"]).any()
    assert (scores["n_fitted"] == 32).all() and (scores["n_held_out"] == 4).all() and (scores["n_voxels"] > 0).all()
    assert scores["mean_r"].between(-1, 1).all() and (scores["ceiling"] > 0).all()
    np.testing.assert_allclose(scores["normalised"], scores["mean_r"] / scores["ceiling"], rtol=1e-4)
    assert scores.loc[scores["layer"] == "conv1", "n_features"].eq(8 * 2 * 2).all()  # avgpool 2 x 2 of 8 channels
    with h5py.File(out / "encoding/fits/bp/seed-1.h5") as h5:
        assert sorted(h5["held_out"][()]) == images.index[images["fold"] == 0].tolist()
        n_voxels = scores.query("condition == 'bp' and seed == 1 and layer == 'fc1' and roi == 'IT' "
                                "and subject == 'sub-01'")["n_voxels"].item()
        assert h5["fc1/IT/sub-01/prediction_centred"].shape == (4, n_voxels)
    summary = pd.read_csv(out / "encoding/summary.tsv", sep="\t")
    assert summary[["roi", "layer", "condition"]].values.tolist() == [
        [roi, layer, c] for roi, layer in [("V1", "conv1"), ("LOC", "conv3"), ("IT", "fc1")] for c in ["untrained", "bp"]]
    mapped = scores.merge(summary[["roi", "layer"]].drop_duplicates())
    keys = list(zip(summary["roi"], summary["layer"], summary["condition"]))
    for column in ("mean_r", "median_r"):
        np.testing.assert_allclose(summary[column], mapped.groupby(["roi", "layer", "condition"], sort=False)[column]
                                   .mean().loc[keys], atol=1e-5)
    assert (summary["ci_low"] <= summary["mean_r"]).all() and (summary["mean_r"] <= summary["ci_high"]).all()
    assert summary.loc[summary["condition"] == "bp", "p_vs_reference"].notna().all()
    pairwise = pd.read_csv(out / "encoding/pairwise.tsv", sep="\t")
    assert pairwise[["roi", "condition_a", "condition_b"]].values.tolist() == [
        ["V1", "bp", "untrained"], ["LOC", "bp", "untrained"], ["IT", "bp", "untrained"]]
    assert not list((out / "encoding").glob("**/*.tmp"))


def test_report_has_every_figure_table_and_the_run_record(tiny_run):
    result = snakemake(tiny_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tiny_run / "report.html").read_text()
    for name in [*(f"{figure}.png" for figure in FIGURES), "summary.md", "pairwise.tsv", "noise_ceiling.tsv",
                 "pixel_baseline.tsv",
                 "architecture.tsv", "filters.tsv", "config.yaml", "software.tsv"]:
        assert name in html, name
    for caption in ["Encoding summary:", "Encoding pairwise comparisons", "Encoding scores of every model",
                    "RSA beside encoding"]:
        assert caption in html, caption
    for category in ["1. Study", "2. Training", "3. RSA", "4. Statistics", "5. Encoding models"]:
        assert category in html, category
    assert "Main result: model-brain RSA per ROI" in html and "Condition comparisons" in html


def test_lint_is_clean(tmp_path):
    write_config(tmp_path, TINY)
    result = snakemake(tmp_path, "--lint")
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_bad_config_fails_at_once_naming_the_key(tmp_path):
    bad = copy.deepcopy(TINY)
    bad["conditions"]["bp"]["lr"] = "fast"
    write_config(tmp_path, bad)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "config key conditions.bp.lr: 'fast' is not of type 'number'" in result.stdout + result.stderr


def test_bad_stats_config_fails_at_once_naming_the_key(tmp_path):
    bad = copy.deepcopy(TINY)
    bad["stats"]["reference"] = "fa"
    write_config(tmp_path, bad)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0 and "config key stats.reference: 'fa' is not a condition" in result.stdout + result.stderr
