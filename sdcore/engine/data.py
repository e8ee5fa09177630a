"""Datasets held whole as uint8 tensors on the training device, with batched on-device augmentation.

``load_dataset(name, ...)`` knows ``synthetic`` and ``multiview:<views>[:<feature noise>]``
(generated in memory from a seed), ``fashion-mnist`` (IDX files, found offline or downloaded),
``cifar10`` / ``cifar100`` (the python pickles, found or downloaded) and ``imagefolder:<path>``
(torchvision's ImageFolder layout, images of any mode and size; unreadable files are named).
Loading reads each file once (seconds for the standard sets); a dataset is then a few tens of MB of
uint8 on the device, so an epoch costs no host work: ``random_crop_flip`` crops and flips a whole
batch with one gather.
"""

from __future__ import annotations

import gzip
import pickle
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

GENERATED_SIDE = 16  # the side of the synthetic and multi-view images
MULTIVIEW_POOL = 8000  # generated multi-view training images, for subsets drawn per seed
SIDES = {"synthetic": GENERATED_SIDE, "fashion-mnist": 28, "cifar10": 32, "cifar100": 32}
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]


class DatasetNotFound(FileNotFoundError):
    """A dataset could not be found offline (and could not, or may not, be downloaded)."""


@dataclass(frozen=True)
class ImageData:
    """Train and test images (uint8, N×C×H×W) with integer labels, all on one device."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: list[str]
    flip: bool  # whether a horizontal flip keeps an image's class

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    def to(self, device: torch.device | str) -> "ImageData":
        return replace(self, **{k: getattr(self, k).to(device)
                                for k in ("train_x", "train_y", "test_x", "test_y")})

    def channel_stats(self) -> tuple[Tensor, Tensor]:
        """Per-channel mean and std of the training images on the 0..1 scale, shaped 1×C×1×1."""
        x = self.train_x.float().div_(255)
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
        return mean, std


def _rank_in_class(labels: Tensor, classes: int) -> Tensor:
    """Position of each label among the earlier labels of its class (0, 1, 2, ...)."""
    one_hot = F.one_hot(labels, classes)
    return (one_hot.cumsum(0) * one_hot).sum(1) - 1


def stratified_subset(data: ImageData, n: int, split: str = "train", seed: int = 0) -> ImageData:
    """The first ``n`` images of ``split`` ("train" or "test") in a shuffle drawn from ``seed``,
    classes taken in turn (so every class gets ⌊n/K⌋ or ⌈n/K⌉ images, as far as it has them).

    Seed 0 is the fixed subset every seed of an experiment shares; a model spec's
    ``subset_seed`` draws one per chain instead.
    """
    x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
    if n <= 0 or n >= len(y):
        return data
    labels = y.cpu()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels[order]
    rank = _rank_in_class(shuffled, data.num_classes)
    keep = order[torch.argsort(rank * data.num_classes + shuffled, stable=True)[:n]]
    keep = keep.sort().values.to(y.device)
    return replace(data, **{f"{split}_x": x[keep], f"{split}_y": y[keep]})


def random_crop_flip(x: Tensor, pad: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crops of ``x`` (B×C×H×W) zero-padded by ``pad``, and random horizontal flips.

    Crop offsets and flips are drawn on ``x``'s device from ``generator``; one gather does it all.
    """
    b, c, h, w = x.shape
    dev = x.device
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), device=dev, generator=generator)
    rows = dy + torch.arange(h, device=dev)
    cols = dx + torch.arange(w, device=dev)
    if flip:
        flipped = torch.rand(b, 1, device=dev, generator=generator) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    return x[torch.arange(b, device=dev)[:, None, None, None],
             torch.arange(c, device=dev)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]


# --- synthetic ---------------------------------------------------------------------------------

def make_synthetic(seed: int = 0, n_train: int = 2000, n_test: int = 1000, classes: int = 10,
                   size: int = GENERATED_SIDE) -> ImageData:
    """Class-conditional images: a smooth random template per class, randomly shifted, scaled in
    contrast and covered in noise, so that a small network learns it well but not perfectly."""
    gen = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.randn(classes, 1, 4, 4, generator=gen), size=(size, size),
                              mode="bicubic", align_corners=False)

    def sample(n: int) -> tuple[Tensor, Tensor]:
        y = torch.arange(n) % classes
        y = y[torch.randperm(n, generator=gen)]
        x = templates[y] * (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen))
        x = random_crop_flip(x, 2, False, gen) + 1.2 * torch.randn(x.shape, generator=gen)
        return (x * 40 + 128).clamp(0, 255).to(torch.uint8), y

    train_x, train_y = sample(n_train)
    test_x, test_y = sample(n_test)
    return ImageData("synthetic", train_x, train_y, test_x, test_y,
                     [f"class {k}" for k in range(classes)], flip=False)


