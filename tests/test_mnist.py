"""The MNIST reader: IDX parsing, damage detection, the split, batching, and downloads."""
import contextlib
import functools
import gzip
import hashlib
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

from conftest import SMALL, run_in_process
import common
from common import mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def images():
    return np.random.RandomState(0).randint(0, 256, size=(7, 28, 28)).astype(np.uint8)


def test_reads_a_good_file(tmp_path, images):
    path = tmp_path / "good.gz"
    md5 = write_idx(path, images, mnist.IDX_IMAGES)
    np.testing.assert_array_equal(mnist.read_idx(path, mnist.IDX_IMAGES, md5), images)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    write_idx(tmp_path / "labels.gz", labels, mnist.IDX_LABELS)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "labels.gz", mnist.IDX_LABELS), labels)


def test_wrong_magic_is_reported_by_name(tmp_path, images):
    path = tmp_path / "labels-not-images.gz"
    write_idx(path, images[:, 0, 0], mnist.IDX_LABELS)
    with pytest.raises(common.UserError, match="labels-not-images.gz.*magic number 2049, expected 2051"):
        mnist.read_idx(path, mnist.IDX_IMAGES)


def test_short_data_is_reported_as_truncated(tmp_path, images):
    path = tmp_path / "short.gz"
    header = mnist.IDX_IMAGES.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes()[:-100])
    with pytest.raises(common.UserError, match="short.gz is truncated"):
        mnist.read_idx(path, mnist.IDX_IMAGES)


def test_cut_gzip_stream_is_reported_as_truncated(tmp_path, images):
    path = tmp_path / "cut.gz"
    write_idx(path, images, mnist.IDX_IMAGES)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(common.UserError, match="cut.gz is truncated or not a gzip file"):
        mnist.read_idx(path, mnist.IDX_IMAGES)


def test_bad_md5_is_reported_and_never_used(tmp_path, images):
    path = tmp_path / "tampered.gz"
    write_idx(path, images, mnist.IDX_IMAGES)
    with pytest.raises(common.UserError, match="tampered.gz is damaged"):
        mnist.read_idx(path, mnist.IDX_IMAGES, md5="0" * 32)


def test_real_files_give_the_original_split(mnist_dir):
    data = mnist.load(mnist_dir, seed=0)
    assert (data.train.num_examples, data.validation.num_examples, data.test.num_examples) == (55000, 5000, 10000)
    for split in (data.train, data.validation, data.test):
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert np.all(split.labels.sum(1) == 1)  # one-hot
    train_and_validation = data.train.labels.sum(0) + data.validation.labels.sum(0)
    assert train_and_validation.tolist() == TRAIN_COUNTS
    assert data.test.labels.sum(0).tolist() == TEST_COUNTS
    # the original's order: validation is the last 5,000 of the training file
    assert data.train.labels[:10].argmax(1).tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.test.labels[:10].argmax(1).tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_next_batch_covers_each_epoch_once_and_follows_the_seed():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    labels = np.eye(10, dtype=np.float32)
    a, b, other = (mnist.DataSet(images, labels, seed) for seed in (1, 1, 2))
    epoch = [a.next_batch(5)[0] for _ in range(2)]
    assert sorted(np.concatenate(epoch).ravel().tolist()) == list(range(10))
    assert np.array_equal(np.concatenate(epoch), np.concatenate([b.next_batch(5)[0] for _ in range(2)]))
    assert not np.array_equal(np.concatenate(epoch), np.concatenate([other.next_batch(5)[0] for _ in range(2)]))
    next_epoch = np.concatenate([a.next_batch(5)[0] for _ in range(2)])
    assert sorted(next_epoch.ravel().tolist()) == list(range(10))
    assert not np.array_equal(next_epoch, np.concatenate(epoch))  # reshuffled at the epoch start


def test_batching_state_round_trips():
    data = mnist.DataSet(np.arange(20, dtype=np.float32).reshape(20, 1), np.eye(20), 0)
    data.next_batch(6)
    state = data.get_state()
    expected = [data.next_batch(6)[0] for _ in range(5)]
    data.set_state(state)
    assert all(np.array_equal(e, data.next_batch(6)[0]) for e in expected)


@contextlib.contextmanager
def http_mirror(folder):
    """Serve `folder` over HTTP on a free loopback port; yields the base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_missing_files_are_downloaded_verified_and_used(tmp_path, mnist_dir):
    good, corrupt, target = tmp_path / "good", tmp_path / "corrupt", tmp_path / "Data"
    good.mkdir(), corrupt.mkdir()
    for name in mnist.FILES:
        shutil.copy(os.path.join(mnist_dir, name), good / name)
        (corrupt / name).write_bytes(b"not mnist")
    with http_mirror(corrupt) as bad_url, http_mirror(good) as good_url:
        # the first mirror serves damaged files: they must be rejected and the second one used
        data = mnist.load(str(target), seed=0, mirrors=[bad_url, good_url])
    assert data.test.num_examples == 10000
    assert sorted(os.listdir(target)) == sorted(mnist.FILES)  # no partial files left behind
    for name, md5 in mnist.FILES.items():
        assert mnist.md5_of(target / name) == md5


def test_offline_gives_one_message_naming_the_files(tmp_path):
    with pytest.raises(common.UserError) as error:
        mnist.load(str(tmp_path / "Data"), mirrors=["http://127.0.0.1:9/"])
    message = str(error.value)
    assert all(name in message for name in mnist.FILES)
    assert str(tmp_path / "Data") in message
    assert os.listdir(tmp_path / "Data") == []  # nothing half-written


def test_a_damaged_user_file_is_reported_not_overwritten(tmp_path, mnist_dir):
    for name in mnist.FILES:
        shutil.copy(os.path.join(mnist_dir, name), tmp_path / name)
    damaged = tmp_path / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    before = damaged.read_bytes()
    with pytest.raises(common.UserError, match="t10k-labels-idx1-ubyte.gz is damaged"):
        mnist.load(str(tmp_path))
    assert damaged.read_bytes() == before


def test_script_offline_exits_with_the_message_and_no_traceback(tmp_path):
    proc = run_in_process("autoencoder.py", "--train", "True", "--max_steps", "1", *SMALL,
                          results_dir=tmp_path / "Results", data_dir=tmp_path / "Data", check=False)
    assert proc.returncode != 0
    assert "train-images-idx3-ubyte.gz" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "Results" / "Autoencoder")  # no empty run folder
