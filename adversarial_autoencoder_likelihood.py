"""How likely part 2's generator makes the test images: the Parzen-window estimate of the paper's
Table 1, for a run of the lesson trained with an 8-D code (the paper's setting).

The lesson's decoder turns samples of the prior N(0, 5^2 I) into images. This script restores a
finished run, decodes --samples prior samples (the paper's 10,000 by default), puts a Gaussian
window on each, and reports the mean log-density of the 10,000 test images under that mixture,
in nats, with the window's width chosen on the validation images (common/likelihood.py). It
writes parzen.json into the run.

    python adversarial_autoencoder.py --train True --z_dim 8 --epochs 10
    python adversarial_autoencoder_likelihood.py                # the newest part-2 run
    python adversarial_autoencoder_likelihood.py --run FOLDER   # that run
"""
import argparse
import json
import os
import sys

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import adversarial_autoencoder as aae  # the lesson: its flags, graph and prior
import tensorflow.compat.v1 as tf
from common import flags, likelihood, mnist, precision, runs

# In 2-D the estimate says little (the paper's Table 1 uses 8-D codes), and the lesson's
# 2-D runs are for pictures.
MIN_Z_DIM = 8
PARZEN_SAMPLES = 10000  # decoded prior samples, the windows' centres (the paper's 10,000)
TRAIN_FIRST = "python adversarial_autoencoder.py --train True --z_dim 8"


def estimate(args):
    """Restore the run, decode prior samples, write and print the test images' log-likelihood."""
    lesson = flags.parse(aae.arg_parser(), [])  # the lesson's flags, replaced by the run's own
    lesson.results_dir, lesson.data_dir = args.results_dir, args.data_dir
    run = runs.Run.find(lesson, aae.MODEL, args.run, train_first=TRAIN_FIRST)
    run.adopt_args(lesson)
    if lesson.z_dim < MIN_Z_DIM:
        raise common.UserError(
            f"{run.path} has a {lesson.z_dim}-D code; the Parzen-window estimate needs "
            f"{MIN_Z_DIM} or more: {TRAIN_FIRST}")
    data = mnist.load(lesson.data_dir, lesson.seed)
    g = aae.build_graph(lesson)
    with tf.Session(config=precision.session_config(lesson.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        samples = aae.sample_prior(np.random.RandomState(lesson.seed), args.samples, lesson)
        generated = sess.run(g.generated, feed_dict={g.z_in: samples})
    result = likelihood.parzen(generated, data.validation.images, data.test.images)
    runs.write_atomically(os.path.join(run.path, "parzen.json"), json.dumps(result, indent=2))
    print(f"Parzen-window log-likelihood of the {data.test.num_examples} test images under "
          f"{args.samples} decoded prior samples: {result['parzen_test_mean']:.1f} +- "
          f"{result['parzen_test_standard_error']:.1f} nats (window width "
          f"{result['parzen_sigma']:.3f}, chosen on the validation images; "
          f"{result['parzen_seconds']:.0f} s)")


def arg_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run", metavar="RUN_FOLDER",
                        help="the part-2 run to score (default: the newest with a checkpoint)")
    parser.add_argument("--samples", type=flags.positive(int), default=PARZEN_SAMPLES,
                        help="decoded prior samples; fewer give a quicker, rougher estimate")
    parser.add_argument("--results_dir", default="Results", help="folder that holds the runs")
    parser.add_argument("--data_dir", default="Data", help="folder holding the four MNIST .gz files")
    return parser


if __name__ == "__main__":
    try:
        estimate(arg_parser().parse_args())
    except common.UserError as e:
        sys.exit(f"error: {e}")
