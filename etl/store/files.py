"""Snapshot files as bytes: their digests, and copies that share no inode with the original."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

FICLONE = 0x40049409  # Linux ioctl: share the blocks of another file, copy-on-write
COPY_CHUNK = 1 << 20


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, as manifests record them."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return os.fstat(fh.fileno()).st_size, digest.hexdigest()


def private_copy(source: Path, target: Path) -> tuple[int, str]:
    """``target`` as a copy of ``source`` that shares no inode with it; returns size and SHA-256.

    A reflink clone where the filesystem has them (btrfs, XFS, bcachefs: no block duplicated
    until one side is written, and then only that side changes), else a byte copy.
    """
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            cloned = True
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL,
                                 errno.ENOSYS, errno.EPERM, errno.EBADF):
                raise
            cloned = False
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            if not cloned:
                dst.write(chunk)
        size = src.tell()
    return size, digest.hexdigest()
