"""Does STDP learn its conv layers on real CIFAR-10? Train the config's ``stdp``
condition and a control whose conv layers stay at the same random start, then measure
per conv layer what the issue asks (benchmarks/LEARNING_RULES.md, "STDP"):

- ``won_maps``: fraction of maps that won the competition at least once in an epoch
  (the rule's own diagnostic; lowest and last value over the epochs the layer learned);
- ``drift``: 1 - the mean cosine of each filter with its initial value (0 = still the
  initialisation);
- ``similarity``: mean pairwise cosine between a layer's filters (initial and trained),
  with the mean absolute cosine and the fraction of filters that have a near-duplicate
  (another filter at cosine > 0.9), since opposite filters cancel in the plain mean;
- conv1's Gabor-likeness (lrrsa.gabor: fraction of filters with a fitted Gabor's
  R^2 >= 0.5, mean R^2, spectral peakedness; trained vs the untrained initialisation);
- held-out accuracy of the STDP read-out beside the ``readout_only`` control's (the same
  read-out on the random initial conv layers of the same seed).

    python benchmarks/stdp_features.py                               # the study config, 40 epochs
    python benchmarks/stdp_features.py --epochs 6 --set lr=0.0005    # the paper's literal rate, short

Data as benchmarks/train_rules.py (the class-stratified 8,000/2,000 subset of
``../shared/data/cifar10-jpeg.zip``, cached under ``resources/benchmarks/``).
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
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_rules.py

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

from lrrsa.config import load_schema, validate_config  # noqa: E402
from lrrsa.data.training_images import load_training_set  # noqa: E402
from lrrsa.gabor import score_filters  # noqa: E402
from lrrsa.model import Architecture, build_model  # noqa: E402
from lrrsa.training import TrainingSettings, configure_torch, resolve_device, train  # noqa: E402
from train_rules import DEFAULT_DATA, training_set  # noqa: E402


def cosines(weight: torch.Tensor) -> torch.Tensor:
    """Pairwise cosines (K, K - 1) between the filters of a conv weight, diagonal left out."""
    unit = F.normalize(weight.detach().flatten(1).double(), dim=1)
    k = len(unit)
    return (unit @ unit.T)[~torch.eye(k, dtype=torch.bool)].reshape(k, k - 1)


def filter_measures(initial: torch.Tensor, trained: torch.Tensor) -> dict[str, float]:
    """Drift and similarity of one conv layer (see the module docstring)."""
    initial, trained = initial.detach(), trained.detach()
    drift = 1 - float(F.cosine_similarity(trained.flatten(1).double(), initial.flatten(1).double(), dim=1).mean())
    out = {"drift": drift}
    for when, weight in (("init", initial), ("trained", trained)):
        c = cosines(weight)
        out[f"similarity_{when}"] = float(c.mean())
        out[f"abs_similarity_{when}"] = float(c.abs().mean())
        out[f"duplicates_{when}"] = float((c.max(1).values > 0.9).double().mean())
    return out


def gabor_measures(weight: torch.Tensor, r2_threshold: float) -> dict[str, float]:
    scores = score_filters(weight.detach().cpu().numpy())
    return {"gabor_like": float((scores["gabor_r2"] >= r2_threshold).mean()),
            "gabor_r2": float(np.mean(scores["gabor_r2"])), "peakedness": float(np.mean(scores["peakedness"]))}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--condition", default="stdp", help="the config's STDP condition")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override the condition's hyperparameters (YAML values), e.g. lr=0.0005")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-control", action="store_true", help="train the STDP condition only")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=None, help="write both histories here (TSV)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    raw = yaml.safe_load(args.config.read_text())
    if args.condition not in raw.get("conditions", {}):
        parser.error(f"--condition {args.condition!r} is not a condition of {args.config}")
    for item in args.set:  # validated with the config below
        key, _, value = item.partition("=")
        raw["conditions"][args.condition][key] = yaml.safe_load(value)
    config = validate_config(raw, load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    hyper = config["conditions"][args.condition]
    control = {"rule": "readout_only", **{k: v for k, v in hyper.items() if k.startswith("readout_")}}
    n_train = args.n_train or config["training_data"]["n_train"]
    n_test = args.n_test or config["training_data"]["n_test"]
    epochs = args.epochs or config["training"]["epochs"]
    r2_threshold = config["figures"]["gabor_r2"]

    configure_torch(args.threads)
    device = resolve_device(args.device)
    train_data, test_data = load_training_set(training_set(args.data, n_train, n_test, config["training_data"]["seed"]))
    arch = Architecture.from_config(config["model"], n_classes=len(train_data.classes))
    settings = TrainingSettings(epochs=epochs, batch_size=config["training"]["batch_size"],
                                eval_batch_size=config["training"]["eval_batch_size"], seed=args.seed,
                                augment=config["training"]["augment"])
    print(f"# {len(train_data)}/{len(test_data)} images, {epochs} epochs, seed {args.seed}, device {device}, "
          f"{args.threads} threads; {args.condition}: {hyper}", flush=True)

    runs = {args.condition: hyper} if args.no_control else {args.condition: hyper, "readout_only": control}
    initial = build_model(arch, args.seed)
    layers, histories, accuracy = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run_hyper in runs.items():
            model = build_model(arch, args.seed)
            started = time.perf_counter()
            history = train(model, run_hyper, train_data, test_data, settings, device, Path(tmp) / f"{name}.pt")
            accuracy[name] = (float(history["test_acc"].iloc[-1]), time.perf_counter() - started)
            histories.append(history.assign(condition=name))
            print(f"{name}: held-out acc {accuracy[name][0]:.3f} ({accuracy[name][1]:.0f} s)", flush=True)
            if name != args.condition:
                continue
            for i, (b0, b) in enumerate(zip(initial.blocks, model.cpu().blocks), start=1):
                row = {"layer": f"conv{i}", **filter_measures(b0.conv.weight, b.conv.weight)}
                won = history.loc[history[f"plastic_conv{i}"] == 1, f"won_maps_conv{i}"]
                row["won_maps_min"] = float(won.min()) if len(won) else np.nan  # NaN: the layer never learned
                row["won_maps_last"] = float(won.iloc[-1]) if len(won) else np.nan
                layers.append(row)
            gabor = {"init": gabor_measures(initial.blocks[0].conv.weight, r2_threshold),
                     "trained": gabor_measures(model.blocks[0].conv.weight, r2_threshold)}

    table = pd.DataFrame(layers)
    print("\n| layer | maps won % (min / last plastic epoch) | drift | pairwise cos init -> trained "
          "| mean abs cos init -> trained | near-duplicates % init -> trained |")
    print("|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.layer} | {100 * r.won_maps_min:.0f} / {100 * r.won_maps_last:.0f} | {r.drift:.3f} "
              f"| {r.similarity_init:+.3f} -> {r.similarity_trained:+.3f} "
              f"| {r.abs_similarity_init:.3f} -> {r.abs_similarity_trained:.3f} "
              f"| {100 * r.duplicates_init:.0f} -> {100 * r.duplicates_trained:.0f} |")
    print(f"\nconv1 Gabor-like (R^2 >= {r2_threshold}): init {100 * gabor['init']['gabor_like']:.0f} %, trained "
          f"{100 * gabor['trained']['gabor_like']:.0f} %; mean R^2 {gabor['init']['gabor_r2']:.3f} -> "
          f"{gabor['trained']['gabor_r2']:.3f}; peakedness {gabor['init']['peakedness']:.3f} -> "
          f"{gabor['trained']['peakedness']:.3f}")
    for name, (acc, seconds) in accuracy.items():
        print(f"held-out accuracy {name}: {100 * acc:.1f} % ({seconds:.0f} s)")
    if args.out:
        pd.concat(histories).to_csv(args.out, sep="\t", index=False)
    return table


if __name__ == "__main__":
    main()
