from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.across_datasets import compare_datasets
from lrrsa.tsv import read_table, write_table

p = snakemake.params
datasets = {name: (read_table(scores), p.layer_maps[name], read_table(pixel))
            for name, scores, pixel in zip(p.datasets, snakemake.input.scores, snakemake.input.pixel_baseline,
                                           strict=True)}
agreement, side_by_side, pixel = compare_datasets(datasets, p.conditions, n_bootstrap=p.n_bootstrap, seed=p.seed,
                                                  level=p.ci_level)
write_table(agreement, snakemake.output.agreement)
write_table(side_by_side, snakemake.output.scores)
write_table(pixel, snakemake.output.pixel)
