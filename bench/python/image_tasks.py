"""The image tasks as a competent Python user writes them: Pillow + numpy.

Per photo: open with JPEG draft mode on (libjpeg DCT scaling to at least
the output size), centre-crop-resize to SIZE with bicubic (Catmull-Rom, as
pretext's default filter), then
  colorize: L* (CIE Lab, D65) as gray + colour target + 4x4-block mean ab
            and its nearest in-gamut bin;
  denoise:  one of gaussian / salt_pepper / poisson / speckle / masking;
  inpaint:  one of center / random_blocks / patches holes, and the mask;
each image encoded as PNG (Pillow's default compression) or as raw uint8
bytes. The clean target is encoded once per photo and shared, as pretext
does: all three tasks make 5 encodes per photo.

Usage: python3 image_tasks.py --tasks colorize,denoise,inpaint --encoding png
       --repeat 3 FILE...   -> one JSON line: images, seconds, cpu_seconds
       (user + system of this process), images_per_s, images_per_cpu_s,
       output_bytes.
Run it with Debian's /usr/bin/python3 (python3-pil, python3-numpy).
"""
import argparse
import io
import json
import sys
import time

import numpy as np
from PIL import Image, ImageOps

# sRGB byte -> linear light.
_c = np.arange(256) / 255.0
LIN = np.where(_c <= 0.04045, _c / 12.92, ((_c + 0.055) / 1.055) ** 2.4)
M = np.array([[0.4124564, 0.3575761, 0.1804375],
              [0.2126729, 0.7151522, 0.0721750],
              [0.0193339, 0.1191920, 0.9503041]])
WHITE = np.array([0.95047, 1.0, 1.08883])
EPS = 216 / 24389
SLOPE = 1 / (3 * (6 / 29) ** 2)


def rgb_to_lab(rgb):
    lin = LIN[rgb]  # H, W, 3
    xyz = lin @ M.T / WHITE
    f = np.where(xyz > EPS, np.cbrt(xyz), xyz * SLOPE + 4 / 29)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return L, a, b


def ab_bin_table():
    # In-gamut cells of the 10-spaced ab grid in [-110, 110]: those that some
    # 8-bit sRGB colour rounds to (computed on a 64^3 subsample for speed).
    v = np.arange(0, 256, 4, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 1, 3)
    _, a, b = rgb_to_lab(rgb)
    ia = np.clip(np.round(a / 10).astype(int) + 11, 0, 22)
    ib = np.clip(np.round(b / 10).astype(int) + 11, 0, 22)
    cells = np.zeros((23, 23), bool)
    cells[ia.ravel(), ib.ravel()] = True
    index = -np.ones((23, 23), np.int16)
    index[cells] = np.arange(cells.sum(), dtype=np.int16)
    return index


BINS = ab_bin_table()


def encode(arr, encoding):
    if encoding == "raw":
        return np.ascontiguousarray(arr).tobytes()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")  # Pillow's default compression
    return buf.getvalue()


def colorize(rgb, encoding):
    L, a, b = rgb_to_lab(rgb)
    gray = np.round(L * 2.55).astype(np.uint8)
    h, w = gray.shape
    s = 4
    ah, aw = h // s, w // s
    ma = a[: ah * s, : aw * s].reshape(ah, s, aw, s).mean(axis=(1, 3))
    mb = b[: ah * s, : aw * s].reshape(ah, s, aw, s).mean(axis=(1, 3))
    target_ab = np.stack([np.clip(np.round(ma), -128, 127), np.clip(np.round(mb), -128, 127)], -1).astype(np.int8)
    ia = np.clip(np.round(ma / 10).astype(int) + 11, 0, 22)
    ib = np.clip(np.round(mb / 10).astype(int) + 11, 0, 22)
    bins = BINS[ia, ib]
    chroma = np.sqrt(a * a + b * b).mean()
    inp = encode(gray, encoding)
    return len(inp) + target_ab.nbytes + bins.nbytes, chroma < 2.0


def denoise(rgb, rng, encoding):
    kind = rng.integers(5)
    x = rgb.astype(np.float64)
    if kind == 0:
        x += rng.normal(0, rng.uniform(5, 50), x.shape)
    elif kind == 1:
        amt = rng.uniform(0.01, 0.1)
        u = rng.random(x.shape[:2])
        x[u < amt] = 255
        x[u < amt / 2] = 0
    elif kind == 2:
        peak = rng.uniform(10, 200)
        x = rng.poisson(x / 255 * peak) / peak * 255
    elif kind == 3:
        x += x * rng.normal(0, rng.uniform(0.05, 0.3), x.shape)
    else:
        x[rng.random(x.shape[:2]) < rng.uniform(0.1, 0.5)] = 0
    noisy = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return len(encode(noisy, encoding))


def inpaint(rgb, rng, encoding):
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    kind = rng.integers(3)
    if kind == 0:
        mask[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = 255
    elif kind == 1:
        need = rng.uniform(0.1, 0.5) * h * w
        while (mask > 0).sum() < need:
            bw, bh = rng.integers(w // 16, w // 3 + 1), rng.integers(h // 16, h // 3 + 1)
            x0, y0 = rng.integers(0, w - bw + 1), rng.integers(0, h - bh + 1)
            mask[y0:y0 + bh, x0:x0 + bw] = 255
    else:
        p = 16
        n = (h // p) * (w // p)
        chosen = rng.permutation(n)[: round(0.75 * n)]
        grid = np.zeros(n, np.uint8)
        grid[chosen] = 255
        mask[: h // p * p, : w // p * p] = np.kron(grid.reshape(h // p, w // p), np.ones((p, p), np.uint8))
    inp = rgb.copy()
    inp[mask > 0] = 127
    return len(encode(inp, encoding)) + len(encode(mask, encoding))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="colorize,denoise,inpaint")
    ap.add_argument("--encoding", default="png", choices=["png", "raw"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-draft", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    out = 0
    n = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    for rep in range(args.repeat):
        for path in args.files:
            rng = np.random.default_rng([rep, n])
            im = Image.open(path)
            if not args.no_draft:
                im.draft("RGB", (args.size, args.size))
            im = ImageOps.fit(im.convert("RGB"), (args.size, args.size), Image.BICUBIC)
            rgb = np.asarray(im)
            out += len(encode(rgb, args.encoding))  # the shared clean target
            if "colorize" in tasks:
                out += colorize(rgb, args.encoding)[0]
            if "denoise" in tasks:
                out += denoise(rgb, rng, args.encoding)
            if "inpaint" in tasks:
                out += inpaint(rgb, rng, args.encoding)
            n += 1
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
    json.dump({"images": n, "seconds": secs, "cpu_seconds": cpu, "images_per_s": n / secs,
               "images_per_cpu_s": n / cpu, "output_bytes": out}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
