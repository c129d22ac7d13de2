"""The workflow's TSV tables: read with empty fields as the only missing values (so a
label such as "NA" or "null" stays text), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def read_table(path: Path | str) -> pd.DataFrame:
    """A results table: empty fields are missing values, every other text is kept as written."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])


def write_table(table: pd.DataFrame, path: Path | str) -> None:
    """Write a TSV atomically: an interrupted job leaves no file that looks complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    os.replace(tmp, path)
