"""Embedded demo data: a training-image zip and a miniature THINGS-fMRI dataset.

Everything here is generated from a seed with numpy/scipy/Pillow; nothing is
downloaded. The files use the real layouts (ImageFolder zip like
``cifar10-jpeg.zip``; THINGS ``object_images`` and THINGS-fMRI ``betas_csv``),
so the workflow's loaders read demo and real data the same way.

Training zip (:func:`write_training_zip`)
    Ten procedurally drawn classes (six shapes, four textures) with random
    colours, position, scale, rotation, smooth background clutter, a distractor
    blob and pixel noise: easy enough for a small CNN to learn in a couple of
    epochs, not trivial.

THINGS dataset (:func:`write_things_dataset`)
    Invented concepts (some names with a digit, hyphen or underscore, as in
    THINGS) belong to superordinate categories. A category fixes a shape family
    (blob, block, star, ring, rod, cross, ...), a hue and a preferred texture
    orientation; a concept draws its own shape parameters, stripe texture
    (orientation scattered around the category's, frequency), hue and size;
    exemplars jitter position, scale, rotation, colour and background.

Planted structure in the simulated betas (what the demo's RSA must recover):

- Early ROIs (V1, V2, V3, hV4) are linear read-outs of :func:`edge_energy`
  (quadrature Gabor energy, 2 wavelengths x 4 orientations, pooled on an 8 x 8
  grid): each voxel has a Gaussian spatial receptive field (sigma in grid cells
  V1 0.6 < V2 1.0 < V3 1.5 < hV4 2.2) and sparse positive orientation weights;
  V1 prefers the fine scale, V3/hV4 the coarse one.
- Late ROIs read out a latent concept embedding ``category centre + concept
  part + small exemplar part`` through random Gaussian voxel weights. IT is
  the most categorical (category share 0.6 of the latent variance); LOC
  (lLOC, rLOC) has category share 0.25 and mixes in 0.3 of coarse shape
  features (edge energy pooled on a 2 x 2 grid). lFFA/rFFA, unless given their
  own voxel counts, are subsets of IT.
- Voxels outside every ROI carry noise only.
- Every signal is z-scored per voxel across all images and scaled by a
  per-voxel amplitude (log-normal around the ROI's mean); each trial adds
  Gaussian noise (``noise_sd``), a per-voxel per-session offset
  (0.3 ``noise_sd``) and a weak global trial fluctuation; a voxel gain and
  baseline make the betas look unstandardised. Repeats are therefore
  correlated but not identical and the VoxelMetadata noise ceilings
  (``nc_*``, ``splithalf_*``) are computed from the generated test trials.

Images and latent embeddings are shared by all subjects; voxel counts, voxel
weights, trial orders and noise come from a per-subject numpy Generator
seeded by ``(seed, crc32(subject))``, so adding a subject leaves the others
unchanged. A sidecar ``demo_concepts.tsv`` (concept, category) records the
ground-truth categories for figures and tests.

Modules, one concept each: :mod:`~lrrsa.data.demo.training_images` (the training
classes and zip), :mod:`~lrrsa.data.demo.stimuli` (concept names, categories,
prototypes, exemplar rendering), :mod:`~lrrsa.data.demo.edge_features` (the Gabor
edge energy), :mod:`~lrrsa.data.demo.brain` (the simulated subjects and their files),
:mod:`~lrrsa.data.demo.things_dataset` (the THINGS dataset assembled and written), with
the shared :mod:`~lrrsa.data.demo.drawing` primitives, :mod:`~lrrsa.data.demo.streams`
(random streams per key) and :mod:`~lrrsa.data.demo.files` (atomic writes). Everything
public is importable from this package.
"""

from lrrsa.data.demo.brain import DEFAULT_VOXELS_PER_ROI, ROI_COLUMNS, STIMULUS_COLUMNS
from lrrsa.data.demo.edge_features import edge_energy
from lrrsa.data.demo.things_dataset import write_things_dataset
from lrrsa.data.demo.training_images import TRAINING_CLASSES, write_training_zip

__all__ = [
    "DEFAULT_VOXELS_PER_ROI",
    "ROI_COLUMNS",
    "STIMULUS_COLUMNS",
    "TRAINING_CLASSES",
    "edge_energy",
    "write_things_dataset",
    "write_training_zip",
]
