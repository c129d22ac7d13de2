"""Independent seeds per use (permutations, bootstrap, stimulus split) from the
config's one seed (``stats.seed``)."""

from __future__ import annotations

import numpy as np


def derived_seed(seed: int, stream: str) -> int:
    """An independent seed per use, a function of (seed, stream name) only."""
    return int(np.random.SeedSequence([seed, *stream.encode()]).generate_state(1)[0])
