"""Where scene files and quicklooks are kept, behind one small interface.

Keys are relative, slash-separated paths ("scenes/PHR_0001/image.tif"), as
the assets of ingested items name them. `LocalStorage` keeps them under a
root directory; an S3-compatible store would implement the same four methods
(and could answer `open` with a ranged GET).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from dinamis import config


class StorageError(LookupError):
    """The key names no file, or a file outside the store."""


@dataclass(frozen=True)
class Stat:
    size: int
    modified: dt.datetime


class Storage(Protocol):
    def stat(self, key: str) -> Stat: ...

    def open(self, key: str) -> BinaryIO: ...

    def put(self, key: str, data: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...


def clean_key(key: str) -> str:
    """A relative key with no way out of the store ('..', absolute, backslashes, NUL)."""
    if not key or "\\" in key or "\x00" in key or "//" in key:
        raise StorageError(key)
    path = PurePosixPath(key)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or key.endswith("/"):
        raise StorageError(key)
    return str(path)


class LocalStorage:
    """Files under a root directory on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / clean_key(key)).resolve()
        if self.root not in path.parents:  # a symlink pointing out of the store
            raise StorageError(key)
        return path

    def stat(self, key: str) -> Stat:
        try:
            info = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise StorageError(key) from None
        return Stat(info.st_size, dt.datetime.fromtimestamp(info.st_mtime, dt.UTC))

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        if not path.is_file():
            raise StorageError(key)
        return path.open("rb")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except StorageError:
            return False


def storage() -> Storage:
    """The application's store, from DINAMIS_STORAGE_ROOT."""
    from dinamis import PROJECT_ROOT

    root = Path(config.current().storage_root)
    return LocalStorage(root if root.is_absolute() else PROJECT_ROOT / root)
