#!/usr/bin/env python3
"""The PyTorch side of the peer benchmark: exports the reference image encoders to ONNX, and
runs the reference code itself as a long-lived worker timed round by round (see README.md).

  torch_peer.py export --model mobilesam|vit_b --input input.npy --onnx OUT.onnx
                       --embedding OUT.npy [--checkpoint CKPT] [--state-dict OUT.pt]
  torch_peer.py worker --model mobilesam|vit_b --input input.npy --reference EMB.npy
                       [--checkpoint CKPT] [--golden DIR] [--threads 2]

The reference sources are not packaged: MOBILESAM_SRC names a checkout of MobileSAM (for
mobilesam), SEGMENT_ANYTHING_SRC one of segment-anything (for vit_b). MobileSAM loads the given
checkpoint (the golden random one); vit_b is built with seeded random weights (no checkpoint) and
`export --state-dict` saves them as torch.save does, so our engine loads the same model.
The worker speaks the protocol of peer_ours: one JSON "ready" line with its checks, then
one request per line ("encoder 1", "click 5"), one JSON answer per request.
"""
import argparse
import json
import os
import sys
import time
import types
import warnings

import numpy as np
import torch

SOURCES = {"mobilesam": ("MOBILESAM_SRC", "mobile_sam"), "vit_b": ("SEGMENT_ANYTHING_SRC", "segment_anything")}


class MissingSource(Exception):
    pass


def timm_stand_in():
    """MobileSAM's TinyViT imports four helpers from timm, which Debian does not package. At
    inference they are trivial: drop-path is the identity (vit_t's drop_path_rate is 0)."""
    layers = types.ModuleType("timm.models.layers")
    registry = types.ModuleType("timm.models.registry")

    class DropPath(torch.nn.Module):
        def __init__(self, drop_prob=None):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            return x

    layers.DropPath = DropPath
    layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
    layers.trunc_normal_ = torch.nn.init.trunc_normal_
    registry.register_model = lambda fn: fn
    models = types.ModuleType("timm.models")
    models.layers, models.registry = layers, registry
    timm = types.ModuleType("timm")
    timm.models = models
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                        "timm.models.registry": registry})


def reference_package(model):
    variable, package = SOURCES[model]
    src = os.environ.get(variable, "")
    if not src or not os.path.isfile(os.path.join(src, package, "__init__.py")):
        raise MissingSource(f"{variable} is not set to a checkout with {package}/ in it (got '{src}')")
    sys.path.insert(0, src)
    if model == "mobilesam":
        try:
            import timm  # noqa: F401
        except ImportError:
            timm_stand_in()
    return __import__(package)


def build(model, checkpoint):
    pkg = reference_package(model)
    if model == "mobilesam":
        sam = pkg.sam_model_registry["vit_t"](checkpoint=checkpoint)
    else:
        torch.manual_seed(0)  # random weights unless a saved state dict is given
        sam = pkg.build_sam_vit_b(checkpoint=checkpoint)
    return pkg, sam.eval()


