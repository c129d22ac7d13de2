"""``layers.tsv``: every layer against every ROI, and the best layer per ROI and
condition chosen without double dipping (one random half of the stimuli picks it, the
other half scores it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.rdm_io import load_rdm
from lrrsa.rsa.comparators import rsa_score
from lrrsa.stats.seeds import derived_seed
from lrrsa.stats.study_tables import order_rows
from lrrsa.tsv import write_table


def layer_table(
    scores: pd.DataFrame, model_rdms: Mapping[tuple[str, int, str], Path], group_rdms: Mapping[str, Path],
    layer_map: Mapping[str, str], conditions: Sequence[str], *, method: str, seed: int,
) -> pd.DataFrame:
    """layers.tsv: every layer against every ROI's group RDM (mean, std over seeds),
    and per (roi, condition) the best layer chosen without double dipping: a random
    half of the stimuli (seeded) picks the layer with the highest mean rho, and the
    other half scores it (``rho_select``, ``rho_heldout``; ``best`` marks the pick;
    ``mapped`` marks rsa.layer_map's layer)."""
    group = scores[scores["subject"] == "group"]
    table = (group.groupby(["roi", "layer", "condition"], sort=False)["rho"]
             .agg(rho_mean="mean", rho_std="std", n_seeds="count").reset_index())
    layers = list(dict.fromkeys(k[2] for k in model_rdms))
    table["mapped"] = [layer_map.get(r) == lay for r, lay in zip(table["roi"], table["layer"])]
    rng = np.random.default_rng(derived_seed(seed, "layer_selection"))
    halves: dict[str, list[np.ndarray]] = {}
    brains = {}
    for roi, path in group_rdms.items():
        brain, stimuli = load_rdm(path)
        order = rng.permutation(len(stimuli))
        halves[roi] = [np.sort(order[: len(stimuli) // 2]), np.sort(order[len(stimuli) // 2:])]
        brains[roi] = (brain, stimuli)
    half_scores = {}  # (roi, layer, condition) -> [[select, heldout] per seed]
    for (condition, model_seed, layer), path in model_rdms.items():
        model, ids = load_rdm(path)
        for roi, (brain, stimuli) in brains.items():
            if list(ids) != list(stimuli):
                raise ValueError(f"{path}: its stimuli differ from {group_rdms[roi]}")
            pair = [rsa_score(model[np.ix_(h, h)], brain[np.ix_(h, h)], method).rho for h in halves[roi]]
            half_scores.setdefault((roi, layer, condition), []).append(pair)
    means = {key: np.mean(v, axis=0) for key, v in half_scores.items()}
    table["rho_select"] = [means.get((r, lay, c), [np.nan])[0] for r, lay, c in zip(table["roi"], table["layer"], table["condition"])]
    table["rho_heldout"] = [means.get((r, lay, c), [np.nan, np.nan])[1] for r, lay, c in zip(table["roi"], table["layer"], table["condition"])]
    table["best"] = False
    for (_, _), index in table.groupby(["roi", "condition"]).groups.items():
        sub = table.loc[index, "rho_select"]
        if sub.notna().any():
            table.loc[sub.idxmax(), "best"] = True
    rois = list(dict.fromkeys([*layer_map, *table["roi"]]))
    table["_l"] = table["layer"].map({lay: i for i, lay in enumerate(layers)})
    table = order_rows(table, rois, conditions, ["roi", "condition", "_l"])
    return table[["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "mapped", "rho_select", "rho_heldout",
                  "best"]]


def write_layers(scores: Path, models: Sequence[tuple[str, int, str]], model_paths: Sequence[Path],
                 rois: Sequence[str], group_paths: Sequence[Path], out: Path, *, layer_map: Mapping[str, str],
                 conditions: Sequence[str], method: str, seed: int) -> None:
    table = layer_table(
        pd.read_csv(scores, sep="\t"), {(c, int(s), lay): Path(p) for (c, s, lay), p in zip(models, model_paths)},
        dict(zip(rois, map(Path, group_paths))), layer_map, conditions, method=method, seed=seed,
    )
    write_table(table, out)
