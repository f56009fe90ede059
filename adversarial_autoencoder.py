"""Part 2: an adversarial autoencoder makes the codes of MNIST digits follow a Gaussian we choose.

Part 1's codes landed wherever the autoencoder liked, so nobody could say which points of the
code plane decode to a digit. Here a third network, the discriminator, is shown two kinds of
points: samples of the prior p(z) = N(0, 5^2 I), labelled "real", and the encoder's codes of
training images, labelled "fake". The encoder is then trained to fool it. The only way to fool a
good discriminator is for the codes, taken over the whole data set, to be spread like the prior;
then every point the prior is likely to produce decodes to something that looks like a digit,
and the decoder becomes a generator: draw z from N(0, 5^2 I), decode, get a digit.

Every batch trains three things, in this order, each with its own Adam optimiser:

1. reconstruction: encoder and decoder minimise the mean squared error, as in part 1;
2. discriminator: learns to output 1 on prior samples and 0 on the encoder's codes;
3. generator: the encoder alone learns to make the discriminator output 1 on its codes.

    python adversarial_autoencoder.py --train True     # train; prints the run folder
    python adversarial_autoencoder.py --train False    # load the newest run, save its figures
    tensorboard --logdir Results                       # losses, code histograms, images

The figures: `latent_grid.png` decodes a 14x14 grid covering about two standard deviations of
the prior; `latent_scatter.png` puts the codes of the 10,000 test images over samples of the
prior, so you can see whether they fill the same disc; `reconstructions.png` shows test images
and their reconstructions. The digit judge (common/judge.py) scores how many decoded prior
samples look clearly like digits.

Networks: encoder 784 -> 1000 -> 1000 -> z (2), decoder z -> 1000 -> 1000 -> 784 (sigmoid),
discriminator z -> 1000 -> 1000 -> 1 (a logit); ReLU hidden layers. Adam (learning rate 0.001,
beta1 0.9) for each of the three losses, batches of 100. The hidden layers' 1000 units are
--hidden_units.

The paper's other experiments with these networks live beside this file:
adversarial_autoencoder_priors.py (a mixture of 10 Gaussians or a swiss roll as the prior, with
or without the labels), and adversarial_autoencoder_likelihood.py (the Parzen-window
log-likelihood of the test images, for a run trained with --z_dim 8).
"""
import os
import sys
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, judge, mnist, precision, runs, summaries

MODEL = "Adversarial_Autoencoder"  # the folder under Results/ that holds this lesson's runs
INPUT_DIM = 784  # a 28x28 image, flattened
Z_DIM = 2  # a 2-D code can be drawn: the figures show the whole code space
PRIOR_STD = 5.0  # the prior is N(0, PRIOR_STD^2 I): wide enough that the codes need not crowd
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
# Each epoch's test error, for TensorBoard, is measured on the first EPOCH_TEST_IMAGES test images:
# enough for the curve, at a fifth of the cost; the final figure in metrics.json uses all 10,000.
EPOCH_TEST_IMAGES = 2000
GRID_POINTS = np.arange(-10, 10, 1.5)  # 14 values per axis: about two prior std either side
SCATTER_PRIOR_SAMPLES = 10000  # enough grey points to show the prior's shape under the codes
QUALITY_SAMPLES = 10000  # prior samples the digit judge scores at the end
JUDGED = f"{QUALITY_SAMPLES} prior samples decoded"  # what they are taken over
QUALITY_SAMPLES_PER_EPOCH = 1000  # and after each epoch, for TensorBoard's Quality/ section


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, n_hidden, reuse=False):
    """Image (784) -> code z (z_dim), linear at the end so z can reach the prior's whole range."""
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


