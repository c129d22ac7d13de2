"""Train every learning-rule condition on real CIFAR-10 and report held-out accuracy and speed.

Backprop is the baseline of the same run: every condition's time per epoch is
also given as a multiple of backprop's, and its accuracy as a difference.

    python benchmarks/train_rules.py                          # the paper: 8,000 images, 40 epochs, all conditions
    python benchmarks/train_rules.py --epochs 5 --conditions bp fa

The conditions and their hyperparameters are those of the paper config
(config/config.yaml, validated, defaults filled), so the benchmark measures what
the workflow runs. Data: ``--data`` is the ImageFolder zip ``cifar10-jpeg.zip``
(default ``../shared/data/cifar10-jpeg.zip``) or the official
``cifar-10-python.tar.gz``; the class-stratified subset is cached under
``resources/benchmarks/``. The device is CUDA where PyTorch sees one (``--device``).
Accuracies are held-out (2,000 test-split images, eval mode), not running
training accuracies.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
# Idle OpenMP threads sleep instead of spinning: on a shared CPU, spinning threads that
# wait for a descheduled sibling make the many small kernels of PC and STDP up to 10x
# slower. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from lrrsa.config import load_schema, validate_config  # noqa: E402
from lrrsa.data.training_images import (  # noqa: E402
    load_training_set, read_cifar10_archive, read_image_folder, write_training_set,
)
from lrrsa.model import Architecture, build_model  # noqa: E402
from lrrsa.training import TrainingSettings, configure_torch, resolve_device, train  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg.zip"


def training_set(source: Path, n_train: int, n_test: int, seed: int) -> Path:
    """The cached class-stratified subset of ``source`` (written on first use)."""
    cache = REPO / "resources" / "benchmarks" / f"{source.stem}-n{n_train}-{n_test}-seed{seed}.npz"
    if not cache.exists():
        reader = read_cifar10_archive if source.name.endswith((".tar.gz", ".tgz")) else read_image_folder
        write_training_set(cache, reader(source, "train"), reader(source, "test"),
                           n_train=n_train, n_test=n_test, seed=seed)
    return cache


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="cifar10-jpeg.zip or cifar-10-python.tar.gz")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml",
                        help="config whose conditions, model and training settings are used")
    parser.add_argument("--conditions", nargs="+", default=None,
                        help="conditions of the config to train (default: all trained ones; bp always first)")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--n-train", type=int, default=None, help="override training_data.n_train")
    parser.add_argument("--n-test", type=int, default=None, help="override training_data.n_test")
    parser.add_argument("--seed", type=int, default=42, help="model seed (the paper's first)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="override training.augment")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=None, help="write every condition's history here (TSV)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    config = validate_config(yaml.safe_load(args.config.read_text()),
                             load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    training = dict(config["training"])
    if args.epochs is not None:
        training["epochs"] = args.epochs
    if args.augment is not None:
        training["augment"] = args.augment
    n_train = args.n_train or config["training_data"]["n_train"]
    n_test = args.n_test or config["training_data"]["n_test"]

    conditions = {k: v for k, v in config["conditions"].items() if v["rule"] != "untrained"}
    baseline = next(k for k, v in conditions.items() if v["rule"] == "backprop")
    wanted = args.conditions or list(conditions)
    order = [baseline] + [c for c in wanted if c != baseline]
    unknown = [c for c in order if c not in conditions]
    if unknown:
        parser.error(f"unknown conditions {unknown}; the config has {sorted(conditions)}")

    configure_torch(args.threads)
    device = resolve_device(args.device)
    train_data, test_data = load_training_set(training_set(args.data, n_train, n_test, config["training_data"]["seed"]))
    arch = Architecture.from_config(config["model"], n_classes=len(train_data.classes))
    settings = TrainingSettings(epochs=training["epochs"], batch_size=training["batch_size"],
                                eval_batch_size=training["eval_batch_size"], seed=args.seed,
                                augment=training.get("augment", False))
    print(f"# {len(train_data)} training / {len(test_data)} held-out images from {args.data.name}, "
          f"{settings.epochs} epochs, batch {settings.batch_size}, augment {settings.augment}, seed {args.seed}, "
          f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{args.threads} threads'})",
          flush=True)

    rows, histories = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in order:
            model = build_model(arch, args.seed)
            started = time.perf_counter()
            history = train(model, conditions[name], train_data, test_data, settings, device, Path(tmp) / f"{name}.pt")
            wall = time.perf_counter() - started
            epoch_seconds = history["seconds"].iloc[1:]
            rows.append({
                "condition": name, "rule": conditions[name]["rule"],
                "variant": conditions[name].get("variant", ""),
                "test_acc": history["test_acc"].iloc[-1], "best_test_acc": history["test_acc"].max(),
                "train_acc": history["train_acc"].iloc[-1],
                "s_per_epoch": epoch_seconds.mean(), "images_per_s": len(train_data) / epoch_seconds.mean(),
                "wall_s": wall,
            })
            histories.append(history.assign(condition=name))
            print(f"{name}: held-out acc {rows[-1]['test_acc']:.3f}, {rows[-1]['s_per_epoch']:.1f} s/epoch", flush=True)

    table = pd.DataFrame(rows)
    base = table.iloc[0]
    table["acc_minus_bp"] = table["test_acc"] - base["test_acc"]
    table["epoch_cost_vs_bp"] = table["s_per_epoch"] / base["s_per_epoch"]
    if args.out:
        pd.concat(histories).to_csv(args.out, sep="\t", index=False)
    show = table.assign(**{c: (100 * table[c]).round(1) for c in ("test_acc", "best_test_acc", "train_acc",
                                                                    "acc_minus_bp")})
    show = show.round({"s_per_epoch": 1, "images_per_s": 0, "wall_s": 0, "epoch_cost_vs_bp": 2})
    print()
    print("| condition | rule | held-out acc % | best epoch % | train acc % (running) | vs BP (points) "
          "| s/epoch | images/s | epoch cost vs BP |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in show.itertuples():
        rule = r.rule + (f" ({r.variant})" if r.variant else "")
        print(f"| {r.condition} | {rule} | {r.test_acc} | {r.best_test_acc} | {r.train_acc} | {r.acc_minus_bp:+} "
              f"| {r.s_per_epoch} | {r.images_per_s:.0f} | {r.epoch_cost_vs_bp} |")
    print_layers(pd.concat(histories))
    return table


def print_layers(histories: pd.DataFrame) -> None:
    """Per condition at the last epoch: how far each layer moved from the seed's
    initialisation (drift: 1 - mean cosine of each unit's weights with its initial
    ones), how alike each conv layer's filters are (mean pairwise cosine, initial ->
    final), and the rule's own per-layer diagnostics where it logs them (STDP: maps
    that won; FA, PC: cosine of the update with backprop's gradient)."""
    layers = [c.removeprefix("drift_") for c in histories.columns if c.startswith("drift_")]
    convs = [c for c in layers if c.startswith("conv")]
    print()
    print("| condition | " + " | ".join(f"drift {c}" for c in layers) + " | "
          + " | ".join(f"filter cosine {c}" for c in convs) + " | rule's own (last epoch) |")
    print("|---" * (2 + len(layers) + len(convs)) + "|")
    for name, history in histories.groupby("condition", sort=False):
        first, last = history.iloc[0], history.iloc[-1]
        own = []
        for prefix in ("won_maps_", "cos_bp_"):
            own += [f"{c.removeprefix(prefix)} {prefix.rstrip('_')} {last[c]:.2f}" for c in history.columns
                    if c.startswith(prefix) and pd.notna(last[c])]
        print(f"| {name} | " + " | ".join(f"{last[f'drift_{c}']:.3g}" for c in layers) + " | "
              + " | ".join(f"{first[f'filter_similarity_{c}']:.2f} -> {last[f'filter_similarity_{c}']:.2f}"
                           for c in convs) + f" | {', '.join(own) or '-'} |")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
