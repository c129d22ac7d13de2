"""Training-set sources (CIFAR-10) and the deterministic class-stratified subset.

Two readers give the same :class:`LabelledImages`:

- :func:`read_cifar10_archive` reads the official ``cifar-10-python.tar.gz``
  (:data:`CIFAR10_URL`, :data:`CIFAR10_MD5`) straight from the tar;
- :func:`read_image_folder` reads an ImageFolder layout
  ``<split>/<class>/<file>.{jpg,jpeg,png}`` from a directory or a ``.zip``
  (for example ``cifar10-jpeg.zip``, whose JPEG artefacts make it close to, not
  identical to, the original).

:func:`write_training_set` draws the paper's subset (8,000 training images,
800 per class) with :func:`stratified_subset` and stores it, with the indices
into the source splits, in one ``.npz``; :func:`load_training_set` reads it back.
"""

from __future__ import annotations

import logging
import os
import pickle
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "IMAGE_EXTENSIONS",
    "ImageFolderError",
    "LabelledImages",
    "load_training_set",
    "prepare_training_set",
    "read_cifar10_archive",
    "read_image_folder",
    "read_training_source",
    "stratified_subset",
    "write_training_set",
]

log = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})

_CIFAR10_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


class ImageFolderError(ValueError):
    """An image folder or archive does not have the expected layout or content."""


