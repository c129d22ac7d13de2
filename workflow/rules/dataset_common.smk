# One dataset's paths and input functions shared by every dataset type; no rules. Its
# config is the run's config with this dataset as brain_data (lrrsa.config.dataset_configs)
# and, under `dataset`, the dataset's name and results folder, as the Snakefile passes them.
#
# Each brain_data.type has <type>_inputs.smk (its paths, flags and input functions) and
# <type>.smk (its rules); dataset.smk includes this dataset's two. The shared stages
# (activations, rdm, rsa, stats, figures, summary) rely on them only through this interface:
#   files its rules write:  results("data/stimuli.tsv"); each subject's brain RDMs
#       brain_rdm_path(roi, subject), one job per subject for all ROIs; where it has them,
#       results("rdms/brain_split/{roi}.npz") and results("data/roi_voxels.tsv").
#   functions:  brain_inputs()      inputs of jobs that read the stimulus images
#               brain_images_dir()  the folder holding object_images/<concept>/<stimulus>
#               split_half_rdms()   the split-half RDM files, or []
#               brain_reports()     files describing the brain data (roi_voxels.tsv), or []
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from lrrsa.config import pretrained_conditions, trained_conditions
from lrrsa.significance import encoding_interval_label, interval_label

# This dataset's outputs: results/<run>/<dataset>/, or results/<run>/ for a run's one
# unnamed dataset; the trained networks are the run's (RUN_RESULTS).
DATASET = config["dataset"]["name"]
RESULTS = config["dataset"]["results"]
RUN_RESULTS = f"results/{config['run']}"
CONDITIONS = list(config["conditions"])
# Trained networks are read from the run's models/; a pretrained reference network from
# its weights (each dataset extracts it once: activations.smk).
TRAINED_CONDITIONS = trained_conditions(config)
TRAINED_PATTERN = "|".join(TRAINED_CONDITIONS)
PRETRAINED_CONDITIONS = pretrained_conditions(config)
PRETRAINED_PATTERN = "|".join(PRETRAINED_CONDITIONS)
if PRETRAINED_CONDITIONS:
    from lrrsa.pretrained import weights_location
SEEDS = config["seeds"]
LAYERS = config["activations"]["layers"]
ROIS = list(config["brain_data"]["rois"])
SUBJECTS = config["brain_data"]["subjects"]
GPUS_PER_JOB = 0 if config["device"] == "cpu" else 1


include: "paths.smk"


def report_category(title):
    """The report category of this dataset's results: one group per named dataset."""
    return title if DATASET is None else f"{DATASET}: {title}"


wildcard_constraints:
    roi="|".join(ROIS),
    subject="|".join(re.escape(subject) for subject in SUBJECTS),


# ---- data sources -------------------------------------------------------------
# Brain data (docs/DATA.md): the type's own paths and inputs are in <type>_inputs.smk.
BRAIN = config["brain_data"]
# The selected stimuli's images, per run (extracted from the THINGS archive, linked from
# an rdm_set, or taken from a recording's stimulus set).
STIMULUS_IMAGES = results("data/images")


def stimulus_list_input():
    return {"stimulus_list": BRAIN["stimulus_list"]} if BRAIN["stimuli"] == "list" else {}


# ---- encoding models (encoding.smk) -------------------------------------------------
# The encoding settings and outputs (figures.smk draws its figures); encoding.smk itself,
# THINGS-fMRI only, is included by things_fmri.smk.
ENCODING = config["encoding"]
# The feature transform of every encoding fit (trained networks and references alike).
ENCODING_TRANSFORM = {
    "method": ENCODING["features"]["transform"],
    "n_components": ENCODING["features"]["n_components"],
    "seed": config["stats"]["seed"],
}
# The ROIs whose mapped layer the encoding statistics test, in the order of ROIS.
_ENCODING_MAP = ENCODING["layer_map"] or config["rsa"]["layer_map"]
ENCODING_LAYER_MAP = {roi: _ENCODING_MAP[roi] for roi in ROIS if roi in _ENCODING_MAP}


