# Statistics: the study's summary table.


rule summarise_scores:
    input:
        results("rsa/scores.tsv"),
    output:
        report(
            results("stats/summary.tsv"),
            caption="../report/summary.rst",
            category="Tables",
        ),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
    log:
        log_of("stats/summary"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summarise_scores.py"
