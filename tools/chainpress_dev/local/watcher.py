"""Keeps the content bucket a mirror of a content folder: one upload at start, then watchdog.

The folder maps 1:1 to the bucket (``articles/2022/x.md`` -> key ``articles/2022/x.md``). It
uploads through the same endpoint as any other S3 client, so the publish events come from the
bucket, never from here. Editors save in bursts (write, rename, touch), so changes to one path
are debounced: a path is synced once it has been quiet for ``debounce`` seconds. A path is
synced by looking at the file as it is then (there: upload if the bytes changed; gone: delete),
which makes the handling of create/modify/move/delete events the same and idempotent.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from chainpress_dev.local.plumbing import Reporter

SETTINGS_FILE = "site.yaml"
# Upload order: settings first (every page depends on them), then the theme, media that
# articles link to, and the articles themselves.
ORDER = (SETTINGS_FILE, "theme/", "media/", "articles/")

_TEXT_TYPES = {".md": "text/markdown; charset=utf-8", ".yaml": "application/yaml; charset=utf-8"}


def is_ignored(relative: str) -> bool:
    """Hidden files and editor droppings (swap, backup, lock files) are not content."""
    for part in relative.split("/"):
        if part.startswith((".", "#", "~")) or part.endswith(("~", ".swp", ".swx", ".tmp")):
            return True
    name = relative.rsplit("/", 1)[-1]
    return name in {"4913", "Thumbs.db"}  # vim's write probe; Windows thumbnails


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    if suffix in _TEXT_TYPES:
        return _TEXT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(key)
    if guessed and guessed.startswith("text/"):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"


def upload_rank(key: str) -> tuple[int, str]:
    for rank, prefix in enumerate(ORDER):
        if key == prefix or (prefix.endswith("/") and key.startswith(prefix)):
            return rank, key
    return len(ORDER), key


class ContentSync:
    def __init__(
        self, s3: Any, bucket: str, folder: Path, report: Reporter, *, debounce: float = 0.3
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.folder = folder.resolve()
        self.debounce = debounce
        self._report = report
        self._uploaded: dict[str, str] = {}  # key -> sha256 of the bytes last put
        self._pending: dict[str, float] = {}  # relative path -> last event time
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: Any = None
        self._thread: threading.Thread | None = None
        self.changes = 0

    # ------------------------------------------------------------------ files and keys

    def files(self) -> list[str]:
        """Every content file as a key, in upload order."""
        keys = [
            path.relative_to(self.folder).as_posix()
            for path in self.folder.rglob("*")
            if path.is_file()
        ]
        return sorted((k for k in keys if not is_ignored(k)), key=upload_rank)

    def put(self, key: str) -> bool:
        """Upload one file if its bytes differ from the last upload; False if skipped/gone."""
        path = self.folder / key
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return False
        digest = hashlib.sha256(data).hexdigest()
        if self._uploaded.get(key) == digest:
            return False
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type(key))
        self._uploaded[key] = digest
        return True

    def delete(self, key: str) -> bool:
        if key not in self._uploaded:
            return False
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        del self._uploaded[key]
        return True

    def upload_all(
        self, keys: list[str], progress: Callable[[int, int, str], None] | None = None
    ) -> int:
        done = 0
        for index, key in enumerate(keys, start=1):
            if self.put(key):
                done += 1
            if progress is not None:
                progress(index, len(keys), key)
        return done

    # ------------------------------------------------------------------ watching

    def start_watching(self) -> None:
        handler = _Events(self._note)
        self._observer = Observer()
        self._observer.schedule(handler, str(self.folder), recursive=True)
        self._observer.start()
        self._thread = threading.Thread(target=self._run, name="content-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def _note(self, path: str) -> None:
        try:
            relative = Path(path).resolve().relative_to(self.folder).as_posix()
        except ValueError:
            return
        if relative in {"", "."} or is_ignored(relative):
            return
        with self._lock:
            self._pending[relative] = time.monotonic()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.debounce)
            self._wake.clear()
            now = time.monotonic()
            with self._lock:
                due = [p for p, at in self._pending.items() if now - at >= self.debounce]
                for path in due:
                    del self._pending[path]
                if self._pending:
                    self._wake.set()  # come back when the rest is quiet
            for path in sorted(due, key=upload_rank):
                try:
                    self._sync(path)
                except Exception as exc:  # the endpoint may be gone during shutdown
                    if not self._stop.is_set():
                        self._report(f"sync {path}: {exc!r}")
            if self._pending:
                time.sleep(self.debounce / 3)

    def _sync(self, relative: str) -> None:
        """Make the bucket match the folder at ``relative`` (a file or a whole folder)."""
        target = self.folder / relative
        prefix = relative.rstrip("/") + "/"
        existing = set(self._walk(target)) if target.is_dir() else set()
        for key in sorted(self._uploaded):
            gone_file = key == relative and not target.is_file()
            gone_child = key.startswith(prefix) and key not in existing
            if (gone_file or gone_child) and self.delete(key):
                self.changes += 1
                self._report(f"deleted  s3://{self.bucket}/{key}")
        for key in sorted(existing | ({relative} if target.is_file() else set()), key=upload_rank):
            if self.put(key):
                self.changes += 1
                self._report(f"uploaded s3://{self.bucket}/{key}")

    def _walk(self, folder: Path) -> Iterator[str]:
        for path in folder.rglob("*"):
            key = path.relative_to(self.folder).as_posix()
            if path.is_file() and not is_ignored(key):
                yield key


class _Events(FileSystemEventHandler):
    """Every watchdog event becomes "look at this path (and where it moved to) again"."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write"}:
            return  # reads, not changes
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self._note(path.decode() if isinstance(path, bytes) else str(path))
