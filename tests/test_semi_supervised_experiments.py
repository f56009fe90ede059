"""The paper's experiments beyond part 4's lesson, built from its networks: clustering without
labels (semi_supervised_aae_clustering.py) and the labelled-only baseline
(semi_supervised_aae_labels_only.py)."""
import os

import numpy as np
import pytest

from common import flags, mnist
from conftest import SMALL, png_size, read_log, read_metrics, run_folders, run_in_process, train_run

CLUSTERING = "semi_supervised_aae_clustering.py"
LABELS_ONLY = "semi_supervised_aae_labels_only.py"


def build_clustering(*argv):
    import semi_supervised_aae_clustering as clustering
    args = flags.parse(clustering.arg_parser(), list(argv))
    clustering.check_flags(args)
    return clustering, args, clustering.build_graph(args)


def build_labels_only(*argv):
    import semi_supervised_aae as ssa
    import semi_supervised_aae_labels_only as labels_only
    args = flags.parse(ssa.arg_parser(labels_only.__doc__), list(argv))
    ssa.check_flags(args)
    return ssa, args, ssa.build_graph(args, labels_only.PHASES)


def shapes():
    import tensorflow.compat.v1 as tf
    return {v.name: v.shape.as_list() for v in tf.trainable_variables()}


# -- clustering -------------------------------------------------------------------------------------

def test_clustering_has_no_supervised_phase_and_k_clusters():
    _, args, g = build_clustering("--n_clusters", "16")
    assert [name for phase in g.phases for name in phase] == [
        "reconstruction", "discriminator_gauss", "discriminator_cat", "generator"]
    assert set(g.train_ops) == set(g.losses) == {"reconstruction", "discriminator_gauss",
                                                 "discriminator_cat", "generator"}
    assert shapes()["Encoder/e_label/weights:0"] == [1000, 16]
    assert shapes()["Decoder/d_dense_1/weights:0"] == [16 + 10, 1000]
    # each label is judged beside its batch's mean label (--cluster_balance, on by default)
    assert args.cluster_balance is True
    assert shapes()["Discriminator_cat/dc_c_dense_1/weights:0"] == [16 + 16, 1000]


@pytest.mark.parametrize("argv, balance, width", [
    ([], True, 32), (["--cluster_balance"], True, 32), (["--cluster_balance", "True"], True, 32),
    (["--cluster_balance", "False"], False, 16)])
def test_cluster_balance_doubles_what_the_categorical_discriminator_reads(argv, balance, width):
    _, args, _ = build_clustering("--n_clusters", "16", *argv)
    assert args.cluster_balance is balance
    assert shapes()["Discriminator_cat/dc_c_dense_1/weights:0"] == [width, 1000]


def test_clustering_has_no_batch_norm_unless_asked_for():
    import tensorflow.compat.v1 as tf
    _, args, _ = build_clustering()
    assert args.batch_norm is False
    assert not [v for v in tf.global_variables() if "norm" in v.name]
    _, args, _ = build_clustering("--batch_norm")
    assert args.batch_norm is True
    assert [v for v in tf.global_variables() if "norm" in v.name]


def test_a_label_beside_its_batch_mean_shows_how_the_batch_spreads():
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae_clustering as clustering
    tf.reset_default_graph()
    crowded = np.eye(4, dtype=np.float32)[[0, 0, 0, 1]]
    spread = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    y = tf.placeholder(tf.float32, [None, 4])
    with tf.Session() as sess:
        out = {name: sess.run(clustering.beside_batch_mean(y), {y: batch})
               for name, batch in (("crowded", crowded), ("spread", spread))}
    np.testing.assert_array_equal(out["crowded"][:, :4], crowded)  # each label, unchanged
    np.testing.assert_allclose(out["crowded"][:, 4:], [[0.75, 0.25, 0, 0]] * 4)
    np.testing.assert_allclose(out["spread"][:, 4:], [[0.25] * 4] * 4)
    # the first row of each batch is the same one-hot: only its batch's mean tells them apart
    assert (out["crowded"][0, :4] == out["spread"][0, :4]).all()


def test_each_cluster_is_named_after_the_image_most_likely_in_it():
    import semi_supervised_aae_clustering as clustering
    probabilities = np.array([[0.9, 0.1, 1e-9],   # image 0, a 7: most likely of all in cluster 0
                              [0.6, 0.4, 1e-9],   # image 1, a 3
                              [0.1, 0.3, 0.6],    # image 2, a 1
                              [1e-9, 0.8, 0.2],   # image 3, a 3: the surest of cluster 1
                              [0.2, 0.1, 0.7]])   # image 4, a 4: the surest of cluster 2
    digits = np.array([7, 3, 1, 3, 4])
    assert clustering.name_clusters(np.log(probabilities), digits).tolist() == [7, 3, 4]


