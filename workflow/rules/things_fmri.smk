# brain_data.type things_fmri: THINGS-fMRI (downloaded, local or the demo's generated
# folder) -> the stimulus table, voxel counts, each subject's brain RDMs and the split-half
# RDMs of the noise ceiling. Its paths and input functions are in things_fmri_inputs.smk;
# the THINGS archives are downloaded once per run (downloads.smk).


if BRAIN["source"] == "demo":

    rule make_demo_brain_dataset:
        output:
            directory(DEMO_THINGS),
        params:
            demo=config["demo"],
            subjects=SUBJECTS,
        log:
            "resources/logs/demo/things.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=15,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/make_demo_brain_dataset.py"


if EXTRACT_BETAS:

    # The small metadata files apart from the large response table, so that stimulus
    # selection and image extraction need not wait for the HDF5 files.
    rule extract_things_metadata:
        input:
            archive=betas_zip(),
        output:
            f"{THINGS_BETAS}/{{subject}}_StimulusMetadata.csv",
            f"{THINGS_BETAS}/{{subject}}_VoxelMetadata.csv",
        params:
            kinds=["metadata"],
        log:
            "resources/logs/things-fmri/extract/{subject}_metadata.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/extract_things_betas.py"

    rule extract_things_responses:
        input:
            archive=betas_zip(),
        output:
            f"{THINGS_BETAS}/{{subject}}_ResponseData.h5",
        params:
            kinds=["response"],
        log:
            "resources/logs/things-fmri/extract/{subject}_responses.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/extract_things_betas.py"


# Always true: keeps the rules indented as before the per-type files, so that finished
# runs plan nothing (Snakemake's code rerun trigger compares a script rule's source line).
if BRAIN["type"] == "things_fmri":

    rule select_stimuli:
        input:
            unpack(lambda w: stimulus_selection_inputs()),
        output:
            results("data/stimuli.tsv"),
        params:
            betas_dir=brain_betas_dir(),
            images_dir=None if EXTRACT_IMAGES else brain_images_dir(),
            subjects=SUBJECTS,
            rule=BRAIN["stimuli"],
            stimulus_list=BRAIN["stimulus_list"],
        log:
            log_of("data/stimuli"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/select_stimuli.py"

    rule count_roi_voxels:
        input:
            unpack(lambda w: roi_count_inputs()),
        output:
            results("data/roi_voxels.tsv"),
        params:
            betas_dir=brain_betas_dir(),
            subjects=SUBJECTS,
            rois=BRAIN["rois"],
            min_nc_testset=BRAIN["min_nc_testset"],
        log:
            log_of("data/roi_voxels"),
        threads: 1
        resources:
            mem_mb=lambda wildcards, attempt: 4000 * attempt,
            runtime=lambda wildcards, attempt: 20 * attempt,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/count_roi_voxels.py"


if EXTRACT_IMAGES:

    # Needs the stimulus table: only the selected stimuli's images are extracted.
    rule extract_stimulus_images:
        input:
            archive=images_zip(),
            stimuli=results("data/stimuli.tsv"),
        output:
            directory(STIMULUS_IMAGES),
        params:
            password=BRAIN["download"]["images_password"],
        log:
            log_of("data/images"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/extract_stimulus_images.py"


rule compute_brain_rdms:
    input:
        unpack(lambda w: brain_rdm_inputs(w.subject)),
        stimuli=results("data/stimuli.tsv"),
    output:
        [brain_rdm_path(roi, "{subject}") for roi in ROIS],
    params:
        betas_dir=brain_betas_dir(),
        rois=BRAIN["rois"],
        zscore=BRAIN["zscore"],
        min_nc_testset=BRAIN["min_nc_testset"],
        metric=config["rdm"]["metric"],
    log:
        log_of("rdms/brain/{subject}"),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_brain_rdms.py"


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


# Encoding models: THINGS-fMRI only (the config is refused with encoding for other types).
include: "encoding.smk"
