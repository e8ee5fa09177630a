"""CPU training steps per second of the cpu profile's model, by precision and path, on one thread.

sdcore's own loop (``train.fit``: the step a stored model is trained with) on Fashion-MNIST-shaped
images (28×28, one channel, 10 classes; the cost does not depend on pixel values), the cpu
profile's ResNet-8 at width 1, batch 128, channels_last, on ``CPU_TRAINING_THREADS`` (one) thread,
for each role the cpu profile trains:

- teacher: cross-entropy with the labels;
- online student: distilled from a teacher that sees each augmented batch (its forward in the
  path's precision, in inference mode: what page 01's augmented setting trains);
- label-smoothing student: the control's smoothed labels, no teacher.

Paths: ``fp32`` (the loop before the precision was declared: the baseline), ``bf16`` (autocast),
and each with ``torch.compile`` of the forward passes (TorchInductor's C++ backend). Each path
trains ``--epochs`` epochs of ``--images`` images per role; the first epoch (compilation, oneDNN's
first calls) is left out, and a step's time is the median over the rest, in two rounds whose order
is reversed so that drift falls on every path alike. Last, bf16 and fp32 teacher steps once more in
a child process whose oneDNN may not use AVX-512 BF16 or AMX (``ONEDNN_MAX_CPU_ISA=AVX512_CORE``):
what a CPU without native bf16 would see. Prints the table with the CPU's model name and flags and
writes it to ``benchmarks/cpu_step.log`` (and ``.json``).
Run: python benchmarks/cpu_step.py [--images 2048 --epochs 4]   (about 3 minutes here)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch

from sdcore.engine.data import ImageData
from sdcore.engine.distill import cross_entropy_loss, distillation_loss, label_smoothing_loss
from sdcore.engine.hardware import cpu_info
from sdcore.engine.models import build_model, memory_format
from sdcore.engine.specs import KDWeights, Recipe
from sdcore.engine.speed import compiled
from sdcore.engine.train import fit

PATHS = {"fp32": ("fp32", False), "bf16": ("bf16", False),
         "fp32 + compile": ("fp32", True), "bf16 + compile": ("bf16", True)}
ROLES = ("teacher", "online student", "label-smoothing student")
KD = KDWeights(0.5, 0.5, 4.0)  # the cpu profile's
EMULATED_ISA = "AVX512_CORE"  # AVX-512 without its BF16 extension and without AMX


def fmnist_shaped(n: int) -> ImageData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=gen)
    return ImageData("fmnist-shaped", images, labels, images[:256], labels[:256],
                     [str(k) for k in range(10)], flip=True)


def new_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("resnet8", 1, 10, 1.0)
    return model.to(memory_format=memory_format(model, torch.device("cpu")))


def step_seconds(path: str, role: str, data: ImageData, epochs: int) -> tuple[float, float]:
    """The median step time (s) of ``role`` on ``path`` from the second epoch on, and how much
    longer the first epoch took than that median (compilation, oneDNN's first calls)."""
    precision, compile = PATHS[path]
    recipe = Recipe(epochs, 128, 0.1, 0.9, True, 5e-4, "cosine", True, precision, compile)
    loss = cross_entropy_loss
    if role == "online student":
        loss = distillation_loss(compiled(new_model(1), compile), KD,
                                 precision=precision)
    elif role == "label-smoothing student":
        loss = label_smoothing_loss(KD, 0.1, data.num_classes)
    history = fit(new_model(0), data, recipe, 0, loss, desc=f"{path} {role}")
    steps = len(data.train_y) // recipe.batch_size
    epoch = statistics.median(h["seconds"] for h in history[1:])
    return epoch / steps, history[0]["seconds"] - epoch


def measure(paths: list[str], roles: list[str], images: int, epochs: int
            ) -> tuple[dict, dict]:
    """Per path and role, the mean step time over the two rounds, and the first round's excess
    of the first epoch (the first compilation in this process, with an empty kernel cache)."""
    data = fmnist_shaped(images)
    seconds: dict[str, dict[str, list[float]]] = {}
    once: dict[str, dict[str, float]] = {}
    order = [(p, r) for p in paths for r in roles]
    for first, round_ in ((True, order), (False, order[::-1])):
        for path, role in round_:
            s, excess = step_seconds(path, role, data, epochs)
            seconds.setdefault(path, {}).setdefault(role, []).append(s)
            if first:  # a negative excess is noise
                once.setdefault(path, {})[role] = max(0.0, excess)
            print(f"  {path:>15} {role:<24} {1000 * s:7.1f} ms/step, first epoch +{excess:.1f} s",
                  flush=True)
    return ({p: {r: statistics.mean(v) for r, v in by_role.items()}
             for p, by_role in seconds.items()}, once)


def emulated(images: int, epochs: int) -> dict | None:
    """The fp32 and bf16 teacher steps in a child process without native bf16 (None if it
    fails: oneDNN or the CPU may refuse the ISA limit)."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": EMULATED_ISA, "SDCORE_PROGRESS": "off"}
    done = subprocess.run([sys.executable, __file__, "--child", "--images", str(images),
                           "--epochs", str(epochs)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"emulated bf16: child failed ({done.stderr.strip()[-300:]})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(report: dict) -> str:
    cpu = report["cpu"]
    lines = [f"{report['date']}: {cpu['model']}, flags {', '.join(cpu['flags'] or ['unknown'])}; "
             f"torch {report['torch']}, one thread; ResNet-8 (width 1), 28x28x1, batch 128, "
             f"augmented; {report['images']} images x {report['epochs']} epochs per measurement",
             "", f"{'path':<16}" + "".join(f"{r:>26}" for r in ROLES)]
    base = report["seconds"]["fp32"]
    for path, by_role in report["seconds"].items():
        cells = [f"{1 / s:6.1f} steps/s ({base[r] / s:4.2f}x)" for r, s in by_role.items()]
        lines.append(f"{path:<16}" + "".join(f"{c:>26}" for c in cells))
    lines += ["", "first epoch's excess over the others, s (first round: compilation into an "
              "empty kernel cache, in roles' order)"]
    for path, by_role in report["once"].items():
        lines.append(f"{path:<16}" + "".join(f"{by_role[r]:>26.1f}" for r in ROLES
                                             if r in by_role))
    emu = report.get("emulated")
    if emu:
        lines += ["", f"without native bf16 (child process, ONEDNN_MAX_CPU_ISA={EMULATED_ISA}), "
                  f"teacher: fp32 {1 / emu['fp32']:.1f} steps/s, bf16 {1 / emu['bf16']:.1f} "
                  f"steps/s: bf16 takes {emu['bf16'] / emu['fp32']:.2f}x an fp32 step"]
    return "\n".join(lines)


def main() -> None:
    # An empty kernel cache of its own, so that the first compilation is what a fresh machine pays.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="cpu_step_inductor_")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2048, help="images per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per measurement (the "
                        "first is not timed)")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent,
                        help="folder of cpu_step.log and cpu_step.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2 or args.images < 128:
        parser.error("--epochs must be at least 2 and --images at least 128 (one batch)")
    if args.child:  # the emulated run: teacher steps only, one JSON line
        seconds, _ = measure(["fp32", "bf16"], ["teacher"], args.images, args.epochs)
        print(json.dumps({p: s["teacher"] for p, s in seconds.items()}))
        return
    if "fp32" not in args.paths:
        parser.error("--paths must include fp32, the baseline")
    seconds, once = measure(args.paths, list(ROLES), args.images, args.epochs)
    report = {"date": date.today().isoformat(), "cpu": cpu_info(), "torch": torch.__version__,
              "images": args.images, "epochs": args.epochs, "seconds": seconds, "once": once,
              "emulated": emulated(args.images, args.epochs)}
    text = render(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpu_step.log").write_text(text + "\n")
    (args.out / "cpu_step.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
