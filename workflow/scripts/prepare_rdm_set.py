from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.rdm_set import prepare_rdm_set

p = snakemake.params
prepare_rdm_set(
    Path(snakemake.input.rdm_set), Path(snakemake.input.images), Path(snakemake.output.stimuli),
    Path(snakemake.output.images), rois=p.rois, subjects=p.subjects, rule=p.rule,
    list_file=Path(p.stimulus_list) if p.stimulus_list else None,
)
