from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.encoding.protocols import read_protocol_table
from lrrsa.encoding.responses import write_subject_responses

p = snakemake.params
write_subject_responses(
    snakemake.output[0], p.betas_dir, snakemake.wildcards.subject, p.rois, read_protocol_table(snakemake.input.stimuli),
    protocol=p.protocol, zscore=p.zscore, min_nc_testset=p.min_nc_testset,
)
