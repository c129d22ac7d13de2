# RDMs: per model layer, per brain ROI and subject, the subject average, and pixels.


rule compute_model_rdm:
    input:
        results("activations/{condition}/seed-{seed}.h5"),
    output:
        results("rdms/model/{condition}/seed-{seed}/{layer}.npz"),
    params:
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/model/{condition}/seed-{seed}/{layer}"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_model_rdm.py"


rule compute_brain_rdm:
    input:
        unpack(lambda w: brain_rdm_inputs(w.roi, w.subject)),
        stimuli=results("data/stimuli.tsv"),
    output:
        results("rdms/brain/{roi}/{subject}.npz"),
    params:
        betas_dir=brain_betas_dir(),
        roi_columns=lambda w: config["brain_data"]["rois"][w.roi],
        zscore=config["brain_data"]["zscore"],
        min_nc_testset=config["brain_data"]["min_nc_testset"],
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/brain/{roi}/{subject}"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_brain_rdm.py"


rule average_brain_rdms:
    input:
        rdms=expand(results("rdms/brain/{{roi}}/{subject}.npz"), subject=SUBJECTS),
        stimuli=results("data/stimuli.tsv"),
    output:
        results("rdms/brain/{roi}/group.npz"),
    log:
        log_of("rdms/brain/{roi}/group"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/average_brain_rdms.py"


rule compute_pixel_rdm:
    input:
        unpack(lambda w: brain_inputs()),
        stimuli=results("data/stimuli.tsv"),
    output:
        results("rdms/pixel.npz"),
    params:
        images_dir=brain_images_dir(),
        image_size=config["brain_data"]["image_size"],
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/pixel"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_pixel_rdm.py"


rule compute_split_half_rdms:
    input:
        unpack(lambda w: split_half_inputs(w.roi)),
    output:
        results("rdms/brain_split/{roi}.npz"),
    params:
        betas_dir=brain_betas_dir(),
        subjects=SUBJECTS,
        roi_columns=lambda w: config["brain_data"]["rois"][w.roi],
        zscore=config["brain_data"]["zscore"],
        min_nc_testset=config["brain_data"]["min_nc_testset"],
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/brain_split/{roi}"),
    benchmark:
        benchmark_of("rdms/brain_split/{roi}")
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_split_half_rdms.py"
