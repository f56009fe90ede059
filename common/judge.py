"""An independent judge of generated digits: a small convolutional MNIST classifier.

The lessons claim things about what their decoders draw: part 2's "every point of the prior
decodes to a digit", part 3's "hold the style, change the label, and the digit changes with it".
The judge turns those claims into numbers. It is trained once, on the 55,000 training images
only (never on anything a decoder drew), cached in <data_dir>/judge/, and refuses to score
unless it classifies at least 99 % of the 10,000 test images correctly (measured when it is
trained, and kept in the cache beside its weights' md5s). A cache made by another recipe, from
other files, or damaged is trained anew. With it:

- label-following: decode styles z drawn from the prior, each as every digit 0-9; the share of
  images the judge reads as the digit the decoder was given;
- rows right: the share of those styles whose ten images are all read as their digits;
- digit-likeness: the share of decoded prior samples the judge reads with confidence >= 0.9;
- digits drawn: how the judged digits spread over the ten classes, as an effective number of
  digits (the exponential of the entropy of their shares): 10 when each digit is drawn as often,
  1 when the decoder draws one digit. A collapsed decoder that draws one clear digit for every
  sample has a digit-likeness of 100 %; this figure, printed beside it, gives it away.

    from common import judge
    digit_judge = judge.load(args.data_dir)    # trains it the first time (a minute or two)
    digit_judge.score_grid(images)             # rows of 10 images, digits 0-9 in order
    digit_judge.score(images)                  # digit-likeness alone

Network: 28x28 -> conv 5x5 (32) -> max-pool -> conv 5x5 (64) -> max-pool -> 256 -> 10, ReLU;
Adam, batches of 100, 3 epochs at learning rate 0.001 and a fourth at 0.0001.
"""
import contextlib
import fcntl
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow.compat.v1 as tf
from tqdm import tqdm

from common import UserError, mnist

ACCURACY_FLOOR = 0.99  # on the test images; below it the judge's verdicts are not worth having
CONFIDENT = 0.9  # a digit is "clearly a digit" when the judge gives one class this probability
SEED = 0
EPOCHS = ((1e-3, 3), (1e-4, 1))  # (learning rate, epochs), in order
BATCH_SIZE = 100
VERSION = 1  # changes whenever the network or its training does, so that an old cache is retrained
FOLDER = "judge"
PREFIX = "judge"


def conv(x, size, n_in, n_out, name):
    """A 'same' convolution, x * W + b, whose variables live in their own scope."""
    with tf.variable_scope(name):
        weights = tf.get_variable("weights", [size, size, n_in, n_out],
                                  initializer=tf.glorot_uniform_initializer())
        bias = tf.get_variable("bias", [n_out], initializer=tf.zeros_initializer())
        return tf.nn.conv2d(x, weights, strides=1, padding="SAME") + bias


def dense(x, n_in, n_out, name):
    with tf.variable_scope(name):
        weights = tf.get_variable("weights", [n_in, n_out], initializer=tf.glorot_uniform_initializer())
        bias = tf.get_variable("bias", [n_out], initializer=tf.zeros_initializer())
        return tf.matmul(x, weights) + bias


def classifier(x):
    """Images (784 pixels in [0, 1]) -> logits of the ten digits."""
    with tf.variable_scope("Judge"):
        h = tf.reshape(x, [-1, 28, 28, 1])
        h = tf.nn.max_pool2d(tf.nn.relu(conv(h, 5, 1, 32, "conv_1")), 2, 2, "VALID")
        h = tf.nn.max_pool2d(tf.nn.relu(conv(h, 5, 32, 64, "conv_2")), 2, 2, "VALID")
        h = tf.nn.relu(dense(tf.reshape(h, [-1, 7 * 7 * 64]), 7 * 7 * 64, 256, "dense"))
        return dense(h, 256, 10, "logits")


