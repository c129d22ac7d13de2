from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import pandas as pd

scores = pd.concat(pd.read_csv(path, sep="\t") for path in snakemake.input)
scores.to_csv(snakemake.output[0], sep="\t", index=False)
