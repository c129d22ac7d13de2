# The analysis of one brain dataset, a Snakemake module the Snakefile uses once per
# dataset: its brain data and stimuli, the run's networks' activations on them, RDMs,
# RSA, statistics, encoding models, figures and tables, under the dataset's results
# folder. Its config is the run's with this dataset as brain_data (lrrsa.config.dataset_view).


include: "dataset_common.smk"
# The dataset's type: its paths and input functions, then its rules (the interface they
# provide: dataset_common.smk). things_fmri.smk includes encoding.smk.
include: f"{config['brain_data']['type']}_inputs.smk"
include: f"{config['brain_data']['type']}.smk"
include: "activations.smk"
include: "rdm.smk"
include: "rsa.smk"
include: "stats.smk"
include: "figures.smk"
include: "summary.smk"


rule dataset_all:
    input:
        dataset_outputs(),
    localrule: True
