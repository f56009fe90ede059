"""How well a lesson's default run does, over several seeds: its figures, their median, the targets.

    python bench/quality.py supervised_aae                       # seeds 0, 1, 2 of part 3's default run
    python bench/quality.py semi_supervised_aae --seeds 3 4 5     # other seeds
    python bench/quality.py semi_supervised_aae -- --n_labels 100 # flags after -- go to the script
    python bench/quality.py supervised_aae --runs RUN_FOLDER ...  # no training: read finished runs

Each seed trains `python <script>.py --train True --seed S` into a results folder of its own
(under --out), --jobs of them at a time. Runs that share the machine get one thread each
(TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1): on 2 cores, two runs side by side finish
about twice as many epochs an hour as one run alone. When all have finished it reads each run's
metrics.json and prints one row per seed, the median of each figure, and whether the median
meets the lesson's target. The generated-digit figures come from the project's digit judge
(common/judge.py); accuracy is the test split's, measured once at the end of each run.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

from speed import cpu_model  # bench/speed.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"autoencoder": "Autoencoder", "adversarial_autoencoder": "Adversarial_Autoencoder",
          "supervised_aae": "Supervised", "semi_supervised_aae": "Semi_Supervised",
          "semi_supervised_aae_clustering": "Semi_Supervised_Clustering",
          "semi_supervised_aae_labels_only": "Semi_Supervised_Labels_Only"}
# The figures shown for each script, and the range its median must fall in (None: no target).
FIGURES = {
    "autoencoder": {"test_reconstruction_mse": None},
    # a matched posterior: every code dimension's std within 10 % of the prior's 5
    "adversarial_autoencoder": {"test_reconstruction_mse": None, "digit_likeness": None,
                                "code_std_min": (4.5, None), "code_std_max": (None, 5.5)},
    "supervised_aae": {"label_following": (0.97, None), "rows_right": (0.90, None),
                       "digit_likeness": (0.85, None), "test_reconstruction_mse": None},
    "semi_supervised_aae": {"validation_accuracy": None, "test_accuracy": (0.984, None),
                            "label_following": (0.90, None), "rows_right": None,
                            "digit_likeness": None},
    "semi_supervised_aae_clustering": {"test_accuracy": None, "digit_likeness": None},
    "semi_supervised_aae_labels_only": {"validation_accuracy": None, "test_accuracy": None},
}


def train(script, seeds, jobs, out, extra):
    """Train one run per seed, `jobs` at a time; return the run folders, in the order of seeds."""
    env = dict(os.environ)
    if jobs > 1:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    waiting, running, folders = list(seeds), {}, {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                seed = waiting.pop(0)
                results = os.path.join(out, f"seed{seed}")
                log = open(os.path.join(out, f"seed{seed}.log"), "w")
                cmd = [sys.executable, os.path.join(ROOT, f"{script}.py"), "--train", "True",
                       "--seed", str(seed), "--results_dir", results, *extra]
                print(f"started: {' '.join(cmd)}", flush=True)
                running[seed] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT), results, log)
            time.sleep(5)
            for seed, (process, results, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[seed]
                if process.returncode:
                    sys.exit(f"seed {seed} failed (exit {process.returncode}); see {log.name}")
                [folders[seed]] = glob.glob(os.path.join(results, MODELS[script], "*"))
                print(f"finished: seed {seed} in {folders[seed]}", flush=True)
    finally:  # a failed seed (or Ctrl-C) stops the others too, rather than leave them training
        for process, _, log in running.values():
            process.terminate()
            process.wait()
            log.close()
    return [folders[seed] for seed in seeds]


def figures_of(run):
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    if "test_code_std" in metrics:
        metrics["code_std_min"] = min(metrics["test_code_std"])
        metrics["code_std_max"] = max(metrics["test_code_std"])
    with open(os.path.join(run, "run.json")) as f:
        metrics["seed"] = json.load(f)["args"]["seed"]
    return metrics


def report(script, runs):
    """Print one row per run, the medians and the targets; return whether every target is met."""
    rows = [figures_of(run) for run in runs]
    names = list(FIGURES[script])
    print(f"\n{script}: {len(rows)} runs; {cpu_model()}, {os.cpu_count()} cores")
    print(f"{'seed':>6} " + " ".join(f"{n:>24}" for n in names) + f" {'minutes':>8}")
    for row in rows:
        print(f"{row['seed']:>6} " + " ".join(f"{row.get(n, float('nan')):>24.4f}" for n in names)
              + f" {row['train_seconds'] / 60:>8.1f}")
    medians = {n: statistics.median(row.get(n, float("nan")) for row in rows) for n in names}
    print(f"{'median':>6} " + " ".join(f"{medians[n]:>24.4f}" for n in names))
    met = True
    for name, target in FIGURES[script].items():
        if target is None:
            continue
        low, high = target
        ok = (low is None or medians[name] >= low) and (high is None or medians[name] <= high)
        met &= ok
        wanted = " and ".join(text for text in (low is not None and f">= {low}",
                                                high is not None and f"<= {high}") if text)
        print(f"target: median {name} {wanted}: {'met' if ok else 'MISSED'} ({medians[name]:.4f})")
    return met


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", choices=MODELS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained side by side")
    parser.add_argument("--out", default=os.path.join(ROOT, "Results", "bench_quality"),
                        help="folder that receives one results folder per seed")
    parser.add_argument("--runs", nargs="+", help="read these finished run folders; train nothing")
    # Everything after "--" goes to the script itself.
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:split]), argv[split + 1:]
    if args.runs:
        runs = args.runs
    else:
        out = os.path.join(args.out, args.script, time.strftime("%Y-%m-%d_%H-%M-%S"))
        os.makedirs(out)
        runs = train(args.script, args.seeds, args.jobs, out, extra)
    sys.exit(0 if report(args.script, runs) else 1)


if __name__ == "__main__":
    main()
