from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.brainio_things import prepare_things_stimuli
from lrrsa.data.stimuli import read_stimulus_list

ids = read_stimulus_list(Path(snakemake.input.stimulus_list)) if snakemake.params.rule == "list" else None
prepare_things_stimuli(
    snakemake.input.assembly, snakemake.input.stimulus_csv, snakemake.output.stimuli, snakemake.output.images,
    images=snakemake.input.images, password=snakemake.params.password, stimulus_ids=ids,
)
