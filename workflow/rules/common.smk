# Config validation, the run's paths and its datasets, input functions; no rules.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from snakemake.resources import Resources

from lrrsa.config import (ConfigError, dataset_configs, load_schema, prepare_dataset, pretrained_conditions,
                          trained_conditions, validate_config)
from lrrsa.data.shared_downloads import THINGS_ARCHIVE_FILES, things_download_settings

try:
    _schema = load_schema(workflow.source_path("../schemas/config.schema.yaml"))
    _validated = validate_config(config, _schema)
    # Per dataset the one-dataset config its module reads: local paths checked, and the
    # subjects of `subjects: all` read from an rdm_set's or a recording's files.
    _dataset_configs = {}
    for _name, _view in dataset_configs(_validated, _schema).items():
        _dataset_configs[_name] = prepare_dataset(_view, _name)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
if None in _dataset_configs:
    _validated = _dataset_configs[None]
else:
    for _name, _view in _dataset_configs.items():
        _validated["brain_data"][_name]["subjects"] = _view["brain_data"]["subjects"]
config.clear()
config.update(_validated)

RESULTS = RUN_RESULTS = f"results/{config['run']}"
CONDITIONS = list(config["conditions"])
# The conditions the workflow trains, and the published reference networks (pretrained.smk).
TRAINED_CONDITIONS = trained_conditions(config)
TRAINED_PATTERN = "|".join(TRAINED_CONDITIONS)
PRETRAINED_CONDITIONS = pretrained_conditions(config)
SEEDS = config["seeds"]
LAYERS = config["activations"]["layers"]
# Training and extraction ask the scheduler for one GPU unless the run is CPU-only
# (`--resources gpu=N` caps concurrent GPU jobs on a workstation).
GPUS_PER_JOB = 0 if config["device"] == "cpu" else 1


include: "paths.smk"


# ---- brain datasets (each a module of rules/dataset.smk) --------------------------
def dataset_results(name):
    """A dataset's results folder: the run's own for one unnamed dataset, else a subfolder."""
    return RESULTS if name is None else f"{RESULTS}/{name}"


# name -> the config its module reads: the dataset's one-dataset config, and its place.
DATASETS = {
    name: {**view, "dataset": {"name": name, "results": dataset_results(name)}}
    for name, view in _dataset_configs.items()
}
# Dataset name -> the names of its rules (<name>_<rule>), as the Snakefile adds them.
DATASET_RULES = {}


def _profile_group(rule_name):
    """The group the profile gives rule_name, looked up when jobs are grouped: Snakemake
    reads the profile's groups after the workflow is parsed."""
    return lambda wildcards: workflow.group_settings.overwrite_groups.get(rule_name)


def apply_profile_to_dataset_rules():
    """Give a profile's per-rule settings (set-resources, groups), which name a dataset's
    rule once (extract_activations), to every named dataset's copy of it too
    (things_extract_activations), unless the profile names the copy itself: a GPU rule
    keeps its GPU partition and tiny jobs their group jobs in a run of several datasets.
    Call after the datasets' rules exist."""
    overwrite_resources = workflow.resource_settings.overwrite_resources
    for name in [name for name in DATASETS if name is not None]:
        for dataset_copy in map(workflow.get_rule, sorted(DATASET_RULES[name])):
            rule_name = dataset_copy.name.removeprefix(f"{name}_")
            if rule_name in overwrite_resources and dataset_copy.name not in overwrite_resources:
                dataset_copy.resources.update(Resources.from_mapping(overwrite_resources[rule_name]))
            dataset_copy.group = _profile_group(rule_name)


# The stimulus image sizes the networks are shown (the architecture table lists each).
BRAIN_IMAGE_SIZES = sorted({view["brain_data"]["image_size"] for view in DATASETS.values()})
# Every dataset's ROIs and the layers they read ("IT (macaque)" where datasets are named).
ROI_LAYERS = {
    roi if name is None else f"{roi} ({name})": layer
    for name, view in DATASETS.items()
    for roi, layer in view["rsa"]["layer_map"].items()
}


