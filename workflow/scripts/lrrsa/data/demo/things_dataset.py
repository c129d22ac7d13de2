"""The miniature THINGS dataset (:func:`write_things_dataset`): the shared world (concepts,
categories, prototypes, test concepts, latent embeddings), the exemplar images rendered
and stored as JPEG, every subject simulated from the decoded images, and the files written
in the real layouts with the ground-truth categories beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.demo.brain import (
    _LATENT_DIM,
    DEFAULT_VOXELS_PER_ROI,
    ROI_COLUMNS,
    _simulate_subject,
    _subject_id,
    _write_response_h5,
)
from lrrsa.data.demo.edge_features import edge_energy
from lrrsa.data.demo.files import _write_bytes, _write_csv
from lrrsa.data.demo.stimuli import (
    _FAMILIES,
    _category_params,
    _concept_names,
    _jpeg_bytes,
    _prototype,
    _render_exemplar,
    _Stimulus,
)
from lrrsa.data.demo.streams import _rng
from lrrsa.images import decode_image


def write_things_dataset(
    root: Path,
    *,
    n_concepts: int = 120,
    n_categories: int = 6,
    n_exemplars: int = 3,
    n_test_images: int = 20,
    n_test_repeats: int = 6,
    subjects: Sequence[str] = ("sub-01", "sub-02", "sub-03"),
    voxels_per_roi: Mapping[str, int] | None = None,
    n_other_voxels: int = 200,
    noise_sd: float = 1.0,
    image_size: int = 96,
    seed: int = 0,
) -> None:
    """Write a miniature THINGS image set and THINGS-fMRI betas under ``root``.

    Layout: ``images/object_images/<concept>/<concept>_<NN><letter>.jpg``;
    ``betas_csv/sub-XX_{StimulusMetadata.csv,VoxelMetadata.csv,ResponseData.h5}``
    in the real formats; ``demo_concepts.tsv`` (concept, category). Train
    images are exemplars 1..``n_exemplars`` of every concept, each shown once;
    test images are exemplar ``n_exemplars + 1`` of ``n_test_images`` concepts,
    shown once in each of ``n_test_repeats`` sessions. The planted structure is
    described in the docstring of :mod:`lrrsa.data.demo`. Deterministic in
    ``seed``; every file is written to a temp name and renamed into place.
    """
    vpr = dict(DEFAULT_VOXELS_PER_ROI if voxels_per_roi is None else voxels_per_roi)
    unknown = set(vpr) - set(ROI_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ROIs {sorted(unknown)}; choose from {ROI_COLUMNS}")
    if n_concepts < 2 or not 1 <= n_categories <= n_concepts:
        raise ValueError("need n_concepts >= 2 and 1 <= n_categories <= n_concepts")
    if n_exemplars < 1 or n_exemplars > 98 or n_test_repeats < 1:
        raise ValueError("need 1 <= n_exemplars <= 98 and n_test_repeats >= 1")
    if not 0 <= n_test_images <= n_concepts:
        raise ValueError("n_test_images must be between 0 and n_concepts")
    if seed < 0 or noise_sd < 0 or n_other_voxels < 0 or image_size < 16:
        raise ValueError("seed, noise_sd, n_other_voxels must be >= 0 and image_size >= 16")
    if len(set(subjects)) != len(subjects):
        raise ValueError("subjects must be unique")
    for s in subjects:
        _subject_id(s)
    root = Path(root)

    # Shared world: concepts, categories, prototypes, latent embeddings.
    rng = _rng(seed, 0)
    concepts = _concept_names(rng, n_concepts)
    category = rng.permutation(np.arange(n_concepts) % n_categories)
    protos = [_prototype(_rng(seed, 3, c), int(category[c]), n_categories) for c in range(n_concepts)]
    test_concepts = set(rng.choice(n_concepts, n_test_images, replace=False).tolist())

    stimuli: list[_Stimulus] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for c in range(n_concepts):
        n_ex = n_exemplars + (1 if c in test_concepts else 0)
        for e in range(1, n_ex + 1):
            letter = letters[int(_rng(seed, 4, c, e).integers(0, 26))]
            stimuli.append(_Stimulus(c, e, f"{concepts[c]}_{e:02d}{letter}.jpg", e > n_exemplars))

    # Render, encode and decode again: the simulated brain sees the JPEG as
    # stored, so edge_energy of the files reproduces the early-ROI input.
    decoded = np.empty((len(stimuli), image_size, image_size, 3), np.uint8)
    img_dir = root / "images" / "object_images"
    for i, s in enumerate(stimuli):
        img = _render_exemplar(protos[s.concept_idx], _rng(seed, 5, s.concept_idx, s.exemplar), image_size)
        data = _jpeg_bytes(img)
        decoded[i] = decode_image(data, s.name)
        _write_bytes(img_dir / concepts[s.concept_idx] / s.name, data)
    feats = edge_energy(decoded)

    lat_rng = _rng(seed, 6)
    cat_centre = lat_rng.normal(0, 1, (n_categories, _LATENT_DIM))
    concept_part = lat_rng.normal(0, 1, (n_concepts, _LATENT_DIM))
    cidx = np.array([s.concept_idx for s in stimuli])
    latents = {
        "category": cat_centre[category[cidx]],
        "concept": concept_part[cidx],
        "exemplar": lat_rng.normal(0, 1, (len(stimuli), _LATENT_DIM)),
    }

    out = root / "betas_csv"
    for subject in subjects:
        stim, vox, resp = _simulate_subject(
            subject, seed=seed, stimuli=stimuli, concepts=concepts, feats=feats,
            latents=latents, voxels_per_roi=vpr, n_other_voxels=n_other_voxels,
            n_sessions=n_test_repeats, noise_sd=noise_sd)
        _write_response_h5(out / f"{subject}_ResponseData.h5", vox["voxel_id"].to_numpy(), resp,
                           stim["trial_id"].to_numpy())
        _write_csv(out / f"{subject}_VoxelMetadata.csv", vox)
        _write_csv(out / f"{subject}_StimulusMetadata.csv", stim)

    cat_names = [f"{_category_params(k, n_categories)[0]}{k // len(_FAMILIES) or ''}"
                 for k in range(n_categories)]
    truth = pd.DataFrame({"concept": concepts, "category": [cat_names[k] for k in category]})
    _write_csv(root / "demo_concepts.tsv", truth, sep="\t")
