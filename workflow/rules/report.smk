# The reader's tables and the run record: summary.md, the paper comparison, config, versions.
from pathlib import Path

import snakemake as _snakemake

from lrrsa.provenance import env_file_packages

# The published values, shipped with the workflow (README.md beside them).
PAPER_VALUES = str(Path(workflow.basedir) / "workflow" / "resources" / "paper" / "leutenegger2026.tsv")
# Stats keys the legend of summary.md states (the tables' own inputs change with all of them).
SUMMARY_MD_KEYS = ["n_permutations", "permutation_scheme", "inference", "generalise_over", "n_bootstrap",
                   "bootstrap_scheme", "bootstrap_subjects", "ci_method", "ci_level", "reference", "fdr"]


# Every conda env the rules name (envs/<name>.yaml): name -> env file. The Snakefile includes
# this file after every other rule file, so workflow.rules holds them all here.
ENV_FILES = sorted({Path(str(rule.conda_env)).name for rule in workflow.rules if isinstance(rule.conda_env, str)})
ENVS = {Path(name).stem: Path(workflow.basedir) / "envs" / name for name in ENV_FILES}


rule render_summary_table:
    input:
        results("stats/summary.tsv"),
    output:
        report(
            results("stats/summary.md"),
            caption="../report/summary_md.rst",
            category="3. RSA",
            subcategory="Tables",
        ),
    params:
        run=config["run"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        stats={key: config["stats"][key] for key in SUMMARY_MD_KEYS},
    log:
        log_of("stats/summary_md"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/render_summary_table.py"


rule compare_with_paper:
    input:
        published=PAPER_VALUES,
        summary=results("stats/summary.tsv"),
        partial=results("stats/partial.tsv"),
        histories=expand(results("models/{condition}/seed-{seed}/history.tsv"), condition=CONDITIONS, seed=SEEDS),
    output:
        report(
            results("stats/paper_comparison.tsv"),
            caption="../report/paper_comparison.rst",
            category="6. Paper comparison",
            subcategory="Tables",
        ),
    params:
        models=[[c, s] for c in CONDITIONS for s in SEEDS],
    log:
        log_of("stats/paper_comparison"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compare_with_paper.py"


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
