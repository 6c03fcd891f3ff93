"""Summarises bench/run's measurements: medians, ratios, RATIO lines.

Usage: table.py RESULTS.tsv --mode quick|full --machine TEXT
       [--tokens N] [--instances N] [--frames N] [--docs docs/benchmarks.md]

RESULTS.tsv has one line per run: name, count, unit, wall_s, cpu_s, rss_kb,
out_bytes. A rate "per core" is count / CPU seconds of a GOMAXPROCS=1 (or
single-process Python) run; "wall" is count / wall seconds. Every figure is
the median over the runs of one name; the spread is (max-min)/median of the
per-core rate, the noise of this run.

A ratio of rates is paired: bench/run measures both sides once in every
round, one right after the other, so the i-th runs of the two names share
the machine's load of that moment (this machine is shared, and its load
drifts over minutes). The ratio is the median over the rounds of
rate(num run i) / rate(den run i), and the table gives the rounds' range
too. Peak RSS, and names with different run counts, are compared by their
medians.
"""
import argparse
import csv
import re
import statistics
import sys
from collections import defaultdict

RATIOS = [
    ("colorize_vs_bare", "pipeline_colorize", "bare_colorize", "cpu"),
    ("denoise_vs_bare", "pipeline_denoise", "bare_denoise", "cpu"),
    ("inpaint_vs_bare", "pipeline_inpaint", "bare_inpaint", "cpu"),
    ("colorize_vs_python", "pipeline_colorize", "python_colorize", "cpu"),
    ("colorize_raw_vs_python", "pipeline_colorize_raw", "python_colorize_raw", "cpu"),
    ("text_vs_tokenizer", "pipeline_text", "tokenizer_alone", "cpu"),
    ("rss_10x_vs_1x", "pipeline_all_10x_2procs", "pipeline_all_2procs", "rss"),
    ("workers2_vs_1", "pipeline_all_2procs", "pipeline_all", "wall"),
]
# Shown too, not asked for by name.
EXTRA = [
    ("colorize_raw_vs_bare", "pipeline_colorize_raw", "bare_colorize_raw", "cpu"),
    ("all_vs_bare", "pipeline_all", "bare_all", "cpu"),
    ("all_vs_python", "pipeline_all", "python_all", "cpu"),
    ("bare_colorize_vs_python", "bare_colorize", "python_colorize", "cpu"),
    ("jpeg_scaling_on_vs_off", "pipeline_colorize", "pipeline_colorize_noscale", "cpu"),
]
TARGETS = {
    "colorize_vs_bare": 0.8, "denoise_vs_bare": 0.8, "inpaint_vs_bare": 0.8,
    "colorize_vs_python": 2.0, "colorize_raw_vs_python": 4.0, "text_vs_tokenizer": 0.7,
    "workers2_vs_1": 1.7,
}


def load(path):
    runs = defaultdict(list)
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            runs[r["name"]].append({k: (v if k in ("name", "unit") else float(v)) for k, v in r.items()})
    return runs


def summary(rs):
    cpu = [r["count"] / r["cpu_s"] for r in rs if r["cpu_s"] > 0]
    wall = [r["count"] / r["wall_s"] for r in rs if r["wall_s"] > 0]
    med = statistics.median(cpu) if cpu else 0
    return {
        "runs": len(rs), "unit": rs[0]["unit"], "count": rs[0]["count"],
        "cpu": med, "wall": statistics.median(wall) if wall else 0,
        "spread": (max(cpu) - min(cpu)) / med if med else 0,
        "rss": statistics.median(r["rss_kb"] for r in rs),
        "bytes": statistics.median(r["out_bytes"] for r in rs),
        "cpu_s": statistics.median(r["cpu_s"] for r in rs),
    }


def paired(num, den, kind):
    """The median over rounds of the i-th runs' rate ratio, and its range
    as text; None when the runs cannot be paired (peak RSS, or different
    run counts)."""
    if kind == "rss" or len(num) != len(den):
        return None, ""
    key = "cpu_s" if kind == "cpu" else "wall_s"
    rs = [(a["count"] / a[key]) / (b["count"] / b[key]) for a, b in zip(num, den) if a[key] > 0 and b[key] > 0]
    if not rs:
        return None, ""
    if len(rs) == 1:
        return rs[0], ""
    return statistics.median(rs), f" (median of {len(rs)} rounds: {min(rs):.2f}–{max(rs):.2f})"


