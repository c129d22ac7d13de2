"""Validate a workflow configuration against its schema, fill in defaults and put it in
canonical form.

Errors name the offending key as a dotted path (``conditions.bp.lr``) so that a
user can find it in their YAML file at once.

Snakemake reruns a job when the ``repr`` of one of its params differs from the one it
recorded, so the same settings must always give the same Python values, in the same
order. The validated config is therefore canonical: keys sorted (conditions and ROIs in
their display order instead), numbers typed as the schema types them (``5`` is ``5.0``
where it says number, ``8000.0`` is ``8000`` where it says integer, and YAML's string
``1e-3`` is ``0.001``), defaults written out and typed the same way, sets (arrays with
``uniqueItems``) sorted, tuples lists, mappings plain dicts, paths without ``./`` or a
trailing slash and ``brain_data.subjects: all`` the list it stands for (THINGS-fMRI's
three subjects; an rdm_set's come from its file, :func:`resolve_subjects`). Every rule's
params are taken from it.

Relative paths are resolved against Snakemake's working directory (``--directory``, by
default the directory snakemake runs in), where :func:`check_local_paths` and
:func:`resolve_subjects` run.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml


#: Fewest seeds with which condition comparisons may generalise over network instances:
#: the calibration (benchmarks/calibration.py) holds at 5 seeds and fails at 2 and 3.
MIN_SEEDS_TO_GENERALISE = 5

class ConfigError(ValueError):
    """The configuration does not match the schema or names a missing file."""


@dataclass(frozen=True)
class DatasetType:
    """What the config says about one ``brain_data.type``."""

    #: The brain_data keys this type reads (``download`` a whole section, ``download.retries``
    #: one key of it). Every other key must be left out or at its schema default; one set
    #: otherwise is an error naming it and the types that use it.
    keys: frozenset[str]
    #: What ``subjects: all`` means when the type knows its subjects without looking at
    #: the data; None where the data lists them (read by :func:`resolve_subjects`).
    all_subjects: tuple[str, ...] | None
    #: ``stimuli`` when the config leaves it out (the schema's default is THINGS-fMRI's
    #: first_exemplar, which needs trial metadata other types do not have).
    default_stimuli: str = "first_exemplar"


#: The brain_data keys every dataset type uses.
_SHARED_BRAIN_KEYS = ("type", "source", "images_dir", "subjects", "stimuli", "stimulus_list", "rois", "image_size")

#: brain_data.type -> what it uses: the one table a new dataset type adds an entry to
#: (and a new brain_data key is added to the entries of the types that read it).
BRAIN_DATA_TYPES: dict[str, DatasetType] = {
    "things_fmri": DatasetType(
        keys=frozenset({*_SHARED_BRAIN_KEYS, "betas_dir", "betas_zip", "images_zip", "download", "zscore",
                        "min_nc_testset"}),
        all_subjects=("sub-01", "sub-02", "sub-03"),  # the three subjects THINGS-fMRI has
    ),
    "rdm_set": DatasetType(keys=frozenset({*_SHARED_BRAIN_KEYS, "rdm_file"}), all_subjects=None,  # rdm_file lists them
                           default_stimuli="all"),
    # The animals: the demo's, the catalog's, or the file's (lrrsa.data.neural_assembly.animals).
    "neural_assembly": DatasetType(
        keys=frozenset({*_SHARED_BRAIN_KEYS, "images_zip", "dataset", "assembly_dir", "assembly_file", "stimulus_csv",
                        "things_images", "time_window", "reliability_threshold", "download.retries",
                        "download.timeout", *(f"download.images_{key}" for key in ("url", "size", "md5", "password"))}),
        all_subjects=None,
        default_stimuli="all",
    ),
}
#: Subject names the workflow's own files use (the group RDM, "every subject").
RESERVED_SUBJECTS = ("group", "all")
_THINGS_SUBJECT = re.compile(r"^sub-[0-9]+$")


#: A number as YAML 1.2 and JSON write it; PyYAML (YAML 1.1) reads ``1e-3`` as a string.
_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _natural_key(value: Any) -> tuple:
    """Sorts numbers by value and strings with their digit runs as numbers (sub-2 < sub-10)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ((0, value),)
    if isinstance(value, str):
        return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", value) if part)
    return ((2, repr(value)),)


def _set_order(items: Mapping[str, Any]) -> Callable[[Any], tuple]:
    """Sort key of a set's items: an enum's in the schema's order, others in natural order."""
    enum = items.get("enum", [])
    return lambda v: (enum.index(v) if v in enum else len(enum), _natural_key(v))


