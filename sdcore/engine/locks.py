"""One training lock per run, so that many processes and jobs sharing a run store train each model
once.

The lock is py-filelock's ``SoftFileLease`` on ``runs/<key>/.lock`` (an exclusively created marker
file, which works on shared filesystems). filelock does all of the locking: it writes the holder
(pid, host) into the marker, refreshes the marker every ``heartbeat_s`` from a thread of its own,
and takes a lock over atomically (one contender wins): at once when its holder ran on this host and
its pid is gone, when its holder ran on another host once the contender has watched its marker go
``ttl_s`` seconds without a heartbeat.
Beside it, ``.owner.json`` records the holder's Slurm/submitit job id for people to read; it is
written after acquiring, carries the lease's token (a record whose token is not the marker's is a
former holder's and is ignored), and never decides who holds the lock. Cost: two small files per
model trained.
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

from filelock import SoftFileLease, Timeout
from filelock._identity import owner_is_stale  # the test filelock's takeover makes (3.30 to 4.x)

HEARTBEAT_S = 30.0  # how often a holder refreshes its marker (at most a third of the ttl)
TTL_S = 600.0  # an unchanged marker this old marks a holder on another host as dead

# One lease per lock path and process, so that filelock's watch of an unchanged marker (the clock of
# a takeover on another host's expiry) outlives the RunLock objects that poll it; a forked child
# starts afresh (filelock refuses inherited locks).
_LEASES: dict[tuple[str, float, float], SoftFileLease] = {}
_LEASES_LOCK = threading.Lock()
os.register_at_fork(after_in_child=_LEASES.clear)


def job_id() -> str | None:
    """The Slurm or submitit job this process runs in, if any."""
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")


class RunLock:
    """The training lock of the run in ``folder``."""

    def __init__(self, folder: Path, ttl_s: float = TTL_S, heartbeat_s: float = HEARTBEAT_S):
        self.folder, self.ttl_s = Path(folder), ttl_s
        self.heartbeat_s = min(heartbeat_s, ttl_s / 3)  # filelock wants it below the ttl
        self.path, self.owner_path = self.folder / ".lock", self.folder / ".owner.json"
        self._held: SoftFileLease | None = None

    def _lease(self, keep: bool = True) -> SoftFileLease:
        """This process's lease on the lock (``keep``: registered for the next RunLock)."""
        key = (str(self.path.resolve()), self.ttl_s, self.heartbeat_s)
        if (lease := _LEASES.get(key)) is None:
            lease = SoftFileLease(self.path, lease_duration=self.ttl_s,
                                  heartbeat_interval=self.heartbeat_s, thread_local=False)
            if keep:
                _LEASES[key] = lease
        return lease

    def owner(self) -> dict[str, Any] | None:
        """Who holds the lock, dead or alive, or None if nobody: host and pid (from the marker),
        job (from ``.owner.json``), age_s (seconds since the last heartbeat), and the marker's
        start (process start token), token and ttl_s (None: never expires by age)."""
        try:
            age_s = time.time() - self.path.stat().st_mtime
        except OSError:
            return None
        if (record := self._lease(keep=False).owner) is None:
            if not self.path.exists():
                return None
            # being written, empty or not filelock's protocol 2: held, as far as filelock is
            # concerned (an empty marker for good: remove it by hand if nobody trains the model)
            return {"host": None, "pid": None, "job": None, "age_s": age_s, "ttl_s": None}
        side: Any = {}
        with suppress(OSError, ValueError):
            side = json.loads(self.owner_path.read_text())
        ours = isinstance(side, dict) and record.token and side.get("token") == record.token
        return {"host": record.hostname, "pid": record.pid,
                "job": side.get("job") if ours else None,  # a former holder's record: ignored
                "age_s": age_s, "start": record.start, "token": record.token,
                "ttl_s": record.lease_duration if record.mode == "lease" else None}

    def held_elsewhere(self) -> dict[str, Any] | None:
        """The live holder's record, or None when the lock is free, its holder ran on this host and
        its pid is gone, or its lease expired (no heartbeat for ``ttl_s``)."""
        owner = self.owner()
        if owner is None or (owner["pid"] is not None
                             and owner_is_stale(owner["pid"], owner["host"], owner["start"])):
            return None
        expired = owner["ttl_s"] is not None and owner["age_s"] > owner["ttl_s"]
        return None if expired else owner

    def try_acquire(self) -> bool:
        """Take the lock now if it is free or its holder is dead (filelock judges: on this host at
        once, on another host once this process has seen its marker unchanged for ``ttl_s``); True
        if this object holds it."""
        if self._held is not None:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        with _LEASES_LOCK:
            lease = self._lease()
            if lease.is_locked:  # another RunLock of this process holds it
                return False
            try:
                lease.acquire(blocking=False)
            except Timeout:
                return False
        self._held = lease
        self._write_owner(lease.token)
        return True

    def release(self) -> None:
        if (lease := self._held) is None:
            return
        with suppress(OSError, ValueError, AttributeError):  # only our record: a usurper's stays
            if json.loads(self.owner_path.read_text()).get("token") == lease.token:
                self.owner_path.unlink()
        with _LEASES_LOCK:
            lease.release()
        self._held = None

    def _write_owner(self, token: str | None) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "job": job_id(),
                  "since": time.time(), "token": token}
        tmp = self.owner_path.with_name(f".owner.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.owner_path)


def describe(owner: dict[str, Any]) -> str:
    """``host pid N, job J`` of a lock's holder."""
    job = f", job {owner['job']}" if owner.get("job") else ""
    if owner.get("pid") is None:
        return "an unknown holder"  # a marker with no record
    return f"{owner.get('host') or '?'} pid {owner['pid']}{job}"
