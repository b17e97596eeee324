"""A content-addressed file cache under build/cache (git-ignored; `make clean` empties it) or $OBSERVABILITY_CACHE_DIR.

For derived data that is slow to compute and pure in its inputs (parsed CRDs, their YAML text):
callers name an entry by a hash of everything the data depends on, so a stale entry is never
read, only left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from components import paths

# OBSERVABILITY_CACHE_DIR lets several checkouts share one cache (the entries are named by content, so sharing is safe):
# the render diff's two checkouts, the tests' copies of this one.
CACHE_ENV = "OBSERVABILITY_CACHE_DIR"
CACHE_DIR = Path(os.environ.get(CACHE_ENV) or paths.CACHE_DIR)


def key(*parts: bytes) -> str:
    """A short hex digest of ``parts`` (each length-prefixed, so boundaries count)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:32]


def read(name: str) -> bytes | None:
    """The entry's bytes, or None when absent or unreadable."""
    try:
        return (CACHE_DIR / name).read_bytes()
    except OSError:
        return None


def write(name: str, data: bytes) -> None:
    """Store atomically (parallel test workers may race on one entry); a read-only checkout just stores nothing."""
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=CACHE_DIR, prefix=f".{name}.", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, CACHE_DIR / name)
    except OSError:
        pass
