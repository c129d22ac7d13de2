"""Published torchvision ImageNet networks as fixed references beside the study's CNNs.

A reference network (e.g. ResNet-50 with ``IMAGENET1K_V2``) is scored like a study
condition: its activations on the brain stimuli are cached in the format of
:mod:`lrrsa.activations` (the same writer, :func:`lrrsa.activations.write_activations_hdf5`)
and go through the same RDM and RSA steps.

Registry. :func:`registry` lists, for each architecture of :data:`ARCHITECTURES`,
every weights entry that torchvision's ``get_model_weights(architecture)`` enum
holds, with what torchvision itself says about it: the URL, the file name, the
SHA-256 prefix in that file name (``torch.hub.HASH_REGEX``, as
``torch.hub.load_state_dict_from_url(check_hash=True)`` reads it), the input
normalisation and sizes of ``weights.transforms()`` and ``meta``. Nothing is copied
by hand, so a newer torchvision brings its entries along. The architectures are the
classic CNN families whose torchvision builder, given weights, only sets
``num_classes`` from them (AlexNet, VGG, ResNet, ResNeXt, Wide ResNet): for them
``get_model(architecture, weights=None, num_classes=...)`` plus a strict
``load_state_dict`` is exactly what the builder does with the weights, and their
feature maps are (N, C, H, W) so :func:`lrrsa.activations.reduce_activation`
applies. Others are left out on purpose: googlenet/inception_v3 switch on
``transform_input`` and drop aux heads, densenet remaps legacy state-dict keys,
vit/maxvit size the model from the weights, swin and convnext have channels-last
(N, H, W, C) nodes.

Weights. :func:`load_pretrained` takes either a local state-dict file
(``weights_file``: e.g. staged for compute nodes without internet), or fetches the
published file through torchvision's own ``weights.get_state_dict(model_dir=...,
check_hash=True)``, which downloads to ``<cache_dir>/<file name>`` (default:
``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``, where
torchvision's builders keep it too) and checks the SHA-256 prefix of a fresh
download. Torch does not re-check a file already in the cache, so this module
does (and checks a local ``weights_file`` the same way): its SHA-256 must start
with the prefix in torchvision's file name. ``check_hash=False`` loads a file
that is not the published one (your own state dict of the architecture); the
HDF5 file then records ``hash_checked`` 0 and the file's full SHA-256.

Input. The stimuli are loaded as the study's ConvNets see them
(:func:`lrrsa.images.load_images`: RGB uint8, resized with antialiasing (bicubic)
to image_size x image_size, the whole image, aspect ratio not kept), scaled to
[0, 1] and normalised with ``Normalize(mean, std)`` of ``weights.transforms()``
(ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) for the
IMAGENET1K entries). The resize-to-256-then-centre-crop-224 of ``transforms()`` is
not applied: it would cut off the border of the stimulus that the participants and
the study's CNNs saw. Use image_size = the weights' crop size (224, the
``brain_data.image_size`` default) to show the network objects at its training
scale; :func:`extract_pretrained_to_hdf5` defaults to it and logs a warning for
another size (the networks accept any size >= 32 px: their last pool is adaptive).

Layers are torchvision feature-extraction node names (``get_graph_node_names``
in eval mode; a module name such as ``layer1`` means its last node, as in
``create_feature_extractor``); see :func:`reference_layers` for the defaults. In-place
activations are switched off in the loaded model, so a node read before an
in-place ReLU (``layer1.0.bn1``, ``features.0``) keeps its own values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import urllib.error
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from lrrsa.activations import FeatureFunction, write_activations_hdf5

__all__ = [
    "ARCHITECTURES",
    "PretrainedNetwork",
    "PretrainedWeightsError",
    "ReferenceWeights",
    "extract_pretrained_file",
    "extract_pretrained_to_hdf5",
    "file_sha256",
    "layer_nodes",
    "load_pretrained",
    "pretrained_features",
    "reference_layers",
    "reference_weights",
    "registry",
    "resolve_layers",
    "weights_location",
]

log = logging.getLogger(__name__)

_RESNETS = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
)
_VGGS = ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")

#: Architectures (torchvision model names) whose published weights the registry holds.
ARCHITECTURES: tuple[str, ...] = ("alexnet", *_VGGS, *_RESNETS)

_DATASET_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class PretrainedWeightsError(ValueError):
    """A weights file that is missing, not the published one (hash), not a state
    dict of the architecture, or could not be downloaded; the message names the file."""


@dataclass(frozen=True)
class ReferenceWeights:
    """One published weights entry, as torchvision's Weights enum describes it.

    ``sha256_prefix`` is the hex digits in the file name (``resnet50-11ad3fa6.pth``:
    ``11ad3fa6``), None if the name has none; ``mean``/``std`` the per-channel
    normalisation of [0, 1] RGB input and ``crop_size``/``resize_size`` the sides in
    px of ``transforms()``; ``num_classes`` None where the entry has no trained
    classifier (``categories`` None, e.g. vgg16 ``IMAGENET1K_FEATURES``).
    """

    architecture: str
    name: str
    enum: torchvision.models.WeightsEnum
    url: str
    file_name: str
    sha256_prefix: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_size: int
    resize_size: int
    num_classes: int | None
    num_params: int

    @property
    def qualified_name(self) -> str:
        """torchvision's full name, e.g. ``ResNet50_Weights.IMAGENET1K_V2``."""
        return f"{type(self.enum).__name__}.{self.name}"

    @classmethod
    def from_enum(cls, architecture: str, member: torchvision.models.WeightsEnum) -> ReferenceWeights:
        transforms = member.transforms()
        missing = [a for a in ("mean", "std", "crop_size", "resize_size") if not hasattr(transforms, a)]
        if missing:
            raise RuntimeError(f"{member!r}: transforms() {type(transforms).__name__} has no {missing}; "
                               "this torchvision is not supported")
        file_name = os.path.basename(urllib.parse.urlparse(member.url).path)
        found = torch.hub.HASH_REGEX.search(file_name)
        categories = member.meta.get("categories")
        return cls(
            architecture=architecture, name=member.name, enum=member, url=member.url, file_name=file_name,
            sha256_prefix=found.group(1) if found and found.group(1) else None,
            mean=tuple(float(v) for v in transforms.mean), std=tuple(float(v) for v in transforms.std),
            crop_size=int(transforms.crop_size[0]), resize_size=int(transforms.resize_size[0]),
            num_classes=None if categories is None else len(categories), num_params=int(member.meta["num_params"]),
        )


