"""Training throughput: sdcore's loop against a conventional torchvision DataLoader loop.

Both train the cpu profile's model on the same Fashion-MNIST images with the same batch size,
augmentation (random crop with padding, horizontal flip) and optimizer, in this one process; the
conventional loop is the textbook one (PIL images, ``transforms``, ``DataLoader``, NCHW tensors).
Prints images/s for each and the ratio. Run: python benchmarks/train_throughput.py [--images N]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from sdcore.claims import NOTEBOOKS
from sdcore.claims.common import base_spec
from sdcore.engine.data import load_dataset
from sdcore.engine.distill import cross_entropy_loss
from sdcore.engine.models import build_model
from sdcore.engine.train import fit
from sdcore.paths import data_root, project_root
from sdcore.project.profiles import merged


class PILImages(Dataset):
    """uint8 images served as PIL images, the way torchvision's FashionMNIST serves them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.x[i, 0].numpy(), mode="L")), int(self.y[i])


def conventional_epoch(model, loader, optimizer) -> None:
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=4096, help="images per timed epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    args = parser.parse_args()
    c1 = NOTEBOOKS[0]  # the claim whose cpu setting is measured
    config = c1.config.from_params({**merged(project_root(), "cpu", c1.name),
                                    "train_subset": args.images, "epochs": args.epochs + 1})
    data = load_dataset("fashion-mnist", data_root(config.data_root), train_subset=args.images)
    spec = base_spec(config, "fashion-mnist", config.models[0], 0)
    mean, std = data.channel_stats()
    size = data.image_shape[-1]
    print(f"model {spec.model} width {spec.width}, {args.images} images of {data.image_shape}, "
          f"batch {spec.recipe.batch_size}, {torch.get_num_threads()} threads")

    def new_model():
        torch.manual_seed(0)
        return build_model(spec.model, data.image_shape[0], data.num_classes, spec.width)

    # sdcore: the first epoch is warm-up, the rest are timed from the per-epoch history
    history = fit(new_model(), data, spec.recipe, 0, cross_entropy_loss, desc="sdcore")
    sdcore_rate = args.images * args.epochs / sum(h["seconds"] for h in history[1:])

    transform = transforms.Compose([
        transforms.RandomCrop(size, padding=size // 8), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(mean.flatten().tolist(),
                                                    std.flatten().tolist())])
    rates = {}
    for workers in (0, 2):
        model = new_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=spec.recipe.lr, momentum=0.9,
                                    nesterov=True, weight_decay=spec.recipe.weight_decay)
        loader = DataLoader(PILImages(data.train_x, data.train_y, transform),
                            batch_size=spec.recipe.batch_size, shuffle=True, drop_last=True,
                            num_workers=workers, persistent_workers=workers > 0)
        conventional_epoch(model, loader, optimizer)  # warm-up
        start = time.perf_counter()
        for _ in range(args.epochs):
            conventional_epoch(model, loader, optimizer)
        rates[workers] = len(loader) * spec.recipe.batch_size * args.epochs / (
            time.perf_counter() - start)

    print(f"sdcore loop:                     {sdcore_rate:8.0f} images/s")
    for workers, rate in rates.items():
        print(f"DataLoader loop, {workers} workers:     {rate:8.0f} images/s   "
              f"ratio sdcore / this = {sdcore_rate / rate:.2f}x")


if __name__ == "__main__":
    main()
