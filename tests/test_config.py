"""Config validation: the shipped configs validate; every key is documented; errors name the key."""

import copy

import pytest
import yaml

from conftest import REPO
from lrrsa.config import ConfigError, check_local_paths, load_schema, schema_keys, validate_config
from lrrsa.learning_rules import RULES

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_validate(name):
    validate_config(load(name), SCHEMA)


def test_paper_config_describes_the_paper():
    cfg = validate_config(load("config.yaml"), SCHEMA)
    assert cfg["run"] == "paper"
    assert cfg["training_data"]["n_train"] == 8000
    assert cfg["training"]["epochs"] == 40 and cfg["training"]["batch_size"] == 128
    assert cfg["seeds"] == [42, 123, 456, 789, 1337]
    assert cfg["rsa"]["layer_map"] == {"V1": "conv1", "V2": "conv1", "LOC": "conv3", "IT": "fc1"}
    assert cfg["brain_data"]["image_size"] == 224
    assert cfg["activations"]["reduce"] == "spatial_mean"
    bp = cfg["conditions"]["bp"]
    assert (bp["rule"], bp["optimizer"], bp["lr"], bp["weight_decay"], bp["schedule"]) == (
        "backprop", "adam", 1e-3, 1e-4, "cosine")
    assert load("demo.yaml")["run"] == "demo"


def test_defaults_are_filled():
    minimal = {
        "run": "x", "seeds": [1, 2, 3, 4, 5],
        "training_data": {"source": "demo"}, "brain_data": {"source": "demo"},
        "conditions": {"bp": {"rule": "backprop"}},
    }
    cfg = validate_config(minimal, SCHEMA)
    assert cfg["conditions"]["bp"]["lr"] == 0.001
    assert cfg["model"]["widths"] == [32, 64, 128]
    assert cfg["demo"]["n_concepts"] == 120
    assert minimal["conditions"]["bp"] == {"rule": "backprop"}, "the input must not be modified"


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["conditions"]["bp"].update(lr="fast"), "conditions.bp.lr"),
        (lambda c: c["conditions"]["bp"].update(lr_typo=0.1), "conditions.bp"),
        (lambda c: c["training"].update(epoch=3), "training"),
        (lambda c: c.update(seeds=[1, 1]), "seeds"),
        (lambda c: c["conditions"]["untrained"].update(rule="hebbian"), "conditions.untrained.rule"),
        (lambda c: c["brain_data"]["rois"].update(V4=[]), "brain_data.rois.V4"),
        (lambda c: c["rsa"]["layer_map"].update(V1="conv9"), "rsa.layer_map.V1"),
        (lambda c: c["activations"].update(layers=["conv1", "conv4"]), "activations.layers"),
    ],
)
def test_errors_name_the_key(edit, key):
    cfg = copy.deepcopy(load("demo.yaml"))
    edit(cfg)
    with pytest.raises(ConfigError, match=f"config key {key}"):
        validate_config(cfg, SCHEMA)


def test_missing_local_file_names_the_key(tmp_path):
    local = copy.deepcopy(load("config.yaml"))  # the paper's study with local copies of the data
    local["brain_data"].update(source="local", betas_dir="resources/things-fmri/betas_csv", images_dir="resources/things-images")
    cfg = validate_config(local, SCHEMA)
    with pytest.raises(ConfigError, match="config key brain_data.betas_dir: 'resources/things-fmri/betas_csv' does not exist"):
        check_local_paths(cfg, root=tmp_path)
    (tmp_path / "resources/things-fmri/betas_csv").mkdir(parents=True)
    (tmp_path / "resources/things-images").mkdir(parents=True)
    with pytest.raises(ConfigError, match="config key brain_data.betas_dir: 'resources/things-fmri/betas_csv/sub-03_ResponseData.h5'"):
        check_local_paths(cfg, root=tmp_path)  # every configured subject's three files must be there
    for name in ("ResponseData.h5", "VoxelMetadata.csv", "StimulusMetadata.csv"):
        for subject in ("sub-01", "sub-02", "sub-03"):
            (tmp_path / f"resources/things-fmri/betas_csv/{subject}_{name}").touch()
    check_local_paths(cfg, root=tmp_path)


def test_every_schema_key_is_documented():
    undocumented = [path for path, sub in schema_keys(SCHEMA) if "description" not in sub and path.split(".")[-1] != "rule"]
    assert undocumented == []


def test_every_paper_config_key_is_in_the_schema():
    """Keys of config.yaml must all be schema keys (validation already rejects unknown ones)."""
    documented = {path for path, _ in schema_keys(SCHEMA)}

    def walk(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            yield path
            if isinstance(value, dict) and key not in ("conditions", "rois", "layer_map"):
                yield from walk(value, path + ".")

    assert set(walk(load("config.yaml"))) <= documented


def test_schema_rules_match_the_registry():
    rule_enum = SCHEMA["properties"]["conditions"]["additionalProperties"]["properties"]["rule"]["enum"]
    assert sorted(rule_enum) == sorted(RULES)
    assert sorted(SCHEMA["$defs"]) == sorted(RULES)


def test_config_reference_is_current():
    from lrrsa.config import markdown_reference

    assert (REPO / "config" / "README.md").read_text() == markdown_reference(SCHEMA), (
        "regenerate: python -m lrrsa.config workflow/schemas/config.schema.yaml > config/README.md")


@pytest.mark.parametrize("seeds, factors, refused", [
    ([1, 2], ["stimuli", "seeds"], True), ([1], ["stimuli", "seeds"], True), (list(range(5)), ["stimuli", "seeds"], False),
    ([1, 2], ["stimuli"], False),
])
def test_generalising_over_seeds_needs_the_calibrated_number_of_seeds(seeds, factors, refused):
    """Calibrated at 5 seeds, not at 2 or 3 (docs/STATISTICS.md): fewer seeds must claim only these networks."""
    config = {"run": "x", "seeds": seeds, "training_data": {"source": "demo"}, "brain_data": {"source": "demo"},
              "conditions": {"bp": {"rule": "backprop"}}, "stats": {"generalise_over": factors}}
    if refused:
        with pytest.raises(ConfigError, match=r"stats.generalise_over: generalising over seeds needs at least 5 seeds"):
            validate_config(config, SCHEMA)
    else:
        validate_config(config, SCHEMA)
