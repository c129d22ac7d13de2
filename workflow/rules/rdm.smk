# RDMs: per model layer, the subjects' average of the brain RDMs, and pixels. Each subject's
# brain RDMs and the split-half RDMs are the dataset type's (<type>.smk).


# One job per model (and per subject: <type>.smk): a layer's or an ROI's RDM takes seconds,
# less than starting a job, and a config change that touches one touches them all.
rule compute_model_rdms:
    input:
        results("activations/{condition}/seed-{seed}.h5"),
    output:
        expand(results("rdms/model/{{condition}}/seed-{{seed}}/{layer}.npz"), layer=LAYERS),
    params:
        layers=LAYERS,
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/model/{condition}/seed-{seed}"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_model_rdms.py"


rule average_brain_rdms:
    input:
        # ROI-major, as the script reads them.
        rdms=[brain_rdm_path(roi, subject) for roi in ROIS for subject in SUBJECTS],
        stimuli=results("data/stimuli.tsv"),
    output:
        [brain_rdm_path(roi, "group") for roi in ROIS],
    params:
        subjects=SUBJECTS,
    log:
        log_of("rdms/brain/group"),
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
