# Figures of one dataset's results, each one rule writing PNG (report) and PDF (papers), with a caption.


# ---- RSA results: main figure, hierarchy, seeds, layer x ROI, noise-ceiling normalised ----


rule plot_rsa_by_roi:
    input:
        scores=results("rsa/scores.tsv"),
        summary=results("stats/summary.tsv"),
        noise_ceiling=results("stats/noise_ceiling.tsv"),
        pixel_baseline=results("stats/pixel_baseline.tsv"),
    output:
        report(
            results("figures/rsa_by_roi.png"),
            caption="../report/rsa_by_roi.rst",
            category=report_category("3. RSA"),
            subcategory="Figures",
        ),
        results("figures/rsa_by_roi.pdf"),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        interval=interval_label(config["stats"]),
        fdr=config["stats"]["fdr"],
    log:
        log_of("figures/rsa_by_roi"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_rsa_by_roi.py"


rule plot_hierarchy:
    input:
        scores=results("rsa/scores.tsv"),
    output:
        report(
            results("figures/hierarchy.png"),
            caption="../report/hierarchy.rst",
            category=report_category("3. RSA"),
            subcategory="Figures",
        ),
        results("figures/hierarchy.pdf"),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
    log:
        log_of("figures/hierarchy"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_hierarchy.py"


rule plot_seeds:
    input:
        scores=results("rsa/scores.tsv"),
    output:
        report(
            results("figures/seeds.png"),
            caption="../report/seeds.rst",
            category=report_category("3. RSA"),
            subcategory="Figures",
        ),
        results("figures/seeds.pdf"),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
    log:
        log_of("figures/seeds"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_seeds.py"


rule plot_layer_heatmap:
    input:
        layers=results("stats/layers.tsv"),
    output:
        report(
            results("figures/layer_heatmap.png"),
            caption="../report/layer_heatmap.rst",
            category=report_category("3. RSA"),
            subcategory="Figures",
        ),
        results("figures/layer_heatmap.pdf"),
    params:
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
    log:
        log_of("figures/layer_heatmap"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_layer_heatmap.py"


rule plot_noise_normalised:
    input:
        scores=results("rsa/scores.tsv"),
        noise_ceiling=results("stats/noise_ceiling.tsv"),
    output:
        report(
            results("figures/noise_normalised.png"),
            caption="../report/noise_normalised.rst",
            category=report_category("4. Statistics"),
            subcategory="Figures",
        ),
        results("figures/noise_normalised.pdf"),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
    log:
        log_of("figures/noise_normalised"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_noise_normalised.py"


# ---- statistics: pairwise comparisons, subject level, partial RSA ----


rule plot_pairwise:
    input:
        results("stats/pairwise.tsv"),
    output:
        report(
            results("figures/pairwise.png"),
            caption="../report/pairwise_figure.rst",
            category=report_category("4. Statistics"),
            subcategory="Figures",
        ),
        results("figures/pairwise.pdf"),
    params:
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        fdr=config["stats"]["fdr"],
        interval=interval_label(config["stats"]),
    log:
        log_of("figures/pairwise"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_pairwise.py"


rule plot_subjects:
    input:
        results("stats/subjects.tsv"),
    output:
        report(
            results("figures/subjects.png"),
            caption="../report/subjects_figure.rst",
            category=report_category("4. Statistics"),
            subcategory="Figures",
        ),
        results("figures/subjects.pdf"),
    params:
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        fdr=config["stats"]["fdr"],
    log:
        log_of("figures/subjects"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_subjects.py"


rule plot_partial:
    input:
        results("stats/partial.tsv"),
    output:
        report(
            results("figures/partial.png"),
            caption="../report/partial_figure.rst",
            category=report_category("4. Statistics"),
            subcategory="Figures",
        ),
        results("figures/partial.pdf"),
    params:
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        fdr=config["stats"]["fdr"],
    log:
        log_of("figures/partial"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_partial.py"


# ---- encoding models: median voxel r per ROI, and RSA beside encoding ----


rule plot_encoding_by_roi:
    input:
        scores=results("encoding/scores.tsv"),
        summary=results("encoding/summary.tsv"),
    output:
        report(
            results("figures/encoding_by_roi.png"),
            caption="../report/encoding_by_roi.rst",
            category=report_category("5. Encoding models"),
            subcategory="Figures",
        ),
        results("figures/encoding_by_roi.pdf"),
    params:
        layer_map=ENCODING_LAYER_MAP,
        conditions=CONDITIONS,
        interval=encoding_interval_label(config["stats"]),
        fdr=config["stats"]["fdr"],
    log:
        log_of("figures/encoding_by_roi"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_encoding_by_roi.py"


rule plot_rsa_vs_encoding:
    input:
        rsa=results("stats/summary.tsv"),
        encoding=results("encoding/summary.tsv"),
    output:
        report(
            results("figures/rsa_vs_encoding.png"),
            caption="../report/rsa_vs_encoding.rst",
            category=report_category("5. Encoding models"),
            subcategory="Figures",
        ),
        results("figures/rsa_vs_encoding.pdf"),
    params:
        # the ROIs both summaries hold: the RSA's mapped layer is the encoding's unless encoding.layer_map differs
        layer_map={roi: layer for roi, layer in ENCODING_LAYER_MAP.items() if config["rsa"]["layer_map"].get(roi) == layer},
        conditions=CONDITIONS,
        method=config["rsa"]["method"],
        rsa_interval=interval_label(config["stats"]),
        encoding_interval=encoding_interval_label(config["stats"]),
    log:
        log_of("figures/rsa_vs_encoding"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_rsa_vs_encoding.py"
