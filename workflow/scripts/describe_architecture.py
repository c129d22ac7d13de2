from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import numpy as np

from lrrsa.architecture import describe_architecture
from lrrsa.model import Architecture

# The class count and training image size are those of the training set the models learn from.
with np.load(snakemake.input[0]) as data:
    if "classes" not in data or "train_images" not in data:
        raise ValueError(f"{snakemake.input[0]}: expected a training set with arrays 'classes' and 'train_images'")
    n_classes = len(data["classes"])
    train_size = int(data["train_images"].shape[1])

arch = Architecture.from_config(snakemake.params.model, n_classes=n_classes)
table = describe_architecture(arch, [train_size, *snakemake.params.image_sizes])
table.to_csv(snakemake.output[0], sep="\t", index=False)
