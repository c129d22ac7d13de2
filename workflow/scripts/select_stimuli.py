from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.stimuli import write_selected_stimuli

p = snakemake.params
# Without images_dir the images are still in their archive; extracting them checks them.
write_selected_stimuli(
    Path(p.betas_dir), Path(p.images_dir) if p.images_dir else None, p.subjects, Path(snakemake.output[0]),
    rule=p.rule, list_file=Path(p.stimulus_list) if p.stimulus_list else None, check=bool(p.images_dir),
)
