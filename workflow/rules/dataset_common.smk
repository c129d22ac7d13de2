# One dataset's paths, flags and input functions; no rules. Its config is the run's
# config with this dataset as brain_data (lrrsa.config.dataset_configs) and, under
# `dataset`, the dataset's name and results folder, as the Snakefile passes them.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from lrrsa.config import pretrained_conditions, trained_conditions
from lrrsa.data.shared_downloads import THINGS_ARCHIVE_FILES
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
DEMO_THINGS = "resources/demo/things"


# Brain data (docs/DATA.md). things_fmri + download: betas_csv.zip -> each subject's
# files (metadata and responses apart) -> stimulus table -> the selected stimuli's
# images out of images_THINGS.zip (both archives downloaded once per run: downloads.smk).
# A local folder or zip named in the config replaces the download of its archive.
# rdm_set: the RDM file + images -> stimulus table and images -> one RDM per ROI and subject.
BRAIN = config["brain_data"]
THINGS_FMRI = BRAIN["type"] == "things_fmri"
RDM_SET = BRAIN["type"] == "rdm_set"
NEURAL_ASSEMBLY = BRAIN["type"] == "neural_assembly"
THINGS_BETAS = "resources/things-fmri/betas_csv"
# The selected stimuli's images, per run (extracted from the zip, or linked from an rdm_set).
STIMULUS_IMAGES = results("data/images")
# Which archives this dataset extracts (downloaded, where no local zip is named).
EXTRACT_BETAS = THINGS_FMRI and BRAIN["source"] == "download" and not BRAIN["betas_dir"]
EXTRACT_IMAGES = THINGS_FMRI and BRAIN["source"] == "download" and not BRAIN["images_dir"]
# neural_assembly (neural_assembly.smk): where the run reads the assembly, its stimulus
# CSV and images (generated, downloaded, local, or rebuilt from THINGS ids and images).
if NEURAL_ASSEMBLY:
    from lrrsa.data import neural_assembly

    ASSEMBLY = neural_assembly.dataset_files(BRAIN, RESULTS)
    THINGS_STIMULI = BRAIN["source"] != "demo" and neural_assembly.things_images(BRAIN)


def brain_betas_dir():
    """The betas_csv folder the brain jobs read (generated, extracted or local)."""
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/betas_csv"
    return THINGS_BETAS if EXTRACT_BETAS else BRAIN["betas_dir"]


def brain_images_dir():
    """The folder holding object_images/<concept>/<stimulus> that models and pixel RDM read."""
    if NEURAL_ASSEMBLY:
        return STIMULUS_IMAGES
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/images"
    return STIMULUS_IMAGES if RDM_SET or EXTRACT_IMAGES else BRAIN["images_dir"]


def betas_zip():
    return BRAIN["betas_zip"] or THINGS_ARCHIVE_FILES["betas"]


def images_zip():
    return BRAIN["images_zip"] or THINGS_ARCHIVE_FILES["images"]


def subject_file(subject, kind):
    """One file of a subject in the betas folder; kind: ResponseData.h5, VoxelMetadata.csv, ..."""
    return f"{brain_betas_dir()}/{subject}_{kind}"


def roi_masks(roi, subjects):
    """The NIfTI mask files among an ROI's items, for these subjects."""
    items = BRAIN["rois"][roi] if not RDM_SET else []
    masks = [i for i in items if i.lower().endswith((".nii", ".nii.gz"))]
    return list(dict.fromkeys(m.replace("{subject}", s) for m in masks for s in subjects))


def brain_subject_inputs(subject, kinds=("ResponseData.h5", "VoxelMetadata.csv", "StimulusMetadata.csv")):
    """Inputs that hold a subject's THINGS-fMRI files: the generated demo folder, or the files."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {kind.split(".")[0]: subject_file(subject, kind) for kind in kinds}


def brain_rdm_inputs(subject, rois=ROIS):
    """Inputs of one subject's brain RDMs of these ROIs."""
    if NEURAL_ASSEMBLY:
        return {"assembly": ASSEMBLY["assembly"], "stimulus_csv": ASSEMBLY["stimulus_csv"]}
    if RDM_SET:
        return {"rdm_set": BRAIN["rdm_file"]}
    masks = [mask for roi in rois for mask in roi_masks(roi, [subject])]
    return {**brain_subject_inputs(subject), "roi_masks": list(dict.fromkeys(masks))}


