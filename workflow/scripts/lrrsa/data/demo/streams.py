"""Random streams of the demo generator: one numpy Generator per integer key, so that one
item's draws never shift another's. The keys in use start with the seed and then a
stream number: 0 the shared THINGS world (concept names, categories, test concepts), 1
each training image (split, class, index), 2 each simulated subject (crc32 of its
label), 3 each concept's prototype, 4 each exemplar's file-name letter, 5 each
exemplar's rendering, 6 the latent embeddings.
"""

from __future__ import annotations

import numpy as np


def _rng(*key: int) -> np.random.Generator:
    """An independent stream per key, so one item's draws never shift another's."""
    return np.random.default_rng([int(k) for k in key])
