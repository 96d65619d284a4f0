"""Atomic file writes: a failed write leaves no file (and never a truncated one) behind."""

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place only on success.

    Parameters
    ----------
    path : str or pathlib.Path
        Final file name.

    Yields
    ------
    pathlib.Path
        Where to write. It is renamed to ``path`` when the block ends without an exception
        and deleted otherwise, so ``path`` is never left half-written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        msg = f"Cannot write {path}: folder {path.parent} does not exist."
        raise FileNotFoundError(msg)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
