"""How likely the test images are under a generator: the Gaussian Parzen-window estimate.

The protocol of the GAN and AAE papers (their Table 1): draw samples from the generator, put a
Gaussian of width sigma on each, and take the log-density of every test image under that mixture.
Sigma is the one, of a grid, that gives the validation images the highest mean log-likelihood.
The result is in nats, as mean +- standard error over the test images. It is a crude estimate
(it rewards blurry samples less than it should punish them), kept because it is how the paper
compares generators.

    log p(x) = logsumexp_i( -|x - s_i|^2 / (2 sigma^2) ) - log N - (D/2) log(2 pi sigma^2)
"""
import math
import time

import numpy as np
from tqdm import tqdm

SIGMAS = np.logspace(np.log10(0.05), 0, 40)  # widths tried on the validation images
BATCH = 250  # images whose distances to every sample are held in memory at once


def log_likelihoods(samples, images, sigmas):
    """(len(sigmas), len(images)) log-densities of each image under each window width.

    Squared distances come from one matrix product per batch of images (|x|^2 + |s|^2 - 2 x.s),
    then every width reuses them.
    """
    samples = np.asarray(samples, np.float32)
    images = np.asarray(images, np.float32)
    sigmas = np.asarray(sigmas, np.float64)
    n, d = samples.shape
    sample_norms = (samples.astype(np.float64) ** 2).sum(1)
    normaliser = -math.log(n) - d / 2 * np.log(2 * np.pi * sigmas ** 2)
    result = np.empty((len(sigmas), len(images)))
    for start in tqdm(range(0, len(images), BATCH), desc="Parzen window", unit="batch",
                      leave=False, disable=None):
        part = images[start:start + BATCH]
        squared = ((part.astype(np.float64) ** 2).sum(1)[:, None] + sample_norms[None]
                   - 2.0 * (part @ samples.T))
        squared = np.maximum(squared, 0.0)
        for i, sigma in enumerate(sigmas):
            exponent = -squared / (2 * sigma ** 2)
            top = exponent.max(1)
            result[i, start:start + len(part)] = (
                top + np.log(np.exp(exponent - top[:, None]).sum(1)) + normaliser[i])
    return result


def parzen(samples, validation, test, sigmas=SIGMAS):
    """Choose sigma on `validation`, then score `test`: a dict for metrics and the printout."""
    started = time.time()
    on_validation = log_likelihoods(samples, validation, sigmas).mean(1)
    best = int(on_validation.argmax())
    on_test = log_likelihoods(samples, test, sigmas[best:best + 1])[0]
    return {"parzen_sigma": float(sigmas[best]),
            "parzen_validation_mean": float(on_validation[best]),
            "parzen_test_mean": float(on_test.mean()),
            "parzen_test_standard_error": float(on_test.std(ddof=1) / math.sqrt(len(on_test))),
            "parzen_samples": len(samples), "parzen_seconds": round(time.time() - started, 1)}