def encoding_outputs():
    """The encoding tables and figures, when encoding.enabled."""
    if not ENCODING["enabled"]:
        return []
    return [results(f"encoding/{table}.tsv") for table in ["scores", "tests", "summary", "pairwise"]] + expand(
        results("figures/{name}.{ext}"), name=ENCODING_FIGURES, ext=["png", "pdf"]
    )


# ---- outputs ------------------------------------------------------------------
def model_rdms(condition, seed):
    return {layer: results(f"rdms/model/{condition}/seed-{seed}/{layer}.npz") for layer in LAYERS}


def brain_rdm_keys():
    return [(roi, subject) for roi in ROIS for subject in [*SUBJECTS, "group"]]


def brain_rdm_path(roi, subject):
    return results(f"rdms/brain/{roi}/{subject}.npz")


# ---- statistics (stats.smk) -----------------------------------------------------
# The ROIs with a mapped layer are tested; the noise ceiling and layers table cover all.
STATS_ROIS = [roi for roi in config["rsa"]["layer_map"] if roi in ROIS]


def mapped_model_rdms(roi):
    """Every condition x seed RDM of the layer rsa.layer_map maps to this ROI, condition-major."""
    layer = config["rsa"]["layer_map"][roi]
    return [results(f"rdms/model/{c}/seed-{s}/{layer}.npz") for c in CONDITIONS for s in SEEDS]


def stats_tests():
    """Every test table the study tables read: one per mapped ROI, and the pixel baseline's
    (all of them, so that an FDR family spanning kinds is the same in every table)."""
    return [*[results(f"stats/tests/{roi}.tsv") for roi in STATS_ROIS], PIXEL_TESTS]


# The pixel RDM's own score in every ROI and each condition's test against it (one job).
PIXEL_TESTS = results("stats/tests/pixel_baseline.tsv")
# The layers rsa.layer_map maps the tested ROIs to, each once, in the order of STATS_ROIS.
MAPPED_LAYERS = list(dict.fromkeys(config["rsa"]["layer_map"][roi] for roi in STATS_ROIS))


def pixel_baseline_models():
    """Every condition x seed RDM of each mapped layer (MAPPED_LAYERS), layer-major, then
    condition-major, the order run_pixel_baseline_tests reads them in."""
    return [results(f"rdms/model/{c}/seed-{s}/{layer}.npz") for layer in MAPPED_LAYERS for c in CONDITIONS
            for s in SEEDS]


# What the per-ROI tests use of the stats section; the FDR and reference keys only
# change the tables, so editing them reruns only the tables.
ROI_TEST_KEYS = ["n_permutations", "permutation_scheme", "inference", "generalise_over", "n_bootstrap",
                 "bootstrap_scheme", "bootstrap_subjects", "ci_method", "ci_level", "seed"]


# Figures of the dataset, one rule each (PNG for the report, PDF for papers), in figures.smk.
FIGURES = [
    "rsa_by_roi", "hierarchy", "seeds", "layer_heatmap", "noise_normalised",  # RSA results
    "pairwise", "subjects", "partial",  # statistics
]
ENCODING_FIGURES = ["encoding_by_roi", "rsa_vs_encoding"]  # figures.smk, encoding models


def dataset_outputs():
    """Every output of this dataset."""
    return [
        results("rdms/pixel.npz"),
        *brain_reports(),
        results("rsa/scores.tsv"),
        *[results(f"stats/{table}.tsv") for table in ["summary", "pairwise", "partial", "noise_ceiling", "subjects",
                                                       "pixel_baseline", "layers"]],
        results("stats/summary.md"),
        *([results("stats/paper_comparison.tsv")] if config["paper_comparison"] else []),
        *expand(results("figures/{name}.{ext}"), name=FIGURES, ext=["png", "pdf"]),
        *encoding_outputs(),
    ]
