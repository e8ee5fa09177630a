"""GPU check: the plain training loop beside the fast one, on the same GPU in the same run.

On random CIFAR-shaped data (50,000 training images, 100 classes; the cost does not depend on pixel
values), at the paper profile's batch size (128), with augmentation as in the paper profile:

1. per-model epoch time of a teacher and of a student (online teacher) for ResNet-18 and VGG-16,
   with the plain loop (``train.PLAIN``: the path before the CUDA speed-ups), with the fast path
   (``train.Speed``: CUDA graphs, fused SGD, cuDNN autotuning) training ``--at-once`` models
   together (per-model time = group epoch time / N), and with the same plus ``torch.compile`` of
   every forward pass ("compiled", a recipe's ``compile``); every path in bf16 (``Recipe.precision``);
2. aggregate images/s of ResNet-18 teachers on the fast path with N = 1, 2, 3, 4 models at once;
3. the same test accuracy: ResNet-18 on Fashion-MNIST for a few epochs, plain against fast and
   compiled, the same seeds (skipped when Fashion-MNIST is not found);
4. the paper profile's training hours: its planned models (``python -m sdcore plan``) priced at
   each path's units.

Each timing is the second of two epochs; the first pays once for cuDNN autotuning, graph capture
and compilation, and the report lists its excess over the second as each path's one-time cost.
The report is printed and written to ``benchmarks/gpu_check_<gpu>.log`` (and ``.json``).
Run: python benchmarks/gpu_check.py [--quick]   (``--quick``: tiny sizes, any device, to test it);
``--from-report benchmarks/gpu_check_h100.json`` reprices the paper profile from saved units.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import traceback
from pathlib import Path

import torch

from sdcore.engine.data import DatasetNotFound, ImageData, load_dataset
from sdcore.engine.distill import cross_entropy_loss, distillation_loss
from sdcore.engine.inference import evaluate
from sdcore.engine.models import build_model
from sdcore.engine.specs import KDWeights, Recipe
from sdcore.engine.speed import PLAIN, Speed, compiled, on_device, resolve_device
from sdcore.engine.train import Job, fit_many
from sdcore.paths import data_root, project_root
from sdcore.project.plan import profile_plan, summary
from sdcore.project.run import notebook_runs

FAST = Speed()
BF16 = Recipe(2, 128, 0.1, 0.9, True, 5e-4, "cosine", True, precision="bf16")  # the gpu profile's
ROOT = project_root(Path(__file__).parent)


def random_data(n_train: int, n_test: int, device: torch.device) -> ImageData:
    gen = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 3, 32, 32), generator=gen,  # noqa: E731
                                     dtype=torch.uint8)
    labels = lambda n: torch.randint(0, 100, (n,), generator=gen)  # noqa: E731
    return ImageData("cifar-shaped", images(n_train), labels(n_train), images(n_test),
                     labels(n_test), [str(k) for k in range(100)], flip=True).to(device)


def epoch_seconds(arch: str, role: str, n_models: int, speed: Speed, data: ImageData,
                  recipe: Recipe = BF16) -> tuple[float, float]:
    """Wall seconds of the first and of the second epoch of ``n_models`` trained together
    (teachers, or students distilled online from an untrained teacher of the same
    architecture)."""
    device = data.train_x.device
    speed = on_device(speed, device)
    jobs = []
    for k in range(n_models):
        torch.manual_seed(k)
        model = build_model(arch, 3, data.num_classes).to(device)
        loss = cross_entropy_loss
        if role == "student":
            teacher = build_model(arch, 3, data.num_classes).to(device)
            loss = distillation_loss(compiled(teacher, recipe.compile), KDWeights(0.5, 0.5, 4.0),
                                     precision=recipe.precision)
        jobs.append(Job(model, data, recipe, k, loss, desc=f"{arch} {role} x{n_models}"))
    histories = fit_many(jobs, speed)
    # Together on CUDA, the group's epoch is its longest; elsewhere the models ran one by one.
    group = max if device.type == "cuda" else sum
    return tuple(group(h[epoch]["seconds"] for h in histories) for epoch in (0, 1))


def same_accuracy(device: torch.device, epochs: int, seeds: int, subset: int = 0) -> dict | None:
    """Test accuracy of ResNet-18 on Fashion-MNIST (``subset`` training images, 0: all) after
    ``epochs``, plain loop and fast path."""
    try:
        data = load_dataset("fashion-mnist", data_root(), download=False,
                            train_subset=subset, test_subset=subset).to(device)
    except DatasetNotFound as err:
        print(f"accuracy check skipped: {err}")
        return None
    result = {}
    for name, speed, compile in (("plain", PLAIN, False), ("fast", FAST, False),
                                 ("compiled", FAST, True)):
        recipe = dataclasses.replace(BF16, epochs=epochs, compile=compile)
        models = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            models.append(build_model("resnet18", 1, data.num_classes).to(device))
        jobs = [Job(m, data, recipe, seed, cross_entropy_loss, desc=f"fmnist {name}")
                for seed, m in enumerate(models)]
        start = time.perf_counter()
        if speed.models_at_once > 1:
            fit_many(jobs, speed)
        else:
            for job in jobs:
                fit_many([job], speed)
        result[name] = {"test_acc": [round(evaluate(m, data.test_x, data.test_y)["accuracy"], 2)
                                     for m in models],
                        "wall_s": round(time.perf_counter() - start, 1)}
    result["setting"] = (f"resnet18, fashion-mnist ({len(data.train_y):,} images), {epochs} "
                         f"epochs, seeds 0..{seeds - 1}")
    return result


def paper_hours(units: dict[str, dict[str, float]]) -> dict[str, float]:
    """Training hours of each notebook of the paper profile: its planned models (``sdcore plan``)
    priced at ``units`` (seconds per model-epoch by architecture and role)."""
    hours = summary(profile_plan(notebook_runs(ROOT, "paper"), units=units)).estimate_h
    return {notebook: float(h) for notebook, h in hours.items() if notebook != "total"}


def guarded(name: str, fn, *args):
    """``fn(*args)``, or None with the traceback printed, so one failure keeps the rest."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - report and go on: a device run is too rare to waste
        print(f"FAILED: {name}")
        traceback.print_exc()
        return None


