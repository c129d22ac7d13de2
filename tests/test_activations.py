"""Activation caching: layout, reductions against direct computation, eval-mode independence."""

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from lrrsa.activations import extract_to_hdf5, reduce_activation
from lrrsa.images import load_image
from lrrsa.model import Architecture, build_model

ARCH = Architecture(widths=(4, 8), pool_size=2, fc_width=16, n_classes=3)


@pytest.fixture
def stimuli(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def trained_like_model():
    model = build_model(ARCH, seed=0)
    model.train()
    model(torch.rand(8, 3, 16, 16) * 2)  # running statistics away from their init
    return model.eval()


@pytest.mark.parametrize("reduce", ["spatial_mean", "avgpool", "full"])
def test_cached_features_equal_a_direct_forward_pass(tmp_path, stimuli, reduce):
    model = trained_like_model()
    out = tmp_path / "acts.h5"
    ids = [p.stem for p in stimuli]
    extract_to_hdf5(model, stimuli, ids, ["conv1", "conv2", "fc1"], out, image_size=24, reduce=reduce,
                    pool_size=3, batch_size=2, device=torch.device("cpu"), attrs={"condition": "bp"})
    images = torch.stack([torch.from_numpy(load_image(p, 24)).permute(2, 0, 1).float() / 255 for p in stimuli])
    with torch.no_grad():
        direct = model.features(images)
    with h5py.File(out) as h5:
        assert h5["stimuli"].asstr()[()].tolist() == ids
        assert h5.attrs["condition"] == "bp" and h5.attrs["reduce"] == reduce
        conv1 = direct["conv1"]
        expected = {
            "spatial_mean": conv1.mean(dim=(2, 3)),
            "avgpool": torch.nn.functional.adaptive_avg_pool2d(conv1, 3).flatten(1),
            "full": conv1.flatten(1),
        }[reduce]
        np.testing.assert_allclose(h5["conv1"][()], expected.numpy(), rtol=1e-5, atol=1e-6)
        assert tuple(h5["conv1"].attrs["feature_shape"]) == {
            "spatial_mean": (4,), "avgpool": (4, 3, 3), "full": (4, 24, 24)}[reduce]
        np.testing.assert_allclose(h5["fc1"][()], direct["fc1"].numpy(), rtol=1e-5, atol=1e-6)
        assert h5["conv2"].shape[0] == 5
    assert not (tmp_path / "acts.h5.tmp").exists()


def test_batch_size_does_not_change_features(tmp_path, stimuli):
    model = trained_like_model()
    kwargs = dict(image_size=20, reduce="spatial_mean", pool_size=2, device=torch.device("cpu"))
    extract_to_hdf5(model, stimuli, list("abcde"), ["conv2"], tmp_path / "one.h5", batch_size=1, **kwargs)
    extract_to_hdf5(model, stimuli, list("abcde"), ["conv2"], tmp_path / "all.h5", batch_size=5, **kwargs)
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "all.h5") as b:
        np.testing.assert_allclose(a["conv2"][()], b["conv2"][()], rtol=1e-5, atol=1e-6)


def test_spatial_mean_closed_form():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    torch.testing.assert_close(reduce_activation(x, "spatial_mean", 1)[0], torch.tensor([1.5, 5.5, 9.5]))
    with pytest.raises(ValueError, match="unknown reduction"):
        reduce_activation(x, "max", 1)
