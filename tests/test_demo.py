"""Tests of the embedded demo data (lrrsa.data.demo).

Expectations come from what the generator promises (layouts of the real
files, counts, determinism, planted structure), checked with independent
tools: zipfile/PIL for the zip, h5py for the HDF5 layout, scipy for RDMs and
rank correlations, a small torch CNN for learnability.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from lrrsa.data import demo  # noqa: E402
from lrrsa.data.demo import training_images as demo_training_images  # noqa: E402

REAL_STIMULUS_METADATA = REPO.parent / "shared" / "data" / "things-metadata" / "sub-01_StimulusMetadata.csv"

# A small THINGS configuration shared by most tests (module-scoped fixture).
CFG = dict(
    n_concepts=48,
    n_categories=4,
    n_exemplars=2,
    n_test_images=8,
    n_test_repeats=4,
    subjects=("sub-01", "sub-02"),
    n_other_voxels=60,
    image_size=64,
    seed=3,
)
ROIS = ("V1", "V2", "V3", "hV4", "lLOC", "rLOC", "IT")


# --------------------------------------------------------------------------
# training zip
# --------------------------------------------------------------------------


def _read_zip_images(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        return {n: np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist()}


def test_training_zip_layout(tmp_path: Path) -> None:
    path = tmp_path / "train.zip"
    demo.write_training_zip(path, n_train_per_class=3, n_test_per_class=2, seed=1, image_size=32)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            with Image.open(io.BytesIO(zf.read(info))) as im:
                assert im.format == "PNG" and im.mode == "RGB" and im.size == (32, 32)
    expected = {f"{split}/{cls}/{i:04d}.png"
                for split, n in (("train", 3), ("test", 2))
                for cls in demo.TRAINING_CLASSES for i in range(n)}
    assert names == sorted(names)
    assert set(names) == expected and len(names) == len(expected)
    classes = {n.split("/")[1] for n in names}
    assert len(classes) == 10 and classes == set(demo.TRAINING_CLASSES)
    # ImageFolder indexes classes in sorted order.
    assert list(demo.TRAINING_CLASSES) == sorted(demo.TRAINING_CLASSES)
    arrays = _read_zip_images(path)
    assert all(a.dtype == np.uint8 and a.shape == (32, 32, 3) for a in arrays.values())
    # Not degenerate: images within a class differ.
    assert not np.array_equal(arrays["train/disc/0000.png"], arrays["train/disc/0001.png"])
    # No temp file left next to the output.
    assert [p.name for p in tmp_path.iterdir()] == ["train.zip"]


def test_training_zip_deterministic(tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{k}.zip" for k in "abcd")
    demo.write_training_zip(a, n_train_per_class=2, n_test_per_class=1, seed=5, image_size=24)
    demo.write_training_zip(b, n_train_per_class=2, n_test_per_class=1, seed=5, image_size=24)
    demo.write_training_zip(c, n_train_per_class=2, n_test_per_class=1, seed=6, image_size=24)
    demo.write_training_zip(d, n_train_per_class=3, n_test_per_class=1, seed=5, image_size=24)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    ia, ic, idd = _read_zip_images(a), _read_zip_images(c), _read_zip_images(d)
    assert all(not np.array_equal(ia[n], ic[n]) for n in ia)
    # Each image has its own stream: more images per class leave the first ones unchanged.
    assert all(np.array_equal(ia[n], idd[n]) for n in ia)


def test_training_zip_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(demo_training_images, "_render_training_image", boom)
    with pytest.raises(RuntimeError):
        demo.write_training_zip(tmp_path / "x.zip", n_train_per_class=1, n_test_per_class=1, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_training_zip_is_learnable(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "train.zip"
    demo.write_training_zip(path, n_train_per_class=100, n_test_per_class=30, seed=11)
    images = _read_zip_images(path)

    def split(name: str):
        keys = sorted(k for k in images if k.startswith(name + "/"))
        x = torch.tensor(np.stack([images[k] for k in keys])).permute(0, 3, 1, 2).float() / 255
        y = torch.tensor([demo.TRAINING_CLASSES.index(k.split("/")[1]) for k in keys])
        return x, y

    xtr, ytr = split("train")
    xte, yte = split("test")
    assert len(ytr) == 1000 and len(yte) == 300
    torch.manual_seed(0)
    torch.set_num_threads(2)
    mean, sd = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
    xtr, xte = (xtr - mean) / sd, (xte - mean) / sd

    def block(cin: int, cout: int) -> list:
        return [torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False), torch.nn.BatchNorm2d(cout),
                torch.nn.ReLU()]

    net = torch.nn.Sequential(
        *block(3, 16), torch.nn.MaxPool2d(2), *block(16, 32), torch.nn.MaxPool2d(2), *block(32, 64),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    epochs, batch = 6, 32
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=5e-3, total_steps=epochs * ((len(ytr) + batch - 1) // batch))
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.4, f"held-out accuracy {acc:.2f} (chance 0.10)"


def test_training_zip_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        demo.write_training_zip(tmp_path / "z.zip", n_train_per_class=-1, n_test_per_class=1, seed=0)
    with pytest.raises(ValueError):
        demo.write_training_zip(tmp_path / "z.zip", n_train_per_class=1, n_test_per_class=1, seed=-3)


# --------------------------------------------------------------------------
# edge energy
# --------------------------------------------------------------------------


def _grating(n: int, along_rows: bool, period: float) -> np.ndarray:
    r, c = np.mgrid[0:n, 0:n]
    return 0.5 + 0.4 * np.sin(2 * np.pi * (r if along_rows else c) / period)


def test_edge_energy_orientation_and_scale() -> None:
    # Channels are wavelength-major: index = wavelength_index * 4 + orientation,
    # orientations 0, 45, 90, 135 deg (direction the carrier varies along).
    imgs = np.stack([_grating(64, False, 8.0), _grating(64, True, 8.0), _grating(64, True, 4.0)])
    e = demo.edge_energy(imgs)
    assert e.shape == (3, 8, 8, 8) and e.dtype == np.float64
    total = e.mean(axis=(2, 3))
    assert total[0].argmax() == 4 + 0  # vertical stripes, 8 px: coarse scale, 0 deg
    assert total[1].argmax() == 4 + 2  # horizontal stripes, 8 px: coarse scale, 90 deg
    assert total[2].argmax() == 0 + 2  # horizontal stripes, 4 px: fine scale, 90 deg


def test_edge_energy_ignores_uniform_luminance_and_is_local() -> None:
    flat = np.full((1, 64, 64), 0.7)
    assert np.abs(demo.edge_energy(flat)).max() < 1e-4
    patch = np.full((64, 64), 0.5)
    patch[:24, :24] = _grating(64, False, 6.0)[:24, :24]
    e = demo.edge_energy(patch[None]).sum(axis=1)[0]  # (8, 8) map
    assert e[:2, :2].mean() > 10 * e[5:, 5:].mean()


def test_edge_energy_input_types_and_sizes_agree() -> None:
    rng = np.random.default_rng(0)
    rgb8 = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(demo.edge_energy(rgb8), demo.edge_energy(rgb8 / 255.0), rtol=1e-4, atol=1e-6)
    grey = rgb8.astype(float) @ np.array([0.299, 0.587, 0.114]) / 255.0
    np.testing.assert_allclose(demo.edge_energy(rgb8), demo.edge_energy(grey), rtol=1e-4, atol=1e-6)
    # A 2x nearest-upsampled image is resampled back to the working size.
    big = _grating(64, False, 8.0).repeat(2, 0).repeat(2, 1)
    assert demo.edge_energy(big[None]).shape == (1, 8, 8, 8)
    assert demo.edge_energy(big[None]).mean(axis=(2, 3))[0].argmax() == 4


# --------------------------------------------------------------------------
# THINGS dataset
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def things(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("things")
    demo.write_things_dataset(root, **CFG)
    return root


def _stim(root: Path, sub: str) -> pd.DataFrame:
    return pd.read_csv(root / "betas_csv" / f"{sub}_StimulusMetadata.csv")


def _vox(root: Path, sub: str) -> pd.DataFrame:
    return pd.read_csv(root / "betas_csv" / f"{sub}_VoxelMetadata.csv")


def _h5(root: Path, sub: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(root / "betas_csv" / f"{sub}_ResponseData.h5", "r") as f:
        return f["ResponseData/block0_values"][()], f["ResponseData/block1_values"][:, 0]


def test_things_files_present(things: Path) -> None:
    names = sorted(p.name for p in (things / "betas_csv").iterdir())
    assert names == sorted(f"{s}_{k}" for s in CFG["subjects"]
                           for k in ("StimulusMetadata.csv", "VoxelMetadata.csv", "ResponseData.h5"))
    # Atomic writes leave no temp files anywhere.
    assert not [p for p in things.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_stimulus_metadata_matches_real_header(things: Path) -> None:
    if not REAL_STIMULUS_METADATA.exists():
        pytest.skip("real THINGS StimulusMetadata not available")
    real = pd.read_csv(REAL_STIMULUS_METADATA, nrows=5)
    for sub in CFG["subjects"]:
        stim = _stim(things, sub)
        assert list(stim.columns) == list(real.columns)
        for col in ("session", "run", "subject_id", "trial_id"):
            assert stim[col].dtype == real[col].dtype
    header = REAL_STIMULUS_METADATA.read_text().splitlines()[0]
    assert (things / "betas_csv" / "sub-01_StimulusMetadata.csv").read_text().splitlines()[0] == header


def test_stimulus_metadata_contents(things: Path) -> None:
    n_c, n_e, n_t, n_r = CFG["n_concepts"], CFG["n_exemplars"], CFG["n_test_images"], CFG["n_test_repeats"]
    orders = []
    for sub in CFG["subjects"]:
        stim = _stim(things, sub)
        assert (stim["subject_id"] == int(sub.split("-")[1])).all()
        assert stim["trial_id"].tolist() == list(range(len(stim)))
        assert set(stim["trial_type"]) == {"train", "test"}
        assert sorted(stim["session"].unique()) == list(range(1, n_r + 1))
        assert stim.groupby("session")["run"].nunique().min() >= 2  # several runs per session
        assert (stim["concept"] == stim["stimulus"].str.rsplit("_", n=1).str[0]).all()
        parsed = stim["stimulus"].str.extract(r"^(.+)_(\d\d)([a-z])\.jpg$")
        assert parsed.notna().all().all()
        assert (parsed[0] == stim["concept"]).all()
        number = parsed[1].astype(int)

        train = stim[stim.trial_type == "train"]
        assert len(train) == n_c * n_e
        assert train["stimulus"].is_unique  # each train image shown once
        assert train["concept"].nunique() == n_c
        assert (train.groupby("concept").size() == n_e).all()
        assert sorted(number[train.index].unique()) == list(range(1, n_e + 1))

        test = stim[stim.trial_type == "test"]
        assert test["stimulus"].nunique() == n_t
        assert test["concept"].nunique() == n_t  # distinct concepts
        assert (number[test.index] == n_e + 1).all()  # numbered after the train exemplars
        assert (test.groupby("stimulus").size() == n_r).all()
        assert (test.groupby("stimulus")["session"].nunique() == n_r).all()  # once per session
        assert not set(test["stimulus"]) & set(train["stimulus"])
        # Train trials are spread over the sessions (and shuffled).
        assert train["session"].nunique() == n_r
        orders.append(stim["stimulus"].tolist())
    assert orders[0] != orders[1]  # each subject has its own trial order
    assert sorted(orders[0]) == sorted(orders[1])  # ... of the same images


def test_concept_names_exercise_parsers(things: Path) -> None:
    concepts = _stim(things, "sub-01")["concept"].unique()
    assert any(re.search(r"\d", c) for c in concepts)
    assert any("-" in c for c in concepts)
    assert any("_" in c for c in concepts)
    truth = pd.read_csv(things / "demo_concepts.tsv", sep="\t")
    assert set(truth["concept"]) == set(concepts)
    assert truth["category"].nunique() == CFG["n_categories"]


def test_every_stimulus_has_an_image(things: Path) -> None:
    stim = _stim(things, "sub-01")
    images = things / "images" / "object_images"
    expected = {images / c / s for c, s in zip(stim["concept"], stim["stimulus"])}
    assert all(p.is_file() for p in expected)
    assert set(images.rglob("*.jpg")) == expected  # and no image without a trial
    size = CFG["image_size"]
    for p in sorted(expected)[:5]:
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (size, size)


def test_response_h5_layout(things: Path) -> None:
    for sub in CFG["subjects"]:
        stim, vox = _stim(things, sub), _vox(things, sub)
        values, voxel_ids = _h5(things, sub)
        assert values.dtype == np.float32
        assert values.shape == (len(vox), len(stim))
        assert np.array_equal(voxel_ids, vox["voxel_id"].to_numpy())
        assert np.isfinite(values).all()
        frame = pd.read_hdf(things / "betas_csv" / f"{sub}_ResponseData.h5", key="ResponseData")
        assert list(frame.columns) == ["voxel_id", *stim["trial_id"].tolist()]
        assert frame["voxel_id"].dtype == np.int64
        assert (frame.dtypes.iloc[1:] == np.float32).all()
        np.testing.assert_array_equal(frame.iloc[:, 1:].to_numpy(), values)


def test_voxel_metadata(things: Path) -> None:
    rois = ["V1", "V2", "V3", "hV4", "lLOC", "rLOC", "IT", "lFFA", "rFFA"]
    counts = []
    for sub in CFG["subjects"]:
        vox = _vox(things, sub)
        assert list(vox.columns[:9]) == ["voxel_id", "subject_id", "voxel_x", "voxel_y", "voxel_z",
                                         "nc_singletrial", "nc_testset", "splithalf_uncorrected",
                                         "splithalf_corrected"]
        assert sum(c.startswith("prf-") for c in vox.columns) >= 2
        assert sum(c.startswith("glasser-") for c in vox.columns) == 2
        assert vox["voxel_id"].is_unique
        assert (vox["subject_id"] == int(sub.split("-")[1])).all()
        xyz = vox[["voxel_x", "voxel_y", "voxel_z"]]
        assert all(pd.api.types.is_integer_dtype(t) for t in xyz.dtypes)
        assert not xyz.duplicated().any()
        for roi in rois:
            assert set(vox[roi].unique()) <= {0, 1}
        for roi, n in demo.DEFAULT_VOXELS_PER_ROI.items():
            assert abs(vox[roi].sum() - n) <= 0.1 * n
        no_roi = vox[rois].sum(axis=1) == 0
        assert no_roi.sum() == CFG["n_other_voxels"]
        # Default ROIs are disjoint; FFA lies inside IT.
        assert (vox[list(demo.DEFAULT_VOXELS_PER_ROI)].sum(axis=1) <= 1).all()
        assert (vox.loc[vox["lFFA"] == 1, "IT"] == 1).all() and vox["lFFA"].sum() > 0
        # Reliability columns are computed from data: ROI voxels beat noise-only voxels.
        assert vox.loc[~no_roi, "nc_testset"].mean() > vox.loc[no_roi, "nc_testset"].mean() + 20
        assert (vox["nc_testset"] >= vox["nc_singletrial"]).all()
        counts.append(vox[rois].sum().tolist())
    assert counts[0] != counts[1]  # counts vary slightly between subjects


def test_things_is_deterministic(things: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    demo.write_things_dataset(again, **{**CFG, "subjects": ("sub-02",)})
    for name in ("sub-02_StimulusMetadata.csv", "sub-02_VoxelMetadata.csv"):
        assert (again / "betas_csv" / name).read_bytes() == (things / "betas_csv" / name).read_bytes()
    np.testing.assert_array_equal(_h5(again, "sub-02")[0], _h5(things, "sub-02")[0])
    first = sorted((things / "images" / "object_images").rglob("*.jpg"))[:10]
    for p in first:
        q = again / p.relative_to(things)
        assert q.read_bytes() == p.read_bytes()
    other = tmp_path / "other"
    demo.write_things_dataset(other, **{**CFG, "subjects": ("sub-02",), "seed": 4})
    assert (other / "betas_csv" / "sub-02_StimulusMetadata.csv").read_bytes() != \
        (things / "betas_csv" / "sub-02_StimulusMetadata.csv").read_bytes()


def test_things_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        demo.write_things_dataset(tmp_path, n_concepts=4, n_test_images=5)
    with pytest.raises(ValueError):
        demo.write_things_dataset(tmp_path, voxels_per_roi={"MT": 10})
    with pytest.raises(ValueError):
        demo.write_things_dataset(tmp_path, subjects=("subject1",))


# --------------------------------------------------------------------------
# planted structure
# --------------------------------------------------------------------------


def _rdm(patterns: np.ndarray) -> np.ndarray:
    return pdist(patterns, metric="correlation")  # 1 - Pearson r, upper triangle


def _brain(root: Path, sub: str):
    """Voxel-z-scored single trials (voxels x trials), stimulus and voxel metadata."""
    values, _ = _h5(root, sub)
    z = (values - values.mean(1, keepdims=True)) / values.std(1, keepdims=True)
    return z, _stim(root, sub), _vox(root, sub)


def test_planted_structure_in_rdms(things: Path) -> None:
    truth = pd.read_csv(things / "demo_concepts.tsv", sep="\t").set_index("concept")["category"]
    stim0 = _stim(things, "sub-01")
    first = sorted(stim0[stim0.trial_type == "train"].groupby("concept")["stimulus"].min())
    concepts = [s.rsplit("_", 1)[0] for s in first]
    imgs = np.stack([np.asarray(Image.open(things / "images" / "object_images" / c / s).convert("RGB"))
                     for c, s in zip(concepts, first)])
    edge_rdm = _rdm(demo.edge_energy(imgs).reshape(len(first), -1))
    cats = truth[concepts].to_numpy()
    cat_rdm = (cats[:, None] != cats[None, :])[np.triu_indices(len(cats), 1)].astype(float)

    for sub in CFG["subjects"]:
        z, stim, vox = _brain(things, sub)
        rho = {}
        for roi in ("V1", "IT"):
            rows = vox[roi].to_numpy() == 1
            pats = np.stack([z[rows][:, (stim["stimulus"] == s).to_numpy()].mean(1) for s in first])
            brain = _rdm(pats)
            rho[roi] = (spearmanr(brain, edge_rdm)[0], spearmanr(brain, cat_rdm)[0])
        (v1_edge, v1_cat), (it_edge, it_cat) = rho["V1"], rho["IT"]
        assert v1_edge > 0.15 and v1_edge > it_edge + 0.15, rho
        assert it_cat > 0.2 and it_cat > v1_cat + 0.2, rho


def test_split_half_reliability_positive_in_every_roi(things: Path) -> None:
    for sub in CFG["subjects"]:
        z, stim, vox = _brain(things, sub)
        test = stim[stim.trial_type == "test"]
        images = sorted(test["stimulus"].unique())

        def half(parity: int, rows: np.ndarray) -> np.ndarray:
            in_half = (test["session"] % 2 == parity).to_numpy()
            cols = [test.index[(test["stimulus"] == s).to_numpy() & in_half] for s in images]
            pats = np.stack([z[rows][:, c].mean(1) for c in cols])
            return pats - pats.mean(0)  # per-voxel centring removes session offsets

        for roi in ROIS:
            rows = vox[roi].to_numpy() == 1
            r = np.corrcoef(half(1, rows).ravel(), half(0, rows).ravel())[0, 1]
            assert r > 0.3, (sub, roi, r)
        rows = (vox[list(ROIS)].sum(axis=1) == 0).to_numpy()
        r_noise = np.corrcoef(half(1, rows).ravel(), half(0, rows).ravel())[0, 1]
        assert abs(r_noise) < 0.15, r_noise  # voxels outside the ROIs carry noise only