def discriminator(z, n_in, n_hidden, reuse=False):
    """Code z -> one logit: large when z looks like a sample of the prior, small for a code."""
    with tf.variable_scope("Discriminator", reuse=reuse):
        dc_1 = tf.nn.relu(dense(z, n_in, n_hidden, "dc_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, n_hidden, n_hidden, "dc_dense_2"))
        return dense(dc_2, n_hidden, 1, "dc_output")


def build_graph(args):
    """Placeholders, the three networks, their three losses and optimisers, the summaries."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    # Prior samples come from numpy, not from a TensorFlow op, so that one seeded RandomState
    # holds all of the prior's randomness and a resumed run can continue it exactly.
    prior_z = tf.placeholder(tf.float32, [None, args.z_dim], name="Prior_samples")
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")
    z = encoder(x, args.z_dim, args.hidden_units)
    reconstruction = decoder(z, args.z_dim, args.hidden_units)
    generated = decoder(z_in, args.z_dim, args.hidden_units, reuse=True)
    # One discriminator judges both kinds of points: the second call shares the first's weights.
    d_real = discriminator(prior_z, args.z_dim, args.hidden_units)
    d_fake = discriminator(z, args.z_dim, args.hidden_units, reuse=True)
    return losses_and_optimisers(args, x=x, prior_z=prior_z, z_in=z_in, z=z,
                                 reconstruction=reconstruction, generated=generated,
                                 d_real=d_real, d_fake=d_fake)


def losses_and_optimisers(args, **nodes):
    """The three losses, an Adam optimiser for each, and the summaries, over the networks' nodes
    (x, prior_z, z, reconstruction, d_real, d_fake, ...); returns them all in one namespace."""
    g = types.SimpleNamespace(**nodes)

    def cross_entropy(logits, label):
        target = tf.ones_like(logits) if label else tf.zeros_like(logits)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))

    g.reconstruction_loss = tf.reduce_mean(tf.square(g.x - g.reconstruction))
    g.discriminator_loss = cross_entropy(g.d_real, 1) + cross_entropy(g.d_fake, 0)
    # The encoder's half of the game: the same discriminator, with its codes called real.
    g.generator_loss = cross_entropy(g.d_fake, 1)

    # Each phase moves only its own networks: the generator step must not train the
    # discriminator to be fooled, nor the discriminator step move the codes it judges.
    g.encoder_vars = tf.trainable_variables(scope="Encoder")
    g.decoder_vars = tf.trainable_variables(scope="Decoder")
    g.discriminator_vars = tf.trainable_variables(scope="Discriminator")

    def adam():
        return tf.train.AdamOptimizer(args.learning_rate, beta1=args.beta1)

    g.reconstruction_op = adam().minimize(g.reconstruction_loss,
                                          var_list=g.encoder_vars + g.decoder_vars)
    g.discriminator_op = adam().minimize(g.discriminator_loss, var_list=g.discriminator_vars)
    g.generator_op = adam().minimize(g.generator_loss, var_list=g.encoder_vars)

    tf.summary.scalar("Loss/reconstruction", g.reconstruction_loss)
    tf.summary.scalar("Loss/discriminator", g.discriminator_loss)
    tf.summary.scalar("Loss/generator", g.generator_loss)
    tf.summary.histogram("Distributions/encoder_z", g.z)
    tf.summary.histogram("Distributions/prior_z", g.prior_z)
    tf.summary.image("Images/input", tf.reshape(g.x, [-1, 28, 28, 1]), max_outputs=10)
    tf.summary.image("Images/reconstruction", tf.reshape(g.reconstruction, [-1, 28, 28, 1]),
                     max_outputs=10)
    g.summaries = tf.summary.merge_all()
    g.saver = tf.train.Saver(max_to_keep=2)
    return g


def sample_prior(rng, n, args):
    """n samples of the prior N(0, PRIOR_STD^2 I)."""
    return rng.randn(n, args.z_dim).astype(np.float32) * PRIOR_STD


def next_feed(g, data, args, prior):
    """The feed of one iteration: a training batch and a fresh batch of prior samples."""
    images, _ = data.train.next_batch(args.batch_size)
    return {g.x: images, g.prior_z: sample_prior(prior, args.batch_size, args)}


def train_step(sess, g, feed):
    """One iteration: the three phases in order; returns their losses by name."""
    _, reconstruction = sess.run([g.reconstruction_op, g.reconstruction_loss], feed_dict=feed)
    _, discriminator = sess.run([g.discriminator_op, g.discriminator_loss], feed_dict=feed)
    _, generator = sess.run([g.generator_op, g.generator_loss], feed_dict=feed)
    return {"reconstruction": reconstruction, "discriminator": discriminator, "generator": generator}


def evaluate(sess, g, data, n=None):
    """(reconstruction MSE, codes, reconstructions) of the first n test images (all by default)."""
    mse, codes, recon = sess.run([g.reconstruction_loss, g.z, g.reconstruction],
                                 feed_dict={g.x: data.test.images[:n]})
    return float(mse), codes, recon


def latent_grid(sess, g, z_dim):
    """Decode the grid GRID_POINTS x GRID_POINTS of the first two code dimensions (others 0).

    Unlike part 1 the grid's range is fixed in advance: the prior says where codes must be.
    Rows run from high z[1] at the top to low at the bottom, like a plot's y axis.
    """
    grid_z = np.zeros((len(GRID_POINTS) ** 2, z_dim), np.float32)
    grid_z[:, :2] = [(x, y) for y in GRID_POINTS[::-1] for x in GRID_POINTS]
    return sess.run(g.generated, feed_dict={g.z_in: grid_z})


def fixed_prior_samples(part, args, n):
    """n prior samples drawn from a fresh RandomState(seed): the same points every time they are
    asked for, so that the judge's scores and the figures compare like with like."""
    return part.sample_prior(np.random.RandomState(args.seed), n, args)


def quality(sess, g, digit_judge, samples):
    """The judge's verdict on prior samples decoded: how many are clearly digits."""
    return digit_judge.score(sess.run(g.generated, feed_dict={g.z_in: samples}))


def posterior_match(codes, digits, args):
    """How the test codes sit in the prior, for metrics.json: per-dimension mean and std (a
    matched posterior has 0 and PRIOR_STD)."""
    return {"prior": "gaussian", "test_code_mean": codes.mean(0).tolist(),
            "test_code_std": codes.std(0).tolist(), "prior_std": PRIOR_STD}


def describe_match(match):
    return (f"test codes per dimension: mean {runs.numbers(match['test_code_mean'])}, std "
            f"{runs.numbers(match['test_code_std'])} (the prior's: 0 and {PRIOR_STD:g})")


def prior_name(args):
    return f"N(0, {PRIOR_STD:g}\u00b2 I)"


def train(args, part=None):
    """Train a run. `part` is the module whose model folder, graph, feed and prior are used: this
    lesson by default; adversarial_autoencoder_priors.py passes itself, to reuse this loop."""
    part = part or sys.modules[__name__]
    resumed = runs.to_resume(args, part.MODEL)
    data = mnist.load(args.data_dir, args.seed)
    run = runs.start(args, part.MODEL, resumed, data.train)
    digit_judge = judge.load(args.data_dir)
    g = part.build_graph(args)
    steps_per_epoch = data.train.num_examples // args.batch_size
    prior = np.random.RandomState(args.seed)

    with tf.Session(config=precision.session_config(args.precision)) as sess:
        writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
        sess.run(tf.global_variables_initializer())
        start = run.restore(sess, g.saver, train=data.train, prior=prior) if args.resume else 0
        summaries.drop_after(writer, start)  # a resume overwrites what came after
        step, losses, started = start, {}, time.time()
        for step in run.steps(start, args, steps_per_epoch):
            feed = part.next_feed(g, data, args, prior)
            losses = train_step(sess, g, feed)
            run.check_finite(step, **losses)
            with run.outside_training():
                if step % LOG_EVERY == 0:
                    writer.add_summary(sess.run(g.summaries, feed_dict=feed), step)
                    run.log(f"step {step}: reconstruction loss {losses['reconstruction']:.5f}, "
                            f"discriminator loss {losses['discriminator']:.4f}, "
                            f"generator loss {losses['generator']:.4f}", echo=False)
            step += 1
            if step % steps_per_epoch == 0:
                with run.outside_training():
                    mse = evaluate(sess, g, data, EPOCH_TEST_IMAGES)[0]
                    judged = quality(sess, g, digit_judge,
                                     fixed_prior_samples(part, args, QUALITY_SAMPLES_PER_EPOCH))
                    summaries.scalars(writer, step, **{"Test/reconstruction_mse": mse},
                                      **{f"Quality/{k}": v for k, v in judged.items()})
                    # One picture an epoch: scrub through them in TensorBoard's Images tab.
                    n = len(GRID_POINTS)
                    summaries.image(writer, step, "Images/latent_grid",
                                    figures.tile(latent_grid(sess, g, args.z_dim), n, n))
                    run.save(sess, g.saver, step, train=data.train, prior=prior)
                run.log(f"epoch {step // steps_per_epoch}/{args.epochs}: reconstruction loss "
                        f"{losses['reconstruction']:.5f}, discriminator loss "
                        f"{losses['discriminator']:.4f}, generator loss {losses['generator']:.4f}, "
                        f"test reconstruction MSE {mse:.5f} ({run.epoch_time()})")
        if step % steps_per_epoch:  # stopped mid-epoch (--max_steps or Ctrl-C): keep that too
            run.save(sess, g.saver, step, train=data.train, prior=prior)
        writer.close()
        run.exit_if_interrupted(step)

        train_seconds = round(time.time() - started, 1)
        mse, codes, _ = evaluate(sess, g, data)
        match = part.posterior_match(codes, data.test.labels.argmax(1), args)
        judged = quality(sess, g, digit_judge, fixed_prior_samples(part, args, QUALITY_SAMPLES))
        metrics = {**{f"train_{name}_loss": float(value) for name, value in losses.items()},
                   "test_reconstruction_mse": mse, **match,
                   **judged, "quality_samples": QUALITY_SAMPLES, "train_seconds": train_seconds}
        run.write_metrics(metrics, args, step, steps_per_epoch)
        run.log(f"Done: test reconstruction MSE {mse:.5f}; {part.describe_match(match)}.\n"
                f"{judge.describe(judged, JUDGED)}\nDraw the figures with: "
                f"python {os.path.basename(part.__file__)} --train False")


def draw(args, part=None):
    """Restore a run and save its figures: the decoded grid, codes against the prior,
    reconstructions. `part` as for train()."""
    part = part or sys.modules[__name__]
    run = runs.Run.find(args, part.MODEL, args.run)
    run.adopt_args(args)
    data = mnist.load(args.data_dir, args.seed)
    g = part.build_graph(args)
    plt = figures.pyplot()
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        _, codes, recon = evaluate(sess, g, data)
        images = latent_grid(sess, g, args.z_dim)
        judged = quality(sess, g, judge.load(args.data_dir),
                         fixed_prior_samples(part, args, QUALITY_SAMPLES))
        print(judge.describe(judged, JUDGED))
    digits = data.test.labels.argmax(1)
    match = part.describe_match(part.posterior_match(codes, digits, args))
    print(match[0].upper() + match[1:] + ".")

    n = len(GRID_POINTS)
    half = (GRID_POINTS[1] - GRID_POINTS[0]) / 2  # so that each tick sits at a cell's centre
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(figures.tile(images, n, n), cmap="gray", aspect="auto",
              extent=(GRID_POINTS[0] - half, GRID_POINTS[-1] + half,
                      GRID_POINTS[0] - half, GRID_POINTS[-1] + half))
    rest = "" if args.z_dim == 2 else f" (z[2:{args.z_dim}] held at 0)"
    ax.set(title=f"Decoder output over the code plane{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_grid.png"))

    prior_points = fixed_prior_samples(part, args, SCATTER_PRIOR_SAMPLES)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(prior_points[:, 0], prior_points[:, 1], c="lightgray", s=3,
               label=f"samples of the prior, {part.prior_name(args)}")
    points = ax.scatter(codes[:, 0], codes[:, 1], c=digits, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit of the test image")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_aspect("equal", adjustable="datalim")
    rest = "" if args.z_dim == 2 else f" (first two of {args.z_dim} dimensions)"
    ax.set(title=f"Codes of the 10,000 test images over the prior{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_scatter.png"))

    figures.save_reconstructions(data.test.images[:10], recon[:10],
                                 os.path.join(run.path, "reconstructions.png"))
    figures.show_all()


def arg_parser():
    return flags.arg_parser(__doc__, z_dim=Z_DIM, min_z_dim=2)  # the figures draw a plane


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