def make_multiview(views: int, feature_noise: float = 0.3, seed: int = 0, n_train: int = 2000,
                   n_test: int = 2000, classes: int = 10, size: int = GENERATED_SIDE,
                   single_view: float = 0.3) -> ImageData:
    """Images with ``views`` features per class, after Allen-Zhu & Li's multi-view data.

    Every class has ``views`` smooth random patterns, each enough to tell the class apart. A
    fraction ``single_view`` of the images show one of their class's patterns at random; the rest
    show all of them, each with a random weight. Every image also carries a faint pattern of
    another class at weight ``feature_noise`` (its own patterns have unit weight in all), a random
    shift and pixel noise. With ``views = 1`` every image shows the same single pattern of its
    class: no multi-view structure; raise ``feature_noise`` to match a multi-view set's difficulty.
    """
    if views < 1 or feature_noise < 0:
        raise ValueError(f"need views ≥ 1 and feature_noise ≥ 0, got {views}, {feature_noise}")
    gen = torch.Generator().manual_seed(seed)
    patterns = F.interpolate(torch.randn(classes * views, 1, 4, 4, generator=gen),
                             size=(size, size), mode="bicubic", align_corners=False)
    patterns = (patterns / patterns.flatten(1).std(1)[:, None, None, None]).view(
        classes, views, 1, size, size)

    def sample(n: int) -> tuple[Tensor, Tensor]:
        y = torch.arange(n) % classes
        y = y[torch.randperm(n, generator=gen)]
        weights = 0.5 + 0.5 * torch.rand(n, views, generator=gen)
        single = torch.rand(n, generator=gen) < single_view
        shown = F.one_hot(torch.randint(0, views, (n,), generator=gen), views).bool()
        weights = torch.where(single[:, None], weights * shown, weights)
        weights = weights / weights.norm(dim=1, keepdim=True)  # the same signal however many views
        x = (weights[:, :, None, None, None] * patterns[y]).sum(1)
        other = (y + torch.randint(1, classes, (n,), generator=gen)) % classes
        x = x + feature_noise * patterns[other, torch.randint(0, views, (n,), generator=gen)]
        x = random_crop_flip(x, 2, False, gen) + torch.randn(x.shape, generator=gen)
        return (x * 40 + 128).clamp(0, 255).to(torch.uint8), y

    train_x, train_y = sample(n_train)
    test_x, test_y = sample(n_test)
    name = f"multiview:{views}" if feature_noise == 0.3 else f"multiview:{views}:{feature_noise:g}"
    return ImageData(name, train_x, train_y, test_x, test_y,
                     [f"class {k}" for k in range(classes)], flip=False)


# --- Fashion-MNIST (IDX) -----------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {shape} bytes of data, found {data.size}")
    return data.reshape(shape)


def _find_idx(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in FASHION_MNIST_FILES.items():
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    return found if len(found) == len(FASHION_MNIST_FILES) else None


def _fashion_mnist_places(root: Path) -> list[Path]:
    return [root / "fashion-mnist", root / "FashionMNIST" / "raw", SYSTEM_FASHION_MNIST]


def load_fashion_mnist(root: Path, download: bool) -> ImageData:
    places = _fashion_mnist_places(root)
    files = next((f for f in map(_find_idx, places) if f), None)
    if files is None:
        problem = _download(lambda: __import__("torchvision").datasets.FashionMNIST(
            str(root), download=True), download)
        files = _find_idx(places[1])
        if files is None:
            raise DatasetNotFound(
                "Fashion-MNIST not found. Looked for the four IDX files "
                f"({', '.join(FASHION_MNIST_FILES.values())}, .gz or not) in: "
                + ", ".join(map(str, places)) + f". {problem} To get it: `apt-get install "
                "dataset-fashion-mnist` (Debian/Ubuntu), or set download: true with internet "
                "access, or copy the files into one of those folders.")
    arrays = {k: torch.from_numpy(read_idx(p).copy()) for k, p in files.items()}
    return ImageData("fashion-mnist", arrays["train_x"][:, None], arrays["train_y"].long(),
                     arrays["test_x"][:, None], arrays["test_y"].long(), FASHION_MNIST_CLASSES,
                     flip=True)


# --- CIFAR (python pickles) --------------------------------------------------------------------

CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", "label_names", "labels", "CIFAR10"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names",
                 "fine_labels", "CIFAR100"),
}


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _cifar_files(name: str, root: Path) -> list[Path]:
    folder, train_files, test_files, meta_file, *_ = CIFAR[name]
    return [root / folder / f for f in train_files + test_files + [meta_file]]


