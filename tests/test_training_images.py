"""Tests for lrrsa.data.training_images."""

from __future__ import annotations

import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from lrrsa.data import training_images as ti  # noqa: E402
from lrrsa.data.training_images import (  # noqa: E402
    ImageFolderError,
    LabelledImages,
    load_training_set,
    prepare_training_set,
    read_cifar10_archive,
    read_image_folder,
    stratified_subset,
    write_training_set,
)

CIFAR_ZIP = Path("/work/shared/data/cifar10-jpeg.zip")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")


# --------------------------------------------------------------------------
# ImageFolder fixtures: lossless PNGs, so decoded pixels must equal the arrays
# --------------------------------------------------------------------------

def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def make_tree(size=(6, 5)) -> tuple[dict[str, bytes], dict[str, list[np.ndarray]]]:
    """ImageFolder files ``{relative path: bytes}`` and the expected RGB arrays per split.

    Classes are created in non-alphabetical order and with unequal counts.
    """
    rng = np.random.default_rng(0)
    h, w = size
    files: dict[str, bytes] = {}
    expected: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    counts = {"zebra": 3, "ant": 2, "moose": 4}
    for split in ("train", "test"):
        for cls in sorted(counts):  # expected order: alphabetical classes, sorted files
            for k in range(counts[cls]):
                rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                files[f"{split}/{cls}/img{k:02d}.png"] = png_bytes(rgb)
                expected[split].append(rgb)
    # A grayscale and an RGBA image must come back as RGB, the RGBA one composited
    # over mid-grey (lrrsa.images.ALPHA_BACKGROUND): round(a/255*c + (1 - a/255)*128).
    gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    files["train/moose/img98.png"] = png_bytes(gray)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    files["train/moose/img99.PNG"] = png_bytes(rgba)
    expected["train"].insert(2 + 4, np.repeat(gray[..., None], 3, axis=2))
    colour, alpha = rgba[..., :3].astype(int), rgba[..., 3:].astype(int)
    over_grey = (2 * (alpha * colour + (255 - alpha) * 128) + 255) // 510  # integer rounding, no ties
    expected["train"].insert(2 + 5, over_grey.astype(np.uint8))
    return files, expected


def expected_labels(split: str) -> np.ndarray:
    per_class = {"train": [2, 6, 3], "test": [2, 4, 3]}[split]  # ant, moose, zebra
    return np.repeat(np.arange(3), per_class)


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return path


@pytest.fixture
def tree():
    return make_tree()


@pytest.mark.parametrize("split", ["train", "test"])
def test_dir_and_zip_give_identical_arrays(tmp_path, tree, split):
    files, expected = tree
    folder = read_image_folder(write_dir(tmp_path / "dir", files), split)
    zipped = read_image_folder(write_zip(tmp_path / "x.zip", files), split)
    assert folder.classes == zipped.classes == ("ant", "moose", "zebra")
    assert folder.images.dtype == np.uint8 and folder.images.shape[1:] == (6, 5, 3)
    np.testing.assert_array_equal(folder.images, zipped.images)
    np.testing.assert_array_equal(folder.labels, zipped.labels)
    np.testing.assert_array_equal(folder.images, np.stack(expected[split]))
    np.testing.assert_array_equal(folder.labels, expected_labels(split))
    assert folder.labels.dtype == np.int64


def test_zip_junk_and_wrapper_folder_are_ignored(tmp_path, tree):
    files, expected = tree
    junk = dict(files)
    junk["__MACOSX/train/ant/._img00.png"] = b"resource fork"
    junk["train/ant/.DS_Store"] = b"finder"
    junk["train/.hidden/img.png"] = files["train/ant/img00.png"]
    junk["train/zebra/notes.txt"] = b"not an image"
    junk["README.txt"] = b"hello"
    out = read_image_folder(write_zip(tmp_path / "x.zip", junk, prefix="cifar/"), "train")
    assert out.classes == ("ant", "moose", "zebra")
    np.testing.assert_array_equal(out.images, np.stack(expected["train"]))


