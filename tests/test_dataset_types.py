"""Each brain dataset type is one module on the DAG side: <type>.smk (its rules) and
<type>_inputs.smk (its paths and input functions), providing the interface that
dataset_common.smk describes; the shared stages never branch on the type."""

import re

import pytest

from conftest import REPO
from lrrsa.config import BRAIN_DATA_TYPES

RULES = REPO / "workflow" / "rules"
INTERFACE = ["brain_inputs", "brain_images_dir", "split_half_rdms", "brain_reports"]
SHARED_STAGES = ["dataset.smk", "dataset_common.smk", "activations.smk", "rdm.smk", "rsa.smk", "stats.smk",
                 "figures.smk", "summary.smk"]


@pytest.mark.parametrize("kind", sorted(BRAIN_DATA_TYPES))
def test_every_type_has_its_rules_and_inputs_with_the_interface(kind):
    rules, inputs = (RULES / f"{kind}.smk").read_text(), (RULES / f"{kind}_inputs.smk").read_text()
    for name in INTERFACE:
        assert re.search(rf"^def {name}\(", inputs, re.M), f"{kind}_inputs.smk does not define {name}()"
    # Snakemake's linter refuses rules and functions in one file.
    assert not re.search(r"^\s*rule \w+:", inputs, re.M) and not re.search(r"^\s*def \w+", rules, re.M)


def test_every_inputs_file_is_a_type():
    assert {p.name.removesuffix("_inputs.smk") for p in RULES.glob("*_inputs.smk")} == set(BRAIN_DATA_TYPES)


@pytest.mark.parametrize("name", SHARED_STAGES)
def test_shared_stages_do_not_branch_on_the_type(name):
    text = (RULES / name).read_text()
    assert not re.search(r"THINGS_FMRI|RDM_SET|NEURAL_ASSEMBLY|ruleorder:", text), name
