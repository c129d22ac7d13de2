from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import pandas as pd

from lrrsa.scoring import summarise

scores = pd.read_csv(snakemake.input[0], sep="\t")
summary = summarise(scores, snakemake.params.layer_map, snakemake.params.conditions)
summary.to_csv(snakemake.output[0], sep="\t", index=False, float_format="%.6g")
