from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.tables import write_summary_markdown

p = snakemake.params
write_summary_markdown(snakemake.input[0], snakemake.output[0], run=p.run, conditions=p.conditions, method=p.method,
                       stats=p.stats)
