"""The same settings written differently: rewrites of a config that must change nothing.

Shared by the unit tests of lrrsa.config and the workflow's dry runs after a complete
run. Each rewrite returns the text of a config file (YAML or JSON), as a user or a
tool would write it.
"""

import collections
import copy
import json
import re
from collections.abc import Callable

import yaml


def reversed_keys(node):
    """``node`` with the keys of every mapping in it in reverse order."""
    if isinstance(node, dict):
        return {key: reversed_keys(node[key]) for key in reversed(list(node))}
    if isinstance(node, list):
        return [reversed_keys(item) for item in node]
    return node


def e_notation(value: float, dot: bool) -> str:
    """0.001 as ``1e-3`` (dot False) or ``1.0e-3``."""
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    if dot and "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}"


def other_number_notation(config: dict) -> str:
    """YAML of the config with floats in e-notation, alternately ``1e-3`` (which PyYAML
    reads as a string) and ``1.0e-3`` (a float), and integers as floats (``8000.0``)."""
    marker, count = "@number@", [0]

    def rewrite(node):
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if isinstance(node, float):
            count[0] += 1
            return marker + e_notation(node, dot=count[0] % 2 == 0)
        if isinstance(node, int) and not isinstance(node, bool):
            return float(node)
        return node

    return re.sub(f"'{marker}([^']*)'", r"\1", as_yaml(rewrite(config)))


def reversed_sets(config: dict) -> dict:
    """The sets of the config (seeds, subjects, layers, ROI items, factors) in reverse order."""
    config = copy.deepcopy(config)
    config["seeds"] = config["seeds"][::-1]
    brain = config["brain_data"]
    for key in ("subjects",):
        if isinstance(brain.get(key), list):  # not subjects: all
            brain[key] = brain[key][::-1]
    brain["rois"] = {roi: items[::-1] for roi, items in brain.get("rois", {}).items()}
    for section, key in (("activations", "layers"), ("stats", "generalise_over")):
        if key in config.get(section, {}):
            config[section][key] = config[section][key][::-1]
    return config


def without(config: dict, *paths: str) -> dict:
    """The config without the keys at these dotted paths (keys whose default they hold)."""
    config = copy.deepcopy(config)
    for path in paths:
        *parents, key = path.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        del node[key]
    return config


def defaults_first(validated, config):
    """``validated`` (every default written out) with the defaults before the keys ``config``
    writes, in every mapping, as in a file that starts from a complete template."""
    if not isinstance(validated, dict) or not isinstance(config, dict):
        return validated
    order = [key for key in validated if key not in config] + [key for key in config if key in validated]
    return {key: defaults_first(validated[key], config.get(key)) for key in order}


def with_values(config: dict, values: dict[str, object]) -> dict:
    """The config with these dotted keys set (creating sections as needed)."""
    config = copy.deepcopy(config)
    for path, value in values.items():
        *parents, key = path.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return config


def as_yaml(config: dict, sort_keys: bool = False) -> str:
    return yaml.safe_dump(config, sort_keys=sort_keys)


def load_like_snakemake(text: str) -> dict:
    """A configfile's text as Snakemake reads it: JSON into OrderedDicts, else YAML."""
    try:
        return json.loads(text, object_pairs_hook=collections.OrderedDict)
    except ValueError:
        return yaml.safe_load(text)


def spellings(config: dict, validated: dict, defaults: tuple[str, ...], empty: str) -> dict[str, Callable[[], str]]:
    """Name -> the file text of ``config`` written another way. ``validated``: the config with
    every default written out; ``defaults``: dotted keys of ``config`` that hold their default;
    ``empty``: a section that holds only defaults or is left out, written with no keys."""
    return {
        "keys sorted (yaml.safe_dump)": lambda: as_yaml(config, sort_keys=True),
        "keys reversed at every level": lambda: as_yaml(reversed_keys(config)),
        "every default written out": lambda: as_yaml(defaults_first(validated, config)),
        "defaults left out, an empty section": lambda: as_yaml(with_values(without(config, *defaults), {empty: None})),
        "numbers in other notations": lambda: other_number_notation(config),
        # Defaults written out in another type: 1 for a number key, 60.0 for the schema's 60.
        "defaults in another type": lambda: as_yaml(with_values(config, {"demo.noise_sd": 1,
                                                                         "brain_data.download.timeout": 60.0})),
        "sets in another order": lambda: as_yaml(reversed_sets(config)),
        "JSON": lambda: json.dumps(reversed_keys(config)),
    }
