import logging
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The library is importable without installation, as Snakemake scripts see it.
sys.path.insert(0, str(REPO / "workflow" / "scripts"))


def _shared_data() -> Path:
    """The shared real-data folder: $LRRSA_SHARED_DATA, else ../shared/data beside the
    checkout, else /work/shared/data (a worktree elsewhere). Tests skip when absent."""
    if env := os.environ.get("LRRSA_SHARED_DATA"):
        return Path(env)
    beside = REPO.parent / "shared" / "data"
    return beside if beside.is_dir() else Path("/work/shared/data")


SHARED_DATA = _shared_data()


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """rule name -> (its rule file, the text of its definition), from workflow/rules."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        # Rules may be indented (defined under an `if`); their directives sit deeper.
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M):
            if name := re.match(r"[ \t]*rule (\w+):", block):
                found[name.group(1)] = (smk, block)
    return found



def one_dataset_demo() -> dict:
    """config/demo.yaml with its simulated fMRI as the run's one dataset (brain_data with a
    type, outputs at the run's top level) and the layer map of that dataset's ROIs."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["brain_data"] = config["brain_data"]["things"]
    config["rsa"]["layer_map"] = {roi: layer for roi, layer in config["rsa"]["layer_map"].items()
                                  if roi in config["brain_data"]["rois"]}
    return config


@pytest.fixture
def restore_logging():
    """Undo what a thin script's configure_logging does to the root logger and excepthook."""
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook = hook