def test_zip_is_read_without_extracting(tmp_path, tree, monkeypatch):
    files, _ = tree
    archive = write_zip(tmp_path / "x.zip", files)

    def no_extract(*args, **kwargs):
        raise AssertionError("must not extract")

    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extract)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extract)
    read_image_folder(archive, "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]


def test_jpeg_is_decoded(tmp_path):
    rgb = np.full((8, 8, 3), (200, 30, 90), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    out = read_image_folder(write_zip(tmp_path / "j.zip", {
        "train/a/x.jpg": buf.getvalue(), "train/b/y.JPEG": buf.getvalue()}), "train")
    assert out.images.shape == (2, 8, 8, 3)
    assert np.abs(out.images.astype(int) - rgb).max() <= 3  # JPEG is lossy


def test_missing_split_names_source_and_split(tmp_path, tree):
    files, _ = tree
    archive = write_zip(tmp_path / "x.zip", files)
    with pytest.raises(ImageFolderError, match="'val'") as info:
        read_image_folder(archive, "val")
    assert str(archive) in str(info.value) and "train" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_image_folder(tmp_path / "nowhere", "train")


def test_classes_differing_between_splits(tmp_path, tree):
    files, _ = tree
    files = {k: v for k, v in files.items() if not k.startswith("test/ant/")}
    with pytest.raises(ImageFolderError, match="classes differ") as info:
        read_image_folder(write_dir(tmp_path, files), "train")
    assert "'ant'" in str(info.value) and "test" in str(info.value)


def test_image_size_mismatch_names_file(tmp_path, tree):
    files, _ = tree
    files["test/moose/img50.png"] = png_bytes(np.zeros((7, 5, 3), np.uint8))
    with pytest.raises(ImageFolderError, match="test/moose/img50.png") as info:
        read_image_folder(write_zip(tmp_path / "x.zip", files), "test")
    assert "5x7" in str(info.value) and "5x6" in str(info.value)


def test_no_images(tmp_path):
    archive = write_zip(tmp_path / "x.zip", {"train/ant/readme.txt": b"x"})
    with pytest.raises(ImageFolderError, match="no images"):
        read_image_folder(archive, "train")


def test_undecodable_image_names_file(tmp_path, tree):
    files, _ = tree
    files["train/ant/broken.png"] = b"not a png"
    with pytest.raises(ImageFolderError, match="train/ant/broken.png"):
        read_image_folder(write_dir(tmp_path, files), "train")


@pytest.mark.skipif(not CIFAR_ZIP.exists(), reason=f"{CIFAR_ZIP} not available")
def test_real_cifar10_jpeg_zip_test_split():
    test = read_image_folder(CIFAR_ZIP, "test")
    assert test.images.shape == (10_000, 32, 32, 3)
    assert test.images.dtype == np.uint8
    assert test.classes == CIFAR_CLASSES
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    assert 50 < test.images.mean() < 200  # real pictures, not blank


# --------------------------------------------------------------------------
# The official python archive, written here in exactly that format
# --------------------------------------------------------------------------

def cifar_archive(path: Path, sizes=(3, 2, 4, 1, 2), n_test=5, legacy=False):
    """A synthetic cifar-10-python.tar.gz; returns the batches written.

    ``legacy``: str keys and ``numpy.core.multiarray`` globals with pickle protocol 2,
    like the Python 2 pickles of the real archive.
    """
    rng = np.random.default_rng(1)
    names = [b"airplane", b"automobile", b"bird"]

    def dumps(obj):
        if not legacy:
            return pickle.dumps(obj)
        obj = {k.decode(): v for k, v in obj.items()}
        return pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray",
                                                    b"numpy.core.multiarray")

    batches = {}
    for name, n in [(f"data_batch_{i + 1}", k) for i, k in enumerate(sizes)] + [("test_batch", n_test)]:
        batches[name] = {b"batch_label": name.encode(),
                         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 3, n).tolist(),
                         b"filenames": [b"x.png"] * n}
    with tarfile.open(path, "w:gz") as tar:
        contents = {"batches.meta": {b"label_names": names, b"num_cases_per_batch": 3,
                                     b"num_vis": 3072}, **batches}
        for name, obj in contents.items():
            data = dumps(obj)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return batches


def expected_cifar(batches, names):
    data = np.concatenate([batches[n][b"data"] for n in names])
    images = np.stack([row.reshape(3, 32, 32).transpose(1, 2, 0) for row in data])
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return images, labels


@pytest.mark.parametrize("legacy", [False, True])
def test_cifar10_archive(tmp_path, legacy):
    batches = cifar_archive(tmp_path / "c.tar.gz", legacy=legacy)
    train = read_cifar10_archive(tmp_path / "c.tar.gz", "train")
    images, labels = expected_cifar(batches, [f"data_batch_{i}" for i in range(1, 6)])
    assert train.images.shape == (12, 32, 32, 3) and train.images.flags.c_contiguous
    np.testing.assert_array_equal(train.images, images)
    np.testing.assert_array_equal(train.labels, labels)
    assert train.labels.dtype == np.int64
    assert train.classes == ("airplane", "automobile", "bird")
    test = read_cifar10_archive(tmp_path / "c.tar.gz", "test")
    images, labels = expected_cifar(batches, ["test_batch"])
    np.testing.assert_array_equal(test.images, images)
    np.testing.assert_array_equal(test.labels, labels)


