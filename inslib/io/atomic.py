"""Atomic file writes: a failed write leaves no file (and never a truncated one) behind.

A write goes to a hidden ``.NAME.PID.part`` beside the target and is renamed into place on
success. While it runs, ``.NAME.lock`` (holding the writer's process id) keeps a second writer
of the same name out; part and lock files of processes that died (killed mid-write) are removed
by the next write to that name.
"""

import os
from contextlib import contextmanager
from pathlib import Path


class ConcurrentWriteError(FileExistsError):
    """Another live process is writing the same file."""


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pid_of(path: Path, text: str) -> int | None:
    """Return the process id in a part-file name (``.NAME.PID.part``) or a lock's text."""
    token = path.name.rsplit(".", 2)[-2] if path.suffix == ".part" else text.strip()
    return int(token) if token.isdigit() else None


def _clean_stale(path: Path) -> None:
    """Remove part files of ``path`` left by processes that no longer exist."""
    for part in path.parent.glob(f".{path.name}.*.part"):
        pid = _pid_of(part, "")
        if pid is not None and pid != os.getpid() and not _alive(pid):
            part.unlink(missing_ok=True)


def _lock(path: Path) -> Path:
    """Create ``.NAME.lock`` exclusively (taking over a dead process's); return it."""
    lock = path.with_name(f".{path.name}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = _pid_of(lock, lock.read_text())
            except FileNotFoundError:
                continue  # released meanwhile
            if pid is not None and _alive(pid):
                msg = (f"{path}: another run (process {pid}) is writing this file now; wait "
                       "for it to finish or choose another output name")
                raise ConcurrentWriteError(msg) from None
            lock.unlink(missing_ok=True)  # its writer died: take the name over
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return lock
    msg = f"{path}: could not take the lock file {lock.name}; remove it if no run is writing"
    raise ConcurrentWriteError(msg)


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

    Raises
    ------
    ConcurrentWriteError
        When a live process is writing the same name.
    """
    path = Path(path)
    if not path.parent.is_dir():
        msg = f"Cannot write {path}: folder {path.parent} does not exist."
        raise FileNotFoundError(msg)
    lock = _lock(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        _clean_stale(path)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        lock.unlink(missing_ok=True)
