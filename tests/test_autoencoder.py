"""Part 1 end to end: train a short real run, read back what it wrote, draw its figures."""
import os
import re

import numpy as np
import pytest

from common import flags, runs
from conftest import (RUN_FILES, differing_pairs, event_tags, png_size, read_log, read_metrics,
                      read_png, run_in_process, train_run)

MODEL = "Autoencoder"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """300 iterations at batch 250: one full epoch (220 iterations) and a bit of the next.

    Half the lesson's width: 300 iterations of 128 or 256 units a layer spread the codes too
    little for the grid to show more than a 1 and a 0 (6 % of its cells' pairs apart)."""
    return train_run(tmp_path_factory, "autoencoder.py", MODEL,
                     "--max_steps", "300", "--batch_size", "250", "--seed", "1", "--hidden_units", "512")


def test_run_folder_layout(trained):
    results, run, proc = trained
    assert os.path.basename(run).endswith("_2_0.001_250_1000_0.9_Autoencoder")
    assert run in proc.stdout  # the user is told where the run is
    for sub in RUN_FILES:
        assert os.path.exists(os.path.join(run, sub)), sub
    saved = os.listdir(os.path.join(run, "Saved_models"))
    assert "autoencoder-300.index" in saved and "autoencoder-220.index" in saved
    log = read_log(run)
    assert "step 250: reconstruction loss" in log and "epoch 1/1000" in log


def test_tensorboard_events_hold_the_summaries(trained):
    _, run, _ = trained
    tags, acc = event_tags(run)
    assert tags["Loss/reconstruction"] == "scalars"
    assert tags["Distributions/encoder_z"] == "histograms"
    assert tags["Test/reconstruction_mse"] == "scalars"
    assert any(t.startswith("Images/input") and k == "images" for t, k in tags.items())
    assert any(t.startswith("Images/reconstruction") and k == "images" for t, k in tags.items())
    assert [e.step for e in acc.Scalars("Loss/reconstruction")] == [0, 50, 100, 150, 200, 250]
    assert [e.step for e in acc.Scalars("Test/reconstruction_mse")] == [220]
    [grid] = acc.Images("Images/latent_grid")  # once an epoch: 20 x 20 digits of 28 x 28 pixels
    assert (grid.step, grid.width, grid.height) == (220, 560, 560)
    assert acc.Graph() is not None


def test_summaries_come_from_the_training_step_itself(trained):
    """TensorBoard's loss is the one the log line prints: the step's own, before its update
    (the summaries are fetched with the step, not by a second pass after it)."""
    _, run, _ = trained
    _, acc = event_tags(run)
    log = read_log(run)
    for event in acc.Scalars("Loss/reconstruction"):
        logged = float(re.search(rf"step {event.step}: reconstruction loss ([0-9.]+)", log).group(1))
        assert event.value == pytest.approx(logged, abs=6e-6), event.step


def test_loss_falls_on_real_data(trained):
    _, run, _ = trained
    _, acc = event_tags(run)
    losses = [e.value for e in acc.Scalars("Loss/reconstruction")]
    metrics = read_metrics(run)
    # an untrained sigmoid decoder outputs ~0.5 everywhere (MSE ~0.23); a learnt one is far better
    assert losses[0] > 0.15
    assert metrics["test_reconstruction_mse"] < 0.5 * losses[0]
    assert losses[-1] < losses[1]
    assert metrics["steps"] == 300


@pytest.fixture(scope="module")
def drawn(trained):
    """`--train False` on the trained run: the process, its figures in the run folder."""
    results, _, _ = trained
    return run_in_process("autoencoder.py", "--train", "False", results_dir=results)


def test_train_false_draws_the_figures(trained, drawn):
    _, run, _ = trained
    assert f"Loaded {run} (step 300)" in drawn.stdout
    for name in ("latent_grid.png", "latent_scatter.png", "reconstructions.png"):
        width, height = png_size(os.path.join(run, name))
        assert width >= 500 and height >= 150, (name, width, height)
    # the grid's 20 x 20 decoded codes: not blank, and different digits at different codes
    # (this run measured a brightness std of 0.22, and 70% of pairs of cells apart)
    grid = read_png(os.path.join(run, "latent_grid.png"), cells=(20, 20))
    assert grid.std() > 0.1
    assert differing_pairs(grid) > 0.3
    # each input is most like its own reconstruction: 9 of 10 here, 1 in 10 by chance
    images, rebuilt = read_png(os.path.join(run, "reconstructions.png"), cells=(2, 10))
    correlation = np.corrcoef(images.reshape(10, -1), rebuilt.reshape(10, -1))[:10, 10:]
    assert np.mean(correlation.argmax(1) == np.arange(10)) > 0.5
    # the codes coloured by digit: all ten of tab10's colours in the plot (left of the colour
    # bar); the rarest filled 800 pixels here, and the text's anti-aliasing alone makes about
    # 160 of tab10's grey
    assert min(colour_pixels(os.path.join(run, "latent_scatter.png"))) > 400


def test_the_scatter_colours_each_digit_where_its_codes_lie(trained, drawn, data):
    """Each of tab10's colours sits in the picture where its digit's codes lie: the colours' centres,
    left to right and bottom to top, rank as the digits' median codes along z[0] and z[1]. This run
    measured rank correlations of 0.90 and 0.96; the same codes with their digits shuffled, 0.54
    and -0.15, and with each digit drawn in the next digit's colour, -0.65 and -0.56."""
    import autoencoder
    import tensorflow.compat.v1 as tf
    _, run, _ = trained
    args = flags.parse(autoencoder.arg_parser(), ["--hidden_units", "512"])
    g = autoencoder.build_graph(args)
    with tf.Session() as sess:
        runs.Run(run, MODEL).restore(sess, g.saver)
        _, codes, _ = autoencoder.evaluate(sess, g, data)
    digits = data.test.labels.argmax(1)
    medians = np.array([np.median(codes[digits == d], 0) for d in range(10)])
    centres = colour_centres(os.path.join(run, "latent_scatter.png"))

    def ranks(values):
        return np.argsort(np.argsort(values))
    agreement = [np.corrcoef(ranks(medians[:, axis]), ranks(centres[:, axis]))[0, 1] for axis in (0, 1)]
    assert np.mean(agreement) > 0.75, agreement


def colour_centres(path):
    """(x, up) in pixels of the median pixel of each of tab10's ten colours in a picture's left 80%."""
    coloured = tab10_pixels(path)
    ys, xs = np.indices(coloured.shape[:2])
    return np.array([[np.median(xs[coloured[..., k]]), -np.median(ys[coloured[..., k]])] for k in range(10)])


def colour_pixels(path):
    """How many pixels of each of tab10's ten colours the left 80% of a picture holds."""
    return tab10_pixels(path).sum((0, 1))


def tab10_pixels(path):
    """(height, width, 10): which pixels of the picture's left 80% are each of tab10's colours."""
    import matplotlib
    image = read_png(path)
    plot = image[:, :int(0.8 * image.shape[1]), None, :]
    tab10 = np.array(matplotlib.colormaps["tab10"].colors)
    return np.abs(plot - tab10).max(-1) < 0.03
