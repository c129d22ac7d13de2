"""Published torchvision reference networks (lrrsa.pretrained), offline: the registry
against torchvision's enums, the loader's hash checks (local file, cache, download),
node validation, and cached activations against torchvision's own feature extractor."""

import hashlib
import json
import os
import urllib.error

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from lrrsa import pretrained
from lrrsa.data.stimuli import write_stimulus_table
from lrrsa.images import load_image
from lrrsa.pretrained import (
    PretrainedWeightsError,
    extract_pretrained_file,
    extract_pretrained_to_hdf5,
    load_pretrained,
    reference_layers,
    reference_weights,
    resolve_layers,
)
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.transforms.functional import normalize

R18 = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def resnet18_state(tmp_path_factory):
    """A resnet18 state dict that is not torchvision's (random weights, BatchNorm
    statistics moved off their init), saved as a local weights file."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 32, 32) * 3)
    state = model.state_dict()
    path = tmp_path_factory.mktemp("weights") / "my-resnet18.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (60 + 3 * i, 70, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_registry_is_torchvisions_weights_enums():
    models = torchvision.models
    for arch, enum in [("resnet50", models.ResNet50_Weights), ("resnet18", models.ResNet18_Weights),
                       ("alexnet", models.AlexNet_Weights), ("vgg16", models.VGG16_Weights)]:
        entries = pretrained.registry()[arch]
        assert list(entries) == [member.name for member in enum]
        for member in enum:
            ref = entries[member.name]
            file_name = member.url.rsplit("/", 1)[1]
            assert (ref.url, ref.file_name, ref.enum) == (member.url, file_name, member)
            assert ref.sha256_prefix == torch.hub.HASH_REGEX.search(file_name).group(1)
            transforms = member.transforms()
            assert ref.mean == tuple(transforms.mean) and ref.std == tuple(transforms.std)
            assert (ref.crop_size, ref.resize_size) == (transforms.crop_size[0], transforms.resize_size[0])
    assert {"IMAGENET1K_V1", "IMAGENET1K_V2"} <= set(pretrained.registry()["resnet50"])
    assert reference_weights("resnet50").name == "IMAGENET1K_V2"  # torchvision's DEFAULT
    assert reference_weights("resnet50", "ResNet50_Weights.IMAGENET1K_V1").sha256_prefix == "0676ba61"
    assert reference_weights("resnet18", "IMAGENET1K_V1").file_name == "resnet18-f37072fd.pth"


def test_every_entry_is_the_plain_builder_with_its_classes():
    """The loader builds get_model(arch, weights=None, num_classes=...) and loads strictly;
    that this is torchvision's model for every entry shows in meta['num_params']."""
    for arch, entries in pretrained.registry().items():
        for ref in entries.values():
            assert ref.sha256_prefix, ref.qualified_name
            kwargs = {} if ref.num_classes is None else {"num_classes": ref.num_classes}
            with torch.device("meta"):
                model = torchvision.models.get_model(arch, weights=None, **kwargs)
            assert sum(p.numel() for p in model.parameters()) == ref.num_params, ref.qualified_name


def test_unknown_architecture_and_weights_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown reference architecture 'resnet51'.*vgg16.*resnet50"):
        reference_weights("resnet51")
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET1K_V3' for resnet50.*IMAGENET1K_V1, IMAGENET1K_V2"):
        load_pretrained("resnet50", "IMAGENET1K_V3")
    with pytest.raises(ValueError, match="unknown reference architecture 'vit_b_16'"):
        reference_layers("vit_b_16")