def stimulus_list_input():
    return {"stimulus_list": BRAIN["stimulus_list"]} if BRAIN["stimuli"] == "list" else {}


def brain_metadata_inputs():
    """Every subject's StimulusMetadata (or the generated demo folder that holds them)."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"metadata": [subject_file(s, "StimulusMetadata.csv") for s in SUBJECTS]}


def stimulus_selection_inputs():
    """Inputs of select_stimuli: every subject's StimulusMetadata (and, where the images
    are already unpacked, their folder, so the selection checks them)."""
    inputs = {**stimulus_list_input(), **brain_metadata_inputs()}
    if BRAIN["source"] == "demo":
        return inputs
    if not EXTRACT_IMAGES:
        inputs["images"] = brain_images_dir()
    return inputs


def roi_count_inputs():
    """Inputs of count_roi_voxels: every subject's VoxelMetadata and the NIfTI masks."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {
        "voxels": [subject_file(s, "VoxelMetadata.csv") for s in SUBJECTS],
        "roi_masks": [m for roi in ROIS for m in roi_masks(roi, SUBJECTS)],
    }


def brain_inputs():
    """Inputs of rules that read the stimulus images: the generated demo folder, the
    images extracted or linked for this run, or the local images folder."""
    if NEURAL_ASSEMBLY:
        return {"images": STIMULUS_IMAGES}
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"images": brain_images_dir()}


# ---- encoding models (encoding.smk) -------------------------------------------------
ENCODING = config["encoding"]
# The ROIs whose mapped layer the encoding statistics test, in the order of ROIS.
_ENCODING_MAP = ENCODING["layer_map"] or config["rsa"]["layer_map"]
ENCODING_LAYER_MAP = {roi: _ENCODING_MAP[roi] for roi in ROIS if roi in _ENCODING_MAP}
# The encoding images extracted from the THINGS archive, per run (downloaded archives only).
ENCODING_IMAGES = results("data/encoding_images")


def encoding_images_dir():
    """The folder holding object_images/<concept>/<stimulus> of the encoding images."""
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/images"
    return ENCODING_IMAGES if EXTRACT_IMAGES else BRAIN["images_dir"]


def encoding_image_inputs():
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"images": encoding_images_dir()}


def encoding_outputs():
    """The encoding tables and figures, when encoding.enabled."""
    if not ENCODING["enabled"]:
        return []
    return [results(f"encoding/{table}.tsv") for table in ["scores", "tests", "summary", "pairwise"]] + expand(
        results("figures/{name}.{ext}"), name=ENCODING_FIGURES, ext=["png", "pdf"]
    )


def brain_reports():
    """Outputs that describe the brain data (voxel counts per ROI and subject)."""
    return [] if RDM_SET else [results("data/roi_voxels.tsv")]


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


def split_half_inputs(roi):
    """Inputs of compute_split_half_rdms: every subject's brain files for this ROI."""
    inputs = {}
    for subject in SUBJECTS:
        for key, value in brain_rdm_inputs(subject, [roi]).items():
            inputs.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return {key: list(dict.fromkeys(values)) for key, values in inputs.items()}


# What the per-ROI tests use of the stats section; the FDR and reference keys only
# change the tables, so editing them reruns only the tables.
ROI_TEST_KEYS = ["n_permutations", "permutation_scheme", "inference", "generalise_over", "n_bootstrap",
                 "bootstrap_scheme", "bootstrap_subjects", "ci_method", "ci_level", "seed"]


def split_half_rdms():
    """Odd/even-session brain RDMs per ROI (THINGS-fMRI only: an rdm_set has no trials)."""
    return [] if RDM_SET else [results(f"rdms/brain_split/{roi}.npz") for roi in ROIS]


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
