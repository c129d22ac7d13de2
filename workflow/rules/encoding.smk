# Encoding models: the protocol's images, their activations, each subject's responses, the
# ridge fits of every model, and the statistics (docs/STATISTICS.md, "Encoding models").


rule select_encoding_stimuli:
    input:
        unpack(lambda w: brain_metadata_inputs()),
    output:
        results("data/encoding_stimuli.tsv"),
    params:
        betas_dir=brain_betas_dir(),
        subjects=SUBJECTS,
        protocol=ENCODING["protocol"],
        n_folds=ENCODING["n_folds"],
        seed=config["stats"]["seed"],
    log:
        log_of("data/encoding_stimuli"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/select_encoding_stimuli.py"


if EXTRACT_IMAGES:

    rule extract_encoding_images:
        input:
            archive=images_zip(),
            stimuli=results("data/encoding_stimuli.tsv"),
        output:
            directory(ENCODING_IMAGES),
        params:
            password=BRAIN["download"]["images_password"],
        log:
            log_of("data/encoding_images"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=240,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/extract_stimulus_images.py"


# Its own target: the 8,740 images of the THINGS protocol cost about 12x the RSA's 720.
rule extract_encoding_activations:
    input:
        unpack(lambda w: encoding_image_inputs()),
        model=run_results("models/{condition}/seed-{seed}/model.pt"),
        stimuli=results("data/encoding_stimuli.tsv"),
    output:
        results("activations/encoding/{condition}/seed-{seed}.h5"),
    params:
        images_dir=encoding_images_dir(),
        image_size=config["brain_data"]["image_size"],
        activations={
            "layers": LAYERS,
            "reduce": ENCODING["features"]["reduce"],
            "pool_size": ENCODING["features"]["pool_size"],
            "batch_size": ENCODING["batch_size"],
        },
        device=config["device"],
    log:
        log_of("activations/encoding/{condition}/seed-{seed}"),
    benchmark:
        benchmark_of("activations/encoding/{condition}/seed-{seed}")
    wildcard_constraints:
        condition=TRAINED_PATTERN,
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/extract_activations.py"


if PRETRAINED_CONDITIONS:

    rule extract_pretrained_encoding_activations:
        input:
            unpack(lambda w: encoding_image_inputs()),
            weights=lambda w: weights_location(config["conditions"][w.condition]),
            stimuli=results("data/encoding_stimuli.tsv"),
        output:
            expand(results("activations/encoding/{{condition}}/seed-{seed}.h5"), seed=SEEDS),
        params:
            reference=lambda w: config["conditions"][w.condition],
            images_dir=encoding_images_dir(),
            image_size=config["brain_data"]["image_size"],
            activations={
                "layers": LAYERS,
                "reduce": ENCODING["features"]["reduce"],
                "pool_size": ENCODING["features"]["pool_size"],
                "batch_size": ENCODING["batch_size"],
            },
            device=config["device"],
        wildcard_constraints:
            condition=PRETRAINED_PATTERN,
        log:
            log_of("activations/encoding/{condition}/pretrained"),
        benchmark:
            benchmark_of("activations/encoding/{condition}/pretrained")
        threads: 2
        resources:
            mem_mb=lambda wildcards, attempt: 8000 * attempt,
            runtime=lambda wildcards, attempt: 120 * attempt,
            gpu=GPUS_PER_JOB,
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/extract_pretrained_activations.py"


rule prepare_encoding_responses:
    input:
        unpack(lambda w: brain_subject_inputs(w.subject)),
        stimuli=results("data/encoding_stimuli.tsv"),
    output:
        results("encoding/responses/{subject}.h5"),
    params:
        betas_dir=brain_betas_dir(),
        rois=BRAIN["rois"],
        protocol=ENCODING["protocol"],
        zscore=BRAIN["zscore"],
        min_nc_testset=ENCODING["min_nc_testset"],
    log:
        log_of("encoding/responses/{subject}"),
    benchmark:
        benchmark_of("encoding/responses/{subject}")
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/prepare_encoding_responses.py"


rule fit_encoding:
    input:
        activations=results("activations/encoding/{condition}/seed-{seed}.h5"),
        stimuli=results("data/encoding_stimuli.tsv"),
        responses=expand(results("encoding/responses/{subject}.h5"), subject=SUBJECTS),
    output:
        fits=results("encoding/fits/{condition}/seed-{seed}.h5"),
        scores=results("encoding/scores/{condition}/seed-{seed}.tsv"),
    params:
        subjects=SUBJECTS,
        layers=LAYERS,
        transform=ENCODING_TRANSFORM,
        alphas=ENCODING["alphas"],
        inner_folds=ENCODING["inner_folds"],
        device=config["device"],
    wildcard_constraints:
        condition=TRAINED_PATTERN,
    log:
        log_of("encoding/fits/{condition}/seed-{seed}"),
    benchmark:
        benchmark_of("encoding/fits/{condition}/seed-{seed}")
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/fit_encoding.py"


if PRETRAINED_CONDITIONS:

    # A pretrained reference is one network in every seed: fitted once, the other seeds'
    # files that fit relabelled (lrrsa.encoding.fit.write_reference_fits).
    rule fit_reference_encoding:
        input:
            activations=results(f"activations/encoding/{{condition}}/seed-{SEEDS[0]}.h5"),
            stimuli=results("data/encoding_stimuli.tsv"),
            responses=expand(results("encoding/responses/{subject}.h5"), subject=SUBJECTS),
        output:
            fits=expand(results("encoding/fits/{{condition}}/seed-{seed}.h5"), seed=SEEDS),
            scores=expand(results("encoding/scores/{{condition}}/seed-{seed}.tsv"), seed=SEEDS),
        params:
            seeds=SEEDS,
            subjects=SUBJECTS,
            layers=LAYERS,
            transform=ENCODING_TRANSFORM,
            alphas=ENCODING["alphas"],
            inner_folds=ENCODING["inner_folds"],
            device=config["device"],
        wildcard_constraints:
            condition=PRETRAINED_PATTERN,
        log:
            log_of("encoding/fits/{condition}/reference"),
        benchmark:
            benchmark_of("encoding/fits/{condition}/reference")
        threads: 2
        resources:
            mem_mb=lambda wildcards, attempt: 8000 * attempt,
            runtime=lambda wildcards, attempt: 60 * attempt,
            gpu=GPUS_PER_JOB,
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/fit_reference_encoding.py"


rule collect_encoding_scores:
    input:
        expand(results("encoding/scores/{condition}/seed-{seed}.tsv"), condition=CONDITIONS, seed=SEEDS),
    output:
        report(
            results("encoding/scores.tsv"),
            caption="../report/encoding_scores.rst",
            category=report_category("5. Encoding models"),
            subcategory="Tables",
        ),
    log:
        log_of("encoding/scores"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_scores.py"


rule test_encoding:
    input:
        # condition-major, seeds within: the order the script pairs with params.models
        fits=[results(f"encoding/fits/{c}/seed-{s}.h5") for c in CONDITIONS for s in SEEDS],
        responses=expand(results("encoding/responses/{subject}.h5"), subject=SUBJECTS),
        stimuli=results("data/encoding_stimuli.tsv"),
    output:
        results("encoding/tests.tsv"),
    params:
        models=[[c, s] for c in CONDITIONS for s in SEEDS],
        subjects=SUBJECTS,
        conditions=CONDITIONS,
        seeds=SEEDS,
        layer_map=ENCODING_LAYER_MAP,
        stats={key: config["stats"][key] for key in ["inference", "generalise_over", "ci_level", "n_bootstrap", "seed"]},
    log:
        log_of("encoding/tests"),
    benchmark:
        benchmark_of("encoding/tests")
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/test_encoding.py"


rule summarise_encoding:
    input:
        results("encoding/tests.tsv"),
    output:
        summary=report(
            results("encoding/summary.tsv"),
            caption="../report/encoding_summary.rst",
            category=report_category("5. Encoding models"),
            subcategory="Tables",
        ),
        pairwise=report(
            results("encoding/pairwise.tsv"),
            caption="../report/encoding_pairwise.rst",
            category=report_category("5. Encoding models"),
            subcategory="Tables",
        ),
    params:
        rois=list(ENCODING_LAYER_MAP),
        conditions=CONDITIONS,
        reference=config["stats"]["reference"],
        fdr=config["stats"]["fdr"],
    log:
        log_of("encoding/summary"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summarise_encoding.py"