def test_default_layers_are_valid_nodes_with_cacheable_outputs():
    for arch in pretrained.ARCHITECTURES:
        assert resolve_layers(arch, None) == {name: name for name in reference_layers(arch)}
    assert reference_layers("resnet50") == ("layer1", "layer2", "layer3", "layer4", "avgpool")
    assert reference_layers("alexnet") == ("features.1", "features.4", "features.7", "features.9", "features.11",
                                           "classifier.2", "classifier.5")
    assert reference_layers("vgg16") == ("features.3", "features.8", "features.15", "features.22", "features.29",
                                         "classifier.1", "classifier.4")
    assert reference_layers("vgg16", "IMAGENET1K_FEATURES") == reference_layers("vgg16")[:5]  # no classifier values
    for arch, shapes in [("alexnet", {"features.1": 4, "classifier.5": 2}), ("vgg16", {"features.29": 4}),
                         ("resnet50", {"layer4": 4, "avgpool": 4})]:
        with torch.device("meta"):
            model = torchvision.models.get_model(arch, weights=None).eval()
            out = create_feature_extractor(model, list(shapes))(torch.empty(2, 3, 64, 64))
        assert {k: v.ndim for k, v in out.items()} == shapes


def test_node_names_are_validated_with_the_valid_list():
    valid = r"valid nodes.*x, conv1, bn1, relu, maxpool, layer1, layer1.0, .*layer4.1.relu_1, avgpool, flatten, fc$"
    with pytest.raises(ValueError, match=r"resnet18 has no node \['layer5', 'fc7'\]; " + valid):
        resolve_layers("resnet18", ["layer1", "layer5", "fc7"])
    with pytest.raises(ValueError, match="twice"):
        resolve_layers("resnet18", ["layer1", "layer1"])
    with pytest.raises(ValueError, match="twice"):
        resolve_layers("resnet18", {"a": "layer1", "b": "layer1"})
    with pytest.raises(ValueError, match="non-empty"):
        resolve_layers("resnet18", [])
    with pytest.raises(ValueError, match="non-empty"):
        resolve_layers("resnet18", "layer1")
    with pytest.raises(ValueError, match="letters"):
        resolve_layers("resnet18", {"a/b": "layer1"})
    aliases = {"stage1": "layer1", "pool": "avgpool"}
    assert resolve_layers("resnet18", aliases) == aliases
    assert resolve_layers("resnet18", ["layer1.0", "layer1.0.bn1", "x"])  # module and node names alike


def test_local_file_not_torchvisions_fails_the_hash_check(resnet18_state):
    path, _ = resnet18_state
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(PretrainedWeightsError) as error:
        load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=path)
    message = str(error.value)
    assert str(path) in message and "f37072fd" in message and actual in message and R18.url in message
    network = load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=path, check_hash=False)
    assert network.sha256 == actual and not network.hash_checked and network.weights_path == path
    assert not network.model.training


def test_local_file_errors_name_the_file(resnet18_state, tmp_path):
    path, state = resnet18_state
    with pytest.raises(FileNotFoundError, match=r"absent\.pth"):
        load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=tmp_path / "absent.pth")
    with pytest.raises(PretrainedWeightsError, match=r"(?s)my-resnet18.pth: not a state dict of resnet34.*Missing key"):
        load_pretrained("resnet34", "IMAGENET1K_V1", weights_file=path, check_hash=False)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state}, wrapped)
    with pytest.raises(PretrainedWeightsError, match=r"wrapped\.pth: not a state dict"):
        load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=wrapped, check_hash=False)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(PretrainedWeightsError, match=r"garbage\.pth: cannot load"):
        load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=garbage, check_hash=False)


def fake_download(state, calls):
    def download_url_to_file(url, dst, hash_prefix=None, progress=True):
        calls.append({"url": url, "dst": dst, "hash_prefix": hash_prefix, "progress": progress})
        torch.save(state, dst)
    return download_url_to_file


