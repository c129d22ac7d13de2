# Brain data of type neural_assembly: a recording in Brain-Score's brainio form (the
# demo's simulated macaque, a published data set downloaded, or local files) -> the
# stimulus table and images (of its stimulus set, or, for a recording on THINGS images
# such as Papale2025, rebuilt from its ids and taken from the THINGS images archive)
# -> per animal its RDM of each ROI, per ROI the odd/even-
# repetition RDMs of the noise ceiling, and the neuroid counts. The files have the
# formats of the THINGS-fMRI side (lrrsa.data.brainio_rdms), so every later rule reads
# them unchanged. Everything a job reads of the recording follows the same options
# (ASSEMBLY_RESPONSES); its paths and input functions are in neural_assembly_inputs.smk.

# Always true: keeps the rules indented as before the per-type files, so that finished
# runs plan nothing (Snakemake's code rerun trigger compares a script rule's source line).
if BRAIN["type"] == "neural_assembly":

    if BRAIN["source"] == "demo":

        rule make_demo_macaque_dataset:
            output:
                **ASSEMBLY,
                truth=f"{neural_assembly.DEMO_DIR}/demo_macaque_neuroids.tsv",
            params:
                seed=config["demo"]["seed"],
                image_size=config["demo"]["image_size"],
            log:
                "resources/logs/demo/macaque.log",
            threads: 1
            resources:
                mem_mb=2000,
                runtime=15,
            conda:
                "../../envs/analysis.yaml"
            script:
                "../scripts/make_demo_macaque_dataset.py"

    if BRAIN["source"] == "download":

        # On the machine that runs Snakemake (compute nodes often have no internet).
        rule download_brainio_dataset:
            input:
                local=[BRAIN["assembly_dir"]] if BRAIN["assembly_dir"] else [],
            output:
                **neural_assembly.downloaded_files(BRAIN),
            params:
                dataset=BRAIN["dataset"],
                roles=neural_assembly.download_roles(BRAIN),
            log:
                f"resources/logs/brainio/{BRAIN['dataset']}.log",
            threads: 1
            resources:
                mem_mb=1000,
                runtime=600,
            localrule: True
            conda:
                "../../envs/analysis.yaml"
            script:
                "../scripts/download_brainio_dataset.py"

    if THINGS_STIMULI:

        # The stimulus set Brain-Score does not publish, rebuilt from the THINGS ids.
        rule make_things_stimulus_set:
            input:
                assembly=ASSEMBLY["assembly"],
            output:
                ASSEMBLY["stimulus_csv"],
            log:
                log_of("data/stimulus_set"),
            threads: 1
            resources:
                mem_mb=lambda wildcards, attempt: 4000 * attempt,
                runtime=lambda wildcards, attempt: 20 * attempt,
            conda:
                "../../envs/analysis.yaml"
            script:
                "../scripts/make_things_stimulus_set.py"

        rule prepare_things_stimuli:
            input:
                unpack(lambda w: stimulus_list_input()),
                assembly=ASSEMBLY["assembly"],
                stimulus_csv=ASSEMBLY["stimulus_csv"],
                images=ASSEMBLY["images"],
            output:
                stimuli=results("data/stimuli.tsv"),
                images=directory(STIMULUS_IMAGES),
            params:
                rule=BRAIN["stimuli"],
                password=BRAIN["download"]["images_password"],
            log:
                log_of("data/stimuli"),
            threads: 1
            resources:
                mem_mb=lambda wildcards, attempt: 4000 * attempt,
                runtime=lambda wildcards, attempt: 60 * attempt,
            conda:
                "../../envs/analysis.yaml"
            script:
                "../scripts/prepare_things_stimuli.py"

    else:

        rule prepare_brainio_stimuli:
            input:
                unpack(lambda w: stimulus_list_input()),
                **ASSEMBLY,
            output:
                stimuli=results("data/stimuli.tsv"),
                images=directory(STIMULUS_IMAGES),
            params:
                rule=BRAIN["stimuli"],
            log:
                log_of("data/stimuli"),
            threads: 1
            resources:
                mem_mb=lambda wildcards, attempt: 4000 * attempt,
                runtime=lambda wildcards, attempt: 30 * attempt,
            conda:
                "../../envs/analysis.yaml"
            script:
                "../scripts/prepare_brainio_stimuli.py"

    rule compute_brainio_rdms:
        input:
            assembly=ASSEMBLY["assembly"],
            stimulus_csv=ASSEMBLY["stimulus_csv"],
            stimuli=results("data/stimuli.tsv"),
        output:
            [brain_rdm_path(roi, "{subject}") for roi in ROIS],
        params:
            animal=lambda w: SUBJECT_ANIMALS[w.subject],
            rois=BRAIN["rois"],
            responses=ASSEMBLY_RESPONSES,
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
            "../scripts/compute_brainio_rdms.py"

    rule compute_brainio_split_half_rdms:
        input:
            assembly=ASSEMBLY["assembly"],
            stimulus_csv=ASSEMBLY["stimulus_csv"],
            stimuli=results("data/stimuli.tsv"),
        output:
            results("rdms/brain_split/{roi}.npz"),
        params:
            subject_animals=SUBJECT_ANIMALS,
            regions=lambda w: BRAIN["rois"][w.roi],
            responses=ASSEMBLY_RESPONSES,
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
            "../scripts/compute_brainio_split_half_rdms.py"

    rule count_roi_neuroids:
        input:
            assembly=ASSEMBLY["assembly"],
        output:
            results("data/roi_voxels.tsv"),
        params:
            subject_animals=SUBJECT_ANIMALS,
            rois=BRAIN["rois"],
            responses=ASSEMBLY_RESPONSES,
        log:
            log_of("data/roi_voxels"),
        threads: 1
        resources:
            mem_mb=lambda wildcards, attempt: 4000 * attempt,
            runtime=lambda wildcards, attempt: 20 * attempt,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/count_roi_neuroids.py"
