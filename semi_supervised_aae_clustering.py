"""Part 4's networks cluster MNIST with no label at all (the paper's unsupervised clustering).

The semi-supervised lesson (semi_supervised_aae.py) without its supervised phase: the categorical
code y gets K clusters instead of 10 digits, and the same four phases (reconstruction, the two
discriminators, the generator) train on all 55,000 training images. Nothing tells a cluster which
digit it is; the adversaries only ask that y be one-hot and that every cluster be used equally,
and reconstruction asks that y carry what z cannot. The clusters are scored as the paper scores
them: each is named after the validation image most likely to belong to it, and a test image is
right when its cluster's name is its digit.

Judged one code at a time, a y passes by being one-hot, whichever cluster it picks, and the codes
crowd into a few clusters; so the categorical discriminator sees each y beside its batch's mean y
(--cluster_balance), and crowding shows before the codes are sure.

    python semi_supervised_aae_clustering.py --train True --n_clusters 16 --epochs 20 --adversarial_drops
    python semi_supervised_aae_clustering.py --train False   # a row per cluster, cluster x digit counts

`--adversarial_drops` with no fraction keeps the adversaries at their full rate: strong beside
reconstruction, they push the digit out of z and into the clusters (docs/part4.md).
"""
import os

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
import semi_supervised_aae as lesson
from common import figures, flags, judge, mnist, precision, runs

MODEL = "Semi_Supervised_Clustering"
N_CLUSTERS = 16  # the paper's smaller number of clusters
CLUSTER_BALANCE = True  # without it the codes collapse onto 3 or 4 clusters
BATCH_NORM = False  # gained nothing here beyond the spread between seeds (docs/part4.md)
PHASES = lesson.PHASES[:-1]  # every phase but the supervised one: there are no labels
QUALITY_STYLES = 1000  # prior styles the digit judge scores at the end (each in every cluster)
JUDGED = f"{QUALITY_STYLES} prior styles x every cluster"


def beside_batch_mean(y):
    """Each row of y followed by the mean of all the rows: what share of its batch each cluster
    got. A batch of the prior spreads over every cluster; a batch of codes that uses a few of
    them gives itself away, whatever each code alone looks like."""
    mean = tf.reduce_mean(y, 0, keepdims=True)
    return tf.concat([y, tf.tile(mean, [tf.shape(y)[0], 1])], 1)


def build_graph(args):
    """The lesson's graph with K clusters and no supervised phase."""
    return lesson.build_graph(args, PHASES, args.n_clusters,
                              beside_batch_mean if args.cluster_balance else None)


def name_clusters(logits, digits):
    """For each cluster (a column of logits), the digit of the image most likely in it.

    The softmax cannot rank them: a sure encoder gives hundreds of validation images a
    probability of exactly 1.0 in float32 for their cluster, and argmax would name the cluster
    after the first of them. log q(j|x) = -log(1 + sum over i != j of exp(l_i - l_j)) ranks them
    without rounding: the most likely image is the one whose other clusters' logits, measured
    from l_j, have the smallest logsumexp."""
    logits = np.asarray(logits, np.float64)
    k = logits.shape[1]
    others = logits[:, None, :] - logits[:, :, None]  # [image, j, i] = l_i - l_j
    others[:, np.arange(k), np.arange(k)] = -np.inf
    return digits[np.logaddexp.reduce(others, axis=2).argmin(0)]


def cluster_names(sess, g, data):
    """The digit each cluster stands for, named from the validation images (see name_clusters)."""
    logits = sess.run(g.logits, feed_dict={g.x: data.validation.images})
    return name_clusters(logits, data.validation.labels.argmax(1))


def accuracy(sess, g, dataset, names):
    """The share of dataset's images whose cluster is named after their digit."""
    predicted = names[sess.run(g.prediction, feed_dict={g.x: dataset.images})]
    return float(np.mean(predicted == dataset.labels.argmax(1)))


def quality(sess, g, args, digit_judge, n_styles):
    """How often the judge finds a clear digit in n_styles prior styles decoded in every cluster:
    a cluster has no digit to ask for."""
    return digit_judge.score(lesson.style_grid(sess, g, args, n_styles))


