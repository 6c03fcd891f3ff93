"""Makes COPIES distinct copies of each photo for bench/run.

Copy 0 is the photo's own bytes; copy r > 0 is the photo cropped by a few
pixels (r % 8 + 1 on the left, r // 8 + 1 on top) and re-encoded as JPEG
(quality 92, the source's chroma subsampling and progressive mode). Every
copy then has different pixels, as a real collection does: identical
copies would have identical labels, which Parquet's zstd would compress
away across rows, and dedupe would drop.

Usage: make_copies.py OUT_DIR COPIES PHOTO...
"""
import os
import shutil
import sys

from PIL import Image, JpegImagePlugin


def main():
    out, copies, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    for path in photos:
        stem = os.path.splitext(os.path.basename(path))[0]
        shutil.copyfile(path, os.path.join(out, f"{stem}-0.jpg"))
        if copies < 2:
            continue
        im = Image.open(path)
        sampling = JpegImagePlugin.get_sampling(im)
        progressive = bool(im.info.get("progressive"))
        im.load()
        for r in range(1, copies):
            dx, dy = r % 8 + 1, r // 8 + 1
            c = im.crop((dx, dy, im.width, im.height))
            c.save(os.path.join(out, f"{stem}-{r}.jpg"), quality=92,
                   subsampling=max(sampling, 0), progressive=progressive)


if __name__ == "__main__":
    main()
