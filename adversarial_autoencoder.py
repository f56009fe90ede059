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
and their reconstructions.

Networks: encoder 784 -> 1000 -> 1000 -> z (2), decoder z -> 1000 -> 1000 -> 784 (sigmoid),
discriminator z -> 1000 -> 1000 -> 1 (a logit); ReLU hidden layers. Adam (learning rate 0.001,
beta1 0.9) for each of the three losses, batches of 100.
"""
import os
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, judge, mnist, runs, summaries

MODEL = "Adversarial_Autoencoder"
INPUT_DIM = 784
N_L1 = 1000
N_L2 = 1000
Z_DIM = 2
PRIOR_STD = 5.0  # the prior is N(0, PRIOR_STD^2 I)
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
GRID_POINTS = np.arange(-10, 10, 1.5)  # 14 values per axis: about two prior std either side
SCATTER_PRIOR_SAMPLES = 10000
QUALITY_SAMPLES = 10000  # prior samples the digit judge scores at the end
QUALITY_SAMPLES_PER_EPOCH = 1000  # and after each epoch, for TensorBoard's Quality/ section


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, reuse=False):
    """Image (784) -> code z (z_dim), linear at the end so z can reach the prior's whole range."""
    with tf.variable_scope("Encoder", reuse=reuse):
        e_1 = tf.nn.relu(dense(x, INPUT_DIM, N_L1, "e_dense_1"))
        e_2 = tf.nn.relu(dense(e_1, N_L1, N_L2, "e_dense_2"))
        return dense(e_2, N_L2, z_dim, "e_latent_variable")


def decoder(z, z_dim, reuse=False):
    """Code z -> image (784), squashed by a sigmoid into the pixels' range [0, 1]."""
    with tf.variable_scope("Decoder", reuse=reuse):
        d_1 = tf.nn.relu(dense(z, z_dim, N_L2, "d_dense_1"))
        d_2 = tf.nn.relu(dense(d_1, N_L2, N_L1, "d_dense_2"))
        return tf.nn.sigmoid(dense(d_2, N_L1, INPUT_DIM, "d_output"))


