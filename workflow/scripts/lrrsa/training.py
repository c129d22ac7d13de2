"""The training loop shared by every learning rule.

It owns what must be identical across conditions: data order, held-out
evaluation, per-epoch checkpoints (a killed job resumes where it stopped), the
history table and the diagnostics logged for every rule (how far each layer moved
from the seed's initialisation, how alike each conv layer's filters are). The rule
owns only how weights change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lrrsa.data.training_images import LabelledImages
from lrrsa.learning_rules import make_rule
from lrrsa.learning_rules.network import layer_weights, weight_diagnostics
from lrrsa.model import ConvNet

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int
    batch_size: int
    eval_batch_size: int
    seed: int
    augment: bool = False


def resolve_device(device: str) -> torch.device:
    """auto -> cuda if available else cpu; an explicit cuda without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key device is 'cuda' but PyTorch sees no GPU")
    return torch.device(device)


def configure_torch(threads: int) -> None:
    """Deterministic kernels and a fixed thread count: same seed, same weights, same device."""
    # cuBLAS needs this before CUDA initialises to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float [0, 1] (N, 3, H, W) on device."""
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def channel_statistics(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units (the model's input normalisation)."""
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return pixels.mean(0).tolist(), pixels.std(0).tolist()


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A generator for one (seed, epoch, purpose): resumed runs redraw the same numbers."""
    child = np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(child))


@torch.no_grad()
def evaluate(model: ConvNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in eval mode (BatchNorm on running statistics)."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        logits = model(images[start : start + batch_size])
        target = labels[start : start + batch_size]
        loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    model.train(was_training)
    return loss_sum / len(labels), correct / len(labels)


def fingerprint(**parts: Any) -> str:
    """A hash of everything that determines a training run, to refuse stale checkpoints."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def data_digest(data: LabelledImages) -> str:
    digest = hashlib.sha256(data.images.tobytes())
    digest.update(data.labels.tobytes())
    return digest.hexdigest()


def augment_batch(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop of the zero-padded images (padding px each side) and random horizontal
    flip, per image, with numbers from ``generator`` (so a resumed run redraws them)."""
    n, _, h, w = images.shape
    shifts = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(images.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = (shifts[0][:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (shifts[1][:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    cols = torch.where(flips[:, None, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    # BatchNorm cannot normalise a batch of one in training mode.
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


def _epoch_batches(
    x_train: torch.Tensor, y_train: torch.Tensor, settings: TrainingSettings, epoch: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The (images, labels) batches of one epoch: the order drawn from (seed, epoch),
    augmented (if ``settings.augment``) with numbers drawn from (seed, epoch)."""
    augment_generator = epoch_generator(settings.seed, epoch, stream=3)
    for batch in _batches(len(y_train), settings.batch_size, epoch_generator(settings.seed, epoch, stream=0)):
        images = x_train[batch]
        if settings.augment:
            images = augment_batch(images, augment_generator)
        yield images, y_train[batch]


def _with_weight_diagnostics(row: dict[str, Any], rule_diagnostics: Mapping[str, float], model: ConvNet,
                             initial: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """A history row with the rule's diagnostics and the loop's own (drift, filter
    similarity); a rule may not report a column the row or the loop already has."""
    uniform = weight_diagnostics(model, initial)
    if taken := sorted(set(rule_diagnostics) & (set(uniform) | set(row))):
        raise ValueError(f"learning rule diagnostics {taken} clash with the columns the training loop writes "
                         "for every rule; rename them")
    return {**row, **rule_diagnostics, **uniform}


def _save_atomically(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    model: ConvNet,
    hyper: Mapping[str, Any],
    train_data: LabelledImages,
    test_data: LabelledImages,
    settings: TrainingSettings,
    device: torch.device,
    checkpoint: Path,
    rule_state_out: dict | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place with the rule ``hyper["rule"]``; return the history.

    ``rule_state_out``, if given, receives the rule's tensors that belong with the
    trained model (:meth:`LearningRule.model_state`, e.g. FA's feedback kernels).

    Epoch 0 is the initial network (for a rule that takes no steps, after its
    :meth:`LearningRule.calibrate` pass: the untrained control's BatchNorm statistics).
    ``train_loss``/``train_acc`` are running means over the epoch's updates (NaN at
    epoch 0); ``test_*`` are held-out, in eval mode, after the epoch. Every row also
    has, for every rule, ``drift_<layer>`` for conv1..convN, fc1, fc2 (1 - the mean
    cosine of each unit's weights with its weights at ``model``'s state on entry, the
    seed's initialisation; 0 at epoch 0) and ``filter_similarity_<conv>`` (mean
    pairwise cosine of the layer's filters), see lrrsa.learning_rules.network. Any
    other columns are the rule's own diagnostics.
    """
    model.to(device)
    # Before any rule or checkpoint touches the model: drift is measured from here.
    initial = {name: w.detach().clone() for name, w in layer_weights(model).items()}
    mean, std = channel_statistics(train_data.images)
    model.set_input_normalisation(mean, std)
    x_train, y_train = to_tensor(train_data.images, device), torch.from_numpy(train_data.labels).to(device)
    x_test, y_test = to_tensor(test_data.images, device), torch.from_numpy(test_data.labels).to(device)

    steps_per_epoch = len(_batches(len(y_train), settings.batch_size, torch.Generator().manual_seed(0)))
    rule = make_rule(model, hyper, epochs=settings.epochs, steps_per_epoch=steps_per_epoch,
                     generator=epoch_generator(settings.seed, 0, stream=2))
    epochs = settings.epochs if rule.trains else 0
    key = fingerprint(
        hyper=dict(hyper), settings=asdict(settings), arch=asdict(model.arch),
        data=data_digest(train_data), device=device.type,
    )

    rows, first_epoch = _resume(checkpoint, key, model, rule)
    if not rows:
        started = time.perf_counter()
        if not rule.trains:
            rule.calibrate(images for images, _ in _epoch_batches(x_train, y_train, settings, epoch=1))
        test_loss, test_acc = evaluate(model, x_test, y_test, settings.eval_batch_size)
        rows.append(_with_weight_diagnostics(
            {"epoch": 0, "train_loss": np.nan, "train_acc": np.nan, "test_loss": test_loss, "test_acc": test_acc,
             "seconds": time.perf_counter() - started if not rule.trains else 0.0}, {}, model, initial))
        log.info("epoch 0 (initial): test_loss %.4f test_acc %.4f", test_loss, test_acc)

    for epoch in range(first_epoch, epochs + 1):
        started = time.perf_counter()
        model.train()
        rule.start_epoch(epoch, epoch_generator(settings.seed, epoch, stream=1))
        loss_sum, correct, seen = 0.0, 0, 0
        for images, labels in _epoch_batches(x_train, y_train, settings, epoch):
            result = rule.step(images, labels)
            loss_sum, correct, seen = loss_sum + result.loss_sum, correct + result.n_correct, seen + len(labels)
        diagnostics = rule.end_epoch(epoch)
        test_loss, test_acc = evaluate(model, x_test, y_test, settings.eval_batch_size)
        seconds = time.perf_counter() - started
        rows.append(_with_weight_diagnostics(
            {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
             "test_loss": test_loss, "test_acc": test_acc, "seconds": seconds}, diagnostics, model, initial))
        log.info(
            "epoch %d/%d: train_loss %.4f train_acc %.4f test_loss %.4f test_acc %.4f (%.1f s, %.0f img/s)",
            epoch, epochs, loss_sum / seen, correct / seen, test_loss, test_acc, seconds, seen / seconds,
        )
        _save_atomically(
            {"fingerprint": key, "epoch": epoch, "model": model.state_dict(),
             "rule": rule.state_dict(), "history": rows},
            checkpoint,
        )
    model.eval()
    if rule_state_out is not None:
        rule_state_out.update(rule.model_state())
    history = pd.DataFrame(rows)
    extra = [c for c in history.columns if c not in HISTORY_COLUMNS]
    return history[HISTORY_COLUMNS + extra]


def _resume(checkpoint: Path, key: str, model: ConvNet, rule) -> tuple[list[dict], int]:
    """Restore the last finished epoch if a checkpoint of this very run exists."""
    if not checkpoint.exists():
        return [], 1
    state = torch.load(checkpoint, map_location=next(model.parameters()).device, weights_only=False)
    if state.get("fingerprint") != key:
        log.warning("ignoring checkpoint %s: it belongs to other settings", checkpoint)
        return [], 1
    model.load_state_dict(state["model"])
    rule.load_state_dict(state["rule"])
    log.info("resuming from %s after epoch %d", checkpoint, state["epoch"])
    return list(state["history"]), state["epoch"] + 1


def train_to_files(
    training_set: Path, model_out: Path, history_out: Path, *, condition: str, seed: int,
    hyper: Mapping[str, Any], model_config: Mapping[str, Any], training_config: Mapping[str, Any],
    device: str, threads: int,
) -> None:
    """The train_model job: build the seed's initial network, train it, save model and history.

    The per-epoch checkpoint lives beside the model as ``checkpoint.pt`` and is
    removed once the model is saved.
    """
    from lrrsa.data.training_images import load_training_set
    from lrrsa.model import Architecture, build_model, save_model

    configure_torch(threads)
    torch_device = resolve_device(device)
    train_data, test_data = load_training_set(training_set)
    arch = Architecture.from_config(dict(model_config), n_classes=len(train_data.classes))
    model = build_model(arch, seed)
    settings = TrainingSettings(
        epochs=training_config["epochs"], batch_size=training_config["batch_size"],
        eval_batch_size=training_config["eval_batch_size"], seed=seed,
        augment=training_config.get("augment", False),
    )
    log.info(
        "condition %s (rule %s), seed %d, device %s (CUDA_VISIBLE_DEVICES=%s)", condition, hyper["rule"],
        seed, torch_device, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
    )
    checkpoint = Path(model_out).with_name("checkpoint.pt")
    rule_state: dict = {}
    history = train(model, hyper, train_data, test_data, settings, torch_device, checkpoint, rule_state)
    history.to_csv(history_out, sep="\t", index=False, na_rep="NaN", float_format="%.6g")
    save_model(
        model_out, model.cpu(), rule_state=rule_state, condition=condition, seed=seed, rule=hyper["rule"],
        classes=list(train_data.classes), final_test_acc=float(history["test_acc"].iloc[-1]),
    )
    checkpoint.unlink(missing_ok=True)
