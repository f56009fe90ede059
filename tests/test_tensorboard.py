"""TensorBoard on a short real run: its HTTP data API serves what the script wrote, and headless
Chromium draws the run's scalars page.

The run is part 2 for one epoch and a little (230 iterations of batch 250), so both kinds of
summaries are there: those written every 50 iterations and those written at the end of an epoch.
"""
import base64
import io
import json
import math
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import matplotlib.image
import numpy as np
import pytest

from conftest import SMALL, png_size, run_folders, run_in_process

MODEL = "Adversarial_Autoencoder"
BATCH_SIZE, Z_DIM = 250, 2
EPOCH_END = 55000 // BATCH_SIZE  # iteration 220 ends the first epoch
SUMMARY_STEPS = [0, 50, 100, 150, 200]  # the script's LOG_EVERY is 50

# Every tag the run must show, by the TensorBoard plugin that serves it. A TF1 image summary of a
# batch gets one tag per image ("Images/input/image/0", ...), so an image name stands for the tags
# under it.
EXPECTED_TAGS = {
    "scalars": ["Loss/reconstruction", "Loss/discriminator", "Loss/generator",
                "Test/reconstruction_mse", "Quality/digit_likeness"],
    "histograms": ["Distributions/encoder_z", "Distributions/prior_z"],
    "images": ["Images/input", "Images/reconstruction", "Images/latent_grid"],
}
EPOCH_END_SCALARS = ("Test/reconstruction_mse", "Quality/digit_likeness")
LAST_WRITTEN = "Images/latent_grid"  # at the end of the epoch, after EPOCH_END_SCALARS
MNIST_SIDE = 28

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox",  # no screen; CI runs as root, where the sandbox refuses to start
    "--disable-gpu", "--no-first-run",
    # No calls home (updates, sync, field trials): CI's closed network would only refuse them.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic",
]
SCREEN = (1280, 1000)  # width, height of the page, and so of the screenshot


@pytest.fixture(scope="module")
def results(tmp_path_factory, mnist_dir):
    """A results folder holding one run: 230 iterations of part 2."""
    results = tmp_path_factory.mktemp("results")
    run_in_process("adversarial_autoencoder.py", "--train", "True", "--batch_size", BATCH_SIZE,
                   "--max_steps", EPOCH_END + 10, "--seed", "3", *SMALL, results_dir=results)
    return results


@pytest.fixture(scope="module")
def run_name(results):
    """TensorBoard's name for the run: the path of its event files' folder under --logdir."""
    [folder] = run_folders(results, MODEL)
    return os.path.relpath(os.path.join(folder, "Tensorboard"), results).replace(os.sep, "/")


def free_port():
    """A loopback port nothing listens on: the one the system hands out for port 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(server, route, **params):
    """GET a route of TensorBoard's HTTP data API (`/data/<route>`) and decode its JSON."""
    with urllib.request.urlopen(f"{server}/data/{route}?{urllib.parse.urlencode(params)}",
                                timeout=30) as response:
        return json.load(response)


