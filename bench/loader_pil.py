#!/usr/bin/python3
"""The reference side of bench/loader.sh: a torchvision-style test pipeline
on PIL (open, convert RGB, Resize(256) bicubic on the short side, CenterCrop
224, to a float32 array), over the same JPEGs with a pool of worker
processes, as a PyTorch DataLoader with num_workers would. Prints
`pil_images_per_s=...` (best of PASSES after a warm-up pass)."""
import glob
import multiprocessing as mp
import sys
import time

import numpy as np
from PIL import Image


def load(path, size=256, crop=224):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    img = img.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    img = img.crop((left, top, left + crop, top + crop))
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1).copy()[0, 0, 0]


def main():
    root, workers, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    paths = sorted(glob.glob(f"{root}/*/*.jpg"))
    best = 0.0
    with mp.Pool(workers) as pool:
        for p in range(passes + 1):
            t0 = time.perf_counter()
            pool.map(load, paths, chunksize=8)
            rate = len(paths) / (time.perf_counter() - t0)
            print(f"# pass {p}: {rate:.1f} images/s", file=sys.stderr)
            if p > 0:
                best = max(best, rate)
    print(f"pil_images_per_s={best:.2f}")


if __name__ == "__main__":
    main()
