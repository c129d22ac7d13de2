"""What calibrating the untrained control's BatchNorm does to its RDMs and RSA scores.

The untrained network (``rule: untrained``) is extracted in eval mode, like every
model. With ``batchnorm: identity`` its BatchNorm running statistics stay 0 and 1, so
BatchNorm is the identity at extraction (the paper's untrained model); with
``batchnorm: calibrated`` (the default) they are estimated on the training images,
as every trained network's are. This script builds both for each seed, with the
statistics (and the input normalisation) from the demo's generated training images
or from real CIFAR-10, extracts the demo's brain stimuli at 224 px through the
workflow's own code (spatial mean per channel, correlation-distance RDMs), and
reports per layer the Spearman correlation between the two variants' RDMs and each
variant's Spearman RSA with the demo's group brain RDM of the ROI the layer is
compared with (config/demo.yaml's layer_map: V1, V2 <- conv1, LOC <- conv3, IT <- fc1).

    python benchmarks/untrained_batchnorm.py                       # demo and CIFAR-10, seeds 1 2 42 123 456
    python benchmarks/untrained_batchnorm.py --training demo --seeds 1 2

The demo data are generated under ``resources/benchmarks/untrained_batchnorm/`` on
first use (seconds); CIFAR-10 is ``../shared/data/cifar10-jpeg.zip`` (8,000/2,000
class-stratified, as the paper config).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from lrrsa.activations import extract_to_hdf5  # noqa: E402
from lrrsa.config import load_schema, validate_config  # noqa: E402
from lrrsa.data.demo import write_things_dataset, write_training_zip  # noqa: E402
from lrrsa.data.stimuli import image_path, write_selected_stimuli  # noqa: E402
from lrrsa.data.training_images import load_training_set  # noqa: E402
from lrrsa.model import Architecture, build_model  # noqa: E402
from lrrsa.rdm_io import load_matching, load_rdm  # noqa: E402
from lrrsa.rdms import write_model_rdms, write_roi_rdm  # noqa: E402
from lrrsa.training import TrainingSettings, configure_torch, train  # noqa: E402
from train_rules import DEFAULT_DATA, training_set  # noqa: E402

CACHE = REPO / "resources" / "benchmarks" / "untrained_batchnorm"


def upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices_from(matrix, k=1)]


def demo_brain(config: dict) -> tuple[pd.DataFrame, Path, dict[str, np.ndarray]]:
    """The demo's stimulus table, images folder and group RDM per ROI (written on first use)."""
    demo, brain = config["demo"], config["brain_data"]
    root = CACHE / "things"
    if not (root / "betas_csv").exists():
        write_things_dataset(root, n_concepts=demo["n_concepts"], n_categories=demo["n_categories"],
                             n_exemplars=demo["n_exemplars"], n_test_images=demo["n_test_images"],
                             n_test_repeats=demo["n_test_repeats"], subjects=brain["subjects"],
                             noise_sd=demo["noise_sd"], image_size=demo["image_size"], seed=demo["seed"])
    table_path = CACHE / "stimuli.tsv"
    table = write_selected_stimuli(root / "betas_csv", root / "images", brain["subjects"], table_path,
                                   rule=brain["stimuli"])
    groups = {}
    for roi, columns in brain["rois"].items():
        paths = []
        for subject in brain["subjects"]:
            out = CACHE / "rdms" / roi / f"{subject}.npz"
            if not out.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
                write_roi_rdm(root / "betas_csv", subject, columns, table_path, out, zscore=brain["zscore"],
                              min_nc_testset=brain["min_nc_testset"], metric=config["rdm"]["metric"])
            paths.append(out)
        groups[roi] = np.mean(load_matching(paths, table["stimulus"].tolist()), axis=0)
    return table, root / "images", groups


def training_data(source: str, config: dict) -> Path:
    if source == "cifar":
        return training_set(DEFAULT_DATA, 8000, 2000, 0)
    demo = config["demo"]
    archive = CACHE / "training_images.zip"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        write_training_zip(archive, n_train_per_class=demo["train_per_class"],
                           n_test_per_class=demo["test_per_class"], seed=demo["seed"])
    data = config["training_data"]
    return training_set(archive, data["n_train"], data["n_test"], data["seed"])


def layer_rdms(model, table: pd.DataFrame, images: Path, layers: list[str], config: dict, workdir: Path,
               ) -> dict[str, np.ndarray]:
    paths = [image_path(images, s, c) for s, c in zip(table["stimulus"], table["concept"])]
    out = workdir / "features.h5"
    act = config["activations"]
    extract_to_hdf5(model, paths, table["stimulus"].tolist(), layers, out, image_size=config["brain_data"]["image_size"],
                    reduce=act["reduce"], pool_size=act["pool_size"], batch_size=act["batch_size"],
                    device=torch.device("cpu"))
    rdms = {}
    for layer in layers:
        write_model_rdms(out, [layer], [workdir / f"{layer}.npz"], metric=config["rdm"]["metric"])
        rdms[layer] = load_rdm(workdir / f"{layer}.npz")[0]
    return rdms


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--training", nargs="+", choices=["demo", "cifar"], default=["demo", "cifar"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 42, 123, 456])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=None, help="write the table here (TSV)")
    args = parser.parse_args(argv)

    config = validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()),
                             load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    configure_torch(args.threads)
    table, images, brain = demo_brain(config)
    layer_map = config["rsa"]["layer_map"]
    layers = sorted(set(layer_map.values()), key=config["activations"]["layers"].index)
    rows = []
    for source in args.training:
        train_data, test_data = load_training_set(training_data(source, config))
        arch = Architecture.from_config(config["model"], n_classes=len(train_data.classes))
        settings = TrainingSettings(epochs=1, batch_size=config["training"]["batch_size"] if source == "demo" else 128,
                                    eval_batch_size=500, seed=0)
        for seed in args.seeds:
            rdms, accuracy = {}, {}
            for variant in ("identity", "calibrated"):
                model = build_model(arch, seed)
                with tempfile.TemporaryDirectory() as tmp:
                    history = train(model, {"rule": "untrained", "batchnorm": variant}, train_data, test_data,
                                    TrainingSettings(**{**settings.__dict__, "seed": seed}), torch.device("cpu"),
                                    Path(tmp) / "ck.pt")
                    rdms[variant] = layer_rdms(model, table, images, layers, config, Path(tmp))
                accuracy[variant] = float(history["test_acc"].iloc[0])
            for roi, layer in layer_map.items():
                a, b = upper(rdms["identity"][layer]), upper(rdms["calibrated"][layer])
                target = upper(brain[roi])
                rows.append({"training": source, "seed": seed, "roi": roi, "layer": layer,
                             "rho_identity_vs_calibrated": spearmanr(a, b).statistic,
                             "rho_brain_identity": spearmanr(a, target).statistic,
                             "rho_brain_calibrated": spearmanr(b, target).statistic,
                             "heldout_acc_identity": accuracy["identity"],
                             "heldout_acc_calibrated": accuracy["calibrated"]})
            print(pd.DataFrame(rows[-len(layer_map):]).round(4).to_string(index=False), flush=True)
    result = pd.DataFrame(rows)
    if args.out:
        result.to_csv(args.out, sep="\t", index=False)
    summary = result.groupby(["training", "roi", "layer"], sort=False).agg(
        ["mean", "min", "max"])[["rho_identity_vs_calibrated", "rho_brain_identity", "rho_brain_calibrated"]]
    print()
    print(summary.round(3).to_string())
    return result


if __name__ == "__main__":
    main()