def wait_until_loaded(server, process, run_name, log, timeout=120):
    """Return once TensorBoard serves the run's last summary; fail with its log if it doesn't.

    TensorBoard answers HTTP before it has read anything: a background loop reads the event
    files, and a run can be listed before its events are. It reads a file from start to end, and
    the epoch-end grid image is the last summary the script writes, so once it is served, every
    summary before it is too.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if LAST_WRITTEN in api(server, "plugin/images/tags").get(run_name, {}):
                return
        except (OSError, ValueError):  # not listening yet (or an HTTP error while starting)
            pass
        time.sleep(1)
    log.seek(0)
    pytest.fail(f"TensorBoard did not serve {run_name}'s {LAST_WRITTEN} within {timeout} s "
                f"(exit code {process.poll()}). Its output:\n{log.read()}")


@pytest.fixture(scope="module")
def tensorboard(results, run_name, tmp_path_factory):
    """Base URL of a TensorBoard serving the results folder; stopped after this module."""
    port = free_port()
    with open(tmp_path_factory.mktemp("tensorboard") / "tensorboard.log", "w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(results),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            server = f"http://127.0.0.1:{port}"
            wait_until_loaded(server, process, run_name, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def tags_under(listed, name):
    """The listed tags that are `name` itself or lie under it (`name/...`)."""
    return sorted(tag for tag in listed if tag == name or tag.startswith(name + "/"))


def test_the_run_is_listed(tensorboard, run_name):
    assert api(tensorboard, "runs") == [run_name]


@pytest.mark.parametrize("plugin", EXPECTED_TAGS)
def test_every_expected_tag_is_listed(tensorboard, run_name, plugin):
    listed = api(tensorboard, f"plugin/{plugin}/tags")[run_name]
    missing = [name for name in EXPECTED_TAGS[plugin] if not tags_under(listed, name)]
    assert not missing, f"{plugin} lists no {missing}; it lists {sorted(listed)}"


@pytest.mark.parametrize("tag", EXPECTED_TAGS["scalars"])
def test_scalars_have_a_point_at_each_summary_step(tensorboard, run_name, tag):
    points = api(tensorboard, "plugin/scalars/scalars", run=run_name, tag=tag)
    # each point: [wall time, step, value]
    steps = [step for _, step, _ in points]
    assert steps == ([EPOCH_END] if tag in EPOCH_END_SCALARS else SUMMARY_STEPS)
    assert all(math.isfinite(value) for _, _, value in points)


@pytest.mark.parametrize("tag", EXPECTED_TAGS["histograms"])
def test_histograms_hold_every_code_of_the_batch(tensorboard, run_name, tag):
    histograms = api(tensorboard, "plugin/histograms/histograms", run=run_name, tag=tag)
    assert [step for _, step, _ in histograms] == SUMMARY_STEPS
    for _, step, buckets in histograms:  # buckets: [left edge, right edge, count]
        assert sum(count for _, _, count in buckets) == pytest.approx(BATCH_SIZE * Z_DIM), step


@pytest.mark.parametrize("name", EXPECTED_TAGS["images"])
def test_images_can_be_fetched_and_decoded(tensorboard, run_name, name):
    tags = tags_under(api(tensorboard, "plugin/images/tags")[run_name], name)
    assert tags, f"no image tag under {name}"
    for tag in tags:
        # Each entry points at its picture through an opaque query for the individualImage route.
        entries = api(tensorboard, "plugin/images/images", run=run_name, tag=tag, sample=0)
        assert entries, tag
        with urllib.request.urlopen(f"{tensorboard}/data/plugin/images/individualImage?"
                                    f"{entries[-1]['query']}", timeout=30) as response:
            image = matplotlib.image.imread(io.BytesIO(response.read()), format="png")
        assert image.shape[0] >= MNIST_SIDE and image.shape[1] >= MNIST_SIDE, (tag, image.shape)


# --------------------------------------------------------------------------------------------
# The page in a browser
# --------------------------------------------------------------------------------------------

class HeadlessChromium:
    """Headless Chromium, driven through its DevTools protocol over a pair of pipes.

    With --remote-debugging-pipe, Chromium reads commands on its file descriptor 3 and writes
    answers on 4, each a JSON message ending in a NUL byte, so the standard library suffices
    (the usual route, a WebSocket, would need a package of its own).
    """

    def __init__(self, executable, profile_dir, log):
        commands_in, self._commands = os.pipe()
        self._answers, answers_out = os.pipe()

        def pipes_as_fds_3_and_4():  # runs in the child, between fork and exec
            os.dup2(commands_in, 3)
            os.dup2(answers_out, 4)
            for fd in (3, 4):  # a dup2 onto the same number keeps close-on-exec: clear it
                os.set_inheritable(fd, True)

        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
             "--remote-debugging-pipe", "about:blank"],
            stdout=log, stderr=log, close_fds=False, preexec_fn=pipes_as_fds_3_and_4)
        os.close(commands_in)
        os.close(answers_out)
        self._received, self._last_id = b"", 0

    def send(self, method, session=None, timeout=60, **params):
        """Send one command (to a page when `session` is given) and return its result."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._received:  # events are interleaved with answers: skip them
                raw, self._received = self._received.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._last_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method} within {timeout} s")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.wait()}) during {method}")
            self._received += chunk

    def open(self, url, width, height):
        """Open `url` in a new tab with a page of width x height pixels; return its session."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", session, url=url)
        return session

    def evaluate(self, session, expression):
        """The JSON-able value of a JavaScript expression, run in the page."""
        return self.send("Runtime.evaluate", session, expression=expression,
                         returnByValue=True)["result"].get("value")

    def screenshot(self, session):
        """The page's visible part, as PNG bytes."""
        return base64.b64decode(self.send("Page.captureScreenshot", session, format="png")["data"])

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass  # it may already be gone, having closed the pipe before answering
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# TensorBoard's dashboards are web components: what they show lives in shadow roots, which neither
# innerText nor `chromium --dump-dom` reach. This walks them too and reports the page's text, and
# how many line charts have drawn a line (an SVG path of class "line", once their data arrived).
PAGE_STATE = """(() => {
  const everything = (root, found = []) => {
    if (root.shadowRoot) everything(root.shadowRoot, found);
    for (const child of root.childNodes) { found.push(child); everything(child, found); }
    return found;
  };
  const nodes = everything(document);
  const hidden = ['SCRIPT', 'STYLE', 'NOSCRIPT'];
  const drawn = chart => everything(chart).some(
    n => n.nodeName === 'path' && n.classList.contains('line') && n.getAttribute('d'));
  return {
    text: nodes.filter(n => n.nodeType === Node.TEXT_NODE && !hidden.includes(n.parentNode.nodeName))
               .map(n => n.textContent.trim()).filter(t => t),
    chartsDrawn: nodes.filter(n => n.nodeName === 'VZ-LINE-CHART2' && drawn(n)).length,
  };
})()"""