def load_cifar(name: str, root: Path, download: bool) -> ImageData:
    folder, train_files, test_files, meta_file, names_key, labels_key, tv_class = CIFAR[name]
    base = root / folder
    needed = _cifar_files(name, root)
    if not all(p.is_file() for p in needed):
        problem = _download(lambda: getattr(__import__("torchvision").datasets, tv_class)(
            str(root), download=True), download)
        missing = [str(p) for p in needed if not p.is_file()]
        if missing:
            raise DatasetNotFound(
                f"{name} not found: missing {', '.join(missing)}. {problem} To get it: set "
                f"download: true with internet access (torchvision downloads it into {root}), or "
                f"extract the python version of the archive there.")

    def split(files: list[str]) -> tuple[Tensor, Tensor]:
        batches = [_read_pickle(base / f) for f in files]
        x = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
        y = np.concatenate([np.asarray(b[labels_key], dtype=np.int64) for b in batches])
        return torch.from_numpy(x.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(y)

    train_x, train_y = split(train_files)
    test_x, test_y = split(test_files)
    classes = list(_read_pickle(base / meta_file)[names_key])
    return ImageData(name, train_x, train_y, test_x, test_y, classes, flip=True)


# --- ImageFolder -------------------------------------------------------------------------------

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
MAX_LISTED = 20  # unreadable files named in an error, at most


class UnreadableImages(ValueError):
    """Files of an imagefolder dataset that could not be read as images."""


@contextmanager
def _any_image_size() -> Iterator[None]:
    """Let PIL open images larger than its decompression-bomb limit (the user's own data)."""
    from PIL import Image
    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def read_image(path: Path, size: int) -> np.ndarray:
    """An image file as ``size``×``size`` uint8: H×W for grayscale modes (1, L, LA, 16- and 32-bit
    integer, float), H×W×3 for every other mode (RGB, RGBA, palette, CMYK, ...). 16-bit values are
    scaled to 8 bits, float values read as 0..1 when none exceeds 1, else as 0..255."""
    from PIL import Image
    with Image.open(path) as img:
        img.draft("RGB" if img.mode not in GRAY_MODES else "L", (size, size))  # JPEG: decode small
        img.load()
        if img.mode in GRAY_MODES:
            if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                values = np.asarray(img, dtype=np.float64)
                scale = (1 / 257 if img.mode != "F" else 255.0 if values.max(initial=0) <= 1 else 1)
                img = Image.fromarray(np.clip(values * scale, 0, 255).round().astype(np.uint8))
            img = img.convert("L")
        else:
            if img.mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")
            img = img.convert("RGB")
        return np.asarray(img.resize((size, size)), dtype=np.uint8)


def _read_folder(path: Path, size: int) -> tuple[Tensor, Tensor, list[str]]:
    """Every image under ``path``'s class folders: grayscale if all of them are, else RGB (gray
    images repeated over 3 channels). Unreadable files stop it, each named with what was wrong."""
    from torchvision.datasets import ImageFolder
    folder = ImageFolder(str(path), loader=str)  # lists the files; they are read below
    images, problems = [], []
    with _any_image_size():
        for file, _ in folder.samples:
            try:
                images.append(read_image(Path(file), size))
            except Exception as err:  # noqa: BLE001 - PIL raises many kinds; each file is named
                problems.append(f"{file}: {type(err).__name__}: {err}")
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        hidden = len(problems) - MAX_LISTED
        more = f"\n  ... and {hidden} more" if hidden > 0 else ""
        raise UnreadableImages(
            f"imagefolder {path}: {len(problems)} of {len(folder.samples)} files could not be read "
            f"as images:\n  {listed}{more}\nRepair or remove them and run again.")
    if any(image.ndim == 3 for image in images):
        images = [np.repeat(i[..., None], 3, axis=2) if i.ndim == 2 else i for i in images]
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    else:
        x = torch.from_numpy(np.stack(images))[:, None]
    return x, torch.tensor(folder.targets, dtype=torch.long), folder.classes


def load_imagefolder(path: Path, size: int, test_fraction: float = 0.2) -> ImageData:
    """``path/train`` and ``path/test`` if both exist, else a fixed stratified split of ``path``."""
    if not path.is_dir():
        raise DatasetNotFound(f"imagefolder: no folder at {path} (expected one subfolder of "
                              "images per class, or train/ and test/ holding such subfolders)")
    if (path / "train").is_dir() and (path / "test").is_dir():
        train_x, train_y, classes = _read_folder(path / "train", size)
        test_x, test_y, test_classes = _read_folder(path / "test", size)
        if test_classes != classes:
            raise ValueError(f"imagefolder {path}: train/ and test/ have different classes")
    else:
        x, y, classes = _read_folder(path, size)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        rank = _rank_in_class(y[order], len(classes))
        counts = torch.bincount(y, minlength=len(classes))[y[order]]
        is_test = rank < (counts * test_fraction).round().long()
        test_idx, train_idx = order[is_test].sort().values, order[~is_test].sort().values
        train_x, train_y, test_x, test_y = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    return ImageData(f"imagefolder:{path}", train_x, train_y, test_x, test_y, classes, flip=True)


# --- entry point -------------------------------------------------------------------------------

def _download(fetch, allowed: bool) -> str:
    """Try ``fetch()`` if downloads are allowed; return a sentence on what happened."""
    if not allowed:
        return "Downloading is off (download: false)."
    try:
        fetch()
    except Exception as err:  # noqa: BLE001 - any network or archive failure ends the same way
        return f"Downloading failed ({type(err).__name__}: {err})."
    return ""


def source_files(name: str, root: str | Path) -> list[Path] | None:
    """The files dataset ``name`` is read from, as ``load_dataset`` would find them offline;
    None for a dataset generated in memory. Raises ``DatasetNotFound`` where they are not here."""
    root = Path(root)
    if name == "synthetic" or name.startswith("multiview:"):
        return None
    if name == "fashion-mnist":
        files = next((f for f in map(_find_idx, _fashion_mnist_places(root)) if f), None)
        if files is None:
            raise DatasetNotFound(f"Fashion-MNIST is not in {root} or {SYSTEM_FASHION_MNIST}")
        return [files[k] for k in FASHION_MNIST_FILES]
    if name in CIFAR:
        files = _cifar_files(name, root)
        if not all(p.is_file() for p in files):
            raise DatasetNotFound(f"{name} is not in {root}")
        return files
    if name.startswith("imagefolder:"):
        path = Path(name.split(":", 1)[1]).expanduser()
        if not path.is_dir():
            raise DatasetNotFound(f"imagefolder: no folder at {path}")
        return sorted(p for p in path.rglob("*") if p.is_file())
    raise ValueError(f"unknown dataset {name!r}")


def image_side(name: str, image_size: int) -> int:
    """The side of dataset ``name``'s images, known without loading it (an imagefolder's images
    are resized to ``image_size``)."""
    if name.startswith("imagefolder:"):
        return image_size
    return GENERATED_SIDE if name.startswith("multiview:") else SIDES[name]


def load_dataset(name: str, root: str | Path, download: bool = True, image_size: int = 32,
                 train_subset: int = 0, test_subset: int = 0, subset_seed: int = 0) -> ImageData:
    """Load dataset ``name`` into CPU memory (call ``.to(device)`` to move it), then take its
    subsets (``subsets``)."""
    return subsets(load_full(name, root, download, image_size), train_subset, test_subset,
                   subset_seed)


def subsets(data: ImageData, train_subset: int = 0, test_subset: int = 0,
            subset_seed: int = 0) -> ImageData:
    """``train_subset`` training images drawn with ``subset_seed`` and the fixed ``test_subset``
    test images (``stratified_subset``; 0: all of them)."""
    return stratified_subset(stratified_subset(data, train_subset, seed=subset_seed),
                             test_subset, "test")


def load_full(name: str, root: str | Path, download: bool = True,
              image_size: int = 32) -> ImageData:
    """Dataset ``name`` whole, in CPU memory."""
    root = Path(root)
    if name == "synthetic":
        return make_synthetic()
    if name.startswith("multiview:"):
        views, _, feature_noise = name.split(":", 1)[1].partition(":")
        return make_multiview(int(views), float(feature_noise or 0.3), n_train=MULTIVIEW_POOL)
    if name == "fashion-mnist":
        return load_fashion_mnist(root, download)
    if name in CIFAR:
        return load_cifar(name, root, download)
    if name.startswith("imagefolder:"):
        return load_imagefolder(Path(name.split(":", 1)[1]).expanduser(), image_size)
    raise ValueError(f"unknown dataset {name!r}")