def discriminator(z, z_dim, reuse=False):
    """Code z -> one logit: large when z looks like a sample of the prior, small for a code."""
    with tf.variable_scope("Discriminator", reuse=reuse):
        dc_1 = tf.nn.relu(dense(z, z_dim, N_L1, "dc_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, N_L1, N_L2, "dc_dense_2"))
        return dense(dc_2, N_L2, 1, "dc_output")


def build_graph(args):
    """Placeholders, the three networks, their three losses and optimisers, the summaries."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    # Prior samples come from numpy, not from a TensorFlow op, so that one seeded RandomState
    # holds all of the prior's randomness and a resumed run can continue it exactly.
    prior_z = tf.placeholder(tf.float32, [None, args.z_dim], name="Prior_samples")
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")

    z = encoder(x, args.z_dim)
    reconstruction = decoder(z, args.z_dim)
    generated = decoder(z_in, args.z_dim, reuse=True)
    # One discriminator judges both kinds of points: the second call shares the first's weights.
    d_real = discriminator(prior_z, args.z_dim)
    d_fake = discriminator(z, args.z_dim, reuse=True)

    def cross_entropy(logits, label):
        target = tf.ones_like(logits) if label else tf.zeros_like(logits)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))

    reconstruction_loss = tf.reduce_mean(tf.square(x - reconstruction))
    discriminator_loss = cross_entropy(d_real, 1) + cross_entropy(d_fake, 0)
    # The encoder's half of the game: the same discriminator, with its codes called real.
    generator_loss = cross_entropy(d_fake, 1)

    # Each phase moves only its own networks: the generator step must not train the
    # discriminator to be fooled, nor the discriminator step move the codes it judges.
    encoder_vars = tf.trainable_variables(scope="Encoder")
    decoder_vars = tf.trainable_variables(scope="Decoder")
    discriminator_vars = tf.trainable_variables(scope="Discriminator")

    def adam():
        return tf.train.AdamOptimizer(args.learning_rate, beta1=args.beta1)

    reconstruction_op = adam().minimize(reconstruction_loss, var_list=encoder_vars + decoder_vars)
    discriminator_op = adam().minimize(discriminator_loss, var_list=discriminator_vars)
    generator_op = adam().minimize(generator_loss, var_list=encoder_vars)

    tf.summary.scalar("Loss/reconstruction", reconstruction_loss)
    tf.summary.scalar("Loss/discriminator", discriminator_loss)
    tf.summary.scalar("Loss/generator", generator_loss)
    tf.summary.histogram("Distributions/encoder_z", z)
    tf.summary.histogram("Distributions/prior_z", prior_z)
    tf.summary.image("Images/input", tf.reshape(x, [-1, 28, 28, 1]), max_outputs=10)
    tf.summary.image("Images/reconstruction", tf.reshape(reconstruction, [-1, 28, 28, 1]),
                     max_outputs=10)
    return types.SimpleNamespace(
        x=x, prior_z=prior_z, z_in=z_in, z=z, reconstruction=reconstruction, generated=generated,
        reconstruction_loss=reconstruction_loss, discriminator_loss=discriminator_loss,
        generator_loss=generator_loss, reconstruction_op=reconstruction_op,
        discriminator_op=discriminator_op, generator_op=generator_op,
        encoder_vars=encoder_vars, decoder_vars=decoder_vars, discriminator_vars=discriminator_vars,
        summaries=tf.summary.merge_all(), saver=tf.train.Saver(max_to_keep=2))


def sample_prior(prior, n, z_dim):
    return prior.randn(n, z_dim).astype(np.float32) * PRIOR_STD


def next_feed(g, data, args, prior):
    """The feed of one iteration: a training batch and a fresh batch of prior samples."""
    return {g.x: data.train.next_batch(args.batch_size)[0],
            g.prior_z: sample_prior(prior, args.batch_size, args.z_dim)}


def train_step(sess, g, feed):
    """One iteration: the three phases in order; returns their losses by name."""
    _, reconstruction = sess.run([g.reconstruction_op, g.reconstruction_loss], feed_dict=feed)
    _, discriminator = sess.run([g.discriminator_op, g.discriminator_loss], feed_dict=feed)
    _, generator = sess.run([g.generator_op, g.generator_loss], feed_dict=feed)
    return {"reconstruction": reconstruction, "discriminator": discriminator, "generator": generator}


def evaluate(sess, g, data):
    """(test reconstruction MSE, codes of the test images, their reconstructions)."""
    mse, codes, recon = sess.run([g.reconstruction_loss, g.z, g.reconstruction],
                                 feed_dict={g.x: data.test.images})
    return float(mse), codes, recon


def latent_grid(sess, g, z_dim):
    """Decode the grid GRID_POINTS x GRID_POINTS of the first two code dimensions (others 0).

    Unlike part 1 the grid's range is fixed in advance: the prior says where codes must be.
    Rows run from high z[1] at the top to low at the bottom, like a plot's y axis.
    """
    grid_z = np.zeros((len(GRID_POINTS) ** 2, z_dim), np.float32)
    grid_z[:, :2] = [(x, y) for y in GRID_POINTS[::-1] for x in GRID_POINTS]
    return sess.run(g.generated, feed_dict={g.z_in: grid_z})


def train(args):
    data = mnist.load(args.data_dir, args.seed)
    run = runs.start(args, MODEL, data.train)
    digit_judge = judge.load(args.data_dir)
    g = build_graph(args)
    steps_per_epoch = data.train.num_examples // args.batch_size
    prior = np.random.RandomState(args.seed)

    with tf.Session() as sess:
        writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
        sess.run(tf.global_variables_initializer())
        start = run.restore(sess, g.saver, train=data.train, prior=prior) if args.resume else 0
        summaries.drop_after(writer, start)  # a resume overwrites what came after
        step, losses, started, epoch_started = start, {}, time.time(), time.time()
        for step in run.steps(start, args, steps_per_epoch):
            feed = next_feed(g, data, args, prior)
            losses = train_step(sess, g, feed)
            run.check_finite(step, **losses)
            if step % LOG_EVERY == 0:
                writer.add_summary(sess.run(g.summaries, feed_dict=feed), step)
                run.log(f"step {step}: reconstruction loss {losses['reconstruction']:.5f}, "
                        f"discriminator loss {losses['discriminator']:.4f}, "
                        f"generator loss {losses['generator']:.4f}", echo=False)
            step += 1
            if step % steps_per_epoch == 0:
                mse = evaluate(sess, g, data)[0]
                summaries.scalars(writer, step, **{"Test/reconstruction_mse": mse}, **{
                    f"Quality/{k}": v for k, v in
                    quality(sess, g, args, digit_judge, QUALITY_SAMPLES_PER_EPOCH).items()})
                # One picture an epoch: scrub through them in TensorBoard's Images tab.
                n = len(GRID_POINTS)
                summaries.image(writer, step, "Images/latent_grid",
                                figures.tile(latent_grid(sess, g, args.z_dim), n, n))
                run.save(sess, g.saver, step, train=data.train, prior=prior)
                run.log(f"epoch {step // steps_per_epoch}/{args.epochs}: reconstruction loss "
                        f"{losses['reconstruction']:.5f}, discriminator loss "
                        f"{losses['discriminator']:.4f}, generator loss {losses['generator']:.4f}, "
                        f"test reconstruction MSE {mse:.5f} ({time.time() - epoch_started:.1f} s)")
                epoch_started = time.time()
        if step % steps_per_epoch:  # stopped mid-epoch (--max_steps or Ctrl-C): keep that too
            run.save(sess, g.saver, step, train=data.train, prior=prior)
        writer.close()
        run.exit_if_interrupted(step)

        train_seconds = round(time.time() - started, 1)
        mse, codes, _ = evaluate(sess, g, data)
        judged = quality(sess, g, args, digit_judge, QUALITY_SAMPLES)
        metrics = {"steps": step, "epochs": round(step / steps_per_epoch, 3),
                   **{f"train_{name}_loss": float(value) for name, value in losses.items()},
                   "test_reconstruction_mse": mse,
                   # A matched posterior has mean 0 and std PRIOR_STD in every dimension.
                   "test_code_mean": codes.mean(0).tolist(), "test_code_std": codes.std(0).tolist(),
                   "prior_std": PRIOR_STD, **judged, "quality_samples": QUALITY_SAMPLES,
                   "train_seconds": train_seconds}
        run.write_metrics(metrics)
        run.log(f"Done: test reconstruction MSE {mse:.5f}; test codes per dimension: mean "
                f"{runs.numbers(codes.mean(0))}, std {runs.numbers(codes.std(0))} (the prior's: 0 and "
                f"{PRIOR_STD:g}).\n{describe(judged)}\nDraw the figures with: "
                f"python {os.path.basename(__file__)} --train False")


def quality(sess, g, args, digit_judge, n):
    """The judge's verdict on n codes drawn from the prior and decoded: how many are clearly digits."""
    samples = sample_prior(np.random.RandomState(args.seed), n, args.z_dim)
    return digit_judge.score(sess.run(g.generated, feed_dict={g.z_in: samples}))


def describe(judged):
    return (f"Digit judge, {QUALITY_SAMPLES} prior samples decoded: digit-likeness "
            f"{100 * judged['digit_likeness']:.1f} %")


def draw(args):
    """Restore a run and save its figures: the decoded grid, codes against the prior, reconstructions."""
    run = runs.Run.find(args, MODEL, args.run)
    run.adopt_args(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args)
    plt = figures.pyplot()
    with tf.Session() as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        _, codes, recon = evaluate(sess, g, data)
        images = latent_grid(sess, g, args.z_dim)
        print(describe(quality(sess, g, args, judge.load(args.data_dir), QUALITY_SAMPLES)))

    n = len(GRID_POINTS)
    half = (GRID_POINTS[1] - GRID_POINTS[0]) / 2  # so that each tick sits at a cell's centre
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(figures.tile(images, n, n), cmap="gray", aspect="auto",
              extent=(GRID_POINTS[0] - half, GRID_POINTS[-1] + half,
                      GRID_POINTS[0] - half, GRID_POINTS[-1] + half))
    rest = "" if args.z_dim == 2 else f" (z[2:{args.z_dim}] held at 0)"
    ax.set(title=f"Decoder output over the code plane{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_grid.png"))

    prior_points = sample_prior(np.random.RandomState(args.seed), SCATTER_PRIOR_SAMPLES, args.z_dim)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(prior_points[:, 0], prior_points[:, 1], c="lightgray", s=3,
               label=f"prior N(0, {PRIOR_STD:g}\u00b2 I) samples")
    digits = data.test.labels.argmax(1)
    points = ax.scatter(codes[:, 0], codes[:, 1], c=digits, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit of the test image")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_aspect("equal", adjustable="datalim")
    rest = "" if args.z_dim == 2 else f" (first two of {args.z_dim} dimensions)"
    ax.set(title=f"Codes of the 10,000 test images over the prior{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_scatter.png"))

    fig, ax = plt.subplots(figsize=(10, 2.4))
    pairs = np.concatenate([data.test.images[:10], recon[:10]])
    ax.imshow(figures.tile(pairs, 2, 10), cmap="gray")
    ax.set(title="Test images (top) and their reconstructions (bottom)", xticks=[], yticks=[])
    figures.save(fig, os.path.join(run.path, "reconstructions.png"))
    figures.show_all()


def arg_parser():
    return flags.arg_parser(__doc__, z_dim=Z_DIM)


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
