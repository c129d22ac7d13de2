import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The library is importable without installation, as Snakemake scripts see it.
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

SHARED_DATA = REPO.parent / "shared" / "data"


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """rule name -> (its rule file, the text of its definition), from workflow/rules."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        # Rules may be indented (defined under an `if`); their directives sit deeper.
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M):
            if name := re.match(r"[ \t]*rule (\w+):", block):
                found[name.group(1)] = (smk, block)
    return found

