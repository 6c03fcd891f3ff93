"""The timing every PyTorch twin in bench/torch shares: 3 untimed warm-up
steps, then STEPS timed ones; one line in the format bench/torch-compare
parses."""
import time

import torch


def report(step, model, batch, steps, threads):
    for _ in range(3):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"torch {torch.__version__} threads={threads} batch={batch} steps={steps} "
          f"examples_per_s={steps*batch/wall:.1f} examples_per_cpu_s={steps*batch/cpu:.1f} "
          f"params={sum(p.numel() for p in model.parameters())}")
