# Model inspection: the architecture, training dynamics, conv1 filters, drift (the
# trained conditions: a pretrained reference network is none of the study's CNNs).
# Each figure is one rule writing a PNG (report) and a PDF (papers).

# The seed whose conv1 filters the filter figure draws (figures.filter_seed, null: the first).
FILTER_SEED = config["figures"]["filter_seed"] if config["figures"]["filter_seed"] is not None else SEEDS[0]


# ---- architecture and layer-to-ROI map ----


rule describe_architecture:
    input:
        # the class count and training image size
        results("data/training_set.npz"),
    output:
        report(
            results("models/architecture.tsv"),
            caption="../report/architecture_table.rst",
            category="1. Study",
            subcategory="Tables",
        ),
    params:
        model=config["model"],
        image_sizes=BRAIN_IMAGE_SIZES,
    log:
        log_of("models/architecture"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/describe_architecture.py"


rule plot_architecture:
    input:
        results("models/architecture.tsv"),
    output:
        report(
            results("figures/architecture.png"),
            caption="../report/architecture.rst",
            category="1. Study",
            subcategory="Figures",
        ),
        results("figures/architecture.pdf"),
    params:
        layer_map=ROI_LAYERS,
    log:
        log_of("figures/architecture"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_architecture.py"


# ---- training dynamics ----


rule plot_training_dynamics:
    input:
        # condition-major, seeds within: the order the script pairs with params
        histories=[results(f"models/{c}/seed-{s}/history.tsv") for c in TRAINED_CONDITIONS for s in SEEDS],
        training_set=results("data/training_set.npz"),
    output:
        report(
            results("figures/training_dynamics.png"),
            caption="../report/training_dynamics.rst",
            category="2. Training",
            subcategory="Figures",
        ),
        results("figures/training_dynamics.pdf"),
    params:
        conditions=TRAINED_CONDITIONS,
        seeds=SEEDS,
    log:
        log_of("figures/training_dynamics"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_training_dynamics.py"


# ---- conv1 filters and their Gabor-likeness ----


rule analyse_filters:
    input:
        [results(f"models/{c}/seed-{s}/model.pt") for c in TRAINED_CONDITIONS for s in SEEDS],
    output:
        table=report(
            results("stats/filters.tsv"),
            caption="../report/filters_table.rst",
            category="2. Training",
            subcategory="Tables",
        ),
        weights=results("models/conv1_filters.npz"),
    params:
        conditions=TRAINED_CONDITIONS,
        seeds=SEEDS,
        filter_seed=FILTER_SEED,
    log:
        log_of("stats/filters"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/analyse_filters.py"


rule plot_filters:
    input:
        table=results("stats/filters.tsv"),
        weights=results("models/conv1_filters.npz"),
    output:
        report(
            results("figures/filters.png"),
            caption="../report/filters.rst",
            category="2. Training",
            subcategory="Figures",
        ),
        results("figures/filters.pdf"),
    params:
        conditions=TRAINED_CONDITIONS,
        gabor_r2=config["figures"]["gabor_r2"],
    log:
        log_of("figures/filters"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_filters.py"


# ---- how far each layer moved from its initialisation ----


rule plot_drift:
    input:
        # condition-major, seeds within: the order the script pairs with params
        histories=[results(f"models/{c}/seed-{s}/history.tsv") for c in TRAINED_CONDITIONS for s in SEEDS],
    output:
        report(
            results("figures/drift.png"),
            caption="../report/drift.rst",
            category="2. Training",
            subcategory="Figures",
        ),
        results("figures/drift.pdf"),
    params:
        conditions=TRAINED_CONDITIONS,
        seeds=SEEDS,
    log:
        log_of("figures/drift"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_drift.py"