@cache
def registry() -> dict[str, dict[str, ReferenceWeights]]:
    """{architecture: {weights name: entry}} for :data:`ARCHITECTURES`, every entry of
    ``torchvision.models.get_model_weights(architecture)`` (aliases such as DEFAULT
    excluded), in torchvision's order. Built once per process; no network."""
    return {
        arch: {member.name: ReferenceWeights.from_enum(arch, member) for member in get_model_weights(arch)}
        for arch in ARCHITECTURES
    }


def reference_weights(architecture: str, weights: str = "DEFAULT") -> ReferenceWeights:
    """The registry entry of ``architecture`` and ``weights`` (a member name such as
    ``IMAGENET1K_V2``, torchvision's full ``ResNet50_Weights.IMAGENET1K_V2``, or
    ``DEFAULT``: torchvision's recommended entry, resolved to its own name).

    Raises ValueError listing the known architectures, or the architecture's weights.
    """
    known = registry()
    if architecture not in known:
        raise ValueError(f"unknown reference architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    entries = known[architecture]
    enum_class = type(next(iter(entries.values())).enum)
    name = weights.removeprefix(enum_class.__name__ + ".")
    if name == "DEFAULT":
        name = enum_class.DEFAULT.name
    if name not in entries:
        raise ValueError(f"unknown weights {weights!r} for {architecture}; known: "
                         f"{', '.join(entries)} (or DEFAULT = {enum_class.DEFAULT.name})")
    return entries[name]


#: Where the workflow has torchvision download published weights (its cache_dir).
WEIGHTS_DIR = "resources/pretrained"


def weights_location(condition: Mapping) -> str:
    """Where a pretrained condition (its config: architecture, weights, weights_file)
    reads its weights: its ``weights_file``, else the published file under
    :data:`WEIGHTS_DIR` (torchvision's file name). ValueError as :func:`reference_weights`."""
    if condition.get("weights_file"):
        return str(condition["weights_file"])
    return f"{WEIGHTS_DIR}/{reference_weights(condition['architecture'], condition['weights']).file_name}"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 (64 lower-case digits) of a file, read in chunks (``hashlib.file_digest``)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_hash(path: Path, ref: ReferenceWeights, sha256: str) -> bool:
    """Raise unless ``sha256`` starts with the entry's prefix; False when it has none."""
    if ref.sha256_prefix is None:
        log.warning("%s: %s has no hash in its file name %s; not checked", path, ref.qualified_name, ref.file_name)
        return False
    if not sha256.startswith(ref.sha256_prefix):
        raise PretrainedWeightsError(
            f"{path}: hash mismatch for {ref.qualified_name}: expected a SHA-256 starting with "
            f"{ref.sha256_prefix} (torchvision's file name {ref.file_name}, {ref.url}), got {sha256}. "
            "The file is not the published weights (corrupt, partial or other weights): delete it to "
            "download again, or load it with check_hash=False if it is your own state dict of this architecture."
        )
    return True


@dataclass
class PretrainedNetwork:
    """A loaded reference network: the model in eval mode on the CPU (in-place
    activations off), its registry entry, the weights file read, that file's
    SHA-256 and whether it was checked against torchvision's hash prefix."""

    weights: ReferenceWeights
    model: nn.Module
    weights_path: Path
    sha256: str
    hash_checked: bool

    @property
    def architecture(self) -> str:
        return self.weights.architecture

    def provenance(self) -> dict:
        """HDF5 file attributes saying what network produced the activations."""
        ref = self.weights
        return {
            "architecture": ref.architecture, "weights": ref.name, "weights_enum": ref.qualified_name,
            "weights_url": ref.url, "weights_file": self.weights_path.name, "weights_sha256": self.sha256,
            "hash_checked": int(self.hash_checked), "input_mean": list(ref.mean), "input_std": list(ref.std),
            "crop_size": ref.crop_size, "torchvision": torchvision.__version__,
        }


def load_pretrained(
    architecture: str,
    weights: str = "DEFAULT",
    *,
    weights_file: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    check_hash: bool = True,
    progress: bool = False,
) -> PretrainedNetwork:
    """A published torchvision network with its weights, in eval mode on the CPU.

    ``weights_file``: a local state dict (``torch.save(model.state_dict())``, as
    torchvision publishes them), loaded with ``weights_only=True`` and strictly. With
    ``check_hash`` its SHA-256 must start with the prefix in the entry's torchvision
    file name (as ``check_hash=True`` checks downloads); False loads any state dict
    of the architecture (its hash is still recorded).

    Without ``weights_file``: torchvision's ``weights.get_state_dict(model_dir=...,
    progress=progress, check_hash=check_hash, map_location="cpu", weights_only=True)``
    reads ``<cache_dir>/<file name>`` (``cache_dir`` default ``torch.hub.get_dir()``
    /checkpoints, which honours ``$TORCH_HOME``), downloading it first if absent
    (torch verifies the download's hash prefix and removes a bad one). A file already
    there is checked here first, since torch does not re-check cached files.

    Raises ValueError for an unknown architecture or weights (listing the known
    ones), FileNotFoundError for a missing ``weights_file``, and
    :class:`PretrainedWeightsError` naming the file for a hash mismatch (expected
    prefix and actual SHA-256), a failed download, or a file that is not a state dict
    of the architecture (missing/unexpected keys, wrong shapes).
    """
    ref = reference_weights(architecture, weights)
    checked = False
    if weights_file is not None:
        path = Path(weights_file)
        if not path.is_file():
            raise FileNotFoundError(f"weights_file {path} for {ref.qualified_name} does not exist")
        sha256 = file_sha256(path)
        if check_hash:
            checked = _check_hash(path, ref, sha256)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and torch errors alike
            raise PretrainedWeightsError(f"{path}: cannot load as a state dict: {type(exc).__name__}: {exc}") from exc
    else:
        model_dir = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
        path = model_dir / ref.file_name
        cached = path.is_file()
        if cached and check_hash:
            checked = _check_hash(path, ref, file_sha256(path))
        state = _fetch(ref, model_dir, path, check_hash=check_hash, progress=progress)
        sha256 = file_sha256(path)
        checked = checked or (check_hash and not cached and ref.sha256_prefix is not None)
    model = _build(ref, state, path)
    log.info("%s %s from %s (sha256 %s, hash %s)", architecture, ref.name, path, sha256,
             "checked" if checked else "not checked")
    return PretrainedNetwork(weights=ref, model=model, weights_path=path, sha256=sha256, hash_checked=checked)


def _fetch(ref: ReferenceWeights, model_dir: Path, path: Path, *, check_hash: bool, progress: bool) -> dict:
    """torchvision's own download and load of ``ref`` into ``model_dir``, errors reworded."""
    try:
        return ref.enum.get_state_dict(model_dir=str(model_dir), progress=progress, check_hash=check_hash,
                                       map_location="cpu", weights_only=True)
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise PretrainedWeightsError(
                f"{path}: hash mismatch for {ref.qualified_name} downloaded from {ref.url}: {exc}; "
                "torch removed the download"
            ) from exc
        raise PretrainedWeightsError(f"{path}: cannot load as a state dict: {exc}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PretrainedWeightsError(
            f"cannot download {ref.qualified_name} from {ref.url} to {path}: {exc}. Without network, copy "
            f"the published file {ref.file_name} there (or pass it as weights_file)"
        ) from exc
    except Exception as exc:  # unpickling and zip errors of a file torch.load cannot read
        raise PretrainedWeightsError(f"{path}: cannot load as a state dict: {type(exc).__name__}: {exc}") from exc


def _build(ref: ReferenceWeights, state, path: Path) -> nn.Module:
    """The architecture with ``state`` loaded strictly (built on the meta device, so
    no random initialisation is computed), eval mode, in-place activations off."""
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path}: not a state dict (a mapping of parameter names to tensors) "
                                     f"but {type(state).__name__}")
    kwargs = {} if ref.num_classes is None else {"num_classes": ref.num_classes}
    with torch.device("meta"):
        model = get_model(ref.architecture, weights=None, **kwargs)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise PretrainedWeightsError(f"{path}: not a state dict of {ref.architecture} "
                                     f"({ref.qualified_name}): {exc}") from exc
    left = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise PretrainedWeightsError(f"{path}: no values for {left} of {ref.architecture}")
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return model.eval()


