# RSA: every layer of every model against every brain RDM.


rule score_model:
    input:
        model=lambda w: list(model_rdms(w.condition, w.seed).values()),
        brain=[brain_rdm_path(roi, subject) for roi, subject in brain_rdm_keys()],
    output:
        results("rsa/scores/{condition}/seed-{seed}.tsv"),
    params:
        layers=LAYERS,
        brain_keys=[[roi, subject] for roi, subject in brain_rdm_keys()],
        method=config["rsa"]["method"],
    log:
        log_of("rsa/scores/{condition}/seed-{seed}"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/score_model.py"


rule collect_scores:
    input:
        expand(results("rsa/scores/{condition}/seed-{seed}.tsv"), condition=CONDITIONS, seed=SEEDS),
    output:
        results("rsa/scores.tsv"),
    log:
        log_of("rsa/scores"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_scores.py"
