"""Hessian curvature: sdcore.engine.curvature beside PyHessian 0.1 on one small CNN, one process.

The model is a two-conv CNN with BatchNorm (5.2k parameters), trained briefly on Fashion-MNIST
(random class templates plus noise if it is not found offline); the Hessian is that of the mean
cross-entropy over ``--images`` training images of 1×28×28, in eval mode, on the CPU. Compared:

- top-3 eigenvalues: PyHessian's power iteration with deflation against sdcore's Lanczos, both at
  their defaults (and sdcore at two tighter tolerances), all scored against a float64 Lanczos
  reference converged to a 1e-8 residual;
- trace: PyHessian's Hutchinson loop (its defaults: it stops once the running mean moves by less
  than 0.1%) against sdcore's, plain, with batched probes, and with the top-k eigenspace
  deflated, each on PyHessian's number of probes, in about PyHessian's time (probes scaled from
  the first run) and stopped at PyHessian's relative standard error (a stderr from a handful of
  probes is itself rough). ``eff.`` is PyHessian's stderr² × time over sdcore's: the speedup at
  equal stderr once probes dominate the time. Seeded alike, both draw the same Rademacher
  probes, so sdcore's plain rows repeat PyHessian's numbers exactly;
- spectral density: sdcore's stochastic Lanczos quadrature (PyHessian's calls ``torch.eig``).

Times are wall clock, best of ``--repeats``, each from the trained model to the answer (PyHessian's
constructor, which takes the gradient once, included). Run: python benchmarks/curvature.py
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyhessian
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sdcore.engine.curvature import Hessian
from sdcore.engine.data import DatasetNotFound, load_dataset
from sdcore.paths import data_root

PYHESSIAN = importlib.import_module("pyhessian.hessian")  # the module, not the class
warnings.filterwarnings("ignore", "Using backward\\(\\) with create_graph")  # inside PyHessian
TRACE_OPTIONS = {"plain": dict(batch=1), "batch 10": dict(batch=10),
                 "batch 5, deflate 3": dict(batch=5, deflate=3),
                 "batch 10, deflate 10": dict(batch=10, deflate=10)}


def make_cnn(classes: int = 10) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, classes))


def load_images(n: int, seed: int) -> tuple[Tensor, Tensor, str]:
    """``n`` normalised float training images with their labels, and where they came from."""
    try:
        data = load_dataset("fashion-mnist", data_root(), download=False, train_subset=n)
    except DatasetNotFound:
        gen = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 10, (n,), generator=gen)
        noise = torch.randn(n, 1, 28, 28, generator=gen)
        return torch.randn(10, 1, 28, 28, generator=gen)[y] + 2 * noise, y, \
            "random class templates + noise (Fashion-MNIST not found)"
    mean, std = data.channel_stats()
    return (data.train_x.float() / 255 - mean) / std, data.train_y, "Fashion-MNIST"


def train(model: nn.Module, x: Tensor, y: Tensor, steps: int, seed: int) -> None:
    """``steps`` of SGD with momentum on random batches of 64, leaving the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(steps):
        i = torch.randint(0, len(x), (64,), generator=gen)
        loss = F.cross_entropy(model(x[i]), y[i])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


