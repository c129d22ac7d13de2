# Statistics: per-ROI tests (permutation, bootstrap, partial RSA, subject level), the
# pixel RDM as a low-level baseline, the noise ceiling, layer selection, and the study
# tables with FDR correction.


rule run_roi_tests:
    input:
        models=lambda w: mapped_model_rdms(w.roi),
        group=lambda w: brain_rdm_path(w.roi, "group"),
        subjects=lambda w: [brain_rdm_path(w.roi, s) for s in SUBJECTS],
        pixel=results("rdms/pixel.npz"),
    output:
        results("stats/tests/{roi}.tsv"),
    params:
        layer=lambda w: config["rsa"]["layer_map"][w.roi],
        models=[[c, s] for c in CONDITIONS for s in SEEDS],
        subjects=SUBJECTS,
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        stats={key: config["stats"][key] for key in ROI_TEST_KEYS},
        device=config["device"],
    log:
        log_of("stats/tests/{roi}"),
    benchmark:
        benchmark_of("stats/tests/{roi}")
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/run_roi_tests.py"


rule run_pixel_baseline_tests:
    input:
        pixel=results("rdms/pixel.npz"),
        groups=[brain_rdm_path(roi, "group") for roi in ROIS],
        subjects=[brain_rdm_path(roi, s) for roi in ROIS for s in SUBJECTS],
        models=pixel_baseline_models(),
    output:
        PIXEL_TESTS,
    params:
        rois=ROIS,
        layer_map={roi: config["rsa"]["layer_map"][roi] for roi in STATS_ROIS},
        models=[[c, s] for c in CONDITIONS for s in SEEDS],
        subjects=SUBJECTS,
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        stats={key: config["stats"][key] for key in ROI_TEST_KEYS},
        device=config["device"],
    log:
        log_of("stats/tests/pixel_baseline"),
    benchmark:
        benchmark_of("stats/tests/pixel_baseline")
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/run_pixel_baseline_tests.py"


rule summarise_scores:
    input:
        scores=results("rsa/scores.tsv"),
        tests=stats_tests(),
    output:
        report(
            results("stats/summary.tsv"),
            caption="../report/summary.rst",
            category=report_category("3. RSA"),
            subcategory="Tables",
        ),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        reference=config["stats"]["reference"],
        fdr=config["stats"]["fdr"],
    log:
        log_of("stats/summary"),
    benchmark:
        benchmark_of("stats/summary")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summarise_scores.py"


rule compare_conditions:
    input:
        tests=stats_tests(),
    output:
        report(
            results("stats/pairwise.tsv"),
            caption="../report/pairwise.rst",
            category=report_category("4. Statistics"),
            subcategory="Tables",
        ),
    params:
        rois=STATS_ROIS,
        conditions=CONDITIONS,
        fdr=config["stats"]["fdr"],
    log:
        log_of("stats/pairwise"),
    benchmark:
        benchmark_of("stats/pairwise")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compare_conditions.py"


rule tabulate_partial_rsa:
    input:
        tests=stats_tests(),
    output:
        report(
            results("stats/partial.tsv"),
            caption="../report/partial.rst",
            category=report_category("4. Statistics"),
            subcategory="Tables",
        ),
    params:
        rois=STATS_ROIS,
        conditions=CONDITIONS,
        fdr=config["stats"]["fdr"],
    log:
        log_of("stats/partial"),
    benchmark:
        benchmark_of("stats/partial")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/tabulate_partial_rsa.py"


rule tabulate_pixel_baseline:
    input:
        tests=stats_tests(),
    output:
        report(
            results("stats/pixel_baseline.tsv"),
            caption="../report/pixel_baseline.rst",
            category=report_category("4. Statistics"),
            subcategory="Tables",
        ),
    params:
        rois=ROIS,
        conditions=CONDITIONS,
        fdr=config["stats"]["fdr"],
    log:
        log_of("stats/pixel_baseline"),
    benchmark:
        benchmark_of("stats/pixel_baseline")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/tabulate_pixel_baseline.py"


rule estimate_noise_ceiling:
    input:
        subjects=[brain_rdm_path(roi, s) for roi in ROIS for s in SUBJECTS],
        split_half=split_half_rdms(),
    output:
        report(
            results("stats/noise_ceiling.tsv"),
            caption="../report/noise_ceiling.rst",
            category=report_category("4. Statistics"),
            subcategory="Tables",
        ),
    params:
        rois=ROIS,
        subjects=SUBJECTS,
        method=config["rsa"]["method"],
    log:
        log_of("stats/noise_ceiling"),
    benchmark:
        benchmark_of("stats/noise_ceiling")
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 20 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/estimate_noise_ceiling.py"


rule tabulate_subject_scores:
    input:
        tests=stats_tests(),
        noise_ceiling=results("stats/noise_ceiling.tsv"),
    output:
        report(
            results("stats/subjects.tsv"),
            caption="../report/subjects.rst",
            category=report_category("4. Statistics"),
            subcategory="Tables",
        ),
    params:
        rois=STATS_ROIS,
        conditions=CONDITIONS,
        fdr=config["stats"]["fdr"],
    log:
        log_of("stats/subjects"),
    benchmark:
        benchmark_of("stats/subjects")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/tabulate_subject_scores.py"


rule select_layers:
    input:
        scores=results("rsa/scores.tsv"),
        models=[path for c in CONDITIONS for s in SEEDS for path in model_rdms(c, s).values()],
        groups=[brain_rdm_path(roi, "group") for roi in ROIS],
    output:
        report(
            results("stats/layers.tsv"),
            caption="../report/layers.rst",
            category=report_category("3. RSA"),
            subcategory="Tables",
        ),
    params:
        models=[[c, s, layer] for c in CONDITIONS for s in SEEDS for layer in LAYERS],
        rois=ROIS,
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        seed=config["stats"]["seed"],
    log:
        log_of("stats/layers"),
    benchmark:
        benchmark_of("stats/layers")
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/select_layers.py"
