"""Each loader on small generated files in the real on-disk formats."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from sdcore.engine import data
from sdcore.engine.data import DatasetNotFound, load_dataset, random_crop_flip, stratified_subset


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")


def test_fashion_mnist_idx(tmp_path, no_system_copy):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    train = rng.integers(0, 256, (30, 28, 28))
    write_idx(folder / "train-images-idx3-ubyte.gz", train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(30) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    d = load_dataset("fashion-mnist", tmp_path, download=False)
    assert d.train_x.shape == (30, 1, 28, 28) and d.train_x.dtype == torch.uint8
    assert d.test_x.shape == (20, 1, 28, 28) and d.num_classes == 10
    assert torch.equal(d.train_x[:, 0], torch.from_numpy(train.astype(np.uint8)))
    assert d.train_y.tolist() == [i % 10 for i in range(30)]


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, no_system_copy):
    with pytest.raises(DatasetNotFound) as err:
        load_dataset("fashion-mnist", tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "fashion-mnist") in message and "nowhere" in message
    assert "apt-get install dataset-fashion-mnist" in message and "download" in message


def write_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


@pytest.mark.parametrize("name, classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_pickles(tmp_path, name, classes):
    rng = np.random.default_rng(0)
    folder, train_files, test_files, meta, names_key, labels_key, _ = data.CIFAR[name]
    base = tmp_path / folder
    base.mkdir()
    first = None
    for f in train_files + test_files:
        images = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        first = images if first is None else first
        write_pickle(base / f, {"data": images, labels_key: list(range(4))})
    write_pickle(base / meta, {names_key: [f"c{i}" for i in range(classes)]})
    d = load_dataset(name, tmp_path, download=False)
    assert d.train_x.shape == (4 * len(train_files), 3, 32, 32)
    assert d.test_x.shape == (4 * len(test_files), 3, 32, 32)
    assert d.num_classes == classes and d.flip
    assert torch.equal(d.train_x[0], torch.from_numpy(first[0].reshape(3, 32, 32)))


def test_cifar_missing_without_download(tmp_path):
    with pytest.raises(DatasetNotFound, match="cifar10 not found"):
        load_dataset("cifar10", tmp_path, download=False)


def make_image_tree(root, per_class):
    for c, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (40, 30), color).save(root / c / f"{i}.png")


def test_imagefolder_split_is_stratified_and_fixed(tmp_path):
    make_image_tree(tmp_path / "pets", per_class=10)
    d = load_dataset(f"imagefolder:{tmp_path / 'pets'}", tmp_path, image_size=16)
    assert d.classes == ["cat", "dog"] and d.train_x.shape[1:] == (3, 16, 16)
    assert d.test_y.tolist().count(0) == 2 and d.test_y.tolist().count(1) == 2
    assert len(d.train_y) == 16
    cat = d.train_x[d.train_y == 0][0]
    assert cat[0].float().mean() > 250 and cat[2].float().mean() < 5  # red stays red
    again = load_dataset(f"imagefolder:{tmp_path / 'pets'}", tmp_path, image_size=16)
    assert torch.equal(d.test_x, again.test_x)


def test_imagefolder_train_test_folders(tmp_path):
    make_image_tree(tmp_path / "pets" / "train", per_class=3)
    make_image_tree(tmp_path / "pets" / "test", per_class=2)
    d = load_dataset(f"imagefolder:{tmp_path / 'pets'}", tmp_path, image_size=8)
    assert len(d.train_y) == 6 and len(d.test_y) == 4


def test_imagefolder_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFound, match="no folder"):
        load_dataset(f"imagefolder:{tmp_path / 'absent'}", tmp_path)


def test_synthetic_is_deterministic_and_balanced():
    a, b = load_dataset("synthetic", "."), load_dataset("synthetic", ".")
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert torch.bincount(a.train_y).tolist() == [200] * 10


def test_stratified_subset_is_fixed_and_balanced():
    d = load_dataset("synthetic", ".")
    sub = stratified_subset(d, 105)
    assert len(sub.train_y) == 105
    counts = torch.bincount(sub.train_y, minlength=10)
    assert counts.max() - counts.min() <= 1
    assert torch.equal(sub.train_x, stratified_subset(d, 105).train_x)


def test_crop_without_padding_is_identity_and_flip_mirrors():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(random_crop_flip(x, 0, False, gen), x)
    out = random_crop_flip(x, 0, True, gen)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))


def test_padded_crop_is_a_shifted_window():
    x = torch.randint(1, 255, (16, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, 2, False, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])
                   for dy in range(5) for dx in range(5))


def test_multiview_data_is_balanced_deterministic_and_named():
    from sdcore.engine.data import make_multiview

    a, b = make_multiview(4, n_train=300, n_test=100), make_multiview(4, n_train=300, n_test=100)
    assert a.name == "multiview:4" and a.train_x.shape == (300, 1, 16, 16)
    assert a.train_x.dtype == torch.uint8 and a.train_y.bincount().tolist() == [30] * 10
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, make_multiview(1, n_train=300, n_test=100).train_x)
    assert load_dataset("multiview:2", "unused").name == "multiview:2"
    with pytest.raises(ValueError, match="need views ≥ 1"):
        make_multiview(0)


def test_multiview_views_carry_the_class_signal():
    """Each view alone tells the class: a nearest-pattern rule on noise-free single-view images."""
    from sdcore.engine.data import make_multiview

    torch.manual_seed(0)
    data = make_multiview(3, n_train=2000, n_test=10, single_view=1.0)
    x = data.train_x.float().flatten(1)
    means = torch.stack([x[data.train_y == c].mean(0) for c in range(10)])
    predicted = torch.cdist(x, means).argmin(1)
    assert (predicted == data.train_y).float().mean() > 0.5  # chance is 0.1


def write_modes(root) -> dict[str, str]:
    """One image of each common mode, in several sizes, in two class folders: name -> mode."""
    rng = np.random.default_rng(0)
    files = {}
    for i, (mode, size, ext) in enumerate([("L", (5, 7), "png"), ("RGBA", (40, 30), "png"),
                                           ("P", (16, 16), "png"), ("I;16", (20, 20), "png"),
                                           ("CMYK", (33, 17), "jpg"), ("RGB", (300, 200), "jpg"),
                                           ("1", (9, 9), "png"), ("LA", (8, 8), "png")]):
        if mode == "I;16":
            image = Image.fromarray(np.full(size[::-1], 128 * 257, dtype=np.uint16))
        else:
            rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(rgb).convert(mode)
        folder = root / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{mode.replace(';', '')}.{ext}"
        image.save(folder / name)
        files[name] = Image.open(folder / name).mode
    return files


def test_imagefolder_loads_every_mode_and_size(tmp_path):
    modes = write_modes(tmp_path / "mixed")
    assert {"L", "RGBA", "P", "I;16", "CMYK", "RGB", "1", "LA"} <= set(modes.values())
    d = load_dataset(f"imagefolder:{tmp_path / 'mixed'}", tmp_path, image_size=12)
    assert d.train_x.shape[1:] == (3, 12, 12) and d.train_x.dtype == torch.uint8
    assert len(d.train_y) + len(d.test_y) == len(modes)
    sixteen = data.read_image(tmp_path / "mixed" / "class1" / "I16.png", 4)
    assert sixteen.shape == (4, 4) and (sixteen == 128).all()  # mid-gray in 16 bits and in 8


def test_imagefolder_of_gray_images_has_one_channel(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "gray" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (10 + i, 9), 40 * i).save(tmp_path / "gray" / c / f"{i}.png")
    d = load_dataset(f"imagefolder:{tmp_path / 'gray'}", tmp_path, image_size=8)
    assert d.train_x.shape[1:] == (1, 8, 8)


def test_unreadable_images_are_named_with_what_was_wrong(tmp_path):
    make_image_tree(tmp_path / "pets", per_class=4)
    good = tmp_path / "pets" / "cat" / "0.png"
    (tmp_path / "pets" / "cat" / "cut.png").write_bytes(good.read_bytes()[:60])
    (tmp_path / "pets" / "dog" / "notes.png").write_text("not an image")
    with pytest.raises(data.UnreadableImages) as err:
        load_dataset(f"imagefolder:{tmp_path / 'pets'}", tmp_path, image_size=8)
    message = str(err.value)
    assert "2 of 10 files could not be read" in message
    assert f"{tmp_path / 'pets' / 'cat' / 'cut.png'}: OSError" in message
    assert f"{tmp_path / 'pets' / 'dog' / 'notes.png'}: UnidentifiedImageError" in message