@dataclass
class Bench:
    """The trained model and images every measurement uses; each returns (result, HVPs, s)."""

    model: nn.Module
    x: Tensor
    y: Tensor
    seed: int
    repeats: int

    def _best_of(self, fn: Callable[[], tuple[Any, int]]) -> tuple[Any, int, float]:
        times = []
        for _ in range(self.repeats):
            start = time.perf_counter()
            result, hvps = fn()
            times.append(time.perf_counter() - start)
        return result, hvps, min(times)

    def pyhessian(self, method: str, **kwargs: Any) -> tuple[Any, int, float]:
        """PyHessian's ``method`` on a copy of the model (it leaves grads behind)."""
        return self._best_of(lambda: self._pyhessian_once(method, **kwargs))

    def _pyhessian_once(self, method: str, **kwargs: Any) -> tuple[Any, int]:
        hvp, calls = PYHESSIAN.hessian_vector_product, 0

        def counted(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return hvp(*args)

        PYHESSIAN.hessian_vector_product = counted
        try:
            torch.manual_seed(self.seed)
            h = pyhessian.hessian(copy.deepcopy(self.model), F.cross_entropy,
                                  data=(self.x, self.y), cuda=False)
            return getattr(h, method)(**kwargs), calls
        finally:
            PYHESSIAN.hessian_vector_product = hvp

    def sdcore(self, method: str, **kwargs: Any) -> tuple[Any, int, float]:
        def once() -> tuple[Any, int]:
            h = Hessian(self.model, F.cross_entropy, (self.x, self.y))
            return getattr(h, method)(seed=self.seed, **kwargs), h.matvecs
        return self._best_of(once)


def max_error(values: list[float], exact: list[float]) -> float:
    return max(abs(v - e) / abs(e) for v, e in zip(values, exact))


def compare_eigenvalues(bench: Bench) -> str:
    """Prints the top-3 eigenvalue table; returns its summary line."""
    double = copy.deepcopy(bench.model).double()
    ref = Hessian(double, F.cross_entropy, (bench.x.double(), bench.y)).eigenvalues(
        3, max_iter=400, tol=1e-8, seed=bench.seed)
    exact = ref.values
    print(f"\nreference (float64 Lanczos, tol 1e-8): {ref.iterations} steps, converged "
          f"{ref.converged}, top-3 {', '.join(f'{v:.6g}' for v in exact)}")
    print(f"{'top-3 eigenvalues':34} {'time':>8} {'HVPs':>5} {'values':>26} {'max err':>8} "
          f"{'speedup':>7}")
    (ph_values, _), ph_hvps, ph_t = bench.pyhessian("eigenvalues", top_n=3)
    rows = {"pyhessian defaults (tol 1e-3)": (ph_values, ph_hvps, ph_t)}
    pairs, hvps, t = bench.sdcore("eigenvalues", top_n=3)
    rows["sdcore defaults (tol 1e-2)"] = pairs.values, hvps, t
    for tol in (1e-3, 1e-4):
        pairs, hvps, t = bench.sdcore("eigenvalues", top_n=3, tol=tol)
        rows[f"sdcore tol {tol:g}"] = pairs.values, hvps, t
    for name, (values, hvps, t) in rows.items():
        print(f"{name:34} {t:7.3f}s {hvps:5d} {', '.join(f'{v:8.4f}' for v in values):>26} "
              f"{max_error(values, exact):8.1e} {ph_t / t:6.2f}x")
    values, hvps, t = rows["sdcore defaults (tol 1e-2)"]
    return (f"top-3 eigenvalues, both at their defaults: sdcore {ph_t / t:.2f}x faster than "
            f"pyhessian, max error {max_error(values, exact):.1e} vs "
            f"{max_error(ph_values, exact):.1e}; per HVP {1000 * t / hvps:.0f} ms vs "
            f"{1000 * ph_t / ph_hvps:.0f} ms")


def compare_trace(bench: Bench) -> list[str]:
    """Prints the trace table; returns summary lines for the best option at either budget."""
    probes, _, ph_t = bench.pyhessian("trace")
    m, samples = len(probes), torch.tensor(probes, dtype=torch.float64)
    ph_value, ph_se = float(samples.mean()), float(samples.std()) / math.sqrt(m)
    print(f"\n{'trace':42} {'time':>8} {'probes':>6} {'HVPs':>5} {'value':>8} {'stderr':>7} "
          f"{'se÷ph':>6} {'speedup':>7} {'eff.':>6}")

    def row(name: str, seconds: float, probes: int, hvps: int, value: float, se: float) -> None:
        eff = ph_se**2 * ph_t / (se**2 * seconds)
        print(f"{name:42} {seconds:7.3f}s {probes:6d} {hvps:5d} {value:8.2f} {se:7.3f} "
              f"{se / ph_se:6.2f} {ph_t / seconds:6.2f}x {eff:6.2f}")

    row("pyhessian (maxIter 100, tol 1e-3)", ph_t, m, m, ph_value, ph_se)
    found = {}
    for option, kwargs in TRACE_OPTIONS.items():
        k = kwargs.get("deflate", 0)
        deflation_t = bench.sdcore("eigenvalues", top_n=k)[2] if k else 0.0
        first = bench.sdcore("trace", probes=m, **kwargs)
        same_time = max(2, round(m * (ph_t - deflation_t) / (first[2] - deflation_t)))
        runs = {f"{m} probes": first,
                "same time": bench.sdcore("trace", probes=same_time, **kwargs),
                "ph's stderr": bench.sdcore("trace", probes=1000, rtol=ph_se / abs(ph_value),
                                            **kwargs)}
        for budget, (est, hvps, t) in runs.items():
            found[option, budget] = est, t
            row(f"sdcore {option}, {budget}", t, est.probes, hvps, est.value, est.stderr)
    fastest = min(TRACE_OPTIONS, key=lambda option: found[option, "ph's stderr"][1])
    sharpest = min(TRACE_OPTIONS, key=lambda option: found[option, "same time"][0].stderr)
    lines = []
    for budget, option in (("ph's stderr", fastest), ("same time", sharpest)):
        est, t = found[option, budget]
        lines.append(f"trace, {budget}, best option ({option}): {t:.3f}s vs {ph_t:.3f}s "
                     f"(speedup {ph_t / t:.2f}x), stderr {est.stderr:.3f} vs {ph_se:.3f} "
                     f"(ratio {est.stderr / ph_se:.2f})")
    return lines


def compare_density(bench: Bench) -> str:
    """Prints the density table; returns its summary line."""
    print(f"\n{'density':34} {'time':>8} {'HVPs':>5}  result")
    try:
        bench.pyhessian("density", iter=2)
        failure = "runs"
    except Exception as err:  # noqa: BLE001 - report whatever PyHessian's density raises
        failure = f"fails: {type(err).__name__}: {str(err).split('. ')[0]}"
    print(f"{'pyhessian density(iter=2)':34} {'-':>8} {'-':>5}  {failure}")
    dens, hvps, t = bench.sdcore("density", iterations=60)
    print(f"{'sdcore SLQ, 60 steps, 1 run':34} {t:7.3f}s {hvps:5d}  nodes in "
          f"[{float(dens.nodes.min()):.4g}, {float(dens.nodes.max()):.4g}]")
    return f"density: pyhessian {failure.split(':')[0]}; sdcore SLQ (60 steps) in {t:.3f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256, help="images the Hessian averages over")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200, help="SGD steps of training first")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls, best one kept")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    x, y, source = load_images(max(args.images, 4096), args.seed)
    model = make_cnn()
    train(model, x, y, args.steps, args.seed)
    bench = Bench(model, x[: args.images], y[: args.images], args.seed, args.repeats)
    with torch.no_grad():
        out = model(bench.x)
    print(f"{source}: CNN with {sum(p.numel() for p in model.parameters())} parameters after "
          f"{args.steps} SGD steps; Hessian over {len(bench.x)} images (loss "
          f"{F.cross_entropy(out, bench.y):.3f}, accuracy "
          f"{(out.argmax(1) == bench.y).float().mean():.0%}); {torch.get_num_threads()} threads")
    summary = [compare_eigenvalues(bench), *compare_trace(bench), compare_density(bench)]
    print("\nsummary\n" + "\n".join(f"  {line}" for line in summary))


if __name__ == "__main__":
    main()
