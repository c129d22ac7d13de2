# One dataset's brain data and the stimulus table of this run.


if THINGS_FMRI and BRAIN["source"] == "demo":

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


# ---- brain data: THINGS-fMRI (downloaded, local or demo) or an rdm_set --------------
# (a neural_assembly's rules are in neural_assembly.smk; the THINGS archives are
# downloaded once per run, in downloads.smk)

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


if RDM_SET:

    rule prepare_rdm_set:
        input:
            unpack(lambda w: stimulus_list_input()),
            rdm_set=BRAIN["rdm_file"],
            images=BRAIN["images_dir"],
        output:
            stimuli=results("data/stimuli.tsv"),
            images=directory(STIMULUS_IMAGES),
        params:
            rois=BRAIN["rois"],
            subjects=SUBJECTS,
            rule=BRAIN["stimuli"],
            stimulus_list=BRAIN["stimulus_list"],
        log:
            log_of("data/stimuli"),
        threads: 1
        resources:
            mem_mb=lambda wildcards, attempt: 4000 * attempt,
            runtime=lambda wildcards, attempt: 30 * attempt,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/prepare_rdm_set.py"

    # The RDMs of an rdm_set are taken as they are, instead of computed from betas.
    ruleorder: take_brain_rdms > compute_brain_rdms

    rule take_brain_rdms:
        input:
            rdm_set=BRAIN["rdm_file"],
            stimuli=results("data/stimuli.tsv"),
        output:
            [brain_rdm_path(roi, "{subject}") for roi in ROIS],
        params:
            arrays=[BRAIN["rois"][roi][0] for roi in ROIS],
        log:
            log_of("rdms/brain/{subject}"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/take_brain_rdms.py"

elif THINGS_FMRI:

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
