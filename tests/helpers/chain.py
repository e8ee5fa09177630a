"""Train (or resume) a small chain in its own process: ``python chain.py STORE [teacher]``.

Prints ``ready`` once imports are done, so that a test can kill it at a moment of training, and at
the end ``trained KEY`` or ``loaded KEY`` for each model.
The chain's settings are ``CHAIN`` (shared with the tests that compare against it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sdcore.claims import student_beats_teacher
from sdcore.claims.common import base_spec, kd_weights, lab_for
from sdcore.engine.lab import Lab, Trained
from sdcore.engine.specs import ModelSpec, chain_specs

CHAIN = {"datasets": ["synthetic"], "models": ["resnet8"], "width": 0.5, "train_subset": 600,
         "batch_size": 100, "epochs": 30, "seeds": 1, "first_seed": 7, "generations": 1,
         "device": "cpu", "precision": "bf16"}  # the cpu profile's precision


def lab_and_chain(store: Path) -> tuple[Lab, list[ModelSpec]]:
    config = student_beats_teacher.Config.from_params({**CHAIN, "run_store": str(store)})
    specs = chain_specs(base_spec(config, "synthetic", "resnet8", 7), config.generations,
                        kd_weights(config))
    return lab_for(config), specs


def train_chain(store: Path) -> list[Trained]:
    lab, specs = lab_and_chain(store)
    models = lab.obtain(specs)
    return [models[spec.key] for spec in specs]


def main() -> None:
    lab, specs = lab_and_chain(Path(sys.argv[1]))
    print("ready", flush=True)
    models = lab.obtain(specs[:1] if sys.argv[2:] == ["teacher"] else specs)
    for key, trained in models.items():
        print(f"{'trained' if trained.trained_now else 'loaded'} {key}", flush=True)


if __name__ == "__main__":
    main()
