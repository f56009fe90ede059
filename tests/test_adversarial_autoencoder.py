"""Part 2 end to end: a short real run, what it wrote, its figures, and which weights each phase moves."""
import json
import math
import os

import numpy as np
import pytest

import adversarial_autoencoder as aae
from common import flags, mnist
import tensorflow.compat.v1 as tf
from conftest import (RUN_FILES, differing_pairs, event_tags, png_size, read_log, read_metrics,
                      SMALL, read_png, run_in_process, train_run)

MODEL = "Adversarial_Autoencoder"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """60 iterations of batch 100: summaries at steps 0 and 50, one checkpoint at the end."""
    return train_run(tmp_path_factory, "adversarial_autoencoder.py", MODEL,
                     "--max_steps", "60", "--seed", "1", *SMALL)


def test_run_folder_layout(trained):
    results, run, proc = trained
    assert os.path.basename(run).endswith("_2_0.001_100_1000_0.9_Adversarial_Autoencoder")
    assert run in proc.stdout
    for sub in RUN_FILES:
        assert os.path.exists(os.path.join(run, sub)), sub
    saved = os.listdir(os.path.join(run, "Saved_models"))
    assert "adversarial_autoencoder-60.index" in saved
    # the prior's random state is saved with the weights, so a resumed run draws the same samples
    state = json.load(open(os.path.join(run, "Saved_models", "adversarial_autoencoder-60.state.json")))
    assert set(state) == {"train", "prior"}
    log = read_log(run)
    assert "step 50: reconstruction loss" in log
    assert "discriminator loss" in log and "generator loss" in log