def export(args):
    pkg, sam = build(args.model, args.checkpoint)
    if args.state_dict:
        torch.save(sam.state_dict(), args.state_dict)
    x = torch.from_numpy(np.load(args.input))
    with torch.inference_mode():
        np.save(args.embedding, sam.image_encoder(x).numpy())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the reference's Python-side shape checks
        torch.onnx.export(sam.image_encoder, x, args.onnx, input_names=["image"],
                          output_names=["image_embeddings"], opset_version=17, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(args.onnx)
    print(f"torch_peer.py: exported {args.model} encoder to {args.onnx}", file=sys.stderr)


def max_abs_diff(a, b):
    return float(np.abs(np.asarray(a, np.float32).reshape(-1) - np.asarray(b, np.float32).reshape(-1)).max())


def blas_in_use():
    """Debian's PyTorch does its matrix products in whatever libblas.so.3 the loader finds: the
    reference BLAS is many times slower than OpenBLAS, so the figures must say which one ran."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]}
    return sorted(libs)


def worker(args):
    torch.set_num_threads(args.threads)
    pkg, sam = build(args.model, args.checkpoint)
    x = torch.from_numpy(np.load(args.input))
    figures, checks = {}, []
    with torch.inference_mode():
        emb = sam.image_encoder(x)
        checks.append({"name": "encoder_vs_reference", "max_abs_diff": max_abs_diff(emb, np.load(args.reference)),
                       "tolerance": 5e-3})
        figures["encoder" if args.model == "mobilesam" else "encoder_vit"] = lambda: sam.image_encoder(x)

        if args.model == "mobilesam":
            # The golden ONNX case 0 (one positive click on the photo, as peer_ours runs it):
            # SamPredictor on the golden embedding, the best of the three multimask outputs.
            case = np.load(os.path.join(args.golden, "onnx", "mobile_sam_decoder_single_case0.npz"))
            predictor = pkg.SamPredictor(sam)
            predictor.features = torch.from_numpy(
                np.load(os.path.join(args.golden, "cases", "mobile_sam", "photo", "embedding.npy")))
            predictor.original_size, predictor.input_size = (770, 769), (1024, 1023)
            predictor.is_image_set = True
            coords = case["point_coords"][0, :1] * np.array([769 / 1023, 770 / 1024], np.float32)
            labels = np.array([1])

            def click():
                masks, iou, lowres = predictor.predict(coords, labels, multimask_output=True)
                return iou, lowres

            def decoder():
                # The prompt encoder and mask decoder alone: low-res logits, no upscaling.
                c = torch.as_tensor(predictor.transform.apply_coords(coords, predictor.original_size))[None]
                sparse, dense = sam.prompt_encoder(points=(c, torch.as_tensor(labels)[None]), boxes=None, masks=None)
                return sam.mask_decoder(image_embeddings=predictor.features, image_pe=sam.prompt_encoder.get_dense_pe(),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=True)

            iou, lowres = click()
            best = int(np.argmax(iou))
            checks.append({"name": "click_lowres_vs_golden",
                           "max_abs_diff": max_abs_diff(lowres[best], case["low_res_masks"]), "tolerance": 5e-3})
            checks.append({"name": "click_iou_vs_golden",
                           "max_abs_diff": abs(float(iou[best]) - float(case["iou_predictions"].reshape(-1)[0])),
                           "tolerance": 1e-3})
            decoder()
            figures.update(click=click, decoder=decoder)

        ready = {"ready": True, "engine": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                 "blas": blas_in_use(), "figures": sorted(figures), "checks": checks}
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            reps = int(words[1]) if len(words) > 1 and words[1].isdigit() else 1
            fn = figures.get(words[0])
            if fn is None or reps < 1:
                print(json.dumps({"error": f"unknown request: {line.strip()}"}), flush=True)
                continue
            wall, cpu = [], []
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()  # process time: every thread
                fn()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            # The middle run (the upper one of an even count), as the other workers count.
            print(json.dumps({"figure": words[0], "s": sorted(wall)[reps // 2], "cpu_s": sorted(cpu)[reps // 2],
                              "runs": reps}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("export", "worker"):
        s = sub.add_parser(name)
        s.add_argument("--model", choices=sorted(SOURCES), required=True)
        s.add_argument("--input", required=True, help="encoder input, float32 [1,3,1024,1024] .npy")
        s.add_argument("--checkpoint", help="mobilesam: the checkpoint; vit_b: a state dict saved by export (else random)")
        if name == "export":
            s.add_argument("--onnx", required=True)
            s.add_argument("--embedding", required=True, help="where the reference embedding of --input goes")
            s.add_argument("--state-dict", help="vit_b: save the random weights here (torch.save)")
        else:
            s.add_argument("--reference", required=True, help="expected embedding of --input (.npy)")
            s.add_argument("--golden", help="golden data folder (mobilesam: the click case)")
            s.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    try:
        export(args) if args.command == "export" else worker(args)
    except MissingSource as e:
        print(f"torch_peer.py: {e}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