def test_cluster_names_are_not_decided_by_float32_rounding():
    import semi_supervised_aae_clustering as clustering
    # Both images are in cluster 0 with probability 1.0 in float32, but the second, a 9, more so.
    logits = np.array([[40, 0, 0], [60, 0, 0], [0, 30, 0], [0, 0, 5]], np.float32)
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert softmax[0, 0] == softmax[1, 0] == 1.0
    digits = np.array([4, 9, 1, 2])
    assert clustering.name_clusters(logits, digits).tolist() == [9, 1, 2]


def test_too_few_clusters_get_one_clear_error(tmp_path):
    proc = run_in_process(CLUSTERING, "--train", "True", "--n_clusters", "1", results_dir=tmp_path,
                          check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--n_clusters must be at least 2, got 1." in proc.stderr


def test_a_short_clustering_run_names_its_clusters_and_draws_them(tmp_path_factory, mnist_dir):
    results, run, proc = train_run(tmp_path_factory, CLUSTERING, "Semi_Supervised_Clustering",
                                   "--max_steps", "30", "--n_clusters", "16", "--seed", "3", *SMALL,
                                   in_process=True)
    assert "0 labelled and 55000 unlabelled training images" in read_log(run)
    metrics = read_metrics(run)
    assert metrics["n_clusters"] == 16 and len(metrics["cluster_digits"]) == 16
    assert sum(metrics["cluster_sizes"]) == 10000 and 0 <= metrics["test_accuracy"] <= 1
    assert "label_following" not in metrics and 0 <= metrics["digit_likeness"] <= 1
    assert "train_loss_supervised" not in metrics
    drawn = run_in_process(CLUSTERING, "--train", "False", results_dir=results)
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}" in drawn.stdout
    width, height = png_size(os.path.join(run, "cluster_grid.png"))
    assert height > width  # 16 rows of ten styles
    png_size(os.path.join(run, "cluster_confusion.png"))
    png_size(os.path.join(run, "accuracy_curve.png"))
    # the lesson never loads it: its runs have a folder of their own
    lesson = run_in_process("semi_supervised_aae.py", "--train", "False", results_dir=results,
                            check=False)
    assert lesson.returncode == 1 and "no runs in" in lesson.stderr


# -- the labelled-only baseline ---------------------------------------------------------------------

def test_the_labelled_only_baseline_trains_the_supervised_phase_alone():
    _, _, g = build_labels_only()
    assert g.phases == (("supervised",),) and set(g.train_ops) == set(g.losses) == {"supervised"}


def test_the_baseline_moves_the_running_averages_with_the_labelled_batches(data):
    import tensorflow.compat.v1 as tf
    ssa, args, g = build_labels_only("--seed", "0")
    assert args.batch_norm is True
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feed = ssa.next_feed(g, unlabelled, labelled, args, 0)
    running = tf.global_variables(scope="Encoder/e_norm_1/running_mean")

    def moved_by(feed):  # one step from a fresh session: the same initial weights each time
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(g.train_ops["supervised"], feed)
            return sess.run(running)[0]
    moved = moved_by(feed)
    # towards the statistics of the labelled batch: blank unlabelled images move them the same
    np.testing.assert_array_equal(moved_by({**feed, g.x: 0 * feed[g.x]}), moved)
    assert (moved != 0).mean() > 0.9


def test_a_short_labels_only_run_writes_its_own_folder_and_draws(tmp_path_factory, mnist_dir):
    results, run, _ = train_run(tmp_path_factory, LABELS_ONLY, "Semi_Supervised_Labels_Only",
                                "--max_steps", "20", "--n_labels", "200", *SMALL, in_process=True)
    metrics = read_metrics(run)
    assert [k for k in metrics if k.startswith("train_loss_")] == ["train_loss_supervised"]
    # 20 iterations on 200 labels measured 65% and 64% with seeds 0 and 1; chance is 10%
    assert metrics["n_labels"] == 200 and metrics["test_accuracy"] > 0.35, metrics
    drawn = run_in_process(LABELS_ONLY, "--train", "False", results_dir=results)
    assert f"Loaded {run} (step 20)" in drawn.stdout
    png_size(os.path.join(run, "confusion_matrix.png"))
    assert run_folders(results, "Semi_Supervised") == []  # the lesson's folder stays empty
