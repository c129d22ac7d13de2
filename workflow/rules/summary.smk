# The reader's tables of one dataset: summary.md and the paper comparison.
from pathlib import Path

# The published values, shipped with the workflow (README.md beside them).
PAPER_VALUES = str(Path(workflow.basedir) / "workflow" / "resources" / "paper" / "leutenegger2026.tsv")
# Stats keys the legend of summary.md states (the tables' own inputs change with all of them).
SUMMARY_MD_KEYS = ["n_permutations", "permutation_scheme", "inference", "generalise_over", "n_bootstrap",
                   "bootstrap_scheme", "bootstrap_subjects", "ci_method", "ci_level", "reference", "fdr"]


rule render_summary_table:
    input:
        results("stats/summary.tsv"),
    output:
        report(
            results("stats/summary.md"),
            caption="../report/summary_md.rst",
            category=report_category("3. RSA"),
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
        histories=expand(run_results("models/{condition}/seed-{seed}/history.tsv"), condition=TRAINED_CONDITIONS,
                         seed=SEEDS),
    output:
        report(
            results("stats/paper_comparison.tsv"),
            caption="../report/paper_comparison.rst",
            category=report_category("6. Paper comparison"),
            subcategory="Tables",
        ),
    params:
        models=[[c, s] for c in TRAINED_CONDITIONS for s in SEEDS],
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
