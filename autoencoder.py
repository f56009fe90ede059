"""Part 1: a plain autoencoder squeezes MNIST digits through a 2-number code.

The encoder maps each 28x28 image (784 pixels) to a code z of just two numbers; the decoder
rebuilds the image from z alone. Training minimises the mean squared difference between input
and reconstruction. Because z has two dimensions we can look at it: the scatter plot shows where
each test digit lands, and the grid shows what the decoder draws at each point of the plane.
Nothing decides *where* the codes land, so they form irregular streaks with gaps in between;
parts 2-4 add an adversary to give the code space a shape we choose.

    python autoencoder.py --train True     # train; prints the run folder
    python autoencoder.py --train False    # load the newest run, save its figures as PNG
    tensorboard --logdir Results           # loss, code histogram, images, graph

Network: 784 -> 1000 -> 1000 -> z (2) -> 1000 -> 1000 -> 784, ReLU hidden layers, a linear
code and a sigmoid output; Adam (learning rate 0.001, beta1 0.9), batches of 100. The hidden
layers' 1000 units are --hidden_units.
"""
import os
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, mnist, precision, runs, summaries

MODEL = "Autoencoder"
INPUT_DIM = 784
Z_DIM = 2
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
# Each epoch's test error, for TensorBoard, is measured on the first EPOCH_TEST_IMAGES test images:
# enough for the curve, at a fifth of the cost; the final figure in metrics.json uses all 10,000.
EPOCH_TEST_IMAGES = 2000
GRID_SIZE = 20  # the decoded grid is GRID_SIZE x GRID_SIZE images


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, n_hidden, reuse=False):
    """Image (784) -> code z (z_dim), linear at the end so z can take any value."""
    with tf.variable_scope("Encoder", reuse=reuse):
        e_1 = tf.nn.relu(dense(x, INPUT_DIM, n_hidden, "e_dense_1"))
        e_2 = tf.nn.relu(dense(e_1, n_hidden, n_hidden, "e_dense_2"))
        return dense(e_2, n_hidden, z_dim, "e_latent_variable")


def decoder(z, z_dim, n_hidden, reuse=False):
    """Code z -> image (784), squashed by a sigmoid into the pixels' range [0, 1]."""
    with tf.variable_scope("Decoder", reuse=reuse):
        d_1 = tf.nn.relu(dense(z, z_dim, n_hidden, "d_dense_1"))
        d_2 = tf.nn.relu(dense(d_1, n_hidden, n_hidden, "d_dense_2"))
        return tf.nn.sigmoid(dense(d_2, n_hidden, INPUT_DIM, "d_output"))


