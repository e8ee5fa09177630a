"""The order in which a lab trains the models it is asked for, under the run store's locks.

``stages(specs)`` sorts models by depth, a student after every requested model it is distilled
from; ``train_stage`` trains the missing models of one stage, a group of at most ``at_once`` at a
time, each under its run lock, and waits (polling) for those that another process is training, so
that however many processes share a store each model is trained once. Cost: a few small files
per model, and a poll every ``poll_s`` seconds while waiting.
"""

from __future__ import annotations

import time
from typing import Callable

from .specs import ModelSpec
from .store import RunStore


def stages(specs: list[ModelSpec]) -> list[list[ModelSpec]]:
    """``specs`` (each once) in stages: a model comes after every one of ``specs`` it is
    distilled from."""
    wanted = {spec.key: spec for spec in specs}
    depth: dict[str, int] = {}

    def level(key: str) -> int:
        if key not in depth:
            inner = [level(k) for k in wanted[key].teacher_keys if k in wanted]
            depth[key] = 1 + max(inner, default=-1)
        return depth[key]

    levels = [level(key) for key in wanted]
    return [[spec for key, spec in wanted.items() if depth[key] == current]
            for current in range(1 + max(levels, default=-1))]


def train_stage(stage: list[ModelSpec], store: RunStore, train: Callable[[list[ModelSpec]], None],
                at_once: int, poll_s: float,
                refuse: Callable[[list[ModelSpec]], None] | None = None) -> None:
    """Train the models of ``stage`` missing from ``store``: ``train(group)`` (which stores them)
    for groups of at most ``at_once``, each model under its run lock; wait for those that another
    process holds. With ``refuse``, models still missing are handed to it first (to raise)."""
    pending = [spec for spec in stage if not store.is_complete(spec.key)]
    while pending:
        if refuse is not None:
            refuse(pending)
        mine, theirs = [], []
        for spec in pending:
            if store.is_complete(spec.key):
                continue
            lock = store.lock(spec.key)
            if len(mine) < at_once and lock.try_acquire():
                mine.append((spec, lock))
            else:
                theirs.append(spec)
        if mine:
            try:
                train([spec for spec, _ in mine])
            finally:
                for _, lock in mine:
                    lock.release()
        elif theirs:
            time.sleep(poll_s)  # trained elsewhere: wait for it to be stored
        pending = theirs
