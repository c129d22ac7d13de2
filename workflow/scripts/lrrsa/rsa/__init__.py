"""The RSA statistics engine, one module per concept. Import the submodule you need
(``from lrrsa.rsa.bootstrap import bootstrap_ci``): this package imports nothing
itself, so that scoring and the figures, which need only the comparators, do not load
numba or the rest of the engine.

- :mod:`~lrrsa.rsa.rdm`: RDMs of features, streamed over columns (arrays or HDF5),
  on the CPU or a GPU (device resolution).
- :mod:`~lrrsa.rsa.comparators`: comparing two RDMs' upper triangles (Spearman,
  Pearson, Kendall tau-b and tau-a), NaN pairs dropped; numpy and scipy only.
- :mod:`~lrrsa.rsa.condensed`: RDM stacks as condensed vectors and back, and the
  standardised (ranked) vectors whose dot product is a comparator.
- :mod:`~lrrsa.rsa.missing`: stimuli without dissimilarities (NaN rows) and the
  exact permutation null that drops them under every permutation.
- :mod:`~lrrsa.rsa.permutation`: Mantel tests (stimulus-label permutations),
  permutation indices and p-values; the paper's pair shuffle for comparison.
- :mod:`~lrrsa.rsa.bootstrap`: stimulus (and subject) bootstrap, percentile and BCa
  intervals; the paper's pair bootstrap for comparison.
- :mod:`~lrrsa.rsa.partial`: partial RSA (partial correlation of ranks controlling
  other RDMs) with its permutation test.
- :mod:`~lrrsa.rsa.noise_ceiling`: noise ceilings (leave-one-subject-out and of the
  group RDM), split-half reliability, Spearman-Brown, inter-subject consistency.
- :mod:`~lrrsa.rsa.fdr`: Benjamini-Hochberg (and -Yekutieli) over a family.
- :mod:`~lrrsa.rsa._kernels`: the compiled inner loops (numba, numpy fallback, torch).

What each statistic is, and what it returns on degenerate input (NaN rows, constant
RDMs, identical models, undefined bootstrap samples, reliabilities at or below zero,
fewer than 4 stimuli): ``docs/STATISTICS.md``.
"""
