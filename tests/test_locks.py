"""The run store's training locks (``sdcore.engine.locks``): holders named, live holders kept, dead
ones taken over at once, another host's lease respected until it expires, and many processes racing
for one dead holder's lock, of which exactly one wins."""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sdcore.engine.locks import RunLock, describe

HOLDER = """
import sys, time
from sdcore.engine.locks import RunLock
locks = [RunLock(folder) for folder in sys.argv[1:]]
assert all(lock.try_acquire() for lock in locks)
print("held", flush=True)
time.sleep(600)
"""


def hold(*folders: Path, job: str = "4242") -> subprocess.Popen:
    """A process (in Slurm job ``job``) that holds the locks of ``folders`` until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, folders)],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "SLURM_JOB_ID": job})
    assert holder.stdout.readline().strip() == "held"
    return holder


def kill(holder: subprocess.Popen) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()


def foreign_lease(folder: Path, ttl_s: float) -> Path:
    """The marker filelock's SoftFileLease writes (protocol 2), of a holder on another host."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / ".lock"
    marker.write_text(f"filelock/2\npid={os.getpid()}\nhost=elsewhere.invalid\nmode=lease\n"
                      f"token={secrets.token_hex(16)}\nduration={ttl_s!r}\n")
    return marker


def test_holders_are_named_and_live_ones_keep_their_lock(tmp_path):
    first, second = RunLock(tmp_path / "run"), RunLock(tmp_path / "run")
    assert first.try_acquire() and not second.try_acquire() and not first.try_acquire()
    owner = second.held_elsewhere()
    assert owner["pid"] == os.getpid() and owner["host"].startswith(socket.gethostname())
    first.release()
    assert not (tmp_path / "run" / ".lock").exists()
    assert not (tmp_path / "run" / ".owner.json").exists()
    assert second.held_elsewhere() is None and second.try_acquire()
    second.release()

    holder = hold(tmp_path / "run")  # another live process on this host
    try:
        lock = RunLock(tmp_path / "run")
        assert not lock.try_acquire()
        owner = lock.held_elsewhere()
        assert (owner["pid"], owner["job"]) == (holder.pid, "4242")
        assert describe(owner) == f"{owner['host']} pid {holder.pid}, job 4242"
    finally:
        kill(holder)


def test_a_dead_holder_is_taken_over_at_once(tmp_path):
    kill(hold(tmp_path / "run"))
    lock = RunLock(tmp_path / "run")
    assert lock.owner()["job"] == "4242"  # the dead holder's record, still there
    assert lock.held_elsewhere() is None
    assert lock.try_acquire()
    owner = lock.held_elsewhere()
    assert owner["pid"] == os.getpid() and owner["job"] is None  # not the dead holder's job
    lock.release()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []


def test_a_record_of_another_hold_names_no_job(tmp_path):
    """``.owner.json`` counts only with the marker's token: a former holder's record is ignored."""
    lock = RunLock(tmp_path / "run")
    assert lock.try_acquire()
    record = json.loads(lock.owner_path.read_text())
    lock.owner_path.write_text(json.dumps({**record, "job": "7", "token": "someone-else"}))
    assert lock.held_elsewhere()["job"] is None
    lock.release()
    assert lock.owner_path.exists()  # not ours: left alone
    assert lock.held_elsewhere() is None


def test_another_hosts_lease_is_respected_until_it_expires(tmp_path):
    ttl = 0.5
    marker = foreign_lease(tmp_path / "run", ttl)
    lock = RunLock(tmp_path / "run", ttl_s=ttl)
    beating = time.monotonic() + 2 * ttl
    while time.monotonic() < beating:  # its holder's heartbeat keeps it: never taken
        os.utime(marker)
        assert lock.held_elsewhere()["host"] == "elsewhere.invalid"
        assert not RunLock(tmp_path / "run", ttl_s=ttl).try_acquire()
        time.sleep(ttl / 5)
    time.sleep(ttl * 1.2)  # no heartbeat for longer than the ttl: expired
    assert RunLock(tmp_path / "run", ttl_s=ttl).held_elsewhere() is None
    deadline = time.monotonic() + 10 * ttl
    while not lock.try_acquire():  # once this process has seen it unchanged for the ttl
        assert time.monotonic() < deadline, "an expired lease was never taken over"
        time.sleep(ttl / 10)
    assert lock.held_elsewhere()["pid"] == os.getpid()
    lock.release()


def test_a_marker_without_a_record_is_held(tmp_path):
    """An empty marker (a pre-3.22 filelock's, or a holder killed while writing it) is one
    filelock never takes over, so it counts as held; a vanished one as free."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").write_text("")
    lock = RunLock(tmp_path / "run")
    assert describe(lock.held_elsewhere()) == "an unknown holder"
    assert not lock.try_acquire()
    (tmp_path / "run" / ".lock").unlink()
    assert lock.held_elsewhere() is None and lock.try_acquire()
    lock.release()


TAKERS, ROUNDS = 12, 50  # the old lock let two win in about one round in seven


def take(folders: list[str], start, tried, results) -> None:
    """One racer: at each round's start, try to take that round's lock; the winner holds it until
    every racer has tried, checks that the marker names it, and releases it."""
    for folder in folders:
        start.wait()
        won, named = False, None
        try:
            lock = RunLock(Path(folder))
            won = lock.try_acquire()
        finally:
            with tried.get_lock():
                tried.value += 1
            if won:
                deadline = time.monotonic() + 20
                while tried.value < TAKERS and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(0.01)
                named = (lock.owner() or {}).get("pid") == os.getpid()
                lock.release()
            results.put((folder, os.getpid(), won, named))


def test_many_takers_of_a_dead_holders_lock_one_wins(tmp_path):
    """Twelve processes take over a killed holder's lock at once, fifty times: exactly one wins each
    time, and the marker names it while it holds."""
    folders = [tmp_path / f"round{r}" for r in range(ROUNDS)]
    kill(hold(*folders))
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    start, tried, results = context.Barrier(TAKERS + 1), context.Value("i", 0), context.Queue()
    takers = [context.Process(target=take, args=([str(f) for f in folders], start, tried, results))
              for _ in range(TAKERS)]
    for taker in takers:
        taker.start()
    try:
        for folder in folders:
            assert RunLock(folder).held_elsewhere() is None  # dead
            tried.value = 0
            start.wait(timeout=60)
            outcomes = [results.get(timeout=60) for _ in range(TAKERS)]
            assert {o[0] for o in outcomes} == {str(folder)}
            winners = [o for o in outcomes if o[2]]
            assert len(winners) == 1, f"{folder.name}: {len(winners)} takers won: {winners}"
            assert winners[0][3], f"{folder.name}: the marker does not name the winner"
            assert not (folder / ".lock").exists()
    finally:
        for taker in takers:
            taker.join(timeout=10)
            if taker.is_alive():
                taker.kill()
    assert all(taker.exitcode == 0 for taker in takers)
