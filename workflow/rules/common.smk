# Config validation, output paths, wildcard constraints and input functions; no rules.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from lrrsa.config import ConfigError, check_local_paths, load_schema, validate_config

try:
    _validated = validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
    check_local_paths(_validated)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()
config.update(_validated)

RESULTS = f"results/{config['run']}"
CONDITIONS = list(config["conditions"])
SEEDS = config["seeds"]
LAYERS = config["activations"]["layers"]
ROIS = list(config["brain_data"]["rois"])
SUBJECTS = config["brain_data"]["subjects"]


def results(path):
    """A path inside this run's results folder."""
    return f"{RESULTS}/{path}"


def log_of(path):
    """The log file that mirrors an output path."""
    return f"{RESULTS}/logs/{path}.log"


def benchmark_of(path):
    return f"{RESULTS}/benchmarks/{path}.tsv"


wildcard_constraints:
    condition="|".join(CONDITIONS),
    seed=r"\d+",
    layer="|".join(LAYERS),
    roi="|".join(ROIS),
    subject=r"sub-\d+",


# ---- data sources -------------------------------------------------------------
DEMO_TRAINING_ZIP = "resources/demo/training_images.zip"
DEMO_THINGS = "resources/demo/things"
CIFAR10_ARCHIVE = "resources/cifar10/cifar-10-python.tar.gz"


def training_source():
    """The file or folder prepare_training_set reads, per training_data.source."""
    data = config["training_data"]
    if data["source"] == "demo":
        return DEMO_TRAINING_ZIP
    return data["path"] or CIFAR10_ARCHIVE


def brain_betas_dir():
    brain = config["brain_data"]
    return f"{DEMO_THINGS}/betas_csv" if brain["source"] == "demo" else brain["betas_dir"]


def brain_images_dir():
    brain = config["brain_data"]
    return f"{DEMO_THINGS}/images" if brain["source"] == "demo" else brain["images_dir"]


def brain_inputs():
    """Inputs of rules that read the brain dataset: the generated demo folder, or the
    local folders themselves."""
    if config["brain_data"]["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"betas": brain_betas_dir(), "images": brain_images_dir()}


# ---- outputs ------------------------------------------------------------------
def model_rdms(condition, seed):
    return {layer: results(f"rdms/model/{condition}/seed-{seed}/{layer}.npz") for layer in LAYERS}


def brain_rdm_keys():
    return [(roi, subject) for roi in ROIS for subject in [*SUBJECTS, "group"]]


def brain_rdm_path(roi, subject):
    return results(f"rdms/brain/{roi}/{subject}.npz")


def all_outputs():
    return [
        *expand(results("models/{condition}/seed-{seed}/history.tsv"), condition=CONDITIONS, seed=SEEDS),
        results("rdms/pixel.npz"),
        results("rsa/scores.tsv"),
        results("stats/summary.tsv"),
        results("figures/rsa_by_roi.png"),
    ]
