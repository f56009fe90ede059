"""MNIST: the four IDX files, read (and downloaded if missing), split as the original did.

`load()` gives the classic 55,000 / 5,000 / 10,000 split of training, validation and test
images, each a `DataSet` with a `next_batch()` like TensorFlow 1's MNIST helper.
`split_labelled()` takes part 4's labelled images out of the training split.
"""
import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
import zlib

import numpy as np

from common import UserError, readable

FILES = {  # file name: md5 of the published .gz
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Public copies of the original files (Yann LeCun's own site now refuses downloads).
# MNIST_MIRRORS in the environment (space-separated base URLs) replaces this list.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: unsigned bytes, 3 and 1 dimensions
VALIDATION_SIZE = 5000


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path, magic, md5=None):
    """Read one gzipped IDX file into a uint8 array, refusing anything damaged."""
    try:
        if md5 is not None and md5_of(path) != md5:
            raise UserError(f"{path} is damaged (its md5 is not {md5}). Delete it to download "
                            f"it again, or replace it with a good copy.")
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise UserError(f"{path} is truncated or not a gzip file ({e}).") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}.") from None
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise UserError(f"{path} is not an IDX file of the expected kind "
                        f"(magic number {found}, expected {magic}).")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise UserError(f"{path} is truncated: its header promises shape {shape}, "
                        f"but it holds {len(raw) - header} bytes of data.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def ensure_files(data_dir, mirrors=None):
    """Download whichever of the four files data_dir lacks; a UserError says what to do if that fails."""
    missing = [n for n in FILES if not os.path.exists(os.path.join(data_dir, n))]
    if missing:
        download(missing, data_dir, mirrors)


def download(names, data_dir, mirrors=None):
    """Fetch the named files into data_dir, each verified before it takes its final name."""
    if mirrors is None:
        mirrors = os.environ.get("MNIST_MIRRORS", "").split() or MIRRORS
    failures = []
    for name in names:
        path = os.path.join(data_dir, name)
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                os.makedirs(data_dir, exist_ok=True)
                fd, partial = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=data_dir)
            except OSError as e:
                raise UserError(f"cannot download MNIST into {data_dir}: {e.strerror or e}.") from None
            readable(fd)
            try:
                print(f"Downloading {url}", file=sys.stderr)
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                if md5_of(partial) != FILES[name]:
                    raise ValueError("md5 mismatch")
                os.replace(partial, path)  # only a verified file ever gets the real name
                break
            except (OSError, ValueError) as e:
                failures.append(f"{url}: {e}")
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
        else:
            missing = [n for n in names if not os.path.exists(os.path.join(data_dir, n))]
            raise UserError(
                "MNIST is missing and could not be downloaded.\n"
                f"Put these files into {os.path.abspath(data_dir)}/ (or point --data_dir at them):\n  "
                + "\n  ".join(missing)
                + "\nDownload attempts:\n  " + "\n  ".join(failures))


class DataSet:
    """Images and one-hot labels, served in shuffled batches like TensorFlow 1's MNIST helper."""

    def __init__(self, images, labels, seed, name="images", batch_flag="batch_size"):
        # batch_flag: the flag that sets this set's batches, which must not be larger than it
        self.images, self.labels, self.name, self.batch_flag = images, labels, name, batch_flag
        self.num_examples = len(images)
        self.rng = np.random.RandomState(seed)
        self._order = self.rng.permutation(self.num_examples)
        self._next = 0

    def check_batch_size(self, batch_size):
        if batch_size > self.num_examples:
            raise UserError(f"--{self.batch_flag} {batch_size} is larger than the {self.num_examples} "
                            f"{self.name}: choose at most {self.num_examples}.")

    def next_batch(self, batch_size):
        # A new permutation at each epoch start; a remainder smaller than a batch is skipped.
        if self._next + batch_size > self.num_examples:
            self._order = self.rng.permutation(self.num_examples)
            self._next = 0
        idx = self._order[self._next:self._next + batch_size]
        self._next += batch_size
        return self.images[idx], self.labels[idx]

    def get_state(self):
        return {"order": self._order.tolist(), "next": self._next, "rng": rng_state(self.rng)}

    def set_state(self, state):
        self._order, self._next = np.array(state["order"]), state["next"]
        set_rng_state(self.rng, state["rng"])


class Datasets:
    def __init__(self, train, validation, test):
        self.train, self.validation, self.test = train, validation, test


def load(data_dir="Data", seed=0, mirrors=None):
    """The four MNIST files from data_dir (downloaded if missing) as train/validation/test."""
    ensure_files(data_dir, mirrors)
    arrays = {name: read_idx(os.path.join(data_dir, name),
                             IDX_IMAGES if "images" in name else IDX_LABELS, md5)
              for name, md5 in FILES.items()}

    def split(images, labels, lo, hi, seed, name):
        x = images[lo:hi].reshape(-1, 784).astype(np.float32) / 255.0
        return DataSet(x, np.eye(10, dtype=np.float32)[labels[lo:hi]], seed, name)

    train_x, train_y = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    test_x, test_y = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    n_train = len(train_x) - VALIDATION_SIZE
    return Datasets(train=split(train_x, train_y, 0, n_train, seed, "training images"),
                    validation=split(train_x, train_y, n_train, len(train_x), seed + 1,
                                     "validation images"),
                    test=split(test_x, test_y, 0, len(test_x), seed + 2, "test images"))


def split_labelled(dataset, n_labels, seed):
    """(labelled, unlabelled): n_labels images, the same number of each digit, chosen by seed.

    The labelled images are taken out of `dataset` (the training split), so the unlabelled set,
    validation and test never share an image with them.
    """
    digits = dataset.labels.argmax(1)
    per_class = n_labels // 10
    smallest = np.bincount(digits, minlength=10).min()
    if n_labels % 10 or not 0 < per_class <= smallest:
        raise UserError(f"--n_labels must be a positive multiple of 10 and at most "
                        f"{10 * smallest} (the training split has {smallest} of its rarest digit); "
                        f"got {n_labels}.")
    rng = np.random.RandomState(seed)
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(digits == d), per_class, replace=False)
                                     for d in range(10)]))
    rest = np.setdiff1d(np.arange(dataset.num_examples), chosen)
    return (DataSet(dataset.images[chosen], dataset.labels[chosen], seed + 3,
                    "labelled training images", batch_flag="labelled_batch_size"),
            DataSet(dataset.images[rest], dataset.labels[rest], seed + 4,
                    "unlabelled training images"))


def rng_state(rng):
    """A RandomState's state as JSON-friendly numbers, for a checkpoint."""
    kind, keys, pos, has_gauss, cached = rng.get_state()
    return {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def set_rng_state(rng, state):
    rng.set_state(("MT19937", np.array(state["keys"], dtype=np.uint32), state["pos"],
                   state["has_gauss"], state["cached"]))
