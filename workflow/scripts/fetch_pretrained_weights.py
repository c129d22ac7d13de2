from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.pretrained import load_pretrained

# torchvision downloads to a temporary file, checks its SHA-256 prefix and renames it;
# loading it strictly proves it is a state dict of the architecture.
architecture, weights = snakemake.params.reference
network = load_pretrained(architecture, weights, cache_dir=Path(snakemake.output[0]).parent, progress=False)
if network.weights_path != Path(snakemake.output[0]):
    raise RuntimeError(f"torchvision wrote {network.weights_path}, expected {snakemake.output[0]}")