def _normalised(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` in the canonical form of its subschema (nested objects are done as the
    validator descends into them). Values it cannot convert are left for the validator."""
    types = _types(schema)
    if value is None and types == {"object"} and "default" in schema:
        return copy.deepcopy(schema["default"])  # a section whose keys are all commented out
    if isinstance(value, Mapping) and type(value) is not dict:
        value = dict(value)  # a JSON configfile is read as OrderedDicts, whose repr differs
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str) and types & {"number", "integer"} and "string" not in types and _NUMBER.fullmatch(value):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "integer" in types and float(value).is_integer():
            value = int(value)
        elif "number" in types:
            value = float(value)
    if isinstance(value, list):
        items = schema.get("items", {})
        value = [_normalised(item, items) for item in value]
        if schema.get("uniqueItems"):
            value = sorted(value, key=_set_order(items))
    if isinstance(value, str) and value and schema.get("format") == "path":
        value = PurePosixPath(value).as_posix()  # ./a//b/ -> a/b; a/../b stays (a may be a link)
    return value


def _canonicalising_validator() -> type:
    """A Draft 2020-12 validator that, before descending into a property, puts its value in
    canonical form (``_normalised``) or inserts the property's default, normalised alike."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]
    validate_additional = base.VALIDATORS["additionalProperties"]

    def properties(validator, properties, instance, schema) -> Iterator:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name in instance:
                    instance[name] = _normalised(instance[name], subschema)
                elif "default" in subschema:
                    instance[name] = _normalised(copy.deepcopy(subschema["default"]), subschema)
        yield from validate_properties(validator, properties, instance, schema)

    def additional_properties(validator, additional, instance, schema) -> Iterator:
        if isinstance(instance, dict) and isinstance(additional, dict):
            for name in set(instance) - set(schema.get("properties", {})):
                instance[name] = _normalised(instance[name], additional)
        yield from validate_additional(validator, additional, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties, "additionalProperties": additional_properties})


def key_path(error: jsonschema.ValidationError) -> str:
    """The dotted config key an error is about (``<top level>`` for the root)."""
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    # Errors under if/then or allOf say little; the most specific one is deepest.
    best = jsonschema.exceptions.best_match([error]) if error.context else error
    return f"config key {key_path(best)}: {best.message}{_did_you_mean(best)}"


def _did_you_mean(error: jsonschema.ValidationError) -> str:
    """For a misspelt key, the known keys it is close to (difflib)."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, Mapping):
        return ""
    known = list(error.schema.get("properties", {}))
    guesses = {key: difflib.get_close_matches(str(key), known, n=1) for key in error.instance if key not in known}
    hints = [f"{key!r} -> {close[0]!r}" for key, close in guesses.items() if close]
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def load_schema(schema_path: Path) -> dict[str, Any]:
    with open(schema_path) as fh:
        return yaml.safe_load(fh)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``config`` with every default filled in, in canonical form
    (see the module docstring): the same settings written differently give equal copies
    with equal ``repr``, so Snakemake sees the same params. Validating the result again
    returns it unchanged.

    ``brain_data`` is one dataset, or a mapping of named datasets (:func:`has_named_datasets`),
    each validated as the one dataset of the config :func:`dataset_view` derives for it.

    Raises ConfigError listing every problem, each with its dotted key.
    """
    if has_named_datasets(config.get("brain_data"), schema):
        return _validate_named_datasets(config, schema)
    if problem := _mixed_brain_data_problem(config.get("brain_data"), schema):
        raise ConfigError(f"invalid configuration:\n  {problem}")
    return _validate_one_dataset(config, schema)


def _mixed_brain_data_problem(brain: Any, schema: Mapping[str, Any]) -> str | None:
    """The message for a brain_data that holds both a dataset's keys and named datasets."""
    if not isinstance(brain, Mapping):
        return None
    keys = set(schema["properties"]["brain_data"]["properties"])
    names = sorted(str(key) for key in brain if key not in keys and isinstance(brain[key], Mapping))
    own = sorted(key for key in brain if key in keys)
    if not names or not own:
        return None
    return (f"config key brain_data: holds keys of one dataset ({', '.join(own)}) and named datasets "
            f"({', '.join(names)}); write one dataset, or put every dataset under a name (docs/DATA.md, section 5)")


def _validate_one_dataset(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    filled = copy.deepcopy(dict(config))
    brain = filled.get("brain_data")
    if isinstance(brain, dict) and brain.get("type") in BRAIN_DATA_TYPES and "stimuli" not in brain:
        brain["stimuli"] = BRAIN_DATA_TYPES[brain["type"]].default_stimuli
    validator = _canonicalising_validator()(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_describe(e) for e in errors))
    brain = filled["brain_data"]
    known = BRAIN_DATA_TYPES[brain["type"]].all_subjects
    if brain["subjects"] == "all" and known is not None:
        brain["subjects"] = list(known)  # all and the list it means are one setting
    _check_semantics(filled, schema)
    return _in_canonical_order(filled, rule_order(schema))


#: Folders of a run's own outputs (results/<run>/...), which no dataset may be named after.
RUN_FOLDERS = frozenset({"models", "data", "logs", "benchmarks", "report", "figures", "stats", "across_datasets"})
_DATASET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def has_named_datasets(brain: Any, schema: Mapping[str, Any]) -> bool:
    """Whether ``brain`` (the config's brain_data) maps dataset names to datasets rather
    than being one dataset: a non-empty mapping none of whose keys is a brain_data key."""
    keys = set(brain) if isinstance(brain, Mapping) else set()
    return bool(keys) and not keys & set(schema["properties"]["brain_data"]["properties"])


def dataset_view(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The one-dataset config of dataset ``name`` of a config with named datasets (one
    that has ``rsa.layer_map``, the validated config or :func:`_with_run_layer_map`): its
    brain_data the dataset's; rsa.layer_map and encoding.layer_map the run's restricted
    to the dataset's ROIs, rsa.layer_map then updated by the dataset's own ``layer_map``;
    encoding models and the paper comparison only for a things_fmri dataset (the other
    types have no trials, or no published values). Every other key is the run's."""
    dataset = dict(config["brain_data"][name] or {})
    own_map = dataset.pop("layer_map", None) or {}
    rois = dataset.get("rois") or {}
    is_things = dataset.get("type", "things_fmri") == "things_fmri"
    view = copy.deepcopy({key: value for key, value in config.items() if key != "brain_data"})
    view["brain_data"] = copy.deepcopy(dataset)
    rsa = dict(view["rsa"])
    run_map = rsa["layer_map"] or {}
    rsa["layer_map"] = {**{roi: layer for roi, layer in run_map.items() if roi in rois}, **own_map}
    view["rsa"] = rsa
    encoding = dict(view.get("encoding") or {})
    if encoding.get("layer_map"):
        encoding["layer_map"] = {roi: layer for roi, layer in encoding["layer_map"].items() if roi in rois} or None
    encoding["enabled"] = bool(encoding.get("enabled")) and is_things
    view["encoding"] = encoding
    view["paper_comparison"] = bool(view.get("paper_comparison")) and is_things
    return view


def _named_dataset_problem(problem: str, name: str, own_rois: Iterable[str] = ()) -> str:
    """A problem of a dataset's view, named by the key the user wrote: each brain_data key
    that the message is about (before its first ": ") gets the dataset's name."""
    keys, sep, rest = problem.partition(": ")
    if keys.startswith("config key"):
        # In the text, other keys of the dataset too; of "brain_data.type" only the first,
        # the dataset's own (the others name the types that use a key).
        rest = re.sub(r"\bbrain_data\.(?!type\b)(?=\w)", f"brain_data.{name}.", rest)
        rest = rest.replace("brain_data.type ", f"brain_data.{name}.type ", 1)
        problem = re.sub(r"\bbrain_data(?=\.|,|$)", f"brain_data.{name}", keys) + sep + rest
    for roi in own_rois:
        problem = problem.replace(f"config key rsa.layer_map.{roi}:", f"config key brain_data.{name}.layer_map.{roi}:")
    return problem


def _with_run_layer_map(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with rsa.layer_map written out (the schema's default where left out)."""
    default = schema["properties"]["rsa"]["properties"]["layer_map"]["default"]
    rsa = dict(config.get("rsa") or {})
    rsa.setdefault("layer_map", copy.deepcopy(default))
    return {**config, "rsa": rsa}


def _shared_download_problems(datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Two datasets that would generate or download the same files (the demo's of a type,
    THINGS-fMRI's archives, one published recording): one dataset with both's ROIs instead."""
    owners: dict[tuple, list[str]] = {}
    for name, brain in datasets.items():
        if brain["source"] in ("demo", "download"):
            key = (brain["type"], brain["source"], brain.get("dataset") if brain["type"] == "neural_assembly" else None)
            owners.setdefault(key, []).append(name)
    return [f"config keys {', '.join(f'brain_data.{n}' for n in names)}: {' and '.join(names)} would "
            f"{'generate' if key[1] == 'demo' else 'download'} the same {key[0]} files; make them one dataset "
            "whose rois hold the ROIs of both" for key, names in owners.items() if len(names) > 1]


def _validate_named_datasets(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """validate_config of a config whose brain_data maps names to datasets: each dataset's
    view validated as a one-dataset config, the run's keys once; datasets sorted by name.
    The run's rsa.layer_map and encoding.layer_map are kept whole; an ROI in them that no
    dataset has is an error."""
    config = _with_run_layer_map(config, schema)
    names = sorted(config["brain_data"], key=_natural_key)
    problems = [f"config key brain_data.{name}: a dataset name must start with a letter and hold letters, digits "
                "and _ only" for name in names if not _DATASET_NAME.fullmatch(str(name))]
    problems += [f"config key brain_data.{name}: {name!r} names a folder of the run's own outputs "
                 f"({', '.join(sorted(RUN_FOLDERS))}); choose another name" for name in names if name in RUN_FOLDERS]
    problems += [f"config key brain_data.{name}: expected a dataset (a mapping with type, source, rois, ...), got "
                 f"{config['brain_data'][name]!r}" for name in names
                 if not isinstance(config["brain_data"][name], Mapping)]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    views = {}
    for name in names:
        own_rois = list(config["brain_data"][name].get("layer_map") or {})
        try:
            views[name] = _validate_one_dataset(dataset_view(config, name), schema)
        except ConfigError as error:
            problems += [_named_dataset_problem(line.strip(), name, own_rois) for line in str(error).splitlines()[1:]]
    problems += _shared_download_problems({name: views[name]["brain_data"] for name in views})
    problems += _things_download_problems({name: views[name]["brain_data"] for name in views})
    problems += _ranking_problems(config, views)
    all_rois = {roi for name in names for roi in (config["brain_data"][name].get("rois") or {})}
    encoding_map = (config.get("encoding") or {}).get("layer_map") or {}
    for key, layer_map in (("rsa.layer_map", config["rsa"]["layer_map"] or {}), ("encoding.layer_map", encoding_map)):
        problems += [f"config key {key}.{roi}: no dataset has an ROI {roi!r}" for roi in layer_map
                     if roi not in all_rois]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(problems)))
    validated = copy.deepcopy(views[names[0]])
    validated["brain_data"] = {}
    for name in names:
        dataset = copy.deepcopy(views[name]["brain_data"])
        own_map = config["brain_data"][name].get("layer_map")
        if own_map:
            dataset["layer_map"] = {roi: views[name]["rsa"]["layer_map"][roi] for roi in own_map}
        validated["brain_data"][name] = _sorted_keys(dataset)
    validated["rsa"]["layer_map"] = _sorted_keys(dict(config["rsa"]["layer_map"] or {}))
    validated["encoding"]["layer_map"] = _sorted_keys(dict(encoding_map)) or None
    validated["encoding"]["enabled"] = bool((config.get("encoding") or {}).get("enabled", False))
    validated["paper_comparison"] = bool(config.get("paper_comparison", False))
    return validated


def dataset_configs(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Dataset name -> the one-dataset config its rules read, of a validated config: for
    one dataset (brain_data with a type) {None: config}, whose outputs are at the run's
    top level; for named datasets each one's validated view (:func:`dataset_view`),
    in the order of brain_data."""
    if not has_named_datasets(config["brain_data"], schema):
        return {None: dict(config)}
    return {name: _validate_one_dataset(dataset_view(config, name), schema) for name in config["brain_data"]}


def _filled_default(schema: Mapping[str, Any]) -> Any:
    """The value a key that is left out gets: the schema's default, in canonical form and,
    for a section, with its own keys' defaults filled in."""
    value = _normalised(copy.deepcopy(schema["default"]), schema)
    for _ in _canonicalising_validator()(schema).iter_errors(value):
        pass
    return value


def _differing(path: str, value: Any, default: Any) -> list[str]:
    """The dotted keys under ``path`` whose value is not the default (leaves of sections)."""
    if isinstance(value, dict) and isinstance(default, dict):
        return [key for name in sorted(set(value) | set(default))
                for key in _differing(f"{path}.{name}", value.get(name), default.get(name))]
    return [] if value == default else [path]


def unused_brain_keys(brain: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The dotted brain_data keys (``brain_data.download.betas_size``) that ``brain`` sets to
    other than their default although its type does not use them (BRAIN_DATA_TYPES).

    A key at its default counts as not set, whether written out or left out: the two are
    one setting everywhere in this config (a validated config, which writes every default
    out, validates again), and config.yaml documents ``rdm_file: null`` by writing it.
    ``schema``: the brain_data section of the config schema."""
    used = BRAIN_DATA_TYPES[brain["type"]].keys
    unused = []
    for name, sub in schema["properties"].items():
        if name in used or name not in brain:
            continue
        default = _filled_default(sub) if "default" in sub else object()
        unused += [key for key in _differing(f"brain_data.{name}", brain[name], default) if not _uses(used, key)]
    return unused


def _uses(keys: frozenset[str], dotted: str) -> bool:
    """Whether a type's ``keys`` hold the dotted key ``brain_data.a.b`` or a section above it."""
    parts = dotted.split(".")[1:]
    return any(".".join(parts[:n]) in keys for n in range(1, len(parts) + 1))


def rule_order(schema: Mapping[str, Any]) -> list[str]:
    """The learning rules in the order the schema lists them (the controls first)."""
    return schema["properties"]["conditions"]["additionalProperties"]["properties"]["rule"]["enum"]


def condition_order(conditions: Mapping[str, Mapping[str, Any]], rules: list[str]) -> list[str]:
    """Condition names in display order: by rule, in the order of ``rules``, then by name."""
    return sorted(conditions, key=lambda name: (rules.index(conditions[name]["rule"]), _natural_key(name)))


def _layer_depth(layer: str | None) -> tuple[int, int]:
    """conv1 < conv2 < ... < fc1 < fc2 < no layer."""
    match = re.fullmatch(r"(conv|fc)([0-9]+)", layer or "")
    return (0 if match.group(1) == "conv" else 1, int(match.group(2))) if match else (2, 0)


def roi_order(rois: Iterable[str], layer_map: Mapping[str, str]) -> list[str]:
    """ROI names in display order: by the depth of the layer ``layer_map`` maps them to (the
    visual hierarchy V1, V2, LOC, IT for conv1, conv1, conv3, fc1), then by name; unmapped
    ROIs last."""
    return sorted(rois, key=lambda roi: (_layer_depth(layer_map.get(roi)), _natural_key(roi)))


def _sorted_keys(node: Any) -> Any:
    """``node`` with the keys of every dict in it sorted."""
    if isinstance(node, Mapping):
        return {key: _sorted_keys(node[key]) for key in sorted(node)}
    if isinstance(node, (list, tuple)):
        return [_sorted_keys(item) for item in node]
    return node


def _in_canonical_order(config: Mapping[str, Any], rules: list[str]) -> dict[str, Any]:
    """The config with sorted keys, except the conditions and ROIs, whose order is the
    order of the figures and tables: one derived from the settings, not from the file."""
    ordered = _sorted_keys(config)
    conditions = ordered["conditions"]
    ordered["conditions"] = {name: conditions[name] for name in condition_order(conditions, rules)}
    brain, rsa = ordered["brain_data"], ordered["rsa"]
    rois = roi_order(brain["rois"], rsa["layer_map"])
    brain["rois"] = {roi: brain["rois"][roi] for roi in rois}
    rsa["layer_map"] = {roi: rsa["layer_map"][roi] for roi in rois if roi in rsa["layer_map"]}
    return ordered


def _check_semantics(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Rules a JSON schema cannot express: cross-references between keys."""
    problems = []
    depth = len(config["model"]["widths"])
    valid_layers = {f"conv{i}" for i in range(1, depth + 1)} | {"fc1", "fc2"}
    for layer in config["activations"]["layers"]:
        if layer not in valid_layers:
            problems.append(
                f"config key activations.layers: {layer!r} is not a layer of a model with "
                f"{depth} conv blocks (valid: {sorted(valid_layers)})"
            )
    for roi, layer in config["rsa"]["layer_map"].items():
        if roi not in config["brain_data"]["rois"]:
            problems.append(f"config key rsa.layer_map.{roi}: no ROI {roi!r} in brain_data.rois")
        if layer not in config["activations"]["layers"]:
            problems.append(
                f"config key rsa.layer_map.{roi}: layer {layer!r} is not in activations.layers"
            )
    problems += _brain_data_problems(config["brain_data"], schema["properties"]["brain_data"])
    filter_seed = config["figures"]["filter_seed"]
    if filter_seed is not None and filter_seed not in config["seeds"]:
        problems.append(f"config key figures.filter_seed: {filter_seed} is not one of seeds {config['seeds']}")
    stats = config["stats"]
    if stats["inference"] == "variance_components" and config["rsa"]["method"] not in ("spearman", "pearson"):
        problems.append(f"config key stats.inference: variance_components needs rsa.method spearman or pearson "
                        f"(got {config['rsa']['method']!r}); use stats.inference: bootstrap")
    n_seeds = len(config["seeds"])
    if (stats["inference"] == "variance_components" and "seeds" in stats["generalise_over"]
            and n_seeds < MIN_SEEDS_TO_GENERALISE):
        problems.append(
            f"config key stats.generalise_over: generalising over seeds needs at least {MIN_SEEDS_TO_GENERALISE} "
            f"seeds (seeds has {n_seeds}); with fewer the test of a difference is not calibrated (2 seeds: 13-16 % "
            "false positives at alpha 0.05, docs/STATISTICS.md). Add seeds, or set stats.generalise_over: "
            "[stimuli] to claim results for these networks only")
    problems += _encoding_problems(config)
    problems += _pretrained_problems(config)
    training = config["training_data"]
    if training["source"] == "image_folder" and not training["path"]:
        problems.append("config key training_data.path: required when training_data.source is image_folder")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


#: conditions.<name>.rule of a published reference network (lrrsa.pretrained), not a learning rule.
PRETRAINED = "pretrained"


def trained_conditions(config: Mapping[str, Any]) -> list[str]:
    """The conditions whose networks the workflow trains (every rule but pretrained), in order."""
    return [name for name, hyper in config["conditions"].items() if hyper["rule"] != PRETRAINED]


def pretrained_conditions(config: Mapping[str, Any]) -> list[str]:
    """The conditions that are published reference networks, in order."""
    return [name for name, hyper in config["conditions"].items() if hyper["rule"] == PRETRAINED]


def _pretrained_problems(config: Mapping[str, Any]) -> list[str]:
    """A reference network's architecture, weights and layer map, checked against
    torchvision's registry (imported only when the config has one)."""
    names = pretrained_conditions(config)
    if not names:
        return []
    from lrrsa import pretrained

    problems = []
    layers = config["activations"]["layers"]
    if not trained_conditions(config):
        problems.append("config key conditions: every condition is pretrained; the study compares learning "
                        "rules, so name at least one trained condition")
    for name in names:
        hyper, key = config["conditions"][name], f"conditions.{name}"
        try:
            pretrained.reference_weights(hyper["architecture"], hyper["weights"])
            nodes = set(pretrained.layer_nodes(hyper["architecture"]))
        except ValueError as error:
            problems.append(f"config key {key}.architecture/weights: {error}")
            continue
        mapped = hyper["layers"]
        if set(mapped) != set(layers):
            problems.append(f"config key {key}.layers: maps {sorted(mapped)}; it must map every layer of "
                            f"activations.layers ({', '.join(layers)}) to a node, and no other")
        problems += [f"config key {key}.layers.{layer}: {hyper['architecture']} has no node {node!r} (torchvision "
                     "feature-extraction names: lrrsa.pretrained.layer_nodes)" for layer, node in mapped.items()
                     if node not in nodes]
        if len(set(mapped.values())) != len(mapped):
            problems.append(f"config key {key}.layers: reads a node twice ({mapped})")
    return problems


def _encoding_problems(config: Mapping[str, Any]) -> list[str]:
    """Cross-key rules of the encoding section."""
    encoding = config["encoding"]
    if not encoding["enabled"]:
        return []
    problems = []
    if config["brain_data"]["type"] != "things_fmri":
        problems.append(f"config key encoding.enabled: encoding models read THINGS-fMRI trials (brain_data.type "
                        f"things_fmri); brain_data.type {config['brain_data']['type']} is not supported by them yet: "
                        "set encoding.enabled: false")
    for roi, layer in (encoding["layer_map"] or {}).items():
        if roi not in config["brain_data"]["rois"]:
            problems.append(f"config key encoding.layer_map.{roi}: no ROI {roi!r} in brain_data.rois")
        if layer not in config["activations"]["layers"]:
            problems.append(f"config key encoding.layer_map.{roi}: layer {layer!r} is not in activations.layers")
    alphas = encoding["alphas"]
    if alphas["log10_min"] > alphas["log10_max"]:
        problems.append("config key encoding.alphas: log10_min must not exceed log10_max")
    return problems


def _unused_keys_problem(brain: Mapping[str, Any], unused: list[str]) -> str:
    """One message naming every key set that brain_data.type does not use, and who uses them."""
    users: dict[tuple[str, ...], list[str]] = {}
    for key in unused:
        users.setdefault(tuple(t for t, d in BRAIN_DATA_TYPES.items() if _uses(d.keys, key)), []).append(key)
    them = "it" if len(unused) == 1 else "them"
    used_by = "; ".join(f"{', '.join(keys) + ': ' if len(users) > 1 else ''}used only by brain_data.type "
                        f"{' and '.join(types)}" for types, keys in users.items())
    return (f"config key {', '.join(unused)}: brain_data.type {brain['type']} does not use {them} ({used_by}); "
            f"leave {them} out")


def _brain_data_problems(brain: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Cross-key rules of brain_data (type, source and the keys each needs). ``schema``: the
    brain_data section of the config schema (for the defaults of the keys a type does not use)."""
    problems = []
    unused = unused_brain_keys(brain, schema)
    if unused:
        problems.append(_unused_keys_problem(brain, unused))
    if brain["stimuli"] == "list" and not brain["stimulus_list"]:
        problems.append("config key brain_data.stimulus_list: required when brain_data.stimuli is list")
    subjects = brain["subjects"] if brain["subjects"] != "all" else []
    reserved = [subject for subject in subjects if subject in RESERVED_SUBJECTS]
    if reserved:
        problems.append(f"config key brain_data.subjects: {', '.join(reserved)} names the workflow's own files "
                        f"(the group RDM, every subject); rename the subject")
    if brain["type"] == "neural_assembly":
        problems += _neural_assembly_problems(brain)
    elif any(not _THINGS_SUBJECT.match(subject) for subject in subjects):
        bad = [subject for subject in subjects if not _THINGS_SUBJECT.match(subject)]
        problems.append(f"config key brain_data.subjects: {', '.join(bad)}: brain_data.type {brain['type']} names "
                        f"subjects sub-01, sub-02, ...")
    if brain["type"] == "rdm_set":
        if brain["source"] != "local":
            problems.append("config key brain_data.source: an rdm_set is read from local files; set it to local")
        for key in ("rdm_file", "images_dir"):
            if not brain[key]:
                problems.append(f"config key brain_data.{key}: required when brain_data.type is rdm_set")
        if brain["stimuli"] not in ("all", "list"):
            problems.append(
                f"config key brain_data.stimuli: {brain['stimuli']!r} needs trial metadata, which an rdm_set does not "
                f"have; use all or list"
            )
        for roi, items in brain["rois"].items():
            if len(items) != 1:
                problems.append(f"config key brain_data.rois.{roi}: an rdm_set ROI names exactly one array of "
                                f"brain_data.rdm_file, got {items}")
            elif items[0].lower().endswith((".nii", ".nii.gz")):
                problems.append(f"config key brain_data.rois.{roi}: NIfTI masks need type things_fmri")
    elif brain["type"] == "things_fmri" and brain["source"] == "local":
        for key in ("betas_dir", "images_dir"):
            if not brain[key]:
                problems.append(f"config key brain_data.{key}: required when brain_data.source is local")
    if brain["source"] != "download":
        for key in ("betas_zip", "images_zip"):
            if brain["type"] == "neural_assembly" and key == "images_zip":
                continue  # a local stimulus set's zip
            if brain[key] and f"brain_data.{key}" not in unused:  # named once, by the type
                problems.append(f"config key brain_data.{key}: only used when brain_data.source is download")
    return problems


def _neural_assembly_problems(brain: Mapping[str, Any]) -> list[str]:
    """Cross-key rules of brain_data.type neural_assembly (the keys each source needs)."""
    from lrrsa.data.brainio_catalog import brainio_dataset

    problems = []
    source = brain["source"]
    on_things = brain["things_images"]
    if source == "download":
        if not brain["dataset"]:
            problems.append("config key brain_data.dataset: required when brain_data.type is neural_assembly and "
                            "brain_data.source is download (MajajHong2015.public, FreemanZiemba2013.public or "
                            "Papale2025)")
        else:
            on_things = brainio_dataset(brain["dataset"]).things_images
            if brain["things_images"] and not on_things:
                problems.append(f"config key brain_data.things_images: {brain['dataset']} has its own stimulus set; "
                                "leave it out")
            for key in ("images_zip", "images_dir"):
                if brain[key] and not on_things:
                    problems.append(f"config key brain_data.{key}: {brain['dataset']} downloads its own stimulus "
                                    "set; only a recording on THINGS images (Papale2025) reads the THINGS images")
    else:
        for key in ("dataset", "assembly_dir"):
            if brain[key]:
                problems.append(f"config key brain_data.{key}: only used when brain_data.source is download")
    if source == "local":
        if not brain["assembly_file"]:
            problems.append("config key brain_data.assembly_file: required when brain_data.type is neural_assembly "
                            "and brain_data.source is local")
        if on_things and brain["stimulus_csv"]:
            problems.append("config key brain_data.stimulus_csv: a recording on THINGS images (things_images: true) "
                            "has its stimulus set rebuilt from its stimulus ids; leave it out")
        elif not on_things and not brain["stimulus_csv"]:
            problems.append("config key brain_data.stimulus_csv: required when brain_data.type is neural_assembly and "
                            "brain_data.source is local (or set things_images: true for a recording on THINGS "
                            "images)")
        if not on_things and bool(brain["images_zip"]) == bool(brain["images_dir"]):
            problems.append("config keys brain_data.images_zip, brain_data.images_dir: a local neural_assembly needs "
                            "its stimulus images in exactly one of them")
    elif source != "download":
        for key in ("assembly_file", "stimulus_csv", "images_zip", "images_dir", "things_images"):
            if brain[key]:
                problems.append(f"config key brain_data.{key}: not used when brain_data.source is {source}")
    if on_things and brain["images_zip"] and brain["images_dir"]:
        problems.append("config keys brain_data.images_zip, brain_data.images_dir: the THINGS images come from one "
                        "of them (or, with neither, from the THINGS images archive downloaded once per run)")
    if brain["stimuli"] not in ("all", "list"):
        problems.append(f"config key brain_data.stimuli: {brain['stimuli']!r} needs THINGS trial metadata; a "
                        f"neural_assembly allows all or list")
    window = brain["time_window"]
    if window is not None and not window[0] < window[1]:
        problems.append(f"config key brain_data.time_window: start {window[0]:g} must be before end {window[1]:g} (ms)")
    for roi, items in brain["rois"].items():
        masks = [item for item in items if item.lower().endswith((".nii", ".nii.gz"))]
        if masks:
            problems.append(f"config key brain_data.rois.{roi}: NIfTI masks need type things_fmri; a "
                            f"neural_assembly ROI names values of the neuroid coordinate region")
    return problems


#: Conditions Kendall's tau needs to rank (lrrsa.stats.rank_agreement).
MIN_RANKED_CONDITIONS = 3


def _ranking_problems(config: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Datasets with an ROI in common are compared by the agreement of their rankings of
    the conditions (across_datasets/), which needs at least three conditions."""
    names = list(views)
    shared = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
              if set(views[a]["rsa"]["layer_map"]) & set(views[b]["rsa"]["layer_map"])]
    conditions = config.get("conditions") or {}
    if not shared or len(conditions) >= MIN_RANKED_CONDITIONS:
        return []
    return [f"config key conditions: {len(conditions)} condition(s), but datasets {shared[0][0]} and {shared[0][1]} "
            f"share an ROI, and the comparison across datasets ranks the conditions (Kendall's tau needs at least "
            f"{MIN_RANKED_CONDITIONS}; with 3 its exact p is at least 1/3, with 4 at least 1/12); add conditions, or "
            "give the datasets no ROI name in common"]


def _things_download_problems(datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Datasets that download the same THINGS archive with different url, size or md5
    (it is downloaded once per run)."""
    from lrrsa.data.shared_downloads import THINGS_ARCHIVES, things_downloads

    problems = []
    for archive in THINGS_ARCHIVES:
        keys = [f"{archive}_url", f"{archive}_size", f"{archive}_md5"]
        users = {name: brain for name, brain in datasets.items() if archive in things_downloads(brain)}
        settings = {name: tuple(brain["download"][key] for key in keys) for name, brain in users.items()}
        if len(set(settings.values())) > 1:
            problems.append(f"config keys {', '.join(f'brain_data.{n}.download' for n in settings)}: "
                            f"{' and '.join(settings)} download the THINGS {archive} archive, which a run downloads "
                            f"once, with different {', '.join(keys)}; give them the same")
    return problems


def local_paths(config: Mapping[str, Any]) -> dict[str, str]:
    """The config keys that name existing local inputs, with their paths."""
    paths = {}
    training = config["training_data"]
    if training["source"] != "demo" and training["path"]:
        paths["training_data.path"] = training["path"]
    for name in pretrained_conditions(config):
        if config["conditions"][name]["weights_file"]:
            paths[f"conditions.{name}.weights_file"] = config["conditions"][name]["weights_file"]
    brain = config["brain_data"]
    if brain["source"] in ("local", "download"):
        for key in ("betas_dir", "images_dir", "betas_zip", "images_zip", "rdm_file", "assembly_dir", "assembly_file",
                    "stimulus_csv"):
            if brain.get(key):
                paths[f"brain_data.{key}"] = brain[key]
    if brain["stimuli"] == "list":
        paths["brain_data.stimulus_list"] = brain["stimulus_list"]
    return paths


#: The files of one subject in a THINGS-fMRI ``betas_csv`` folder.
SUBJECT_FILES = ("{subject}_ResponseData.h5", "{subject}_VoxelMetadata.csv", "{subject}_StimulusMetadata.csv")


def brain_local_files(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(config key, path) of the single files that local brain data must hold.

    Each configured subject's three files in a local ``betas_dir`` and every NIfTI ROI
    mask (``{subject}`` replaced by each subject) named in ``brain_data.rois``.
    """
    brain = config["brain_data"]
    files = []
    if brain["type"] != "things_fmri" or brain["source"] == "demo":
        return files
    if brain["betas_dir"]:
        for subject in brain["subjects"]:
            for name in SUBJECT_FILES:
                files.append(("brain_data.betas_dir", str(Path(brain["betas_dir"]) / name.format(subject=subject))))
    for roi, items in brain["rois"].items():
        for item in items:
            if item.lower().endswith((".nii", ".nii.gz")):
                for path in dict.fromkeys(item.replace("{subject}", s) for s in brain["subjects"]):
                    files.append((f"brain_data.rois.{roi}", path))
    return files


def _where(path: str, root: Path) -> str:
    """Where a config path was looked for: its absolute form and, for a relative one, the
    directory it was resolved against."""
    looked = f"looked for {(root / path).resolve()}"
    if Path(path).is_absolute():
        return looked
    return (f"{looked}: a relative path is resolved against Snakemake's working directory {root.resolve()} "
            "(--directory, by default the directory snakemake runs in)")


def check_local_paths(config: Mapping[str, Any], root: Path = Path(".")) -> None:
    """Raise ConfigError naming every config key whose local file or folder is missing.

    Relative paths are resolved against ``root``: Snakemake's working directory (its
    ``--directory``, by default the directory it runs in), where the workflow calls this.
    Each message gives the absolute path looked for. A subject's file inside a missing
    ``betas_dir`` is not listed again: the folder is.
    """
    def problem(key: str, path: str) -> str:
        return f"config key {key}: {path!r} does not exist ({_where(path, root)})"

    paths = local_paths(config)
    missing = [problem(key, path) for key, path in paths.items() if not (root / path).exists()]
    betas_dir = paths.get("brain_data.betas_dir")
    for key, path in brain_local_files(config):
        if key == "brain_data.betas_dir" and not (root / betas_dir).exists():
            continue
        if not (root / path).is_file():
            missing.append(problem(key, path))
    if missing:
        raise ConfigError("missing input:\n  " + "\n  ".join(missing))


def prepare_dataset(view: Mapping[str, Any], name: str | None, root: Path = Path(".")) -> dict[str, Any]:
    """:func:`check_local_paths` then :func:`resolve_subjects` of one dataset's view (a
    config of :func:`dataset_configs`), their ConfigError naming the keys as the user
    wrote them (``brain_data.<name>.assembly_file``) for a named dataset."""
    try:
        check_local_paths(view, root)
        return resolve_subjects(view, root)
    except ConfigError as error:
        if name is None:
            raise
        header, *lines = str(error).splitlines()
        raise ConfigError("\n".join([header, *(f"  {_named_dataset_problem(line.strip(), name)}" for line in lines)]))


def resolve_subjects(config: Mapping[str, Any], root: Path = Path(".")) -> dict[str, Any]:
    """The validated ``config`` with ``brain_data.subjects`` the list of subjects the run uses,
    where the dataset lists its own (type rdm_set: ``rdm_file``, a relative path resolved
    against ``root``, Snakemake's working directory; type neural_assembly: its animals,
    :func:`lrrsa.data.neural_assembly.animals`). ``all`` becomes every subject of the
    file, in natural order (sub-2 < sub-10); a list is checked against the file. Only the
    file's ``subjects`` array, or the header of its ROI arrays, is read
    (:func:`lrrsa.data.rdm_set.read_subjects`). Other types are returned as they are
    (validate_config has already turned their ``all`` into a list). Call it after
    :func:`check_local_paths`. Raises ConfigError naming the key, the file and, for a
    subject the file lacks, the subjects it has.
    """
    brain = config["brain_data"]
    if BRAIN_DATA_TYPES[brain["type"]].all_subjects is not None:
        return dict(config)
    if brain["type"] == "neural_assembly":
        from lrrsa.data.neural_assembly import animals

        from lrrsa.data.neural_assembly import local_recording_problems

        try:
            available = animals(brain, root)
            problems = local_recording_problems(brain, root) if brain["source"] == "local" else []
        except (OSError, ValueError) as error:
            key = "assembly_file" if brain["source"] == "local" else "dataset"
            raise ConfigError(f"invalid configuration:\n  config key brain_data.{key}: {error}") from None
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
        where = {"demo": "the demo recording", "download": f"brain_data.dataset {brain['dataset']}",
                 "local": f"brain_data.assembly_file {(root / str(brain['assembly_file'])).resolve()}"}[brain["source"]]
    else:
        from lrrsa.data.rdm_set import RdmSetError, read_subjects

        path = (root / brain["rdm_file"]).resolve()
        try:
            available = sorted(read_subjects(path), key=_natural_key)
        except RdmSetError as error:
            raise ConfigError(f"invalid configuration:\n  config key brain_data.rdm_file: {error}") from None
        where = f"brain_data.rdm_file {path}"
    if brain["subjects"] == "all":
        subjects = available
    else:
        absent = [s for s in brain["subjects"] if s not in available]
        if absent:
            raise ConfigError(
                f"invalid configuration:\n  config key brain_data.subjects: {', '.join(absent)} not in "
                f"{where}, which holds {', '.join(available)}; name some of those, or all")
        subjects = list(brain["subjects"])
    resolved = copy.deepcopy(dict(config))
    resolved["brain_data"]["subjects"] = subjects
    return resolved


def schema_keys(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping]]:
    """Every documented key of the schema as (dotted path, subschema), depth first."""
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, sub
        yield from schema_keys(sub, path + ".")
    for name, sub in schema.get("$defs", {}).items():
        yield from schema_keys(sub, f"{prefix}<{name} condition>.")


def markdown_reference(schema: Mapping[str, Any]) -> str:
    """config/README.md: every key with its type, default and description."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `workflow/schemas/config.schema.yaml` by",
        "`python -m lrrsa.config workflow/schemas/config.schema.yaml > config/README.md`",
        "(a test checks that it is current). `config.yaml` is the paper's study, `demo.yaml`",
        "the embedded demo (two datasets), `cross_species.yaml` the follow-up (human fMRI and",
        "two macaque recordings). Pass another file with `--configfile`; it replaces `config.yaml`",
        "rather than being merged into it. Keys left out take their defaults; unknown keys",
        "are errors. How settings are written does not matter: the order of keys and of",
        "the items of a set (seeds, subjects, ...), a default written out or left out, `1e-3`",
        "or `0.001`, `5` or `5.0`: each gives the same validated config, so none reruns a",
        "job. Conditions are listed by rule (as under `rule`), then by name; ROIs by the",
        "layer `rsa.layer_map` maps them to, then by name.",
        "",
        "A relative path (`training_data.path`, the files and folders of `brain_data`, NIfTI",
        "masks in `brain_data.rois`) is resolved against Snakemake's working directory",
        "(`--directory`, by default the directory snakemake runs in), not against the config",
        "file's folder; a missing one is reported with the absolute path looked for.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for path, sub in schema_keys(schema):
        kind = sub.get("type", "const" if "const" in sub else "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if "enum" in sub:
            kind += ": " + " \\| ".join(map(str, sub["enum"]))
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        description = " ".join(str(sub.get("description", "")).split())
        lines.append(f"| `{path}` | {kind} | {default} | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(markdown_reference(load_schema(Path(sys.argv[1]))), end="")