def test_download_goes_through_torchvision_with_its_hash_check(resnet18_state, tmp_path, monkeypatch):
    _, state = resnet18_state
    calls = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download(state, calls))
    cache = tmp_path / "cache"
    network = load_pretrained("resnet18", "IMAGENET1K_V1", cache_dir=cache)
    assert calls == [{"url": R18.url, "dst": str(cache / "resnet18-f37072fd.pth"), "hash_prefix": "f37072fd",
                      "progress": False}]
    assert network.weights_path == cache / "resnet18-f37072fd.pth" and network.hash_checked
    torch.testing.assert_close(network.model.state_dict(), state)
    # Torch would load a cached file unchecked; the loader checks it, so this foreign file is refused.
    with pytest.raises(PretrainedWeightsError, match=r"resnet18-f37072fd.pth: hash mismatch.*f37072fd"):
        load_pretrained("resnet18", "IMAGENET1K_V1", cache_dir=cache)
    assert len(calls) == 1
    assert load_pretrained("resnet18", "IMAGENET1K_V1", cache_dir=cache, check_hash=False).sha256 == network.sha256
    # Without cache_dir: torch.hub's directory, which honours TORCH_HOME.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    load_pretrained("resnet18", "DEFAULT")
    assert calls[-1]["dst"] == str(tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth")


def test_download_failures_name_the_file_and_hashes(tmp_path, monkeypatch):
    def bad_hash(url, dst, hash_prefix=None, progress=True):
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{"0" * 64}")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", bad_hash)
    with pytest.raises(PretrainedWeightsError) as error:
        load_pretrained("resnet50", "IMAGENET1K_V2", cache_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "resnet50-11ad3fa6.pth") in message and '"11ad3fa6"' in message and "0" * 64 in message

    def offline(url, dst, hash_prefix=None, progress=True):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(PretrainedWeightsError, match=r"cannot download .*resnet50-11ad3fa6.pth.*copy the published"):
        load_pretrained("resnet50", "IMAGENET1K_V2", cache_dir=tmp_path)


def oracle(state, stimuli, nodes, image_size):
    """torchvision's own model, feature extractor and Normalize. A node read before an
    in-place ReLU (``layer1.0.bn1``) gets an extractor of its own that stops there, so
    the ReLU is not in its graph and cannot overwrite it."""
    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict(state)
    model.eval()
    transforms = R18.transforms()
    images = torch.stack([torch.from_numpy(load_image(p, image_size)).permute(2, 0, 1) for p in stimuli])
    x = normalize(images.float() / 255, transforms.mean, transforms.std)
    late = [node for node in nodes if node != "layer1.0.bn1"]
    with torch.no_grad():
        out = dict(create_feature_extractor(model, late)(x))
        if "layer1.0.bn1" in nodes:
            out.update(create_feature_extractor(model, ["layer1.0.bn1"])(x))
    return out


@pytest.mark.parametrize("reduce", ["spatial_mean", "full"])
def test_cached_activations_equal_torchvisions_feature_extractor(resnet18_state, stimuli, tmp_path, reduce):
    path, state = resnet18_state
    network = load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=path, check_hash=False)
    layers = {"layer1": "layer1", "layer4": "layer4", "avgpool": "avgpool", "fc": "fc", "bn1": "layer1.0.bn1"}
    out = tmp_path / "acts.h5"
    ids = [p.stem for p in stimuli]
    extract_pretrained_to_hdf5(network, stimuli, ids, out, layers=layers, image_size=64, reduce=reduce,
                               pool_size=2, batch_size=3, device=CPU, attrs={"condition": "resnet18"})
    direct = oracle(state, stimuli, layers.values(), 64)
    assert (direct["layer1.0.bn1"] < 0).any()  # read before its in-place ReLU
    with h5py.File(out) as h5:
        assert h5["stimuli"].asstr()[()].tolist() == ids
        assert sorted(k for k in h5 if k != "stimuli") == sorted(layers)
        for name, node in layers.items():
            expected = direct[node]
            if expected.ndim == 4 and expected.shape[2:] == (1, 1):
                expected = expected.flatten(1)  # avgpool: a 1 x 1 map is a vector
            if expected.ndim == 4 and reduce == "spatial_mean":
                expected = expected.mean(dim=(2, 3))
            np.testing.assert_allclose(h5[name][()], expected.flatten(1).numpy(), rtol=1e-4, atol=1e-5)
            assert tuple(h5[name].attrs["feature_shape"]) == tuple(expected.shape[1:])
            n_features = h5[name].shape[1]
            assert h5[name].dtype == np.float32 and h5[name].chunks == (min(4, 2**18 // n_features), n_features)
        assert tuple(h5["avgpool"].attrs["feature_shape"]) == (512,)
        attrs = dict(h5.attrs)
        assert attrs["architecture"] == "resnet18" and attrs["weights"] == "IMAGENET1K_V1"
        assert attrs["weights_sha256"] == network.sha256 and attrs["hash_checked"] == 0
        assert attrs["condition"] == "resnet18" and attrs["image_size"] == 64 and attrs["reduce"] == reduce
        np.testing.assert_allclose(attrs["input_std"], [0.229, 0.224, 0.225])
        assert json.loads(attrs["layer_nodes"]) == layers
    assert not (tmp_path / "acts.h5.tmp").exists()


def test_extraction_is_deterministic_and_batch_independent(resnet18_state, stimuli, tmp_path):
    path, _ = resnet18_state
    network = load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=path, check_hash=False)
    kwargs = {"layers": ["layer2", "avgpool"], "image_size": 32, "reduce": "avgpool", "pool_size": 2, "device": CPU}
    extract_pretrained_to_hdf5(network, stimuli, list("abcd"), tmp_path / "a.h5", batch_size=2, **kwargs)
    extract_pretrained_to_hdf5(network, stimuli, list("abcd"), tmp_path / "b.h5", batch_size=2, **kwargs)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    extract_pretrained_to_hdf5(network, stimuli, list("abcd"), tmp_path / "c.h5", batch_size=4, **kwargs)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "c.h5") as c:
        for name in ("layer2", "avgpool"):
            np.testing.assert_allclose(a[name][()], c[name][()], rtol=1e-5, atol=1e-6)
        assert tuple(a["layer2"].attrs["feature_shape"]) == (128, 2, 2)


