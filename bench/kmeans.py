"""A yardstick for part 4's clustering: k-means on the raw pixels, scored the same way.

`semi_supervised_aae_clustering.py --n_clusters K` is scored as the paper scores it: each
cluster is named after the validation image most likely to belong to it, and the test images
take the name of their cluster. This script does the same with plain k-means on the 55,000
training images' pixels, which learns no features at all, so that the adversarial autoencoder's
test error can be read beside what clustering the pixels alone gives.

    python bench/kmeans.py                        # 16 and 30 clusters, seeds 0, 1, 2
    python bench/kmeans.py --k 16 --seeds 3 4 5   # others

k-means starts from k-means++ (each new centre drawn with probability proportional to its
squared distance from the nearest centre so far) and runs Lloyd's iterations until no image
changes cluster. To ask which validation image is "most likely" in a cluster, k-means is read
as a mixture of equal spherical Gaussians at its centres, with the variance of the training
images around their centres; part 4's own `name_clusters` then ranks the images by the same
log-odds it uses for the encoder's logits. The majority digit of each cluster's validation
images is printed beside it.
"""
import argparse
import os
import statistics
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from common import mnist  # noqa: E402  (after the path above)
from semi_supervised_aae_clustering import name_clusters  # noqa: E402

MAX_ITERATIONS = 1000  # Lloyd's iterations; on MNIST they settled in 86 to 133


def squared_distances(points, centres):
    """[point, centre] squared Euclidean distances, through one matrix product."""
    return np.maximum((points ** 2).sum(1)[:, None] - 2.0 * points @ centres.T
                      + (centres ** 2).sum(1)[None, :], 0.0)


def kmeans(points, k, seed):
    """(centres, assignments, iterations): k-means++ start, then Lloyd's iterations until no
    point changes cluster. A cluster that loses all its points keeps its centre."""
    rng = np.random.RandomState(seed)
    centres = points[rng.randint(len(points))][None]
    nearest = squared_distances(points, centres)[:, 0]
    for _ in range(k - 1):
        centres = np.vstack([centres, points[rng.choice(len(points), p=nearest / nearest.sum())]])
        nearest = np.minimum(nearest, squared_distances(points, centres[-1:])[:, 0])
    assignments = None
    for iteration in range(1, MAX_ITERATIONS + 1):
        new = squared_distances(points, centres).argmin(1)
        if assignments is not None and np.array_equal(new, assignments):
            break
        assignments = new
        for j in range(k):
            if (assignments == j).any():
                centres[j] = points[assignments == j].mean(0)
    return centres, assignments, iteration


def mixture_logits(points, centres, variance):
    """log p(cluster | point), up to a constant per point, for equal spherical Gaussians."""
    return -squared_distances(points, centres) / (2.0 * variance)


def majority_names(assignments, digits, k):
    """For each cluster, the commonest digit among its points (0 for an empty cluster)."""
    return np.array([np.bincount(digits[assignments == j], minlength=10).argmax() for j in range(k)])


def score(data, k, seed):
    """k-means on the training pixels, scored on the test images: a dict of figures."""
    train = data.train.images.astype(np.float64)
    centres, assignments, iterations = kmeans(train, k, seed)
    variance = squared_distances(train, centres).min(1).mean() / train.shape[1]
    validation, test = data.validation.images, data.test.images
    validation_digits, test_digits = data.validation.labels.argmax(1), data.test.labels.argmax(1)
    logits = mixture_logits(validation, centres, variance)  # argmax: the nearest centre
    named = name_clusters(logits, validation_digits)
    majority = majority_names(logits.argmax(1), validation_digits, k)
    test_clusters = squared_distances(test, centres).argmin(1)
    return {"iterations": iterations,
            "test_error": float(np.mean(named[test_clusters] != test_digits)),
            "test_error_majority": float(np.mean(majority[test_clusters] != test_digits)),
            "sizes": np.bincount(test_clusters, minlength=k)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[16, 30], help="numbers of clusters")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "Data"))
    args = parser.parse_args(argv)
    if min(args.k) < 2:
        parser.error(f"--k must be at least 2, got {min(args.k)}")
    data = mnist.load(args.data_dir, 0)
    print("k-means on the pixels of the 55,000 training images; test error of the 10,000 test "
          "images, clusters named as part 4 names them (majority naming beside it).")
    for k in args.k:
        errors = []
        for seed in args.seeds:
            figures = score(data, k, seed)
            errors.append(figures["test_error"])
            print(f"{k} clusters, seed {seed}: test error {100 * figures['test_error']:.1f} % "
                  f"(majority naming {100 * figures['test_error_majority']:.1f} %), "
                  f"{figures['iterations']} iterations, test images per cluster "
                  f"{figures['sizes'].min()}-{figures['sizes'].max()}", flush=True)
        print(f"{k} clusters: median test error {100 * statistics.median(errors):.1f} %")


if __name__ == "__main__":
    main()
