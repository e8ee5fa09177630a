"""Time of one 2D loss surface for the cpu profile's model: the cost unit of the landscape page.

Trains nothing: a freshly initialized ResNet-8 (cost does not depend on the weights) evaluated on
``--images`` Fashion-MNIST training images over a ``--points``² grid of two filter-normalized
directions. Prints the wall time and the time per grid point.
Run: python benchmarks/landscape.py [--points 21] [--images 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sdcore.engine.data import load_dataset
from sdcore.engine.landscape import plane, random_direction
from sdcore.engine.models import build_model
from sdcore.engine.inference import as_input
from sdcore.paths import data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=21, help="grid points per side")
    parser.add_argument("--images", type=int, default=500, help="images the loss averages over")
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", data_root(), train_subset=1000)
    x, y = as_input(data.train_x[:args.images]), data.train_y[:args.images]
    torch.manual_seed(0)
    model = build_model("resnet8", 1, 10, 1.0).eval()
    d1, d2 = random_direction(model, 0), random_direction(model, 1)
    grid = np.linspace(-1.0, 1.0, args.points)
    start = time.perf_counter()
    plane(model, d1, d2, grid, grid, x, y)
    seconds = time.perf_counter() - start
    print(f"{args.points}x{args.points} surface of resnet8 on {len(y)} images, "
          f"{torch.get_num_threads()} threads: {seconds:.1f} s "
          f"({1000 * seconds / args.points ** 2:.0f} ms per point)")


if __name__ == "__main__":
    main()
