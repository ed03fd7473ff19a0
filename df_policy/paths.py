"""Where the package's data folders are: the source tree, or an installed ``share/df_policy``."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The repository root when running from a checkout."""


def data_dir(name: str) -> Path:
    """The ``config``, ``sim`` or ``launch`` folder: from the checkout, else the install prefix.

    Raises:
        FileNotFoundError: when neither location has it.
    """
    candidates = (SOURCE_ROOT / name, Path(sys.prefix) / "share" / "df_policy" / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"df_policy data folder '{name}' not found in {candidates}")
