"""Train (or resume) a small chain in its own process: ``python chain.py STORE [teacher]``.

Prints ``ready`` once imports are done, so that a test can kill it at a moment of training.
The chain's settings are ``CHAIN`` (shared with the tests that compare against it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sdcore.config import StudentBeatsTeacherConfig
from sdcore.lab import Lab, base_spec, kd_weights

CHAIN = {"datasets": ["synthetic"], "models": ["resnet8"], "width": 0.5, "train_subset": 600,
         "batch_size": 100, "epochs": 30, "seeds": 1, "first_seed": 7, "generations": 1,
         "device": "cpu"}


def lab_and_spec(store: Path):
    config = StudentBeatsTeacherConfig.from_params({**CHAIN, "run_store": str(store)})
    return Lab.from_config(config), base_spec(config, "synthetic", "resnet8", 7), config


def main() -> None:
    lab, spec, config = lab_and_spec(Path(sys.argv[1]))
    print("ready", flush=True)
    if sys.argv[2:] == ["teacher"]:
        lab.get(spec)
    else:
        lab.chain(spec, config.generations, kd_weights(config))


if __name__ == "__main__":
    main()
