from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.encoding.protocols import write_protocol_table

p = snakemake.params
write_protocol_table(p.betas_dir, p.subjects, snakemake.output[0], protocol=p.protocol, n_folds=p.n_folds, seed=p.seed)
