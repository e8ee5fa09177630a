"""GPU check: every claim's sdcore call on CUDA (smoke profile), then the paper profile's costs.

Part 1 runs the experiment of every notebook with its smoke parameters on ``--device`` (a fresh
run store in a temporary folder), so the CUDA code paths (bf16 autocast, channels_last, on-device
data and augmentation, Hessian-vector products, landscapes) run end to end. Part 2 times what the
``paper`` profile is made of, on random CIFAR-shaped data (cost does not depend on pixel values):
one training epoch of a teacher and of an augmented student (online teacher) for ResNet-18 and
VGG-16, one evaluation of the 10k test images, one Hessian-vector product on 4096 images, and one
landscape point on 2000 images; and multiplies them out into each notebook's paper-profile cost.
Run: python benchmarks/gpu_check.py [--device cuda] [--quick]   (``--quick``: tiny sizes, any CPU)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from sdcore import (flatness, landscape, landscape_study, multi_view_study, regularization_study,
                    student_teacher)
from sdcore.config import NOTEBOOK_CONFIGS
from sdcore.curvature import Hessian
from sdcore.data import ImageData
from sdcore.distill import KDWeights, cross_entropy_loss, distillation_loss
from sdcore.models import build_model
from sdcore.paths import project_root
from sdcore.train import Recipe, as_input, evaluate, fit

STUDIES = {"01_student_beats_teacher": student_teacher, "02a_amplified_regularization":
           regularization_study, "02b_multi_view": multi_view_study,
           "03_flatter_minima": flatness, "04_loss_landscape": landscape_study}


def smoke_on(device: str, store: Path) -> None:
    for notebook, study in STUDIES.items():
        params = yaml.safe_load((project_root() / "parameters" / "smoke"
                                 / f"{notebook}.yaml").read_text())
        params.update(device=device, run_store=str(store), profile="gpucheck")
        config = NOTEBOOK_CONFIGS[notebook].from_params(params)
        start = time.perf_counter()
        result = study.run(config)
        verdicts = {k: v for k, v in vars(result).items() if k.startswith("verdict")}
        print(f"smoke on {device}: {notebook}: {time.perf_counter() - start:.1f} s, {verdicts}",
              flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device: torch.device, fn) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def paper_costs(device: torch.device, n_train: int, n_test: int, hessian_n: int,
                landscape_n: int) -> dict[str, dict[str, float]]:
    gen = torch.Generator().manual_seed(0)
    data = ImageData("cifar-shaped", torch.randint(0, 256, (n_train, 3, 32, 32), generator=gen,
                                                   dtype=torch.uint8),
                     torch.randint(0, 100, (n_train,), generator=gen),
                     torch.randint(0, 256, (n_test, 3, 32, 32), generator=gen, dtype=torch.uint8),
                     torch.randint(0, 100, (n_test,), generator=gen),
                     [str(k) for k in range(100)], flip=True).to(device)
    recipe = Recipe(2, 128, 0.1, 0.9, True, 5e-4, "cosine", True)
    costs = {}
    for name in ("resnet18", "vgg16"):
        torch.manual_seed(0)
        teacher = build_model(name, 3, 100).to(device)
        history = fit(teacher, data, recipe, 0, cross_entropy_loss, desc=f"{name} teacher")
        student = build_model(name, 3, 100).to(device)
        kd = distillation_loss(teacher, KDWeights(0.5, 0.5, 4.0))
        s_history = fit(student, data, recipe, 1, kd, desc=f"{name} student")
        x, y = as_input(data.train_x[:hessian_n]), data.train_y[:hessian_n]
        hessian = Hessian(teacher, F.cross_entropy, [(x[i:i + 1024], y[i:i + 1024])
                                                     for i in range(0, len(y), 1024)])
        v = torch.randn(hessian.dim, device=device, dtype=hessian.dtype)
        hessian.hvp(v)  # builds the kept gradient graph
        hvp_s = timed(device, lambda: hessian.hvp(v))
        d1 = landscape.random_direction(teacher, 1)
        lx, ly = as_input(data.train_x[:landscape_n]), data.train_y[:landscape_n]
        point_s = timed(device, lambda: landscape.line(teacher, d1, [0.5], lx, ly))
        costs[name] = {"teacher_epoch_s": history[-1]["seconds"],
                       "student_epoch_s": s_history[-1]["seconds"],
                       "eval_test_s": timed(device, lambda: evaluate(teacher, data.test_x,
                                                                     data.test_y)),
                       "hvp_s": hvp_s, "landscape_point_s": point_s}
        print(f"{name}: {costs[name]}", flush=True)
    return costs


def paper_profile_hours(costs: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each notebook's paper profile from the cost units (training dominates; 200 epochs)."""
    def model(name: str, teachers: int, students: int) -> float:
        c = costs[name]
        return 200 * (teachers * c["teacher_epoch_s"] + students * c["student_epoch_s"])
    both = lambda t, s: sum(model(m, t, s) for m in ("resnet18", "vgg16"))  # noqa: E731
    hours = {
        # 2 datasets x 2 models x 3 seeds x (teacher + 1 student)
        "01_student_beats_teacher": 2 * both(3, 3),
        # cifar100 x resnet18 x 3 seeds x (no-decay teacher + 15 students); C1's pair is stored
        "02a_amplified_regularization": model("resnet18", 3, 3 * 15 - 3),
        # cifar100 x resnet18 x 3 seeds x (partner + ensemble student + same-init student)
        "02b_multi_view": model("resnet18", 3, 6),
    }
    return {k: v / 3600 for k, v in hours.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test the script")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        print("device:", torch.cuda.get_device_name(device), "torch", torch.__version__)
    with tempfile.TemporaryDirectory() as store:
        smoke_on(args.device, Path(store))
    sizes = (512, 256, 128, 128) if args.quick else (50_000, 10_000, 4096, 2000)
    costs = paper_costs(device, *sizes)
    scale = 50_000 / sizes[0]
    for notebook, hours in paper_profile_hours(costs).items():
        print(f"paper profile, {notebook}: {hours * scale:.1f} h of training on this device")


if __name__ == "__main__":
    main()