def train(args):
    resumed = runs.to_resume(args, MODEL)
    check_flags(args)
    data = mnist.load(args.data_dir, args.seed)
    unlabelled = mnist.DataSet(data.train.images, data.train.labels, args.seed + 4,
                               "unlabelled training images")
    run = runs.start(args, MODEL, resumed, unlabelled)
    digit_judge = judge.load(args.data_dir)
    g = build_graph(args)
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        def evaluate():
            return (accuracy(sess, g, data.validation, cluster_names(sess, g, data)),
                    quality(sess, g, args, digit_judge, lesson.QUALITY_STYLES_PER_EPOCH))
        step, losses, train_seconds = lesson.train_loop(sess, g, run, args, data, unlabelled,
                                                        None, evaluate)
        judged = quality(sess, g, args, digit_judge, QUALITY_STYLES)
        names = cluster_names(sess, g, data)
        predicted = sess.run(g.prediction, feed_dict={g.x: data.test.images})
        metrics = {"n_labels": 0,
                   "validation_accuracy": accuracy(sess, g, data.validation, names),
                   "test_accuracy": accuracy(sess, g, data.test, names),
                   **{f"train_loss_{k}": float(v) for k, v in losses.items()},
                   **judged, "quality_styles": QUALITY_STYLES, "train_seconds": train_seconds,
                   "n_clusters": args.n_clusters, "cluster_digits": names.tolist(),
                   "cluster_sizes": np.bincount(predicted, minlength=args.n_clusters).tolist()}
        run.write_metrics(metrics, args, step, unlabelled.num_examples // args.batch_size)
        run.log(f"Done: validation accuracy {metrics['validation_accuracy']:.4f}, test accuracy "
                f"{metrics['test_accuracy']:.4f}.\n{judge.describe(judged, JUDGED)}\n"
                f"Draw the figures with: python {os.path.basename(__file__)} --train False")


def draw(args):
    """Restore a run and save its figures: a row of generated digits per cluster, the test images
    of each cluster by their true digit, and the validation accuracy of each epoch."""
    run = runs.Run.find(args, MODEL, args.run)
    run.adopt_args(args)
    check_flags(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args)
    plt = figures.pyplot()
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        predicted = sess.run(g.prediction, feed_dict={g.x: data.test.images})
        names = cluster_names(sess, g, data)
        grid = lesson.style_grid(sess, g, args)
        judged = quality(sess, g, args, judge.load(args.data_dir), QUALITY_STYLES)
        print(judge.describe(judged, JUDGED))

    digits = data.test.labels.argmax(1)
    test_accuracy = float(np.mean(names[predicted] == digits))
    print(f"Test accuracy: {test_accuracy:.4f} ({np.sum(names[predicted] != digits)} of "
          f"{len(digits)} test images misclassified)")
    draw_clusters(plt, run, args, step, grid, digits, predicted, names, test_accuracy)
    lesson.draw_accuracy_curve(plt, run, data.train.num_examples // args.batch_size, step,
                               test_accuracy, f"{args.n_clusters} clusters, no labels")
    figures.show_all()


def draw_clusters(plt, run, args, step, grid, digits, predicted, names, test_accuracy):
    """cluster_grid.png (a row per cluster, the same ten styles in every row) and
    cluster_confusion.png (the test images of each cluster, by their true digit)."""
    k, n = args.n_clusters, lesson.N_CLASSES
    rows = grid.reshape(n, k, -1).transpose(1, 0, 2)  # cluster-major: a row per cluster
    fig, ax = plt.subplots(figsize=(7, 0.7 * k + 1))
    ax.imshow(figures.tile(rows, k, n), cmap="gray", extent=(-0.5, n - 0.5, k - 0.5, -0.5))
    ax.set(title=f"{k} clusters: a row each; a style z per column", xlabel="style sample",
           ylabel="cluster (digit it was named after)", xticks=range(n), yticks=range(k),
           yticklabels=[f"{c} ({d})" for c, d in enumerate(names)])
    figures.save(fig, os.path.join(run.path, "cluster_grid.png"))

    confusion = np.zeros((k, n), dtype=int)
    np.add.at(confusion, (predicted, digits), 1)
    fig, ax = plt.subplots(figsize=(8, 0.45 * k + 2))
    figures.counts(ax, confusion, fontsize=7, aspect="auto")
    ax.set(title=f"Test images per cluster and true digit: error {100 * (1 - test_accuracy):.2f}% "
                 f"(step {step})", xlabel="true digit", ylabel="cluster (digit it was named after)",
           xticks=range(n), yticks=range(k), yticklabels=[f"{c} ({d})" for c, d in enumerate(names)])
    figures.save(fig, os.path.join(run.path, "cluster_confusion.png"))


def check_flags(args):
    if args.n_clusters < 2:
        raise common.UserError(f"--n_clusters must be at least 2, got {args.n_clusters}.")


def arg_parser():
    parser = flags.arg_parser(__doc__, z_dim=lesson.Z_DIM, epochs=lesson.EPOCHS)
    parser.add_argument("--n_clusters", type=flags.positive(int), default=N_CLUSTERS,
                        help="size of the categorical code y: how many clusters")
    parser.add_argument("--cluster_balance", type=flags.boolean, nargs="?", const=True,
                        default=CLUSTER_BALANCE,
                        help="the categorical discriminator sees each y beside the mean y of its "
                             "batch, so that codes crowded into a few clusters are caught")
    lesson.add_model_flags(parser, BATCH_NORM)
    return parser


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
