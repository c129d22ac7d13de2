from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.agreement import plot_rank_agreement
from lrrsa.figures.style import save_figure
from lrrsa.tsv import read_table

p = snakemake.params
agreement, scores = read_table(snakemake.input.agreement), read_table(snakemake.input.scores)
pair = [(t["dataset_a"] == p.dataset_a) & (t["dataset_b"] == p.dataset_b) for t in (agreement, scores)]
if not pair[0].any():
    raise ValueError(f"{snakemake.input.agreement}: no rows for datasets {p.dataset_a} and {p.dataset_b} (they "
                     f"share no mapped ROI, or are not a pair of the run in this order)")
figure = plot_rank_agreement(agreement[pair[0]], scores[pair[1]], p.conditions, dataset_a=p.dataset_a,
                             dataset_b=p.dataset_b, method=p.method)
save_figure(figure, [snakemake.output.png, snakemake.output.pdf])
