from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.encoding.tables import write_encoding_tests

p = snakemake.params
write_encoding_tests(
    {(c, int(s)): path for (c, s), path in zip(p.models, snakemake.input.fits)},
    dict(zip(p.subjects, snakemake.input.responses)), snakemake.input.stimuli, snakemake.output[0],
    layer_map=p.layer_map, conditions=p.conditions, seeds=p.seeds, stats=p.stats,
)
