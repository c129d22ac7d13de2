# brain_data.type rdm_set: brain RDMs a user already has (docs/DATA.md) -> the stimulus
# table and images -> each subject's RDM of every ROI, taken as it is. Its input
# functions are in rdm_set_inputs.smk.


# Always true: keeps the rules indented as before the per-type files, so that finished
# runs plan nothing (Snakemake's code rerun trigger compares a script rule's source line).
if BRAIN["type"] == "rdm_set":

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

    # The RDMs of an rdm_set are taken as they are, instead of computed from responses.
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
