"""Resident memory of a reduced DiEC fit on the MNIST test split, per phase.

    PYTHONPATH=TREE python benchmarks/studies/fit_memory.py LAYER TIMESTEP

Fits ``DiEC`` (seed 0) on the 10,000 test images with one pretraining
epoch, the search fixed to the one cell ``LAYER@TIMESTEP`` and 30
fine-tuning steps, sampling the process's resident memory every 0.2 s;
prints one JSON line with the memory before the fit, the peak, the peak
within each phase of ``timings_`` and the phases' seconds. ``TREE`` is a
checkout of the code to measure (run it once per commit to compare two).
"""

import json
from pathlib import Path
import sys
import threading
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _data  # noqa: E402
from skdiec import DiEC  # noqa: E402


def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main(layer, timestep):
    X, _ = _data.load("mnist_test")
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            samples.append((time.perf_counter(), resident_mb()))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    before = resident_mb()
    sampler.start()
    start = time.perf_counter()
    est = DiEC(n_clusters=10, random_state=0, pretrain_epochs=1, layers=(layer,),
               timesteps=(timestep,), n_refine_timesteps=0, max_iter=30).fit(X)
    done.set()
    sampler.join()
    phase_peaks, phase_start = {}, start
    for phase, seconds in est.timings_.items():
        inside = [mb for t, mb in samples if phase_start <= t < phase_start + seconds]
        phase_peaks[phase] = round(max(inside)) if inside else None
        phase_start += seconds
    print(json.dumps({"layer": layer, "timestep": timestep, "before_mb": round(before),
                      "peak_mb": round(max(mb for _, mb in samples)), "phase_peaks_mb": phase_peaks,
                      "timings": {k: round(v, 1) for k, v in est.timings_.items()}}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
