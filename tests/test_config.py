"""Config validation: the shipped configs validate; every key is documented; errors name the key;
the same settings written differently validate to the same canonical config."""

import collections
import copy

import pytest
import yaml

from config_spellings import load_like_snakemake, reversed_keys, spellings
from conftest import REPO, one_dataset_demo
from lrrsa.config import BRAIN_DATA_TYPES, PRETRAINED, ConfigError, check_local_paths, load_schema, schema_keys, validate_config
from lrrsa.learning_rules import RULES

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml", "demo_macaque.yaml", "majajhong2015.yaml",
                                  "freemanziemba2013.yaml", "cross_species.yaml"])
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
    cfg = copy.deepcopy(one_dataset_demo())
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
    # Every learning rule, and pretrained: a published network (lrrsa.pretrained), listed last.
    rule_enum = SCHEMA["properties"]["conditions"]["additionalProperties"]["properties"]["rule"]["enum"]
    assert sorted(rule_enum) == sorted([*RULES, PRETRAINED]) and rule_enum[-1] == PRETRAINED
    assert sorted(SCHEMA["$defs"]) == sorted([*RULES, PRETRAINED])


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


# ---- canonical form: Snakemake reruns a job when the repr of one of its params changes ----
DEMO_DEFAULTS = ("demo.seed", "demo.noise_sd", "training_data.seed", "brain_data.type", "brain_data.zscore",
                 "conditions.bp.optimizer", "conditions.bp.lr", "rdm", "stats.seed")


def demo_spellings():
    demo = one_dataset_demo()
    return spellings(demo, validate_config(demo, SCHEMA), DEMO_DEFAULTS, empty="rdm")


@pytest.mark.parametrize("name", list(demo_spellings()))
def test_the_same_settings_written_differently_validate_to_the_same_repr(name):
    """repr, not ==: 5 == 5.0 and dicts in another order are equal, but their repr is not."""
    expected = validate_config(one_dataset_demo(), SCHEMA)
    written = load_like_snakemake(demo_spellings()[name]())
    assert repr(validate_config(written, SCHEMA)) == repr(expected)


def test_validating_the_validated_config_changes_nothing():
    validated = validate_config(one_dataset_demo(), SCHEMA)
    assert repr(validate_config(copy.deepcopy(validated), SCHEMA)) == repr(validated)


def test_keys_are_sorted_at_every_level():
    cfg = validate_config(reversed_keys(one_dataset_demo()), SCHEMA)
    for path in ["", "stats", "stats.fdr", "brain_data.download", "conditions.pc"]:
        node = cfg
        for key in filter(None, path.split(".")):
            node = node[key]
        assert list(node) == sorted(node), path


def test_numbers_take_the_type_the_schema_gives_them():
    cfg = one_dataset_demo()
    cfg["conditions"]["bp"].update(lr="1e-3", weight_decay=1)        # number: a YAML 1.1 string, an int
    cfg["training"].update(epochs=3.0)                                # integer written as a float
    cfg["stats"].update(n_permutations="2e3", ci_level=" 0.95")       # integer in e-notation; not a number: spaces
    with pytest.raises(ConfigError, match="config key stats.ci_level: ' 0.95' is not of type 'number'"):
        validate_config(cfg, SCHEMA)
    cfg["stats"]["ci_level"] = 0.95
    validated = validate_config(cfg, SCHEMA)
    bp = validated["conditions"]["bp"]
    assert (repr(bp["lr"]), repr(bp["weight_decay"])) == ("0.001", "1.0")
    assert repr(validated["training"]["epochs"]) == "3" and repr(validated["stats"]["n_permutations"]) == "2000"
    assert repr(validated["brain_data"]["download"]["timeout"]) == "60.0"  # the schema's default is written 60


@pytest.mark.parametrize("key, value, message", [
    ("epochs", 2.5, "config key training.epochs: 2.5 is not of type 'integer'"),
    ("epochs", "25e-1", "config key training.epochs: 2.5 is not of type 'integer'"),
    ("augment", "true", "config key training.augment: 'true' is not of type 'boolean'"),
])
def test_a_value_of_another_type_is_still_refused(key, value, message):
    cfg = one_dataset_demo()
    cfg["training"][key] = value
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_sets_are_sorted_lists_and_mappings_plain_dicts():
    cfg = one_dataset_demo()
    cfg.update(seeds=(2, 1))
    cfg["brain_data"].update(subjects=["sub-10", "sub-2"], rois=collections.OrderedDict(LOC=["rLOC", "lLOC"], V1=["V1"]))
    cfg["rsa"]["layer_map"] = {"LOC": "conv3", "V1": "conv1"}
    cfg["stats"]["generalise_over"] = ["subjects", "stimuli"]
    cfg["activations"]["layers"] = ["fc1", "conv10", "conv2", "conv1", "conv3"]
    cfg["model"]["widths"] = (8, 8, 8, 8, 8, 8, 8, 8, 8, 8)  # an order that matters: kept
    validated = validate_config(cfg, SCHEMA)
    assert validated["seeds"] == [1, 2] and validated["brain_data"]["subjects"] == ["sub-2", "sub-10"]
    assert repr(validated["brain_data"]["rois"]) == "{'V1': ['V1'], 'LOC': ['lLOC', 'rLOC']}"
    assert validated["stats"]["generalise_over"] == ["stimuli", "subjects"]  # the schema's enum order
    assert validated["activations"]["layers"] == ["conv1", "conv2", "conv3", "conv10", "fc1"]
    assert type(validated["model"]["widths"]) is list


