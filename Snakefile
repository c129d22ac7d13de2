# Learning-rule RSA: does the learning rule that trains a CNN decide how closely
# its representations match human visual cortex?
#
#   snakemake --cores 2 --configfile config/demo.yaml     # the embedded demo
#   snakemake --cores 8 --use-conda                       # the paper's study
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the paper's config instead of being merged into it, so
# a run is described by exactly one file.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/downloads.smk"
include: "workflow/rules/training_data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/models.smk"


# Each brain dataset: the rules of rules/dataset.smk with its config, writing under its
# own folder. A run's one unnamed dataset keeps the rule names and writes at the run's
# top level; named datasets prefix both with their name (things_compute_brain_rdms).
for _name, _dataset_config in DATASETS.items():
    dataset_module = "dataset" if _name is None else f"dataset_{_name}"
    dataset_rules = "" if _name is None else f"{_name}_"
    _rules_before = {r.name for r in workflow.rules}

    module:
        name:
            dataset_module
        snakefile:
            "workflow/rules/dataset.smk"
        config:
            _dataset_config

    use rule * from dataset_module as dataset_rules*

    DATASET_RULES[_name] = {r.name for r in workflow.rules} - _rules_before


apply_profile_to_dataset_rules()


include: "workflow/rules/across_datasets.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        run_outputs(),
        every_dataset_output(),
        *across_dataset_outputs(),
    default_target: True