@pytest.fixture(scope="module")  # module-wide like `results`, so a skip comes before the run
def chromium():
    """Path of Debian's `chromium`; without it, skip, except in CI, whose script installs it."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, though .ci/run installs it")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    return path


def wait_for_charts(browser, page, tags, timeout=120):
    """The page's state once it shows a drawn chart for each tag, or when `timeout` s are up.

    After it loads, the page still fetches the runs, then the tags, then each chart's points.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = browser.evaluate(page, PAGE_STATE)
        shown = all(tag in state["text"] for tag in tags) and state["chartsDrawn"] >= len(tags)
        if shown or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def test_chromium_draws_the_scalars_page(chromium, tensorboard, run_name, tmp_path):
    tags = EXPECTED_TAGS["scalars"]
    screenshot = tmp_path / "scalars.png"
    with open(tmp_path / "chromium.log", "w") as log, \
            HeadlessChromium(chromium, tmp_path / "profile", log) as browser:
        # TensorBoard opens only its first two sections; a tag filter shows every chart in one.
        page = browser.open(f"{tensorboard}/#scalars&tagFilter=.*", *SCREEN)
        state = wait_for_charts(browser, page, tags)
        screenshot.write_bytes(browser.screenshot(page))

    # The tags are card titles and the run is in the run selector: a page of TensorBoard's, about
    # this run, and not an error page.
    assert run_name in state["text"], state["text"]
    assert [tag for tag in tags if tag not in state["text"]] == [], state["text"]
    assert state["chartsDrawn"] >= len(tags), f"{state['chartsDrawn']} charts drawn, see {screenshot}"
    assert png_size(screenshot) == SCREEN
    pixels = matplotlib.image.imread(screenshot)[..., :3].reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50, f"{screenshot} is nearly blank"
