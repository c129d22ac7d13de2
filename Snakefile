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
include: "workflow/rules/data.smk"
include: "workflow/rules/neural_assembly.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/rdm.smk"
include: "workflow/rules/rsa.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/encoding.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
