"""Atomic file writes: a file is either absent or complete, never half-written."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def check_writable(path) -> Path:
    """Fail early (before any long work) when `path` cannot be written: missing or read-only
    directory, or a directory in its place. Raises OSError naming the path."""
    if not str(path).strip():
        raise FileNotFoundError("the path is empty")
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory")
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"{parent} is a file, not a directory")
    if not parent.is_dir():
        raise FileNotFoundError(f"directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"directory {parent} is not writable")
    return target


@contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path next to `path`; on success it is renamed onto `path` (atomic on
    POSIX), on error it is removed. `suffix` keeps the extension for writers that look at it."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=str(target.parent) or ".", prefix=f".{target.name}.",
                                   suffix=suffix if suffix is not None else target.suffix)
    except OSError as exc:
        # the early check (check_writable) asks for permission only; a file system can still refuse
        raise OSError(exc.errno, f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            # named by the file the user asked for, not by the temporary one
            raise OSError(exc.errno, f"cannot write {target}: {exc.strerror or exc}") from exc
        raise


def write_text_atomic(path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically; the data reach the disk before the rename does."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


