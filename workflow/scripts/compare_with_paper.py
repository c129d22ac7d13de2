from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.tables import write_paper_comparison

histories = {(condition, int(seed)): path for (condition, seed), path in
             zip(snakemake.params.models, snakemake.input.histories, strict=True)}
write_paper_comparison(snakemake.input.published, snakemake.input.summary, snakemake.input.partial, histories,
                       snakemake.output[0])