def build_graph(args):
    """Placeholders, the autoencoder, its loss, its optimiser and its summaries."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    # The decoder is built twice with shared weights: once on the encoder's codes (training)
    # and once on codes we feed ourselves (drawing the grid).
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")

    z = encoder(x, args.z_dim, args.hidden_units)
    reconstruction = decoder(z, args.z_dim, args.hidden_units)
    generated = decoder(z_in, args.z_dim, args.hidden_units, reuse=True)

    loss = tf.reduce_mean(tf.square(x - reconstruction))
    train_op = tf.train.AdamOptimizer(args.learning_rate, beta1=args.beta1).minimize(loss)

    tf.summary.scalar("Loss/reconstruction", loss)
    tf.summary.histogram("Distributions/encoder_z", z)
    tf.summary.image("Images/input", tf.reshape(x, [-1, 28, 28, 1]), max_outputs=10)
    tf.summary.image("Images/reconstruction", tf.reshape(reconstruction, [-1, 28, 28, 1]),
                     max_outputs=10)
    return types.SimpleNamespace(x=x, z_in=z_in, z=z, reconstruction=reconstruction,
                                 generated=generated, loss=loss, train_op=train_op,
                                 summaries=tf.summary.merge_all(), saver=tf.train.Saver(max_to_keep=2))


def next_feed(g, data, args):
    """The feed of one iteration: a training batch."""
    return {g.x: data.train.next_batch(args.batch_size)[0]}


def train_step(sess, g, feed, with_summaries=False):
    """One iteration: a gradient step on the reconstruction loss; returns the loss by name.

    with_summaries adds this batch's TensorBoard summaries under "summaries". They are fetched in
    the step's own session call, so they read the forward pass the step computes anyway instead
    of running a second one, and they show the loss before the update, as the log line does.
    """
    fetches = {"reconstruction": g.loss}
    if with_summaries:
        fetches["summaries"] = g.summaries
    _, fetched = sess.run([g.train_op, fetches], feed_dict=feed)
    return fetched


def evaluate(sess, g, data, n=None):
    """(reconstruction MSE, codes, reconstructions) of the first n test images (all by default)."""
    mse, codes, recon = sess.run([g.loss, g.z, g.reconstruction], feed_dict={g.x: data.test.images[:n]})
    return float(mse), codes, recon


def latent_grid(sess, g, codes):
    """Decode a GRID_SIZE x GRID_SIZE grid over where `codes` lie; returns (images, xs, ys).

    A plain autoencoder's code space has no fixed scale, so the grid spans the 1st to 99th
    percentile of the codes; a fixed range would mostly show empty space. Rows run from high
    z[1] at the top to low at the bottom, like a plot's y axis.
    """
    lo, hi = np.percentile(codes[:, :2], [1, 99], axis=0)
    xs, ys = np.linspace(lo[0], hi[0], GRID_SIZE), np.linspace(hi[1], lo[1], GRID_SIZE)
    grid_z = np.tile(np.median(codes, axis=0), (GRID_SIZE * GRID_SIZE, 1))
    grid_z[:, :2] = np.array([(x, y) for y in ys for x in xs])
    return sess.run(g.generated, feed_dict={g.z_in: grid_z}), xs, ys


def train(args):
    resumed = runs.to_resume(args, MODEL)
    data = mnist.load(args.data_dir, args.seed)
    run = runs.start(args, MODEL, resumed, data.train)
    g = build_graph(args)
    steps_per_epoch = data.train.num_examples // args.batch_size

    with tf.Session(config=precision.session_config(args.precision)) as sess:
        writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
        sess.run(tf.global_variables_initializer())
        start = run.restore(sess, g.saver, train=data.train) if args.resume else 0
        summaries.drop_after(writer, start)  # a resume overwrites what came after
        step, losses, started = start, {}, time.time()
        for step in run.steps(start, args, steps_per_epoch):
            log_now = step % LOG_EVERY == 0
            losses = train_step(sess, g, next_feed(g, data, args), with_summaries=log_now)
            summary = losses.pop("summaries", None)
            run.check_finite(step, **losses)
            if log_now:
                with run.outside_training():
                    writer.add_summary(summary, step)
                    run.log(f"step {step}: reconstruction loss {losses['reconstruction']:.5f}", echo=False)
            step += 1
            if step % steps_per_epoch == 0:
                with run.outside_training():
                    mse, codes, _ = evaluate(sess, g, data, EPOCH_TEST_IMAGES)
                    summaries.scalars(writer, step, **{"Test/reconstruction_mse": mse})
                    # One picture an epoch: scrub through them in TensorBoard's Images tab.
                    summaries.image(writer, step, "Images/latent_grid",
                                    figures.tile(latent_grid(sess, g, codes)[0], GRID_SIZE, GRID_SIZE))
                    run.save(sess, g.saver, step, train=data.train)
                run.log(f"epoch {step // steps_per_epoch}/{args.epochs}: train loss "
                        f"{losses['reconstruction']:.5f}, test reconstruction MSE {mse:.5f} "
                        f"({run.epoch_time()})")
        if step % steps_per_epoch:  # stopped mid-epoch (--max_steps or Ctrl-C): keep that too
            run.save(sess, g.saver, step, train=data.train)
        writer.close()
        run.exit_if_interrupted(step)

        metrics = {"train_loss": float(losses["reconstruction"]) if losses else None,
                   "test_reconstruction_mse": evaluate(sess, g, data)[0],
                   "train_seconds": round(time.time() - started, 1)}
        run.write_metrics(metrics, args, step, steps_per_epoch)
        run.log(f"Done: test reconstruction MSE {metrics['test_reconstruction_mse']:.5f}. "
                f"Draw the figures with: python {os.path.basename(__file__)} --train False")


def draw(args):
    """Restore a run and save its figures: the decoded grid, the code scatter, reconstructions."""
    run = runs.Run.find(args, MODEL, args.run)
    run.adopt_args(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args)
    plt = figures.pyplot()
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        _, codes, recon = evaluate(sess, g, data)
        images, xs, ys = latent_grid(sess, g, codes)

    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(figures.tile(images, GRID_SIZE, GRID_SIZE), cmap="gray",
              extent=(xs[0], xs[-1], ys[-1], ys[0]), aspect="auto")
    rest = "" if args.z_dim == 2 else " (z[2:] held at the test median)"
    ax.set(title=f"Decoder output over the code plane{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_grid.png"))

    fig, ax = plt.subplots(figsize=(8, 7))
    digits = data.test.labels.argmax(1)
    points = ax.scatter(codes[:, 0], codes[:, 1], c=digits, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set(title="Codes of the 10,000 test images", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_scatter.png"))

    figures.save_reconstructions(data.test.images[:10], recon[:10],
                                 os.path.join(run.path, "reconstructions.png"))
    figures.show_all()


def arg_parser():
    return flags.arg_parser(__doc__, z_dim=Z_DIM, min_z_dim=2)  # the figures draw a plane


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
