from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.encoding.fit import write_reference_fits

p = snakemake.params
write_reference_fits(
    snakemake.input.activations, snakemake.input.stimuli, dict(zip(p.subjects, snakemake.input.responses)),
    snakemake.output.fits, snakemake.output.scores, condition=snakemake.wildcards.condition, seeds=p.seeds,
    layers=p.layers, transform=p.transform, alphas=p.alphas, inner_folds=p.inner_folds, device=p.device,
    threads=snakemake.threads,
)