def test_cifar10_pixel_layout(tmp_path):
    """The 3072 bytes of a row are the R, G and B planes, each row-major 32 x 32."""
    batches = cifar_archive(tmp_path / "c.tar.gz", sizes=(1, 1, 1, 1, 1))
    row = batches["data_batch_1"][b"data"][0]
    image = read_cifar10_archive(tmp_path / "c.tar.gz", "train").images[0]
    for y, x, c in [(0, 0, 0), (0, 1, 0), (1, 0, 0), (5, 7, 1), (31, 31, 2)]:
        assert image[y, x, c] == row[c * 1024 + y * 32 + x]


def test_cifar10_archive_errors(tmp_path):
    cifar_archive(tmp_path / "c.tar.gz")
    with pytest.raises(ValueError, match="'val'"):
        read_cifar10_archive(tmp_path / "c.tar.gz", "val")
    with tarfile.open(tmp_path / "empty.tar.gz", "w:gz"):
        pass
    with pytest.raises(ImageFolderError, match="batches.meta"):
        read_cifar10_archive(tmp_path / "empty.tar.gz", "train")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_archive_refuses_arbitrary_pickles(tmp_path):
    data = pickle.dumps({b"label_names": [Evil()]})
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageFolderError, match="refusing"):
        read_cifar10_archive(tmp_path / "evil.tar.gz", "train")


# --------------------------------------------------------------------------
# stratified_subset
# --------------------------------------------------------------------------

def test_stratified_subset_counts_sorted_unique():
    labels = np.repeat(np.arange(10), np.arange(50, 150, 10))
    np.random.default_rng(3).shuffle(labels)
    idx = stratified_subset(labels, 200, seed=42)
    assert idx.dtype == np.int64 and len(idx) == 200
    assert np.all(np.diff(idx) > 0)  # sorted and unique
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=10), [20] * 10)


def test_stratified_subset_deterministic_and_seed_dependent():
    labels = np.repeat(np.arange(4), 100)
    a = stratified_subset(labels, 40, seed=7)
    np.testing.assert_array_equal(a, stratified_subset(labels.copy(), 40, seed=7))
    assert not np.array_equal(a, stratified_subset(labels, 40, seed=8))


def test_stratified_subset_is_nested_across_sizes():
    labels = np.repeat(np.arange(4), 100)
    small = stratified_subset(labels, 40, seed=1)
    large = stratified_subset(labels, 120, seed=1)
    assert set(small) <= set(large)


def test_stratified_subset_is_uniform_within_class():
    # Class 0 has 10 items and class 1 has 20; 2 are drawn from each, so every
    # item should be chosen with probability 2/10 and 2/20 respectively.
    labels = np.array([0] * 10 + [1] * 20)
    counts = np.zeros(30)
    runs = 3000
    for seed in range(runs):
        counts[stratified_subset(labels, 4, seed)] += 1
    freq = counts / runs
    # binomial sd: sqrt(.2*.8/3000)=0.0073, sqrt(.1*.9/3000)=0.0055; allow 5 sd
    assert np.abs(freq[:10] - 0.2).max() < 0.037
    assert np.abs(freq[10:] - 0.1).max() < 0.028


def test_stratified_subset_with_string_labels():
    labels = np.array(["cat", "dog"] * 5)
    idx = stratified_subset(labels, 4, seed=0)
    assert sorted(labels[idx].tolist()) == ["cat", "cat", "dog", "dog"]


def test_stratified_subset_errors_name_the_problem():
    labels = np.repeat(np.arange(3), [5, 2, 5])
    with pytest.raises(ValueError, match=r"n=10 is not divisible by the number of classes \(3\)"):
        stratified_subset(labels, 10, seed=0)
    with pytest.raises(ValueError, match=r"3 items per class.*class 1 has 2"):
        stratified_subset(labels, 9, seed=0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        stratified_subset(labels, -3, seed=0)


# --------------------------------------------------------------------------
# write_training_set / load_training_set
# --------------------------------------------------------------------------

def toy_split(n_per_class: int, seed: int) -> LabelledImages:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, (len(labels), 4, 4, 3), dtype=np.uint8)
    return LabelledImages(images, labels, ("a", "b", "c"))


