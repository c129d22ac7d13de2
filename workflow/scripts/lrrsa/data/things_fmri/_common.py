"""What the THINGS-fMRI readers share: the name of the voxel-id column and the helpers that
format error messages (a preview of a few names, the file an error is about).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_VOXEL_ID = "voxel_id"
_NAME_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _NAME_PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return shown + more


def _where(source: str | Path | None) -> str:
    return f"{source}: " if source else ""
