"""One logging set-up for every workflow script: the rule's log file and stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_path: str | Path | None, level: int = logging.INFO) -> None:
    """Send library logs and warnings to ``log_path`` and stderr, and log an
    uncaught exception's traceback there too, so a failed job explains itself."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    # Saving a PDF subsets fonts, and fontTools logs every glyph at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)

    def log_uncaught(exc_type, exc, tb) -> None:
        logging.getLogger("lrrsa").error("job failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
