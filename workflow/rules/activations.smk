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
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/extract_activations.py"
