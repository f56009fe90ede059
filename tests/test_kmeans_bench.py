"""bench/kmeans.py, the pixel k-means yardstick for part 4's clustering: it finds clusters that
are there, names them the way part 4 does, and reports each seed and the median."""
import os
import sys

import numpy as np
import pytest

from conftest import ROOT
from common import mnist

sys.path.insert(0, os.path.join(ROOT, "bench"))
import kmeans  # bench/ is not a package: found through the path above


def blobs(rng, centres, n):
    """n points around each centre (std 0.1), with the centre's index as the label."""
    labels = np.repeat(np.arange(len(centres)), n)
    return centres[labels] + rng.normal(0.0, 0.1, (len(labels), centres.shape[1])), labels


def test_kmeans_finds_well_separated_clusters():
    rng = np.random.RandomState(0)
    points, labels = blobs(rng, np.eye(4, 6) * 5.0, 50)
    centres, assignments, iterations = kmeans.kmeans(points, 4, seed=0)
    # Each found cluster holds the points of one blob, whichever number it got.
    assert sorted(len(set(assignments[labels == b])) for b in range(4)) == [1, 1, 1, 1]
    assert len(set(assignments)) == 4
    assert np.allclose(np.sort(centres, axis=0), np.sort(np.eye(4, 6) * 5.0, axis=0), atol=0.1)
    assert iterations < kmeans.MAX_ITERATIONS


def test_each_cluster_is_named_after_its_surest_validation_image():
    # The 7 lies nearest the first centre, but towards the second; the 3, twice as far out on
    # the other side, is surer of the first cluster (log-odds 16 against 4), so it names it.
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    validation = np.array([[1.0, 0.0], [-2.0, 0.0], [4.5, 0.0]])
    digits = np.array([7, 3, 5])
    logits = kmeans.mixture_logits(validation, centres, variance=1.0)
    assert kmeans.name_clusters(logits, digits).tolist() == [3, 5]
    assert kmeans.majority_names(np.array([0, 0, 1]), digits, 3).tolist() == [3, 5, 0]


def split(images, labels):
    return mnist.DataSet(images.astype(np.float32), np.eye(10, dtype=np.float32)[labels], seed=0)


def test_score_counts_the_test_images_by_their_clusters_name():
    rng = np.random.RandomState(1)
    centres = np.eye(10, 20) * 5.0
    (train, train_labels), (validation, validation_labels), (test, test_labels) = (
        blobs(rng, centres, n) for n in (30, 5, 10))
    test_labels = test_labels.copy()
    test_labels[:4] = 9  # four test images labelled otherwise than their cluster's digit
    data = mnist.Datasets(split(train, train_labels), split(validation, validation_labels),
                          split(test, test_labels))
    figures = kmeans.score(data, 10, seed=0)
    assert figures["test_error"] == figures["test_error_majority"] == pytest.approx(0.04)
    assert figures["sizes"].tolist() == [10] * 10


def test_the_command_prints_each_seed_and_the_median(monkeypatch, capsys, data):
    # The first 3,000 training images stand in for the 55,000 to keep the test short.
    small = mnist.Datasets(mnist.DataSet(data.train.images[:3000], data.train.labels[:3000], 0),
                           data.validation, data.test)
    monkeypatch.setattr(kmeans.mnist, "load", lambda data_dir, seed: small)
    kmeans.main(["--k", "10", "--seeds", "0", "1"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("10 clusters, seed")]
    assert len(rows) == 2
    errors = [float(row.split("test error ")[1].split(" %")[0]) for row in rows]
    assert all(5.0 < e < 70.0 for e in errors), errors  # far below chance (90 %), above zero
    median = float(lines[-1].split("median test error ")[1].split(" %")[0])
    assert lines[-1].startswith("10 clusters: median")
    assert median == pytest.approx(sum(errors) / 2, abs=0.06)


def test_fewer_than_two_clusters_is_refused(capsys):
    with pytest.raises(SystemExit):
        kmeans.main(["--k", "1"])
    assert "--k must be at least 2, got 1" in capsys.readouterr().err