# ---------------------------------------------------------------------------
# Layers


@cache
def _meta_model(architecture: str) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown reference architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    with torch.device("meta"):
        return get_model(architecture, weights=None).eval()


@cache
def layer_nodes(architecture: str) -> tuple[str, ...]:
    """Every name a layer may take, in graph order: the eval-mode node names of
    ``get_graph_node_names`` and the module names above them (``layer1``,
    ``layer1.0``: the module's last node, as ``create_feature_extractor`` reads them).
    Computed on the meta device (no weights, no memory). ValueError for an unknown
    architecture."""
    _, eval_nodes = get_graph_node_names(_meta_model(architecture))
    names: dict[str, None] = {}
    for node in eval_nodes:
        parts = node.split(".")
        for depth in range(1, len(parts) + 1):
            names.setdefault(".".join(parts[:depth]))
    return tuple(names)


def reference_layers(architecture: str, weights: str | None = None) -> tuple[str, ...]:
    """Default layers (node names) of a reference architecture, early to late.

    - ResNet, ResNeXt, Wide ResNet: ``layer1``..``layer4`` (each stage's output, after
      its last ReLU) and ``avgpool`` (the global average pool, (N, C): a 1 x 1 map is
      stored as a vector);
    - AlexNet: the ReLU output of each of the five conv layers and of fc6 and fc7
      (``features.1``, ``.4``, ``.7``, ``.9``, ``.11``, ``classifier.2``, ``.5``);
    - VGG: the ReLU output ending each of the five blocks (before its max-pool, as the
      study's convN) and the ReLU outputs of fc6 and fc7 (``classifier.1``, ``.4``).

    No logits. With ``weights`` naming an entry without a trained classifier (vgg16
    ``IMAGENET1K_FEATURES``), the ``classifier`` nodes are left out. ValueError for
    an unknown architecture or weights.
    """
    model = _meta_model(architecture)
    if architecture in _RESNETS:
        layers = ("layer1", "layer2", "layer3", "layer4", "avgpool")
    else:
        layers = _relu_nodes(model.features, "features", before_pool_only=architecture in _VGGS)
        layers += _relu_nodes(model.classifier, "classifier", before_pool_only=False)
    if weights is not None and reference_weights(architecture, weights).num_classes is None:
        layers = tuple(name for name in layers if not name.startswith("classifier."))
    return layers


