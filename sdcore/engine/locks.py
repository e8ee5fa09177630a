"""One training lock per run, so that many processes and jobs sharing a run store train each model
once.

The lock is py-filelock's ``SoftFileLock`` (an exclusively created file, which works on shared
filesystems) on ``runs/<key>/.lock``; beside it, ``.owner.json`` records who holds it (host, pid,
job id) and a heartbeat that the holder refreshes. A lock whose holder is dead is stale and is taken
over: on the same host when its pid no longer runs, on another host when its heartbeat is older
than ``ttl_s``. Cost: a few small files per model trained.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from filelock import SoftFileLock, Timeout

HEARTBEAT_S = 30.0  # how often a holder refreshes its heartbeat
TTL_S = 600.0  # a heartbeat older than this marks a holder on another host as dead
GRACE_S = 10.0  # a lock with no owner record this old lost its holder between the two writes


def job_id() -> str | None:
    """The Slurm or submitit job this process runs in, if any."""
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The training lock of the run in ``folder``."""

    def __init__(self, folder: Path, ttl_s: float = TTL_S, heartbeat_s: float = HEARTBEAT_S):
        self.folder, self.ttl_s, self.heartbeat_s = Path(folder), ttl_s, heartbeat_s
        self.path, self.owner_path = self.folder / ".lock", self.folder / ".owner.json"
        self._lock: SoftFileLock | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def owner(self) -> dict[str, Any] | None:
        """Who holds the lock (host, pid, job, heartbeat age in seconds), or None if nobody."""
        if not self.path.exists():
            return None
        record: dict[str, Any] = {}
        with suppress(OSError, ValueError):
            record = json.loads(self.owner_path.read_text())
        beat = self.owner_path if self.owner_path.exists() else self.path
        with suppress(OSError):
            record["age_s"] = time.time() - beat.stat().st_mtime
        return record

    def is_stale(self, owner: dict[str, Any] | None) -> bool:
        """Whether the holder ``owner`` is dead: on this host its pid is gone, on another its
        heartbeat is older than ``ttl_s``; a lock whose holder never wrote its record (killed
        between creating the lock and writing it) is dead after ``GRACE_S``."""
        if owner is None:
            return False
        if "pid" not in owner:
            return owner.get("age_s", 0.0) > GRACE_S
        if owner.get("host") == socket.gethostname():
            return not _pid_alive(int(owner["pid"]))
        return owner.get("age_s", 0.0) > self.ttl_s

    def held_elsewhere(self) -> dict[str, Any] | None:
        """The live holder's record, or None when the lock is free or stale."""
        owner = self.owner()
        return None if owner is None or self.is_stale(owner) else owner

    def try_acquire(self) -> bool:
        """Take the lock now if it is free or stale; True if this process holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            lock = SoftFileLock(str(self.path), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                owner = self.owner()
                if not self.is_stale(owner):
                    return False
                self.path.unlink(missing_ok=True)  # a dead holder's: take it over
                continue
            self._lock = lock
            self._write_owner()
            self._stop.clear()
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
            return True
        return False

    def release(self) -> None:
        if self._lock is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()
        self.path.unlink(missing_ok=True)
        self._lock = None

    def _write_owner(self) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "job": job_id(),
                  "since": time.time()}
        tmp = self.owner_path.with_name(f".owner.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.owner_path)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with suppress(OSError):
                os.utime(self.owner_path)


def describe(owner: dict[str, Any]) -> str:
    """``host pid N, job J`` of a lock's holder."""
    job = f", job {owner['job']}" if owner.get("job") else ""
    return f"{owner.get('host', '?')} pid {owner.get('pid', '?')}{job}"