def test_write_and_load_training_set(tmp_path):
    train, test = toy_split(20, 0), toy_split(10, 1)
    path = tmp_path / "out" / "training_set.npz"
    write_training_set(path, train, test, n_train=30, n_test=15, seed=42)
    assert sorted(p.name for p in path.parent.iterdir()) == ["training_set.npz"]
    with np.load(path, allow_pickle=False) as npz:
        assert {"train_images", "train_labels", "test_images", "test_labels", "classes",
                "source_indices_train", "source_indices_test"} <= set(npz.files)
        idx_train, idx_test = npz["source_indices_train"], npz["source_indices_test"]
    np.testing.assert_array_equal(np.bincount(train.labels[idx_train]), [10] * 3)
    np.testing.assert_array_equal(np.bincount(test.labels[idx_test]), [5] * 3)
    sub_train, sub_test = load_training_set(path)
    np.testing.assert_array_equal(sub_train.images, train.images[idx_train])
    np.testing.assert_array_equal(sub_train.labels, train.labels[idx_train])
    np.testing.assert_array_equal(sub_test.images, test.images[idx_test])
    np.testing.assert_array_equal(sub_test.labels, test.labels[idx_test])
    assert sub_train.classes == sub_test.classes == ("a", "b", "c")


def test_training_set_is_deterministic_with_separate_streams(tmp_path):
    split = toy_split(20, 0)
    write_training_set(tmp_path / "a.npz", split, split, n_train=30, n_test=30, seed=5)
    write_training_set(tmp_path / "b.npz", split, split, n_train=30, n_test=30, seed=5)
    write_training_set(tmp_path / "c.npz", split, split, n_train=30, n_test=30, seed=6)
    a, b, c = (np.load(tmp_path / f"{k}.npz") for k in "abc")
    np.testing.assert_array_equal(a["source_indices_train"], b["source_indices_train"])
    np.testing.assert_array_equal(a["train_images"], b["train_images"])
    # Same labels, same n, same seed: only different streams make these differ.
    assert not np.array_equal(a["source_indices_train"], a["source_indices_test"])
    assert not np.array_equal(a["source_indices_train"], c["source_indices_train"])


def test_write_training_set_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "set.npz"
    path.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ti.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        write_training_set(path, toy_split(4, 0), toy_split(4, 1), n_train=3, n_test=3, seed=0)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.npz"]


def test_write_training_set_rejects_mismatched_classes(tmp_path):
    other = LabelledImages(np.zeros((3, 4, 4, 3), np.uint8), np.arange(3), ("a", "b", "d"))
    with pytest.raises(ValueError, match="different classes"):
        write_training_set(tmp_path / "x.npz", toy_split(4, 0), other,
                           n_train=3, n_test=3, seed=0)


def test_labelled_images_validates():
    with pytest.raises(ValueError, match="uint8"):
        LabelledImages(np.zeros((2, 4, 4, 3)), np.zeros(2, int), ("a",))
    with pytest.raises(ValueError, match="labels"):
        LabelledImages(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(3, int), ("a",))
    with pytest.raises(ValueError, match="0..0"):
        LabelledImages(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]), ("a",))


def test_prepare_training_set_from_archive_and_folder(tmp_path, tree):
    import hashlib

    batches = cifar_archive(tmp_path / "c.tar.gz", sizes=(6, 6, 6, 6, 6), n_test=9)
    md5 = hashlib.md5((tmp_path / "c.tar.gz").read_bytes()).hexdigest()
    out = tmp_path / "set.npz"
    # Labels of the synthetic archive are random: draw 1 per class, if possible.
    prepare_training_set(tmp_path / "c.tar.gz", out, source="cifar10_archive", md5=md5,
                         n_train=3, n_test=0, seed=0)
    train, test = load_training_set(out)
    assert len(train) == 3 and len(test) == 0
    with np.load(out) as npz:
        images, _ = expected_cifar(batches, [f"data_batch_{i}" for i in range(1, 6)])
        np.testing.assert_array_equal(train.images, images[npz["source_indices_train"]])
    from lrrsa.data.download import DownloadError

    with pytest.raises(DownloadError, match="md5"):
        prepare_training_set(tmp_path / "c.tar.gz", out, source="cifar10_archive",
                             md5="0" * 32, n_train=3, n_test=0, seed=0)

    files, _ = tree
    archive = write_zip(tmp_path / "x.zip", files)
    prepare_training_set(archive, out, source="image_folder", md5="ignored",
                         n_train=6, n_test=6, seed=0)
    train, test = load_training_set(out)
    np.testing.assert_array_equal(np.bincount(train.labels), [2, 2, 2])
    np.testing.assert_array_equal(np.bincount(test.labels), [2, 2, 2])
    with pytest.raises(ValueError, match="'nope'"):
        prepare_training_set(archive, out, source="nope", n_train=6, n_test=6, seed=0)
