from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import logging

import numpy as np
import pandas as pd

from lrrsa.gabor import score_filters
from lrrsa.model import load_model

log = logging.getLogger("lrrsa.analyse_filters")
p = snakemake.params
keys = [(condition, seed) for condition in p.conditions for seed in p.seeds]
tables, drawn = [], {}
for (condition, seed), path in zip(keys, snakemake.input, strict=True):
    model, _ = load_model(path)
    weights = model.blocks[0].conv.weight.detach().cpu().numpy()
    log.info("%s seed %s: fitting %d conv1 filters of shape %s", condition, seed, len(weights), weights.shape[1:])
    tables.append(pd.DataFrame(score_filters(weights)).assign(condition=condition, seed=seed))
    if seed == p.filter_seed:
        drawn[condition] = weights.astype(np.float32)

table = pd.concat(tables, ignore_index=True)
table = table[["condition", "seed", *[c for c in table.columns if c not in ("condition", "seed")]]]
table.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.6g")
# One array per condition, "conv1_<condition>" (filters, channels, height, width), and the seed drawn.
np.savez(snakemake.output.weights, seed=np.int64(p.filter_seed), **{f"conv1_{c}": w for c, w in drawn.items()})