def _relu_nodes(sequential: nn.Sequential, prefix: str, *, before_pool_only: bool) -> tuple[str, ...]:
    """Names of the ReLUs in ``sequential``; with ``before_pool_only`` only the last one
    before each MaxPool2d."""
    found, last_relu = [], None
    for index, module in sequential.named_children():
        if isinstance(module, nn.ReLU):
            last_relu = f"{prefix}.{index}"
            if not before_pool_only:
                found.append(last_relu)
        elif isinstance(module, nn.MaxPool2d) and before_pool_only and last_relu is not None:
            found.append(last_relu)
            last_relu = None
    return tuple(found)


def resolve_layers(architecture: str, layers: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """{dataset name: node name} for ``layers``: node names (stored under their own
    names), a mapping {dataset name: node} (e.g. ``{"conv1": "features.1"}``), or None
    for :func:`reference_layers`.

    Raises ValueError naming the unknown nodes and listing every valid name
    (:func:`layer_nodes`), for no layers, a node asked twice, or a dataset name that
    is not letters, digits, ``_``, ``.``, ``-``.
    """
    if layers is None:
        layers = reference_layers(architecture)
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers must be a non-empty list of node names or a mapping; got {layers!r}")
    pairs = dict(layers) if isinstance(layers, Mapping) else {name: name for name in layers}
    if len(pairs) != len(layers):
        raise ValueError(f"layers {list(layers)} name a layer twice")
    nodes = list(pairs.values())
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"layers {pairs} read a node twice")
    bad = [name for name in pairs if not _DATASET_NAME.match(name)]
    if bad:
        raise ValueError(f"layer names {bad} must be letters, digits, '_', '.', '-'")
    valid = layer_nodes(architecture)
    unknown = [node for node in nodes if node not in set(valid)]
    if unknown:
        raise ValueError(f"{architecture} has no node {unknown}; valid nodes (torchvision feature-extraction "
                         f"names, graph order): {', '.join(valid)}")
    return pairs