class Judge:
    """The classifier in a graph and session of its own, beside whatever model a script builds."""

    def __init__(self, threads=0):
        """threads: TensorFlow's threads for its operations; 0, TensorFlow's own choice (which
        TF_NUM_INTRAOP_THREADS sets)."""
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(SEED)
            self.x = tf.placeholder(tf.float32, [None, 784], name="Images")
            self.y = tf.placeholder(tf.float32, [None, 10], name="Labels")
            self.learning_rate = tf.placeholder(tf.float32, [], name="Learning_rate")
            logits = classifier(self.x)
            self.probabilities = tf.nn.softmax(logits)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=self.y, logits=logits))
            self.train_op = tf.train.AdamOptimizer(self.learning_rate).minimize(loss)
            self.saver = tf.train.Saver(tf.trainable_variables(scope="Judge"), save_relative_paths=True)
            self.sess = tf.Session(graph=self.graph, config=tf.ConfigProto(
                intra_op_parallelism_threads=threads))
            self.sess.run(tf.global_variables_initializer())
        self.test_accuracy = None

    def train(self, dataset, epochs=EPOCHS):
        """Fit the classifier to `dataset` (never to generated images)."""
        steps = dataset.num_examples // BATCH_SIZE
        total = steps * sum(n for _, n in epochs)
        with tqdm(total=total, desc="training the digit judge", unit="it", leave=False,
                  disable=None) as bar:
            for rate, n_epochs in epochs:
                for _ in range(n_epochs * steps):
                    images, labels = dataset.next_batch(BATCH_SIZE)
                    self.sess.run(self.train_op, feed_dict={self.x: images, self.y: labels,
                                                            self.learning_rate: rate})
                    bar.update()

    def probabilities_of(self, images):
        images = np.asarray(images, np.float32).reshape(-1, 784)
        return np.concatenate([self.sess.run(self.probabilities, feed_dict={self.x: part})
                               for part in np.array_split(images, max(1, len(images) // 1000))])

    def accuracy(self, dataset):
        return float(np.mean(self.probabilities_of(dataset.images).argmax(1) == dataset.labels.argmax(1)))

    def score(self, images):
        """{"digit_likeness": share of images read as some digit with confidence >= CONFIDENT,
        "digits_drawn": how many digits they spread over (see digits_drawn)}."""
        probabilities = self.probabilities_of(images)
        return {"digit_likeness": float(np.mean(probabilities.max(1) >= CONFIDENT)),
                "digits_drawn": digits_drawn(probabilities)}

    def score_grid(self, images):
        """Label-following, rows right and digit-likeness of a style x digit grid.

        images: rows of ten, in order: row r holds style r decoded as digits 0, 1, ..., 9.
        """
        probabilities = self.probabilities_of(images)
        right = (probabilities.argmax(1) == np.tile(np.arange(10), len(probabilities) // 10))
        return {"label_following": float(right.mean()),
                "rows_right": float(right.reshape(-1, 10).all(1).mean()),
                "digit_likeness": float(np.mean(probabilities.max(1) >= CONFIDENT)),
                "digits_drawn": digits_drawn(probabilities)}

    def check(self, data):
        """Measure the test accuracy; refuse (UserError) a judge below the floor."""
        return self.passes(self.accuracy(data.test))

    def passes(self, test_accuracy):
        """The judge, with its test accuracy; refuse (UserError) it below the floor."""
        self.test_accuracy = test_accuracy
        if self.test_accuracy < ACCURACY_FLOOR:
            raise UserError(f"the digit judge classifies only {100 * self.test_accuracy:.2f} % of the "
                            f"test images correctly (it must reach {100 * ACCURACY_FLOOR:g} %): its "
                            f"scores would mean little. Delete its folder to train it again.")
        return self


def digits_drawn(probabilities):
    """The effective number of digits the judge reads among the images: exp of the entropy of
    the share read as each digit; 10 for an even spread, 1 when all are read as one digit."""
    shares = np.bincount(probabilities.argmax(1), minlength=10) / len(probabilities)
    shares = shares[shares > 0]
    return float(np.exp(-np.sum(shares * np.log(shares))))


# Below this effective number of digits, the decoder draws few digits: its digit-likeness, high
# as it may be, is that of a collapsed decoder.
FEW_DIGITS = 5


def fingerprint():
    """What a cached judge must have been made from: this recipe and these MNIST files."""
    return {"version": VERSION, "seed": SEED, "epochs": [list(e) for e in EPOCHS], "mnist": mnist.FILES}


FIGURE_NAMES = {"label_following": "label-following", "rows_right": "rows right",
                "digit_likeness": "digit-likeness"}


def describe(scores, what):
    """The judge's scores (from score() or score_grid()) as one line of a script's output."""
    line = f"Digit judge, {what}: " + ", ".join(
        f"{FIGURE_NAMES[name]} {100 * value:.1f} %" for name, value in scores.items()
        if name in FIGURE_NAMES)
    if "digits_drawn" in scores:
        line += f", spread over {scores['digits_drawn']:.1f} of the 10 digits"
        if scores["digits_drawn"] < FEW_DIGITS:
            line += " (the decoder draws few digits: its digit-likeness says little)"
    return line


def weight_files(folder):
    return {name: os.path.join(folder, f"{PREFIX}{name}") for name in (".index", ".data-00000-of-00001")}


def cached(folder):
    """What judge.json says of the judge in `folder` if it was made by this recipe from these
    files and is undamaged; None otherwise."""
    try:
        with open(os.path.join(folder, "judge.json")) as f:
            saved = json.load(f)
        fits = saved["fingerprint"] == fingerprint() and all(
            mnist.md5_of(path) == saved["md5"][name] for name, path in weight_files(folder).items())
        return saved if fits and isinstance(saved["test_accuracy"], float) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load(data_dir, threads=None):
    """The judge cached in <data_dir>/judge/, trained and cached first if there is none that fits.

    Whether cached or new, its accuracy on the test images is checked before it scores anything.
    threads: TensorFlow's threads if it must be trained; every core unless told otherwise.
    """
    folder = os.path.join(data_dir, FOLDER)
    with one_trainer(data_dir):
        saved = cached(folder)
        # Scripts side by side, each given one thread, wait while one of them trains the judge:
        # it takes every core.
        judge = Judge() if saved else Judge(threads=threads or os.cpu_count())
        if saved:
            # The very weights it was measured with (their md5s match): measuring them again in
            # every script would cost a pass over the test images and loading MNIST once more.
            judge.saver.restore(judge.sess, os.path.join(folder, PREFIX))
            return judge.passes(saved["test_accuracy"])
        data = mnist.load(data_dir, SEED)
        print(f"Training the digit judge (once: it is kept in {folder})", flush=True)
        judge.train(data.train)
        judge.check(data)
        save(judge, folder)
    return judge


@contextlib.contextmanager
def one_trainer(data_dir):
    """Held while a script looks for the judge and trains it if there is none, so that scripts
    started side by side on a fresh data folder wait for the first one's judge instead of each
    training their own. The lock is the kernel's (flock): a script that dies lets go of it. A data
    folder that cannot take the lock file gets no lock (nor a cache)."""
    try:
        lock = open(os.path.join(data_dir, ".judge.lock"), "a")
    except OSError:
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("Waiting for another script to finish training the digit judge", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def save(judge, folder):
    """Write the judge's weights and fingerprint to `folder`, replacing any older judge at once."""
    parent = os.path.dirname(os.path.abspath(folder))
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=".judge-", dir=parent)
        os.chmod(staging, 0o755)
        judge.saver.save(judge.sess, os.path.join(staging, PREFIX), write_meta_graph=False)
        md5 = {name: mnist.md5_of(path) for name, path in weight_files(staging).items()}
        with open(os.path.join(staging, "judge.json"), "w") as f:
            json.dump({"fingerprint": fingerprint(), "md5": md5,
                       "test_accuracy": judge.test_accuracy}, f, indent=2)
        # Two scripts may train a judge at the same time: whichever finishes last wins, and
        # neither ever sees half a folder.
        old = tempfile.mkdtemp(prefix=".judge-old-", dir=parent)
        if os.path.isdir(folder):
            os.replace(folder, os.path.join(old, FOLDER))
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"warning: could not keep the digit judge in {folder} ({e.strerror or e}); it will "
              f"be trained again next time.")
