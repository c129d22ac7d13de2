# Training: one job per (condition, seed) of the trained conditions.


rule train_model:
    input:
        results("data/training_set.npz"),
    output:
        model=results("models/{condition}/seed-{seed}/model.pt"),
        history=results("models/{condition}/seed-{seed}/history.tsv"),
    params:
        # Only this condition's hyperparameters: editing one condition reruns only its jobs.
        hyper=lambda w: config["conditions"][w.condition],
        model=config["model"],
        training=config["training"],
        device=config["device"],
    log:
        log_of("models/{condition}/seed-{seed}/train"),
    benchmark:
        benchmark_of("models/{condition}/seed-{seed}/train")
    wildcard_constraints:
        condition=TRAINED_PATTERN,
    threads: 2
    resources:
        # Killed for memory or time, a retry asks for more (--retries).
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 240 * attempt,
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_model.py"