# ---------------------------------------------------------------------------
# Extraction


def pretrained_features(
    network: PretrainedNetwork, layers: Sequence[str] | Mapping[str, str] | None, device: torch.device
) -> FeatureFunction:
    """A feature function for :func:`lrrsa.activations.write_activations_hdf5`.

    Moves the model to ``device``; the function takes [0, 1] RGB (N, 3, H, W) float32
    on ``device``, applies ``(x - mean) / std`` of the weights' ``transforms()`` and
    returns {dataset name: node output} for :func:`resolve_layers` of ``layers``,
    through ``create_feature_extractor``. Outputs (N, C, 1, 1) become (N, C).
    Raises ValueError (when called) for a node output that is not (N, D) or
    (N, C, H, W), or that holds NaN or inf.
    """
    pairs = resolve_layers(network.architecture, layers)
    model = network.model.to(device).eval()
    extractor = create_feature_extractor(model, return_nodes={node: name for name, node in pairs.items()}).eval()
    mean = torch.tensor(network.weights.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(network.weights.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def features(images: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = extractor((images - mean) / std)
        return {name: _activation(outputs[name], network, node) for name, node in pairs.items()}

    return features


def _activation(output, network: PretrainedNetwork, node: str) -> torch.Tensor:
    where = f"{network.architecture} ({network.weights.name}) node {node}"
    if not isinstance(output, torch.Tensor) or output.ndim not in (2, 4):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"{where} gives {shape}; only (N, D) and (N, C, H, W) outputs can be cached")
    if not torch.isfinite(output).all():
        raise ValueError(f"{where} gives NaN or inf (weights without values there?)")
    if output.ndim == 4 and output.shape[2:] == (1, 1):
        return output.flatten(1)
    return output


def extract_pretrained_to_hdf5(
    network: PretrainedNetwork,
    image_paths: Sequence[Path],
    stimulus_ids: Sequence[str],
    out_path: Path,
    *,
    layers: Sequence[str] | Mapping[str, str] | None = None,
    image_size: int | None = None,
    reduce: str,
    pool_size: int,
    batch_size: int,
    device: torch.device,
    attrs: dict | None = None,
) -> None:
    """Cache a reference network's activations in the study's HDF5 format.

    The file is :func:`lrrsa.activations.write_activations_hdf5`'s: ``stimuli``, one
    float32 (n_stimuli, n_features) dataset per layer (its :func:`resolve_layers`
    dataset name) with ``feature_shape``, written to ``.tmp`` then renamed. Each
    node output is reduced by :func:`lrrsa.activations.reduce_activation` (``reduce``,
    ``pool_size``; 2-D outputs and 1 x 1 maps are vectors and pass through).
    ``image_size`` (px; default the weights' crop size, 224) is the side the stimuli
    are resized to; normalisation as in :func:`pretrained_features`. File attributes:
    image_size, reduce, pool_size, :meth:`PretrainedNetwork.provenance`,
    ``layer_nodes`` (JSON {dataset: node}) and ``attrs``.
    Raises as :func:`resolve_layers` and the writer do.
    """
    crop = network.weights.crop_size
    if image_size is None:
        image_size = crop
    elif image_size != crop:
        log.warning("stimuli at %d px, but %s was trained on %d px crops", image_size,
                    network.weights.qualified_name, crop)
    pairs = resolve_layers(network.architecture, layers)
    write_activations_hdf5(
        pretrained_features(network, pairs, device), image_paths, stimulus_ids, list(pairs), Path(out_path),
        image_size=image_size, reduce=reduce, pool_size=pool_size, batch_size=batch_size, device=device,
        attrs={**network.provenance(), "layer_nodes": json.dumps(pairs), **(attrs or {})},
    )


def extract_pretrained_file(
    stimulus_table: Path, images_dir: Path, out_path: Path, *,
    architecture: str, weights: str, layers: Sequence[str] | Mapping[str, str] | None = None,
    weights_file: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
    check_hash: bool = True, image_size: int | None, reduce: str, pool_size: int, batch_size: int,
    device: str, threads: int, condition: str | None = None,
) -> None:
    """The job for a pretrained condition: :func:`load_pretrained`, then
    :func:`extract_pretrained_to_hdf5` on the stimulus table's images (``condition``
    recorded as an attribute). ``device`` is auto/cpu/cuda as in the config."""
    from lrrsa.data.stimuli import image_path, read_stimulus_table
    from lrrsa.training import configure_torch, resolve_device

    configure_torch(threads)
    network = load_pretrained(architecture, weights, weights_file=weights_file, cache_dir=cache_dir,
                              check_hash=check_hash)
    table = read_stimulus_table(stimulus_table)
    paths = [image_path(Path(images_dir), s, c) for s, c in zip(table["stimulus"], table["concept"], strict=True)]
    log.info("%s %s: %d stimuli, layers %s, reduce %s", architecture, network.weights.name, len(paths),
             resolve_layers(architecture, layers), reduce)
    extract_pretrained_to_hdf5(
        network, paths, table["stimulus"].tolist(), Path(out_path), layers=layers, image_size=image_size,
        reduce=reduce, pool_size=pool_size, batch_size=batch_size, device=resolve_device(device),
        attrs={"condition": condition} if condition is not None else None,
    )


def extract_pretrained_seed_files(
    reference: Mapping, weights_file: Path, stimulus_table: Path, images_dir: Path, out_paths: Sequence[Path], *,
    condition: str, image_size: int, activations: Mapping, device: str, threads: int,
) -> None:
    """The job of a pretrained condition on one dataset's stimuli: one extraction
    (:func:`extract_pretrained_file` with the condition's ``architecture``, ``weights``,
    ``layers`` and ``check_hash``, the weights read from ``weights_file``; ``activations``:
    the config's reduce, pool_size and batch_size) into ``out_paths[0]``, and the same
    file for every other seed's path (a reference network is one network whatever the
    seed), each copied to ``.tmp`` and renamed. Raises as the extraction does."""
    import shutil

    first, *others = [Path(path) for path in out_paths]
    extract_pretrained_file(
        stimulus_table, images_dir, first, architecture=reference["architecture"], weights=reference["weights"],
        layers=reference["layers"], weights_file=weights_file, check_hash=reference["check_hash"],
        image_size=image_size, reduce=activations["reduce"], pool_size=activations["pool_size"],
        batch_size=activations["batch_size"], device=device, threads=threads, condition=condition,
    )
    for path in others:
        partial = path.with_name(path.name + ".tmp")
        shutil.copyfile(first, partial)
        os.replace(partial, path)
        log.info("%s: the same network as %s (every seed of a pretrained condition)", path, first)