def human(n):
    for unit in ("", "K", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}T"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--machine", default="")
    ap.add_argument("--tokens", type=float, default=0)
    ap.add_argument("--instances", type=float, default=0)
    ap.add_argument("--frames", type=float, default=0)
    ap.add_argument("--docs")
    a = ap.parse_args()
    runs = load(a.results)
    s = {name: summary(rs) for name, rs in runs.items()}

    lines = [f"Mode `{a.mode}`; machine: {a.machine}.", ""]
    lines += ["| measurement | runs | per core (/CPU-s) | wall (/s) | spread | output bytes | bytes per item | peak RSS |",
              "|---|---|---|---|---|---|---|---|"]
    for name, m in s.items():
        per = m["bytes"] / m["count"] if m["count"] and m["bytes"] else 0
        lines.append(f"| {name} | {m['runs']} | {m['cpu']:.4g} {m['unit']}/s | {m['wall']:.4g} {m['unit']}/s"
                     f" | {100 * m['spread']:.0f}% | {human(m['bytes'])}B | {human(per)}B | {m['rss'] / 1024:.0f} MB |")
    t = s.get("pipeline_text")
    if t:
        lines += ["", f"Text pipeline per core: {t['count'] / 1e6:.1f} MB in {t['cpu_s']:.1f} CPU-s;"
                  f" {a.instances / t['cpu_s']:.0f} instances/s, {a.tokens / t['cpu_s']:.0f} tokens/s"
                  f" ({a.tokens:.0f} tokens, {a.instances:.0f} instances). Tokenizer alone:"
                  f" {a.tokens / s['tokenizer_alone']['cpu_s']:.0f} tokens/s."]
    v = s.get("pipeline_video")
    if v:
        lines += [f"Video (av_correspond, fps 1): {v['count']:.0f} s of video, {a.frames:.0f} frames sampled:"
                  f" {v['cpu']:.2f} s of video and {a.frames / v['cpu_s']:.2f} frames per CPU-s (ffmpeg's CPU included)."]
    au = s.get("pipeline_audio")
    if au:
        lines += [f"Audio (audio_mask): {au['count']:.0f} s of audio, {au['cpu']:.0f} s of audio per CPU-s."]

    ratios = []
    lines += ["", "| ratio | value | target | from |", "|---|---|---|---|"]
    for name, num, den, kind in RATIOS + EXTRA:
        if num not in s or den not in s:
            continue
        val, rng = paired(runs[num], runs[den], kind)
        if val is None:
            val, rng = s[num][kind] / s[den][kind], ""
        tgt = TARGETS.get(name)
        if name == "rss_10x_vs_1x":
            tgt_s = "≤ 1.3"
            ok = val <= 1.3
        else:
            tgt_s = f"≥ {tgt}" if tgt else ""
            ok = tgt is None or val >= tgt
        basis = {"cpu": "per-core rates", "rss": "peak RSS", "wall": "wall-clock rates"}[kind]
        mark = "" if not (tgt or name == "rss_10x_vs_1x") else (" met" if ok else " **missed**")
        lines.append(f"| {name} | {val:.2f} | {tgt_s}{mark} | {num} / {den}, {basis}{rng} |")
        if (name, num, den, kind) in RATIOS:
            ratios.append((name, val))
    text = "\n".join(lines)
    print(text)
    print()
    for name, val in ratios:
        print(f"RATIO {name} {val:.3f}")
    if a.docs:
        doc = open(a.docs).read()
        new = re.sub(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)",
                     lambda m: m.group(1) + text + "\n" + m.group(2), doc, flags=re.S)
        if new == doc and "<!-- bench:begin -->" not in doc:
            sys.exit("table.py: no bench markers in " + a.docs)
        open(a.docs, "w").write(new)


if __name__ == "__main__":
    main()
