# The run record: its config and the software versions of every conda env.
from pathlib import Path

import snakemake as _snakemake

from lrrsa.provenance import env_file_packages


# Every conda env the rules name (envs/<name>.yaml): name -> env file. The Snakefile includes
# this file after every other rule file, so workflow.rules holds them all here.
ENV_FILES = sorted({Path(str(rule.conda_env)).name for rule in workflow.rules if isinstance(rule.conda_env, str)})
ENVS = {Path(name).stem: Path(workflow.basedir) / "envs" / name for name in ENV_FILES}


rule record_config:
    output:
        report(
            results("report/config.yaml"),
            caption="../report/config.rst",
            category="1. Study",
            subcategory="Run",
        ),
    params:
        # The whole validated config: this record is the one job that depends on every key.
        config=config,
    log:
        log_of("report/config"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/record_config.py"


# One job per conda env, run in that env: the versions its env file's packages have there.
for _env, _env_file in ENVS.items():

    rule:
        name:
            f"record_software_{_env}"
        output:
            results(f"report/software/{_env}.tsv"),
        params:
            env=_env,
            packages=env_file_packages(_env_file),
        log:
            log_of(f"report/software/{_env}"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        conda:
            f"../../envs/{_env_file.name}"
        script:
            "../scripts/record_env_software.py"


rule collect_software:
    input:
        [results(f"report/software/{env}.tsv") for env in ENVS],
    output:
        report(
            results("report/software.tsv"),
            caption="../report/software.rst",
            category="1. Study",
            subcategory="Run",
        ),
    params:
        snakemake_version=_snakemake.__version__,
        workflow_dir=workflow.basedir,
    log:
        log_of("report/software"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_software.py"