def test_metrics_report_losses_and_how_close_the_codes_are_to_the_prior(trained):
    _, run, _ = trained
    metrics = read_metrics(run)
    assert metrics["steps"] == 60
    for key in ("train_reconstruction_loss", "train_discriminator_loss", "train_generator_loss"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0, key
    # an untrained sigmoid decoder outputs ~0.5 everywhere (MSE ~0.23): 60 steps already do better
    assert metrics["test_reconstruction_mse"] < 0.15
    assert len(metrics["test_code_mean"]) == len(metrics["test_code_std"]) == 2
    assert all(s > 0 for s in metrics["test_code_std"])
    assert metrics["prior_std"] == 5.0
    # the digit judge's verdict on 10,000 decoded prior samples
    assert metrics["quality_samples"] == 10000 and 0 <= metrics["digit_likeness"] <= 1


def test_tensorboard_events_hold_the_summaries(trained):
    _, run, _ = trained
    tags, acc = event_tags(run)
    for loss in ("reconstruction", "discriminator", "generator"):
        assert tags[f"Loss/{loss}"] == "scalars"
        assert [e.step for e in acc.Scalars(f"Loss/{loss}")] == [0, 50]
    assert tags["Distributions/encoder_z"] == "histograms"
    assert tags["Distributions/prior_z"] == "histograms"
    assert any(t.startswith("Images/input") and k == "images" for t, k in tags.items())
    assert any(t.startswith("Images/reconstruction") and k == "images" for t, k in tags.items())
    assert len(acc.Images(next(t for t in tags if t.startswith("Images/input")))) == 2
    # the prior fed to the discriminator really is N(0, 5^2): 200 numbers per summary
    for event in acc.Histograms("Distributions/prior_z"):
        h = event.histogram_value
        assert h.num == 200
        std = math.sqrt(h.sum_squares / h.num - (h.sum / h.num) ** 2)
        assert 4.0 < std < 6.0 and abs(h.sum / h.num) < 1.5, (event.step, std)
    assert acc.Graph() is not None


def test_train_false_draws_the_figures(trained):
    results, run, _ = trained
    proc = run_in_process("adversarial_autoencoder.py", "--train", "False", results_dir=results)
    assert f"Loaded {run} (step 60)" in proc.stdout
    for name in ("latent_grid.png", "latent_scatter.png", "reconstructions.png"):
        width, height = png_size(os.path.join(run, name))
        assert width >= 500 and height >= 150, (name, width, height)
    width, height = png_size(os.path.join(run, "latent_grid.png"))
    assert 0.8 < width / height < 1.25  # the square 14x14 grid
    # not blank, and different digits at different codes: this run measured a brightness std of
    # 0.18 and 57% of pairs of cells apart (60 iterations leave the codes in a clump too small
    # to count its colours, and the reconstructions alike: those show only that they are drawn)
    grid = read_png(os.path.join(run, "latent_grid.png"), cells=(14, 14))
    assert grid.std() > 0.1 and differing_pairs(grid) > 0.3
    images, rebuilt = read_png(os.path.join(run, "reconstructions.png"), cells=(2, 10))
    assert images.std() > 0.2 and rebuilt.std() > 0.1  # measured 0.28 and 0.16


def test_each_phase_moves_only_its_own_networks(mnist_dir):
    args = flags.parse(aae.arg_parser(),
                             ["--batch_size", "32", "--seed", "3"])
    g = aae.build_graph(args)
    data = mnist.load(mnist_dir, args.seed)
    trainable = tf.trainable_variables()

    def names(scope):
        return {v.name for v in trainable if v.name.startswith(scope + "/")}

    encoder, decoder, discriminator = names("Encoder"), names("Decoder"), names("Discriminator")
    assert len(encoder) == len(decoder) == len(discriminator) == 6  # 3 layers x (weights, bias)
    assert encoder | decoder | discriminator == {v.name for v in trainable}
    assert {v.name for v in g.encoder_vars} == encoder
    assert {v.name for v in g.decoder_vars} == decoder
    assert {v.name for v in g.discriminator_vars} == discriminator

    class Recorder:
        """A session that notes which training op each sess.run call carries."""

        def __init__(self, sess):
            self.sess, self.ops = sess, []

        def run(self, fetches, feed_dict):
            self.ops.append(fetches[0])
            return self.sess.run(fetches, feed_dict=feed_dict)

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = aae.next_feed(g, data, args, np.random.RandomState(args.seed))

        def changed_by(op):
            before = sess.run(trainable)
            sess.run(op, feed_dict=feed)
            after = sess.run(trainable)
            return {v.name for v, b, a in zip(trainable, before, after) if not np.array_equal(b, a)}

        assert changed_by(g.discriminator_op) == discriminator
        assert changed_by(g.generator_op) == encoder
        assert changed_by(g.reconstruction_op) == encoder | decoder

        recorder = Recorder(sess)
        losses = aae.train_step(recorder, g, feed)
        assert recorder.ops == [g.reconstruction_op, g.discriminator_op, g.generator_op]
        assert set(losses) == {"reconstruction", "discriminator", "generator"}
        assert all(np.isfinite(v) for v in losses.values())


def test_each_iteration_feeds_a_batch_and_prior_samples_from_the_prior_rng_alone(mnist_dir):
    """The lesson's feed: the images and as many prior samples, drawn from the RandomState that
    a checkpoint saves, and no other random number spent on it (a resume draws the same)."""
    data = mnist.load(mnist_dir, 0)
    args = flags.parse(aae.arg_parser(), ["--seed", "0"])
    g = aae.build_graph(args)
    spent, expected = np.random.RandomState(7), np.random.RandomState(7)
    feed = aae.next_feed(g, data, args, spent)
    assert set(feed) == {g.x, g.prior_z}
    np.testing.assert_array_equal(feed[g.x], mnist.load(mnist_dir, 0).train.next_batch(100)[0])
    np.testing.assert_array_equal(feed[g.prior_z], aae.sample_prior(expected, 100, args))
    assert feed[g.prior_z].shape == (100, 2) and feed[g.prior_z].dtype == np.float32
    assert spent.randint(2 ** 31) == expected.randint(2 ** 31)


def test_the_lesson_has_only_the_gaussian_prior(tmp_path):
    """The other priors and the labels live in adversarial_autoencoder_priors.py."""
    for argv in (["--prior", "mixture"], ["--use_labels"], ["--input_noise", "0.3"]):
        proc = run_in_process("adversarial_autoencoder.py", "--train", "True", *argv,
                              results_dir=tmp_path, check=False)
        assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr, argv
        assert "Traceback" not in proc.stderr
