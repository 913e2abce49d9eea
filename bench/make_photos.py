#!/usr/bin/python3
"""Writes N photo-like 500x375 JPEGs (smooth colour fields, shapes, texture
and sensor-like noise, quality 90) into ROOT/class_k/, for the loader
benchmark. Deterministic for a given seed."""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo(rng, w=500, h=375):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 80 * np.sin(a * x / 60 + b * y / 45 + p * 6)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        r = rng.integers(10, 90)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=colour)
    pil = pil.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(pil).astype(np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    for i in range(n):
        d = os.path.join(root, f"class_{i % 4}")
        os.makedirs(d, exist_ok=True)
        photo(rng).save(os.path.join(d, f"img_{i:04d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