def check_stats_config():
    """Cross-key rules of the stats section, named by key before anything runs."""
    stats = config["stats"]
    problems = []
    if stats["reference"] is not None and stats["reference"] not in CONDITIONS:
        problems.append(f"config key stats.reference: {stats['reference']!r} is not a condition ({CONDITIONS}); "
                        "name one, or null")
    if stats["ci_method"] == "bca" and (stats["bootstrap_scheme"] != "stimuli" or stats["bootstrap_subjects"]):
        problems.append("config key stats.ci_method: bca needs bootstrap_scheme stimuli and bootstrap_subjects "
                        "false (its jackknife leaves out one stimulus); use percentile")
    if problems:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))


check_stats_config()


# ---- across datasets (across_datasets.smk) ---------------------------------------
NAMED_DATASETS = [name for name in DATASETS if name is not None]
DATASET_LAYER_MAPS = {name: DATASETS[name]["rsa"]["layer_map"] for name in NAMED_DATASETS}
# The pairs of datasets with an ROI in common, in the order of brain_data.
DATASET_PAIRS = [
    (a, b)
    for i, a in enumerate(NAMED_DATASETS)
    for b in NAMED_DATASETS[i + 1 :]
    if set(DATASET_LAYER_MAPS[a]) & set(DATASET_LAYER_MAPS[b])
]


def across_dataset_outputs():
    if not DATASET_PAIRS:
        return []
    tables = [results(f"across_datasets/{table}.tsv") for table in ["rank_agreement", "scores", "pixel_baseline"]]
    figures = [results(f"across_datasets/figures/agreement_{a}-{b}.{ext}") for a, b in DATASET_PAIRS
               for ext in ["png", "pdf"]]
    return tables + figures


# ---- downloads shared by datasets (downloads.smk) ----------------------------------
# Each THINGS archive some dataset reads from the download -> its download settings.
THINGS_DOWNLOADS = {
    archive: settings
    for archive in THINGS_ARCHIVE_FILES
    if (settings := things_download_settings(config, archive)) is not None
}


# ---- training data (training_data.smk) ----------------------------------------------
# What the demo's training images depend on, which names their file: runs with other
# settings in the same folder keep their own images.
DEMO_TRAINING = {key: config["demo"][key] for key in ("seed", "train_per_class", "test_per_class")}
DEMO_TRAINING_ZIP = ("resources/demo/training/seed-{seed}_train-{train_per_class}_test-{test_per_class}.zip"
                     .format(**DEMO_TRAINING))
CIFAR10_ARCHIVE = "resources/cifar10/cifar-10-python.tar.gz"


def training_source():
    """The file or folder prepare_training_set reads, per training_data.source."""
    data = config["training_data"]
    if data["source"] == "demo":
        return DEMO_TRAINING_ZIP
    return data["path"] or CIFAR10_ARCHIVE


# ---- pretrained reference networks (pretrained.smk) ---------------------------------
if PRETRAINED_CONDITIONS:
    from lrrsa.pretrained import WEIGHTS_DIR, weights_location

# Each published weights file the run downloads (no weights_file): its file name -> the
# (architecture, weights) torchvision fetches it as.
PRETRAINED_DOWNLOADS = {
    Path(weights_location(config["conditions"][c])).name: (config["conditions"][c]["architecture"],
                                                            config["conditions"][c]["weights"])
    for c in PRETRAINED_CONDITIONS
    if not config["conditions"][c]["weights_file"]
}


def pretrained_weights_to_fetch():
    return [f"{WEIGHTS_DIR}/{name}" for name in PRETRAINED_DOWNLOADS]


# ---- outputs ------------------------------------------------------------------
# The run's figures of the trained networks, one rule each in models.smk.
MODEL_FIGURES = ["architecture", "training_dynamics", "filters", "drift"]


def every_dataset_output():
    """Every output of every dataset: the inputs of its module's dataset_all rule."""
    return [path for name in DATASETS for path in getattr(rules, f"{name}_dataset_all" if name else "dataset_all").input]


def run_outputs():
    """The run's own outputs: the networks, their figures and the run's record."""
    return [
        *expand(results("models/{condition}/seed-{seed}/history.tsv"), condition=TRAINED_CONDITIONS, seed=SEEDS),
        *pretrained_weights_to_fetch(),
        results("models/architecture.tsv"),
        results("stats/filters.tsv"),
        *expand(results("figures/{name}.{ext}"), name=MODEL_FIGURES, ext=["png", "pdf"]),
        results("report/config.yaml"),
        results("report/software.tsv"),
    ]
