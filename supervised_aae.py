"""Part 3: giving the decoder the label splits a digit into its content (which digit) and its style.

In part 2 the code z had to say everything about an image: which digit it is *and* how it is
written. Here the decoder is also told the digit, as a one-hot vector of 10 numbers placed in
front of z. The code no longer needs to carry the digit's identity, since the decoder gets it for
free, while the adversary forces the codes to look like samples of a prior that knows nothing of
digits. So z keeps only what the label does not say: the style of the writing (slant, width,
thickness, loops). Hold z fixed and change the label, and the decoder writes every digit in the
same hand.

Every batch trains three things, in this order, each with its own Adam optimiser:

1. reconstruction: encoder and decoder minimise the mean squared error; the decoder reads
   [one-hot label, z];
2. discriminator: learns to output 1 on (prior sample, label) pairs and 0 on (code, label) pairs,
   each prior sample going with the label of the code it is compared with;
3. generator: the encoder alone learns to make the discriminator output 1 on its codes.

These choices make the split happen in a short run; each departs from the original, which
`--pair_discriminator False --prior_std 5 --beta1 0.9 --epochs 1000` brings back:

- The discriminator sees the label beside z. Pairs drawn from p(z) p(label) have z independent
  of the digit, so a code passes only if it does not tell its digit. The original's
  discriminator saw z alone: all codes together had to look like the prior, but each could still
  say which digit it was, and the decoder then drew the digit of z rather than of the label.
- The prior is N(0, I), not N(0, 5^2 I): the decoder's first layer reads the label's 0s and 1s
  beside z, and beside a code of scale 5 the label is drowned out.
- Adam's beta1 is 0.5 (the usual choice for adversarial games): at 0.9 the discriminator ran
  away from the encoder, the codes shrank far inside the prior and the reconstructions blurred.
- 30 epochs instead of 1000. The README gives what the digit judge measures over three seeds.

    python supervised_aae.py --train True     # train; prints the run folder
    python supervised_aae.py --train False    # load the newest run, save its figures
    tensorboard --logdir Results              # losses, code histograms, images, Quality/

The figures: `style_grid.png` decodes ten random styles (rows) as each digit 0-9 (columns);
`style_transfer.png` takes the styles of ten real test images and writes every digit in each;
`reconstructions.png` shows test images and their reconstructions.

Networks: encoder 784 -> 1000 -> 1000 -> z (15), decoder [label (10), z (15)] -> 1000 -> 1000
-> 784 (sigmoid), discriminator [z (15), label (10)] -> 1000 -> 1000 -> 1 (a logit); ReLU hidden
layers. Adam (learning rate 0.001, beta1 0.5) for each of the three losses, batches of 100.
The hidden layers' 1000 units are --hidden_units.
"""
import os
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, judge, mnist, precision, runs, summaries

MODEL = "Supervised"
INPUT_DIM = 784
N_LABELS = 10
Z_DIM = 15
# Departures from the original (the module docstring says why; the README has the measurements).
# --epochs 1000 --prior_std 5 --pair_discriminator False --beta1 0.9 is the original.
EPOCHS = 30
PRIOR_STD = 1.0  # default of --prior_std: the prior is N(0, prior_std^2 I)
PAIR_DISCRIMINATOR = True  # default of --pair_discriminator
BETA1 = 0.5  # default of --beta1, for all three optimisers
QUALITY_STYLES = 1000  # prior styles the digit judge scores at the end (each as 10 digits)
JUDGED = f"{QUALITY_STYLES} prior styles x 10 digits"  # what they are taken over
QUALITY_STYLES_PER_EPOCH = 100  # and after each epoch, for TensorBoard's Quality/ section
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
# Each epoch's test error, for TensorBoard, is measured on the first EPOCH_TEST_IMAGES test images:
# enough for the curve, at a fifth of the cost; the final figure in metrics.json uses all 10,000.
EPOCH_TEST_IMAGES = 2000


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, n_hidden, reuse=False):
    """Image (784) -> style code z (z_dim). It never sees the label."""
    with tf.variable_scope("Encoder", reuse=reuse):
        e_1 = tf.nn.relu(dense(x, INPUT_DIM, n_hidden, "e_dense_1"))
        e_2 = tf.nn.relu(dense(e_1, n_hidden, n_hidden, "e_dense_2"))
        return dense(e_2, n_hidden, z_dim, "e_latent_variable")


def decoder(z, y, z_dim, n_hidden, reuse=False):
    """[one-hot label y (10), style z (z_dim)] -> image (784), through a sigmoid into [0, 1]."""
    with tf.variable_scope("Decoder", reuse=reuse):
        d_input = tf.concat([y, z], axis=1)
        d_1 = tf.nn.relu(dense(d_input, N_LABELS + z_dim, n_hidden, "d_dense_1"))
        d_2 = tf.nn.relu(dense(d_1, n_hidden, n_hidden, "d_dense_2"))
        return tf.nn.sigmoid(dense(d_2, n_hidden, INPUT_DIM, "d_output"))


