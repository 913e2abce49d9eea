#!/usr/bin/python3
"""Converts an official PyTorch checkpoint (.pth: DINO, DINOv2, MoCo v2,
SwAV, iBOT, torchvision) into safetensors with the parameter names unic's
backbones read (timm / torchvision names).

    tools/convert_checkpoint.py IN.pth OUT.safetensors [--part teacher]

- The state dict is found under the usual keys (a plain state dict;
  'state_dict', 'model', 'teacher', 'student'; --part picks one).
- Prefixes are stripped: 'module.', 'backbone.', 'encoder_q.', 'encoder.',
  'model.' (repeatedly, so 'module.backbone.' and 'module.encoder_q.' go).
- Heads and training-only tensors are dropped and listed: projection and
  prototype heads (DINO 'head.', SwAV 'projection_head.'/'prototypes.'),
  MoCo's key encoder and queue, torchvision's classifier 'fc.'.
- Tensors keep their dtype (F32 / F16 / BF16); the file is written to a
  temporary name and renamed.
Needs Debian's python3-torch."""
import argparse
import json
import os
import struct
import sys

import torch

PARTS = ("state_dict", "model", "teacher", "student", "target_encoder")
PREFIXES = ("module.", "backbone.", "encoder_q.", "encoder.", "model.")
DROP = ("head.", "heads.", "fc.", "projection_head.", "prototypes.", "encoder_k.", "queue",
        "dino_head.", "ibot_head.", "predictor.")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def find_state_dict(ckpt, part):
    if part:
        if part not in ckpt:
            sys.exit(f"convert: no '{part}' in the checkpoint (keys: {sorted(ckpt)[:10]})")
        return ckpt[part]
    if all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    for key in PARTS:
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key]
    sys.exit(f"convert: cannot find a state dict (top-level keys: {sorted(ckpt)[:10]}); "
             "name it with --part")


def strip(name):
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in DTYPES:
            sys.exit(f"convert: tensor '{name}' has unsupported dtype {t.dtype}")
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else \
            t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt", "converted_by": "unic tools/convert_checkpoint.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--part", help="which state dict of a training checkpoint (e.g. teacher)")
    a = ap.parse_args()
    ckpt = torch.load(a.input, map_location="cpu")
    sd = find_state_dict(ckpt, a.part)
    kept, dropped = {}, []
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            continue
        short = strip(name)
        if short.startswith(DROP) or short.endswith("num_batches_tracked"):
            dropped.append(name)
            continue
        if short in kept:
            sys.exit(f"convert: two tensors become '{short}' after stripping prefixes")
        kept[short] = t
    write_safetensors(a.output, kept)
    print(f"convert: {len(kept)} tensors -> {a.output}")
    if dropped:
        print(f"convert: dropped {len(dropped)}: " + ", ".join(dropped[:20]) +
              (" ..." if len(dropped) > 20 else ""))


if __name__ == "__main__":
    main()