def test_image_size_defaults_to_the_crop_size_and_nan_outputs_are_refused(resnet18_state, stimuli, tmp_path):
    path, _ = resnet18_state
    network = load_pretrained("resnet18", "IMAGENET1K_V1", weights_file=path, check_hash=False)
    extract_pretrained_to_hdf5(network, stimuli[:1], ["a"], tmp_path / "224.h5", layers=["avgpool"],
                               reduce="spatial_mean", pool_size=1, batch_size=1, device=CPU)
    with h5py.File(tmp_path / "224.h5") as h5:
        assert h5.attrs["image_size"] == 224 and h5.attrs["crop_size"] == 224
    network.model.fc.weight.data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="node fc gives NaN"):
        extract_pretrained_to_hdf5(network, stimuli[:1], ["a"], tmp_path / "nan.h5", layers=["fc"], image_size=32,
                                   reduce="spatial_mean", pool_size=1, batch_size=1, device=CPU)
    assert not os.path.exists(tmp_path / "nan.h5") and not os.path.exists(tmp_path / "nan.h5.tmp")


def test_the_job_reads_the_stimulus_table(resnet18_state, stimuli, tmp_path):
    path, _ = resnet18_state
    root = tmp_path / "images"
    table = pd.DataFrame({"stimulus": ["b.png", "a.png"], "concept": ["cat", "dog"]})
    for stimulus, concept, source in zip(table["stimulus"], table["concept"], stimuli, strict=False):
        (root / "object_images" / concept).mkdir(parents=True)
        (root / "object_images" / concept / stimulus).write_bytes(source.read_bytes())
    write_stimulus_table(tmp_path / "stimuli.tsv", table)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        extract_pretrained_file(tmp_path / "stimuli.tsv", root, tmp_path / "acts.h5", architecture="resnet18",
                                weights="IMAGENET1K_V1", layers=["avgpool"], weights_file=path, check_hash=False,
                                image_size=32, reduce="spatial_mean", pool_size=1, batch_size=2, device="cpu",
                                threads=threads, condition="resnet18")
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    with h5py.File(tmp_path / "acts.h5") as h5:
        assert h5["stimuli"].asstr()[()].tolist() == ["b.png", "a.png"]
        assert h5["avgpool"].shape == (2, 512) and h5.attrs["condition"] == "resnet18"