def discriminator(z, n_in, n_hidden, reuse=False):
    """Code z (or a (z, label) pair) -> one logit: large when it looks like a sample of the
    prior, small for a code."""
    with tf.variable_scope("Discriminator", reuse=reuse):
        dc_1 = tf.nn.relu(dense(z, n_in, n_hidden, "dc_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, n_hidden, n_hidden, "dc_dense_2"))
        return dense(dc_2, n_hidden, 1, "dc_output")


def build_graph(args):
    """Placeholders, the three networks, their three losses and optimisers, the summaries."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    y = tf.placeholder(tf.float32, [None, N_LABELS], name="Labels")
    # Prior samples come from numpy, not from a TensorFlow op, so that one seeded RandomState
    # holds all of the prior's randomness and a resumed run can continue it exactly.
    prior_z = tf.placeholder(tf.float32, [None, args.z_dim], name="Prior_samples")
    # Styles and labels we choose ourselves, for drawing: any style can be paired with any digit.
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")
    y_in = tf.placeholder(tf.float32, [None, N_LABELS], name="Decoder_labels")

    z = encoder(x, args.z_dim, args.hidden_units)
    reconstruction = decoder(z, y, args.z_dim, args.hidden_units)
    generated = decoder(z_in, y_in, args.z_dim, args.hidden_units, reuse=True)
    if args.pair_discriminator:
        # The discriminator judges (z, label) pairs: a prior sample goes with the same label as
        # the code it is compared with. Pairs from p(z) p(label) have z independent of the
        # digit, so to pass, a code must not tell the digit: z is left with the style alone.
        real, fake = tf.concat([prior_z, y], 1), tf.concat([z, y], 1)
    else:
        # The original's discriminator judges z alone: all codes together must look like the
        # prior, but a code may still say which digit it is.
        real, fake = prior_z, z
    d_real = discriminator(real, real.shape[1], args.hidden_units)
    d_fake = discriminator(fake, real.shape[1], args.hidden_units, reuse=True)

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
        x=x, y=y, prior_z=prior_z, z_in=z_in, y_in=y_in, z=z, reconstruction=reconstruction,
        generated=generated, reconstruction_loss=reconstruction_loss,
        discriminator_loss=discriminator_loss, generator_loss=generator_loss,
        reconstruction_op=reconstruction_op, discriminator_op=discriminator_op,
        generator_op=generator_op, encoder_vars=encoder_vars, decoder_vars=decoder_vars,
        discriminator_vars=discriminator_vars,
        summaries=tf.summary.merge_all(), saver=tf.train.Saver(max_to_keep=2))


def sample_prior(prior, n, args):
    return prior.randn(n, args.z_dim).astype(np.float32) * args.prior_std


def next_feed(g, data, args, prior):
    """The feed of one iteration: a training batch with its labels, and fresh prior samples."""
    images, labels = data.train.next_batch(args.batch_size)
    return {g.x: images, g.y: labels, g.prior_z: sample_prior(prior, args.batch_size, args)}


def train_step(sess, g, feed):
    """One iteration: the three phases in order; returns their losses by name."""
    _, reconstruction = sess.run([g.reconstruction_op, g.reconstruction_loss], feed_dict=feed)
    _, discriminator = sess.run([g.discriminator_op, g.discriminator_loss], feed_dict=feed)
    _, generator = sess.run([g.generator_op, g.generator_loss], feed_dict=feed)
    return {"reconstruction": reconstruction, "discriminator": discriminator, "generator": generator}


def evaluate(sess, g, data, n=None):
    """(reconstruction MSE, codes, reconstructions) of the first n test images (all by default)."""
    mse, codes, recon = sess.run([g.reconstruction_loss, g.z, g.reconstruction],
                                 feed_dict={g.x: data.test.images[:n], g.y: data.test.labels[:n]})
    return float(mse), codes, recon


def quality(sess, g, args, digit_judge, n_styles):
    """The judge's verdict on n_styles prior styles, each decoded as every digit: how often the
    digit drawn is the digit asked for, in how many rows all ten are, how often it is clearly a digit."""
    styles = sample_prior(np.random.RandomState(args.seed), n_styles, args)
    return digit_judge.score_grid(style_grid(sess, g, styles))


def style_grid(sess, g, styles):
    """Decode every style in `styles` as every digit: row r is styles[r], column c is digit c."""
    grid_z = np.repeat(styles, N_LABELS, axis=0)
    grid_y = np.tile(np.eye(N_LABELS, dtype=np.float32), (len(styles), 1))
    return sess.run(g.generated, feed_dict={g.z_in: grid_z, g.y_in: grid_y})


def train(args):
    resumed = runs.to_resume(args, MODEL)
    data = mnist.load(args.data_dir, args.seed)
    run = runs.start(args, MODEL, resumed, data.train)
    digit_judge = judge.load(args.data_dir)
    g = build_graph(args)
    steps_per_epoch = data.train.num_examples // args.batch_size
    prior = np.random.RandomState(args.seed)

    with tf.Session(config=precision.session_config(args.precision)) as sess:
        writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
        sess.run(tf.global_variables_initializer())
        start = run.restore(sess, g.saver, train=data.train, prior=prior) if args.resume else 0
        summaries.drop_after(writer, start)  # a resume overwrites what came after
        step, losses, started = start, {}, time.time()
        for step in run.steps(start, args, steps_per_epoch):
            feed = next_feed(g, data, args, prior)
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
                    summaries.scalars(writer, step, **{"Test/reconstruction_mse": mse}, **{
                        f"Quality/{k}": v for k, v in
                        quality(sess, g, args, digit_judge, QUALITY_STYLES_PER_EPOCH).items()})
                    # One picture an epoch, always of the same styles (those of --train False's
                    # style_grid.png): scrub through them in TensorBoard's Images tab.
                    styles = sample_prior(np.random.RandomState(args.seed), N_LABELS, args)
                    summaries.image(writer, step, "Images/style_grid",
                                    figures.tile(style_grid(sess, g, styles), N_LABELS, N_LABELS))
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
        judged = quality(sess, g, args, digit_judge, QUALITY_STYLES)
        metrics = {**{f"train_{name}_loss": float(value) for name, value in losses.items()},
                   "test_reconstruction_mse": mse,
                   # A matched posterior has mean 0 and std prior_std in every dimension.
                   "test_code_mean": codes.mean(0).tolist(), "test_code_std": codes.std(0).tolist(),
                   "prior_std": args.prior_std, **judged, "quality_styles": QUALITY_STYLES,
                   "train_seconds": train_seconds}
        run.write_metrics(metrics, args, step, steps_per_epoch)
        run.log(f"Done: test reconstruction MSE {mse:.5f}; test codes per dimension: mean "
                f"{runs.numbers(codes.mean(0))}, std {runs.numbers(codes.std(0))} (the prior's: 0 and "
                f"{args.prior_std:g}).\n{judge.describe(judged, JUDGED)}\nDraw the figures with: "
                f"python {os.path.basename(__file__)} --train False")


def draw(args):
    """Restore a run and save its figures: random styles x digits, real styles x digits, reconstructions."""
    run = runs.Run.find(args, MODEL, args.run)
    run.adopt_args(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args)
    plt = figures.pyplot()
    digits = data.test.labels.argmax(1)
    # The first test image of each digit, so that the borrowed styles come from all ten digits.
    chosen = np.array([np.flatnonzero(digits == d)[0] for d in range(N_LABELS)])
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        _, codes, recon = evaluate(sess, g, data)

        random_styles = sample_prior(np.random.RandomState(args.seed), N_LABELS, args)
        random_grid = style_grid(sess, g, random_styles)
        transfer_grid = style_grid(sess, g, codes[chosen])
        judged = quality(sess, g, args, judge.load(args.data_dir), QUALITY_STYLES)
        print(judge.describe(judged, JUDGED))

    fig, ax = plt.subplots(figsize=(8, 8.4))
    ax.imshow(figures.tile(random_grid, N_LABELS, N_LABELS), cmap="gray")
    ax.set_xticks(28 * np.arange(N_LABELS) + 13.5, labels=range(N_LABELS))
    ax.set_yticks(28 * np.arange(N_LABELS) + 13.5, labels=range(1, N_LABELS + 1))
    ax.set(title="One random style per row, one digit per column",
           xlabel="label given to the decoder",
           ylabel=f"style z ~ N(0, {args.prior_std:g}\u00b2 I), one draw per row")
    figures.save(fig, os.path.join(run.path, "style_grid.png"))

    fig, ax = plt.subplots(figsize=(8.8, 8.4))
    with_inputs = np.concatenate([data.test.images[chosen, None],
                                  transfer_grid.reshape(N_LABELS, N_LABELS, -1)], axis=1)
    ax.imshow(figures.tile(with_inputs, N_LABELS, N_LABELS + 1), cmap="gray")
    ax.axvline(27.5, color="red", linewidth=2)
    ax.set_xticks(28 * np.arange(N_LABELS + 1) + 13.5, labels=["input", *range(N_LABELS)])
    ax.set_yticks([])
    ax.set(title="The style of each test image (left), written as every digit",
           xlabel="label given to the decoder", ylabel="style z = the code of the test image")
    figures.save(fig, os.path.join(run.path, "style_transfer.png"))

    figures.save_reconstructions(data.test.images[:10], recon[:10],
                                 os.path.join(run.path, "reconstructions.png"))
    figures.show_all()


def arg_parser():
    parser = flags.arg_parser(__doc__, z_dim=Z_DIM, epochs=EPOCHS, beta1=BETA1)
    parser.add_argument("--prior_std", type=flags.positive(float), default=PRIOR_STD,
                        help="the prior of z is N(0, prior_std^2 I) (the original: 5)")
    parser.add_argument("--pair_discriminator", type=flags.boolean, nargs="?", const=True,
                        default=PAIR_DISCRIMINATOR,
                        help="the discriminator judges (z, label) pairs against (prior sample, the "
                             "same label) instead of z alone (the original)")
    return parser


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