def test_conditions_and_rois_are_in_display_order_whatever_the_file_order():
    """Conditions by rule (controls first), then name; ROIs by the layer they map to."""
    cfg = one_dataset_demo()
    cfg["conditions"] = dict(reversed(cfg["conditions"].items()))
    cfg["brain_data"]["rois"] = dict(sorted(cfg["brain_data"]["rois"].items()))
    cfg["rsa"]["layer_map"] = dict(sorted(cfg["rsa"]["layer_map"].items()))
    validated = validate_config(cfg, SCHEMA)
    assert list(validated["conditions"]) == ["untrained", "readout_only", "bp", "fa", "pc", "pc_supervised", "stdp"]
    assert list(validated["brain_data"]["rois"]) == list(validated["rsa"]["layer_map"]) == ["V1", "V2", "LOC", "IT"]


def test_paths_are_written_one_way():
    cfg = load("config.yaml")
    cfg["brain_data"].update(source="local", betas_dir="./resources//betas_csv/", images_dir="resources/images/")
    validated = validate_config(cfg, SCHEMA)["brain_data"]
    assert (validated["betas_dir"], validated["images_dir"]) == ("resources/betas_csv", "resources/images")


# ---- brain_data: subjects, keys of the other dataset type, relative paths ----
THINGS_FMRI_SUBJECTS = ["sub-01", "sub-02", "sub-03"]  # the subjects THINGS-fMRI has


@pytest.mark.parametrize("subjects", ["left out", "all", THINGS_FMRI_SUBJECTS, THINGS_FMRI_SUBJECTS[::-1]])
def test_things_fmri_subjects_default_to_and_all_means_its_three(subjects):
    cfg = one_dataset_demo()
    if subjects == "left out":
        del cfg["brain_data"]["subjects"]
    else:
        cfg["brain_data"]["subjects"] = subjects
    validated = validate_config(cfg, SCHEMA)
    assert validated["brain_data"]["subjects"] == THINGS_FMRI_SUBJECTS
    assert repr(validated) == repr(validate_config(one_dataset_demo(), SCHEMA))  # one setting, so nothing reruns


@pytest.mark.parametrize("subjects", ["everyone", "sub-01", []])
def test_subjects_are_all_or_a_list(subjects):
    cfg = one_dataset_demo()
    cfg["brain_data"]["subjects"] = subjects
    with pytest.raises(ConfigError, match="config key brain_data.subjects"):
        validate_config(cfg, SCHEMA)


def test_things_fmri_refuses_an_rdm_file():
    cfg = one_dataset_demo()
    cfg["brain_data"]["rdm_file"] = "rdms.npz"
    with pytest.raises(ConfigError, match=r"config key brain_data\.rdm_file: brain_data\.type things_fmri does not use "
                                          r"it \(used only by brain_data\.type rdm_set\); leave it out"):
        validate_config(cfg, SCHEMA)
    cfg["brain_data"]["rdm_file"] = None  # as config.yaml writes it: the default, so nothing is set
    validate_config(cfg, SCHEMA)


def test_a_local_zip_still_needs_source_download():
    cfg = load("config.yaml")
    cfg["brain_data"].update(source="local", betas_dir="b", images_dir="i", betas_zip="b.zip")
    with pytest.raises(ConfigError, match="config key brain_data.betas_zip: only used when brain_data.source is download"):
        validate_config(cfg, SCHEMA)


def test_every_brain_data_key_belongs_to_a_dataset_type_and_says_so():
    """The table of keys per type covers the schema, and a key of one type only says which."""
    brain = SCHEMA["properties"]["brain_data"]
    assert list(BRAIN_DATA_TYPES) == brain["properties"]["type"]["enum"]
    assert {key.split(".")[0] for t in BRAIN_DATA_TYPES.values() for key in t.keys} == set(brain["properties"])
    for key, sub in brain["properties"].items():
        users = [name for name, t in BRAIN_DATA_TYPES.items() if key in {k.split(".")[0] for k in t.keys}]
        if len(users) == 1:
            assert f"type {users[0]}" in " ".join(sub["description"].split()), key


def test_a_missing_relative_path_names_the_absolute_path_and_the_working_directory(tmp_path, monkeypatch):
    """Relative paths resolve against Snakemake's working directory, where check_local_paths runs."""
    cfg = load("config.yaml")
    cfg["brain_data"].update(source="local", betas_dir="data/betas_csv", images_dir=str(tmp_path / "images"))
    validated = validate_config(cfg, SCHEMA)
    (tmp_path / "workdir").mkdir()
    monkeypatch.chdir(tmp_path / "workdir")
    with pytest.raises(ConfigError) as info:
        check_local_paths(validated)
    lines = str(info.value).splitlines()
    workdir = (tmp_path / "workdir").resolve()
    assert lines[1] == (f"  config key brain_data.betas_dir: 'data/betas_csv' does not exist (looked for "
                        f"{workdir / 'data/betas_csv'}: a relative path is resolved against Snakemake's working "
                        f"directory {workdir} (--directory, by default the directory snakemake runs in))")
    assert lines[2] == (f"  config key brain_data.images_dir: {str(tmp_path / 'images')!r} does not exist (looked for "
                        f"{(tmp_path / 'images').resolve()})")
