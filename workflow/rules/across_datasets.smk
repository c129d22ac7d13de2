# Across datasets: for each pair of named datasets and each ROI both map to a layer
# (human V1 and macaque V1, IT and IT), the agreement of the conditions' rankings
# (Kendall's tau-b, its exact permutation p, a bootstrap interval over seeds), the
# scores side by side, and every ROI's pixel-RDM baseline. Only with several datasets.

if DATASET_PAIRS:

    rule compare_datasets:
        input:
            # in the order of params.datasets
            scores=[f"{dataset_results(name)}/rsa/scores.tsv" for name in NAMED_DATASETS],
            pixel_baseline=[f"{dataset_results(name)}/stats/pixel_baseline.tsv" for name in NAMED_DATASETS],
        output:
            agreement=report(
                results("across_datasets/rank_agreement.tsv"),
                caption="../report/rank_agreement.rst",
                category="7. Across datasets",
                subcategory="Tables",
            ),
            scores=report(
                results("across_datasets/scores.tsv"),
                caption="../report/across_scores.rst",
                category="7. Across datasets",
                subcategory="Tables",
            ),
            pixel=report(
                results("across_datasets/pixel_baseline.tsv"),
                caption="../report/across_pixel_baseline.rst",
                category="7. Across datasets",
                subcategory="Tables",
            ),
        params:
            datasets=NAMED_DATASETS,
            layer_maps=DATASET_LAYER_MAPS,
            conditions=CONDITIONS,
            n_bootstrap=config["stats"]["n_bootstrap"],
            seed=config["stats"]["seed"],
            ci_level=config["stats"]["ci_level"],
        log:
            log_of("across_datasets/compare"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/compare_datasets.py"

    rule plot_dataset_agreement:
        input:
            agreement=results("across_datasets/rank_agreement.tsv"),
            scores=results("across_datasets/scores.tsv"),
        output:
            png=report(
                results("across_datasets/figures/agreement_{dataset_a}-{dataset_b}.png"),
                caption="../report/dataset_agreement.rst",
                category="7. Across datasets",
                subcategory="Figures",
            ),
            pdf=results("across_datasets/figures/agreement_{dataset_a}-{dataset_b}.pdf"),
        params:
            dataset_a=lambda w: w.dataset_a,
            dataset_b=lambda w: w.dataset_b,
            conditions=CONDITIONS,
            method=config["rsa"]["method"],
        wildcard_constraints:
            dataset_a="|".join(NAMED_DATASETS),
            dataset_b="|".join(NAMED_DATASETS),
        log:
            log_of("across_datasets/figures/agreement_{dataset_a}-{dataset_b}"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            "../../envs/plots.yaml"
        script:
            "../scripts/plot_dataset_agreement.py"
