import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The library is importable without installation, as Snakemake scripts see it.
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

SHARED_DATA = REPO.parent / "shared" / "data"
