"""RSA scores of one trained model against every brain RDM, and the study summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lrrsa.rdm_io import load_rdm
from lrrsa.rsa.comparators import rsa_score

SCORE_COLUMNS = ["condition", "seed", "layer", "roi", "subject", "rho", "n_pairs"]


def score_model(
    condition: str, seed: int, model_rdms: Mapping[str, Path],
    brain_rdms: Mapping[tuple[str, str], Path], method: str,
) -> pd.DataFrame:
    """One row per (layer, roi, subject): every layer against every brain RDM."""
    brain = {key: load_rdm(path) for key, path in brain_rdms.items()}
    rows = []
    for layer, path in model_rdms.items():
        model_rdm, stimuli = load_rdm(path)
        for (roi, subject), (brain_rdm, brain_stimuli) in brain.items():
            if brain_stimuli != stimuli:
                raise ValueError(f"{path} and {brain_rdms[(roi, subject)]} have different stimuli")
            score = rsa_score(model_rdm, brain_rdm, method)
            rows.append([condition, seed, layer, roi, subject, score.rho, score.n_pairs])
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def mapped_scores(scores: pd.DataFrame, layer_map: Mapping[str, str], subject: str = "group") -> pd.DataFrame:
    """The scores of each ROI's mapped layer (rsa.layer_map), for one subject or group."""
    wanted = pd.DataFrame(list(layer_map.items()), columns=["roi", "layer"])
    return scores[scores["subject"] == subject].merge(wanted, on=["roi", "layer"])


def summarise(scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str]) -> pd.DataFrame:
    """Per (roi, layer, condition) on the group RDM: seed mean, std (ddof 1), range, and
    the mean over subjects of the subject-level scores."""
    group = mapped_scores(scores, layer_map)
    summary = (
        group.groupby(["roi", "layer", "condition"], sort=False)["rho"]
        .agg(rho_mean="mean", rho_std="std", rho_min="min", rho_max="max", n_seeds="count")
        .reset_index()
    )
    per_subject = pd.concat(
        mapped_scores(scores, layer_map, subject) for subject in sorted(set(scores["subject"]) - {"group"})
    )
    subject_mean = per_subject.groupby(["roi", "layer", "condition"])["rho"].mean().rename("rho_subject_mean")
    summary = summary.merge(subject_mean.reset_index(), on=["roi", "layer", "condition"], how="left")
    order = {"roi": list(layer_map), "condition": list(conditions)}
    summary["roi"] = pd.Categorical(summary["roi"], order["roi"], ordered=True)
    summary["condition"] = pd.Categorical(summary["condition"], order["condition"], ordered=True)
    summary = summary.sort_values(["roi", "condition"]).reset_index(drop=True)
    summary[["roi", "condition"]] = summary[["roi", "condition"]].astype(str)
    return summary[["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "rho_min", "rho_max", "rho_subject_mean"]]