def measure(args: argparse.Namespace) -> dict:
    """Every measurement of the report, on ``args.device``."""
    device = resolve_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    n_train, n_test = (256, 128) if args.quick else (50_000, 10_000)
    data = random_data(n_train, n_test, device)
    recipe = BF16
    scale = 50_000 / n_train  # seconds per epoch of 50,000 images
    archs = ("resnet18",) if args.quick else ("resnet18", "vgg16")
    report: dict = {"gpu": gpu, "torch": torch.__version__, "batch_size": recipe.batch_size,
                    "at_once": args.at_once, "units_s": {}, "one_time_s": {}, "scaling": {}}
    n = args.at_once
    at_once = dataclasses.replace(FAST, models_at_once=n)
    paths = (("plain", PLAIN, 1, recipe),
             (f"fast, {n} at once", at_once, n, recipe),
             (f"compiled, {n} at once", at_once, n, dataclasses.replace(recipe, compile=True)))
    for path, speed, n_models, path_recipe in paths:
        for arch in archs:
            for role in ("teacher", "student"):
                seconds = guarded(f"{path} {arch} {role}", epoch_seconds, arch, role, n_models,
                                  speed, data, path_recipe)
                if seconds is None:
                    continue
                first, second = seconds
                unit = second * scale / n_models
                report["units_s"].setdefault(path, {}).setdefault(arch, {})[role] = round(unit, 3)
                report["one_time_s"].setdefault(path, {}).setdefault(arch, {})[role] = round(
                    first - second, 1) + 0.0  # no "-0"
                print(f"{path:>20} {arch:>9} {role:>8}: {unit:.2f} s per model-epoch, "
                      f"{first - second:.1f} s once", flush=True)
    for n_models in (1, 2, 3, 4):
        seconds = guarded(f"scaling {n_models}", epoch_seconds, "resnet18", "teacher", n_models,
                          Speed(models_at_once=n_models), data, recipe)
        if seconds is not None:
            rate = n_models * n_train / seconds[1]
            report["scaling"][n_models] = round(rate)
            print(f"resnet18 teachers, {n_models} at once: {rate:,.0f} images/s",
                  flush=True)
    report["accuracy"] = guarded("accuracy", same_accuracy, device, 1 if args.quick else 4, 2,
                                 500 if args.quick else 0)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--at-once", type=int, default=FAST.models_at_once,
                        help="models trained together for the fast per-model units")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test the script")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent,
                        help="folder of the log and JSON report")
    parser.add_argument("--from-report", type=Path, metavar="JSON",
                        help="measure nothing: recompute the paper profile's hours from this "
                        "report's measured units (the plan may have changed) and rewrite it")
    args = parser.parse_args()
    report = json.loads(args.from_report.read_text()) if args.from_report else measure(args)
    report["paper_hours"] = {path: paper_hours(units) for path, units in report["units_s"].items()
                             if all(a in units and len(units[a]) == 2 for a in
                                    ("resnet18", "vgg16"))}
    text = render(report)
    print(text)
    gpu = report["gpu"]
    name = "gpu_check_" + (gpu.lower().split()[1] if gpu != "cpu" else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.log").write_text(text + "\n")
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")


def render(report: dict) -> str:
    """The report as text tables."""
    lines = [f"device: {report['gpu']}, torch {report['torch']}, batch {report['batch_size']}, "
             "augmented, CIFAR-shaped 32x32x3, 50,000 images per epoch",
             "", "seconds per model-epoch (second epoch of two; 'at once': group time / N); "
             "once: first epoch minus second, s",
             f"{'path':<24}{'model':<10}{'teacher':>9}{'student':>9}{'student/teacher':>17}"
             f"{'once':>14}"]
    for path, units in report["units_s"].items():
        for arch, u in units.items():
            t, s = u.get("teacher"), u.get("student")
            ratio = f"{s / t:.2f}" if t and s else "-"
            once = report.get("one_time_s", {}).get(path, {}).get(arch, {})
            once_text = " / ".join(f"{once[r]:g}" for r in ("teacher", "student") if r in once)
            lines.append(f"{path:<24}{arch:<10}{t if t else '-':>9}{s if s else '-':>9}"
                         f"{ratio:>17}{once_text or '-':>14}")
    lines += ["", "resnet18 teachers trained together, fast path: aggregate images/s "
              "(per-model epoch)"]
    for n, rate in report["scaling"].items():
        lines.append(f"  N = {n}: {rate:>8,} images/s  ({50_000 / rate:.2f} s per model-epoch)")
    acc = report.get("accuracy")
    if acc:
        lines += ["", f"test accuracy (%), {acc['setting']}:"]
        lines += [f"  {p:<9} {r['test_acc']}  ({r['wall_s']} s)" for p, r in acc.items()
                  if p != "setting"]
    lines += ["", "paper profile, training hours of its planned models (python -m sdcore plan):"]
    if not report["paper_hours"]:
        lines.append("  - (no path has the units of both resnet18 and vgg16)")
    for path, hours in report["paper_hours"].items():
        parts = ", ".join(f"{nb} {h:.1f}" for nb, h in hours.items())
        lines.append(f"  {path:<24} total {sum(hours.values()):.1f} h ({parts})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