@dataclass(frozen=True, eq=False)
class LabelledImages:
    """Images with integer labels; ``labels[i]`` indexes ``classes``.

    ``images``: (N, H, W, 3) uint8 RGB; ``labels``: (N,) int64 in
    ``0..len(classes)-1``; ``classes``: class names in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"labels must be ({len(images)},), got {labels.shape}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got {labels.dtype}")
        classes = tuple(str(c) for c in self.classes)
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(f"labels must lie in 0..{len(classes) - 1}, "
                             f"got {labels.min()}..{labels.max()}")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> LabelledImages:
        """The images at ``indices`` (same classes)."""
        return LabelledImages(self.images[indices], self.labels[indices], self.classes)


# --------------------------------------------------------------------------
# ImageFolder (directory or zip)
# --------------------------------------------------------------------------

def _ignored(parts: Iterable[str]) -> bool:
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def _list_files(source: Path, zf: zipfile.ZipFile | None) -> dict[tuple[str, ...], str]:
    """``{path parts: member name}`` of all files, without ``__MACOSX/`` and dot-files."""
    if zf is not None:
        names = (i.filename for i in zf.infolist() if not i.is_dir())
    else:
        names = (
            Path(root, f).relative_to(source).as_posix()
            for root, _, files in os.walk(source, followlinks=True)
            for f in files
        )
    files = {}
    for name in names:
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if parts and not _ignored(parts):
            files[parts] = name
    return files


def _split_classes(files: dict[tuple[str, ...], str],
                   split_root: tuple[str, ...]) -> dict[str, list[str]]:
    """``{class: sorted image paths}`` for the images under ``split_root/<class>/``.

    Images may sit deeper inside a class folder (as in torchvision's ImageFolder).
    """
    depth = len(split_root)
    classes: dict[str, list[str]] = {}
    for p in files:
        if len(p) < depth + 2 or p[:depth] != split_root:
            continue
        if os.path.splitext(p[-1])[1].lower() in IMAGE_EXTENSIONS:
            classes.setdefault(p[depth], []).append(p)
    return {c: [files[p] for p in sorted(v)] for c, v in sorted(classes.items())}


def _find_root(files: dict[tuple[str, ...], str], split: str, source: Path) -> tuple[str, ...]:
    """The folder holding the splits: the top level, or one wrapper folder."""
    tops = {p[0] for p in files if len(p) > 1}
    if split in tops:
        return ()
    if len(tops) == 1:
        (wrapper,) = tops
        if any(len(p) > 2 and p[1] == split for p in files):
            return (wrapper,)
    found = sorted(tops) if tops else "none"
    raise ImageFolderError(
        f"{source}: no split {split!r}; expected an ImageFolder layout "
        f"'{split}/<class>/<image>.jpg|.jpeg|.png' (top-level folders found: {found})"
    )


def _decode(data: bytes, name: str, source: Path) -> np.ndarray:
    """(h, w, 3) uint8 by the project's one decoder (every mode, alpha, 16-bit)."""
    from lrrsa.images import ImageDecodeError, decode_image  # here so the module loads without Pillow

    try:
        return decode_image(data, name)
    except ImageDecodeError as exc:
        raise ImageFolderError(f"{source}: {exc}") from exc


def read_image_folder(source: str | os.PathLike, split: str) -> LabelledImages:
    """Read one split of an ImageFolder tree from a directory or a ``.zip``.

    Layout ``<split>/<class>/<file>.{jpg,jpeg,png}`` (optionally inside one
    wrapper folder). Classes are sorted alphabetically and labelled 0..K-1;
    images within a class are in sorted path order. Zip members are read one by
    one, never extracted. ``__MACOSX/`` and dot-files are ignored; other
    non-image files are skipped. Raises :class:`ImageFolderError` if the split is
    missing, has no images, its classes differ from another split's, or its
    images differ in size.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"image folder {source} does not exist")
    started = time.perf_counter()
    zf = zipfile.ZipFile(source) if source.is_file() else None
    try:
        files = _list_files(source, zf)
        root = _find_root(files, split, source)
        by_class = _split_classes(files, (*root, split))
        where = f"{source}: {'/'.join((*root, split))}/"
        if not by_class:
            raise ImageFolderError(
                f"{where} holds no images; expected '<class>/<image>.jpg|.jpeg|.png' below it"
            )
        classes = tuple(by_class)
        # Every other split at the same level must have the same classes.
        others = {p[len(root)] for p in files if len(p) > len(root) + 2} - {split}
        for other in sorted(others):
            other_classes = tuple(_split_classes(files, (*root, other)))
            if other_classes and other_classes != classes:
                raise ImageFolderError(
                    f"{source}: classes differ between splits: {split!r} has "
                    f"{list(classes)}, {other!r} has {list(other_classes)}"
                )

        names = [(label, name) for label, c in enumerate(classes) for name in by_class[c]]
        read = zf.read if zf is not None else (lambda n: (source / n).read_bytes())
        images: np.ndarray | None = None
        for i, (_, name) in enumerate(names):
            array = _decode(read(name), name, source)
            if images is None:
                images = np.empty((len(names), *array.shape), dtype=np.uint8)
            elif array.shape != images.shape[1:]:
                raise ImageFolderError(
                    f"{source}: {name} is {array.shape[1]}x{array.shape[0]} px; expected "
                    f"{images.shape[2]}x{images.shape[1]} px like {names[0][1]} "
                    "(all images of a split must have the same size)"
                )
            images[i] = array
    finally:
        if zf is not None:
            zf.close()
    labels = np.fromiter((label for label, _ in names), dtype=np.int64, count=len(names))
    log.info("read %d %s images (%d classes) from %s in %.1f s",
             len(labels), split, len(classes), source, time.perf_counter() - started)
    return LabelledImages(images, labels, classes)


# --------------------------------------------------------------------------
# The official CIFAR-10 python archive
# --------------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays and builtins (no arbitrary code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        target = self._ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        if target[0] == "numpy._core.multiarray" and not hasattr(np, "_core"):
            target = ("numpy.core.multiarray", target[1])  # numpy < 1.26
        return super().find_class(*target)


def _str(x) -> str:
    return x.decode("latin1") if isinstance(x, bytes) else str(x)


def _load_pickle(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                 name: str, path: Path) -> dict[str, object]:
    member = members.get(name)
    if member is None:
        raise ImageFolderError(
            f"{path}: no member 'cifar-10-batches-py/{name}'; is this cifar-10-python.tar.gz? "
            f"(found {sorted(members) or 'no files'})"
        )
    with tar.extractfile(member) as f:
        try:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
        except Exception as exc:
            raise ImageFolderError(f"{path}: cannot unpickle {member.name}: {exc}") from exc
    if not isinstance(entry, dict):
        raise ImageFolderError(f"{path}: {member.name} holds a {type(entry).__name__}, not a dict")
    return {_str(k): v for k, v in entry.items()}


def read_cifar10_archive(path: str | os.PathLike, split: str) -> LabelledImages:
    """Read the ``train`` (data_batch_1..5) or ``test`` (test_batch) split of CIFAR-10.

    Reads the official ``cifar-10-python.tar.gz`` directly (no extraction), as
    torchvision does (pickles with ``encoding="latin1"``), but refuses pickled
    objects other than numpy arrays. Class names come from ``batches.meta``.
    """
    path = Path(path)
    if split not in _CIFAR10_BATCHES:
        raise ValueError(f"split must be one of {sorted(_CIFAR10_BATCHES)}, got {split!r}")
    with tarfile.open(path, "r:*") as tar:
        members = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
        meta = _load_pickle(tar, members, "batches.meta", path)
        if "label_names" not in meta:
            raise ImageFolderError(f"{path}: batches.meta has no 'label_names' "
                                   f"(keys {sorted(meta)})")
        classes = tuple(_str(c) for c in meta["label_names"])
        images, labels = [], []
        for name in _CIFAR10_BATCHES[split]:
            batch = _load_pickle(tar, members, name, path)
            data = np.asarray(batch.get("data"))
            batch_labels = np.asarray(batch.get("labels", batch.get("fine_labels")),
                                      dtype=np.int64)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ImageFolderError(f"{path}: {name}: 'data' must be (N, 3072) uint8, "
                                       f"got {data.shape} {data.dtype}")
            if batch_labels.shape != (len(data),):
                raise ImageFolderError(f"{path}: {name}: {len(data)} images but "
                                       f"labels of shape {batch_labels.shape}")
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(batch_labels)
    return LabelledImages(np.ascontiguousarray(np.concatenate(images)),
                          np.concatenate(labels), classes)


# --------------------------------------------------------------------------
# The class-stratified subset
# --------------------------------------------------------------------------

def stratified_subset(labels: np.ndarray, n: int,
                      seed: int | np.random.SeedSequence) -> np.ndarray:
    """Sorted indices of ``n`` items, ``n / K`` from each of the K classes in ``labels``.

    Each item gets a uniform key from ``np.random.default_rng(seed).random``; per
    class the items with the smallest keys are taken. So the draw is uniform
    without replacement within each class, deterministic, and nested: for the
    same seed, the subset of size n is contained in the subset of size m > n.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    classes, counts = np.unique(labels, return_counts=True)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if len(classes) == 0:
        if n == 0:
            return np.empty(0, dtype=np.int64)
        raise ValueError(f"cannot draw {n} items from an empty label array")
    if n % len(classes):
        raise ValueError(f"n={n} is not divisible by the number of classes "
                         f"({len(classes)}); cannot draw equally many per class")
    per_class = n // len(classes)
    short = [f"{c!r} has {k}" for c, k in zip(classes.tolist(), counts.tolist()) if k < per_class]
    if short:
        raise ValueError(f"n={n} needs {per_class} items per class, but class "
                         + ", class ".join(short))
    keys = np.random.default_rng(seed).random(len(labels))
    chosen = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        chosen.append(idx[np.argsort(keys[idx], kind="stable")[:per_class]])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _subset_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Independent streams for the training and the held-out subsets."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return train, test


def write_training_set(path: str | os.PathLike, train: LabelledImages, test: LabelledImages,
                       *, n_train: int, n_test: int, seed: int) -> None:
    """Write the stratified training and held-out subsets to an ``.npz``, atomically.

    The training subset is drawn from ``train`` and the held-out subset from
    ``test``, with :func:`stratified_subset` on two independent streams spawned
    from ``np.random.SeedSequence(seed)``. Keys: ``train_images``,
    ``train_labels``, ``test_images``, ``test_labels``, ``classes``,
    ``source_indices_train``, ``source_indices_test`` (indices into the source
    splits) and ``seed``.
    """
    path = Path(path)
    if tuple(train.classes) != tuple(test.classes):
        raise ValueError(f"train and test splits have different classes: "
                         f"{list(train.classes)} vs {list(test.classes)}")
    train_seed, test_seed = _subset_seeds(seed)
    idx_train = stratified_subset(train.labels, n_train, train_seed)
    idx_test = stratified_subset(test.labels, n_test, test_seed)
    arrays = {
        "train_images": train.images[idx_train],
        "train_labels": train.labels[idx_train],
        "test_images": test.images[idx_test],
        "test_labels": test.labels[idx_test],
        "classes": np.array(train.classes, dtype=str),
        "source_indices_train": idx_train,
        "source_indices_test": idx_test,
        "seed": np.int64(seed),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote %s: %d training and %d held-out images (seed %d)",
             path, len(idx_train), len(idx_test), seed)


def load_training_set(path: str | os.PathLike) -> tuple[LabelledImages, LabelledImages]:
    """Read an ``.npz`` written by :func:`write_training_set`: ``(train, test)``."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        missing = {"train_images", "train_labels", "test_images", "test_labels",
                   "classes"} - set(npz.files)
        if missing:
            raise ValueError(f"{path} is not a training set: missing {sorted(missing)}")
        classes = tuple(str(c) for c in npz["classes"])
        train = LabelledImages(npz["train_images"], npz["train_labels"], classes)
        test = LabelledImages(npz["test_images"], npz["test_labels"], classes)
    return train, test


#: ``training_data.source`` values of the config and how each is read.
TRAINING_SOURCES = ("cifar10_archive", "image_folder", "demo")


def read_training_source(path: str | os.PathLike, source: str, *,
                         md5: str | None = None) -> tuple[LabelledImages, LabelledImages]:
    """Read the ``train`` and ``test`` splits of a configured training source.

    ``cifar10_archive``: the official archive, first checked against ``md5`` (when
    given) with :func:`~lrrsa.data.download.verify_file`. ``image_folder`` and
    ``demo``: an ImageFolder directory or zip (``md5`` is not used).
    """
    path = Path(path)
    if source == "cifar10_archive":
        from lrrsa.data.download import verify_file

        verify_file(path, md5=md5)
        return read_cifar10_archive(path, "train"), read_cifar10_archive(path, "test")
    if source in ("image_folder", "demo"):
        return read_image_folder(path, "train"), read_image_folder(path, "test")
    raise ValueError(f"training source must be one of {list(TRAINING_SOURCES)}, got {source!r}")


def prepare_training_set(input_path: str | os.PathLike, output_path: str | os.PathLike, *,
                         source: str, md5: str | None = None, n_train: int, n_test: int,
                         seed: int) -> None:
    """The prepare_training_set job: :func:`read_training_source`, then
    :func:`write_training_set` to ``output_path``."""
    train, test = read_training_source(input_path, source, md5=md5)
    write_training_set(output_path, train, test, n_train=n_train, n_test=n_test, seed=seed)
