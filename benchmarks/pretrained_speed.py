"""Speed of a pretrained reference network's extraction (ResNet-50 at 224 px) on the CPU,
beside the study's CNN on the same images in the same run.

    python benchmarks/pretrained_speed.py                 # 96 images, batch 32
    python benchmarks/pretrained_speed.py --images 32     # a smoke run

Both go through the workflow's own writers (lrrsa.pretrained.extract_pretrained_to_hdf5,
lrrsa.activations.extract_to_hdf5): JPEG decoding, resizing to 224 px, the forward pass,
the spatial mean of every layer (activations.reduce: spatial_mean) and the HDF5 file.
ResNet-50's weights are a random initialisation saved as a state dict (the speed of a
forward pass does not depend on the values; no download). Layers: config/cross_species.yaml's
(layer1 ... layer4, avgpool). Prints images/s of each and their ratio, and the threads.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from lrrsa.activations import extract_to_hdf5  # noqa: E402
from lrrsa.model import Architecture, build_model  # noqa: E402
from lrrsa.pretrained import extract_pretrained_to_hdf5, load_pretrained  # noqa: E402

LAYERS = {"conv1": "layer1", "conv2": "layer2", "conv3": "layer3", "fc1": "layer4", "fc2": "avgpool"}


def write_images(folder: Path, n: int, size: int = 500) -> list[Path]:
    """n JPEGs of THINGS-like size with random content."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"image_{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args(argv)
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_images(tmp, args.images)
        ids = [p.name for p in paths]
        weights = tmp / "resnet50_random.pth"
        torch.save(torchvision.models.resnet50(weights=None).state_dict(), weights)
        network = load_pretrained("resnet50", "IMAGENET1K_V1", weights_file=weights, check_hash=False)
        cnn = build_model(Architecture(), seed=0)
        options = {"image_size": args.image_size, "reduce": "spatial_mean", "pool_size": 4,
                   "batch_size": args.batch_size, "device": device}
        # One warm-up batch each (allocator, first-call dispatch), then the timed runs.
        extract_to_hdf5(cnn, paths[:args.batch_size], ids[:args.batch_size], list(LAYERS), tmp / "w1.h5", **options)
        extract_pretrained_to_hdf5(network, paths[:args.batch_size], ids[:args.batch_size], tmp / "w2.h5",
                                   layers=LAYERS, **options)
        cnn_s = timed(lambda: extract_to_hdf5(cnn, paths, ids, list(LAYERS), tmp / "cnn.h5", **options))
        resnet_s = timed(lambda: extract_pretrained_to_hdf5(network, paths, ids, tmp / "resnet.h5", layers=LAYERS,
                                                            **options))
    print(f"{args.images} JPEGs at {args.image_size} px, batch {args.batch_size}, CPU, "
          f"{torch.get_num_threads()} torch threads")
    print("| network | s | images/s | time vs the study's CNN |")
    print("|---|---|---|---|")
    print(f"| study CNN (32-64-128, fc 512) | {cnn_s:.1f} | {args.images / cnn_s:.1f} | 1.0 |")
    print(f"| ResNet-50 (layer1-4, avgpool) | {resnet_s:.1f} | {args.images / resnet_s:.1f} | {resnet_s / cnn_s:.1f} |")


if __name__ == "__main__":
    main()
