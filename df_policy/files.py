"""Writing a file whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through a temporary file beside it, renamed over it.

    A reader sees the old file or the new one, never a partial one; a failure while writing
    (a full disk, an unencodable string, a killed process before the rename) leaves the old
    file as it was and removes the temporary one. Returns ``path``.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if isinstance(content, bytes):
            partial.write_bytes(content)
        else:
            partial.write_text(content, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
