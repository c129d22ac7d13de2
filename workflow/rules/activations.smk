# Activations: each model's responses to the brain stimuli, cached in one HDF5 file.


rule extract_activations:
    input:
        unpack(lambda w: brain_inputs()),
        model=run_results("models/{condition}/seed-{seed}/model.pt"),
        stimuli=results("data/stimuli.tsv"),
    output:
        results("activations/{condition}/seed-{seed}.h5"),
    params:
        images_dir=brain_images_dir(),
        image_size=config["brain_data"]["image_size"],
        activations=config["activations"],
        device=config["device"],
    log:
        log_of("activations/{condition}/seed-{seed}"),
    benchmark:
        benchmark_of("activations/{condition}/seed-{seed}")
    wildcard_constraints:
        condition=TRAINED_PATTERN,
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/extract_activations.py"


if PRETRAINED_CONDITIONS:

    # A reference network is the same for every seed: one extraction, a copy per seed.
    rule extract_pretrained_activations:
        input:
            unpack(lambda w: brain_inputs()),
            weights=lambda w: weights_location(config["conditions"][w.condition]),
            stimuli=results("data/stimuli.tsv"),
        output:
            expand(results("activations/{{condition}}/seed-{seed}.h5"), seed=SEEDS),
        params:
            reference=lambda w: config["conditions"][w.condition],
            images_dir=brain_images_dir(),
            image_size=config["brain_data"]["image_size"],
            activations=config["activations"],
            device=config["device"],
        wildcard_constraints:
            condition=PRETRAINED_PATTERN,
        log:
            log_of("activations/{condition}/pretrained"),
        benchmark:
            benchmark_of("activations/{condition}/pretrained")
        threads: 2
        resources:
            mem_mb=lambda wildcards, attempt: 8000 * attempt,
            runtime=lambda wildcards, attempt: 60 * attempt,
            gpu=GPUS_PER_JOB,
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/extract_pretrained_activations.py"

