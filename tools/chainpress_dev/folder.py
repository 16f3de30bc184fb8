"""``SiteWriter`` over a local folder: the static export of ``chainpress build``.

Keys are paths relative to the folder. Identical bytes are not rewritten, so a rebuild leaves
unchanged files (and their mtimes) alone and a later ``rsync``/upload only moves what changed.
Writes go through a temporary file and ``os.replace``: a reader never sees half a page.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["FolderSiteWriter", "UnsafeKey"]


class UnsafeKey(ValueError):
    """A key that would escape the output folder (absolute, ``..``, empty segments)."""


class FolderSiteWriter:
    def __init__(self, root: str | Path, on_output: Callable[[], None] | None = None) -> None:
        self.root = Path(root)
        self.on_output = on_output  # called once per write attempt (progress reporting)
        self.seen: set[str] = set()  # keys this build wrote or found identical
        self.written: list[str] = []
        self.deleted: list[str] = []

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
            raise UnsafeKey(key)
        return self.root.joinpath(*parts)

    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> bool:
        target = self.path(path)
        self.seen.add(path)
        if self.on_output is not None:
            self.on_output()
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        self.written.append(path)
        return True

    def delete(self, path: str) -> bool:
        target = self.path(path)
        self.seen.discard(path)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        self.deleted.append(path)
        # Drop folders the deletion emptied (a removed tag's page/K/ folders), never the root.
        folder = target.parent
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
        return True

    def read(self, path: str) -> bytes | None:
        try:
            return self.path(path).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self.path(path).is_file()

    def keep(self, path: str) -> None:
        """Mark an existing output as part of this build (it is not pruned)."""
        self.seen.add(path)
