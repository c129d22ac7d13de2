# Figures of the results, each one rule writing PNG (report) and PDF (papers), with a caption.


def figure_outputs():
    return [*rsa_figure_outputs(), *statistics_figure_outputs()]


# ---- RSA results: main figure, hierarchy, seeds, layer x ROI, noise-ceiling normalised ----


rule plot_rsa_by_roi:
    input:
        results("rsa/scores.tsv"),
    output:
        report(
            results("figures/rsa_by_roi.png"),
            caption="../report/rsa_by_roi.rst",
            category="Figures",
        ),
    params:
        layer_map=config["rsa"]["layer_map"],
        conditions=CONDITIONS,
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


def rsa_figure_outputs():
    return [results("figures/rsa_by_roi.png")]


# ---- statistics: pairwise comparisons, subject level, partial RSA ----


def statistics_figure_outputs():
    return []
