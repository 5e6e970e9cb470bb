#!/usr/bin/env python3
"""Image-input fixtures for tests/unit/image_test.cpp -> tests/fixtures/images/ (README.md there is kept).

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/gen_image_fixtures.py      # a few seconds

Writes (after deleting everything in tests/fixtures/images/ but README.md):
  samples/         small procedurally generated images of odd sizes (gradients, shapes, noise;
                   no text): PNG RGB / RGBA / gray / gray+alpha / palette, JPEG (4:2:0, 4:4:4,
                   progressive, gray), BMP (24-bit, 8-bit palette), GIF (2 frames; one with a
                   transparent palette index).
  decoded.safetensors   U8 [h, w, 3] per sample: PIL Image.open(f).convert("RGB") (GIF: frame 0).
  resized_rgb_37x53.safetensors   U8 [h, w, 3] "<filter>/<w>x<h>": PIL resize of one sample, all six
                   filters, sizes on both sides of Pillow 13's pass-order switch.
  bad/             truncated, corrupt, unsupported-format, zero-size, empty and bomb files
                   (table in bad/README.md, written below).
  preprocess/<case>/    a model directory holding only what preprocessing reads
                   (preprocessor_config.json for HF cases, config.json for MambaVision cases).
  preprocess/expected.safetensors   F32 [3, H, W] named "<case>/<sample>": the reference output.
  manifest.json    cases, model sizes, samples per case, library versions.

References:
  * HF cases: transformers' ViTImageProcessorPil (the PIL backend of ViTImageProcessor;
    transformers 5's default ViTImageProcessor is the torchvision backend and torchvision is not
    installed here) loaded from the case directory, applied to the PIL image after convert("RGB").
  * MambaVision cases: timm's eval transform (transforms_imagenet_eval, crop_mode center/squash/border)
    emulated with PIL + numpy exactly as torchvision executes it on a PIL image: Resize (shorter
    side, or both sides for squash) with PIL, CenterCrop with round-half-even offsets, ToTensor
    (float32 / 255), Normalize ((x - mean) / std in float32). timm/torchvision are not installed.
"""
import io
import json
import math
import os
import shutil
import struct
import zlib

import numpy as np
import PIL
from PIL import Image
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")
rng = np.random.default_rng(1234)


# ---- procedural content -------------------------------------------------------------------
def scene(w, h, seed):
    """uint8 [h, w, 3]: two gradients, a disc, a rectangle, a diagonal band and mild noise."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)
    cx, cy, rad = w * 0.6, h * 0.4, min(w, h) * 0.3
    disc = (x - cx) ** 2 + (y - cy) ** 2 < rad ** 2
    img[disc] = [250, 40, 30]
    img[int(h * 0.6):int(h * 0.85), int(w * 0.1):int(w * 0.45)] = [20, 30, 220]
    band = np.abs((x - y * w / h)) < max(1.5, w / 20)
    img[band] = [255, 255, 255]
    img += r.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(w, h, idat_rows=1):
    """A hand-made 8-bit RGB PNG whose header claims w x h; IDAT holds only `idat_rows` rows of 1 pixel."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80\x80\x80" for _ in range(idat_rows))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) +
            png_chunk(b"IEND", b""))


def main():
    if os.path.isdir(ROOT):  # everything is regenerated except the hand-written README.md
        for entry in os.listdir(ROOT):
            path = os.path.join(ROOT, entry)
            if entry == "README.md":
                continue
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(ROOT, exist_ok=True)
    sdir = os.path.join(ROOT, "samples")
    bdir = os.path.join(ROOT, "bad")
    pdir = os.path.join(ROOT, "preprocess")
    for d in (sdir, bdir, pdir):
        os.makedirs(d)

    # ---- samples ---------------------------------------------------------------------------
    samples = {}

    def save(name, im, **kw):
        path = os.path.join(sdir, name)
        im.save(path, **kw)
        samples[name] = path

    save("rgb_37x53.png", Image.fromarray(scene(37, 53, 1)))
    save("photo_300x199.png", Image.fromarray(scene(300, 199, 2)))
    rgba = np.dstack([scene(41, 29, 3), np.tile(np.linspace(0, 255, 41).astype(np.uint8), (29, 1))])
    rgba[:, :5, 3] = 0  # fully transparent columns with colour: convert("RGB") keeps the colour
    save("rgba_41x29.png", Image.fromarray(rgba, "RGBA"))
    save("gray_13x7.png", Image.fromarray(scene(13, 7, 4)[..., 1], "L"))
    la = np.dstack([scene(23, 17, 5)[..., 0], scene(23, 17, 6)[..., 2]])
    save("gray_alpha_23x17.png", Image.fromarray(la, "LA"))
    save("palette_31x19.png", Image.fromarray(scene(31, 19, 7)).quantize(colors=23, dither=Image.Dither.NONE))
    photo = Image.fromarray(scene(300, 199, 2))
    save("photo_300x199.jpg", photo, quality=90)                     # 4:2:0 (Pillow's default)
    save("rgb_45x33_444.jpg", Image.fromarray(scene(45, 33, 8)), quality=95, subsampling=0)
    save("rgb_61x47_progressive.jpg", Image.fromarray(scene(61, 47, 9)), quality=85, progressive=True)
    save("gray_29x21.jpg", Image.fromarray(scene(29, 21, 10)[..., 0], "L"), quality=90)
    save("rgb_45x33.bmp", Image.fromarray(scene(45, 33, 11)))
    save("palette_27x15.bmp", Image.fromarray(scene(27, 15, 12)).quantize(colors=16, dither=Image.Dither.NONE))
    f0 = Image.fromarray(scene(27, 21, 13)).quantize(colors=32, dither=Image.Dither.NONE)
    f1 = Image.fromarray(scene(27, 21, 14)).quantize(colors=32, dither=Image.Dither.NONE)
    path = os.path.join(sdir, "anim_27x21.gif")
    f0.save(path, save_all=True, append_images=[f1], duration=100, loop=0)
    samples["anim_27x21.gif"] = path

    tq = Image.fromarray(scene(19, 13, 15)).quantize(colors=12, dither=Image.Dither.NONE)
    tq.putpixel((0, 0), 5)
    path = os.path.join(sdir, "transparent_19x13.gif")  # palette index 5 transparent
    tq.save(path, transparency=5)
    samples["transparent_19x13.gif"] = path

    decoded = {}
    for name, path in sorted(samples.items()):
        with Image.open(path) as im:
            im.seek(0)
            decoded[name] = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    save_file(decoded, os.path.join(ROOT, "decoded.safetensors"),
              metadata={"source": f"Pillow {PIL.__version__}: Image.open(f).convert('RGB'), frame 0"})

    # ---- direct resizes: PIL Image.resize on a decoded sample, every filter, sizes around Pillow 13's
    # pass-order switch (vertical first iff the height shrinks by more than twice the width's shrink)
    resized = {}
    src = Image.open(samples["rgb_37x53.png"]).convert("RGB")
    filters = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
    sizes = [(11, 1), (12, 1), (21, 26), (22, 26), (10, 3), (30, 10), (12, 16), (45, 40), (40, 56), (36, 52),
             (38, 52), (37, 20), (20, 53), (1, 1), (5, 90), (111, 7)]
    for fname, fid in filters.items():
        for (w, h) in sizes:
            resized[f"{fname}/{w}x{h}"] = np.ascontiguousarray(np.asarray(src.resize((w, h), fid), dtype=np.uint8))
    save_file(resized, os.path.join(ROOT, "resized_rgb_37x53.safetensors"),
              metadata={"source": f"Pillow {PIL.__version__}: Image.open('samples/rgb_37x53.png')"
                                  ".convert('RGB').resize((w, h), filter) as [h, w, 3] uint8"})

    # ---- bad inputs ------------------------------------------------------------------------
    png = open(samples["rgb_37x53.png"], "rb").read()
    jpg = open(samples["photo_300x199.jpg"], "rb").read()
    bmp = open(samples["rgb_45x33.bmp"], "rb").read()
    gif = open(samples["anim_27x21.gif"], "rb").read()
    bad = {}
    bad["truncated.png"] = (png[: len(png) // 2], "FORMAT", "PNG cut in the middle of IDAT")
    bad["truncated.jpg"] = (jpg[: len(jpg) * 6 // 10], "FORMAT", "JPEG cut in the entropy-coded data")
    bad["truncated_header.jpg"] = (jpg[:40], "FORMAT", "JPEG cut inside its headers")
    bad["truncated.bmp"] = (bmp[: len(bmp) // 2], "FORMAT", "BMP missing half its pixel rows")
    bad["truncated.gif"] = (gif[: len(gif) // 3], "FORMAT", "GIF cut inside the first frame")
    ihdr_bad = bytearray(png)
    ihdr_bad[25] = 9  # colour type 9 does not exist
    bad["bad_color_type.png"] = (bytes(ihdr_bad), "FORMAT", "PNG whose IHDR names colour type 9")
    jb = bytearray(jpg)
    sof = jb.find(b"\xff\xc0")
    jb[sof + 9] = 7  # component count 7 in SOF0
    bad["bad_sof.jpg"] = (bytes(jb), "FORMAT", "JPEG whose SOF0 claims 7 components")
    bad["garbage.png"] = (bytes(rng.integers(0, 256, 500, dtype=np.uint8)), "FORMAT", "random bytes")
    bad["text.txt"] = (b"this is not an image\n", "FORMAT", "plain text")
    buf = io.BytesIO()
    Image.fromarray(scene(16, 12, 20)).save(buf, "WEBP")
    bad["image.webp"] = (buf.getvalue(), "FORMAT", "WebP (valid, unsupported format)")
    buf = io.BytesIO()
    Image.fromarray(scene(16, 12, 21)).save(buf, "TIFF")
    bad["image.tiff"] = (buf.getvalue(), "FORMAT", "TIFF (valid, unsupported format)")
    bad["empty.png"] = (b"", "INVALID_ARGUMENT", "zero bytes")
    bad["zero_width.png"] = (raw_png(0, 5), "INVALID_ARGUMENT", "PNG header claims 0x5 pixels")
    bad["zero_size.gif"] = (b"GIF89a\x00\x00\x00\x00\x00\x00\x00;", "INVALID_ARGUMENT", "GIF screen 0x0")
    bad["bomb_60000x60000.png"] = (raw_png(60000, 60000), "INVALID_ARGUMENT",
                                   "tiny PNG claiming 60000x60000 (3.6 Gpx): refused from the header")
    with open(os.path.join(bdir, "README.md"), "w") as f:
        f.write("# Bad image inputs (made by tools/gen_image_fixtures.py)\n\n| file | expected status | what |\n"
                "|---|---|---|\n")
        for name, (data, status, what) in sorted(bad.items()):
            with open(os.path.join(bdir, name), "wb") as g:
                g.write(data)
            f.write(f"| {name} | KRAIT_ERR_{status} | {what} |\n")

    # ---- preprocessing cases ---------------------------------------------------------------
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil
    import transformers

    imagenet_mean, imagenet_std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    pre_samples = ["photo_300x199.png", "rgb_37x53.png", "gray_13x7.png", "rgba_41x29.png"]
    hf_cases = {
        # name: (preprocessor_config.json contents, model_h, model_w)
        "vit_bilinear_48": ({"image_processor_type": "ViTImageProcessor", "do_resize": True,
                             "size": {"height": 48, "width": 48}, "resample": 2, "do_rescale": True,
                             "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
                             "image_std": [0.5, 0.5, 0.5]}, 48, 48),
        "vit_bicubic_40x56": ({"image_processor_type": "ViTImageProcessor", "size": {"height": 40, "width": 56},
                               "resample": 3, "image_mean": imagenet_mean, "image_std": imagenet_std}, 40, 56),
        "vit_nearest_33x17": ({"size": {"height": 33, "width": 17}, "resample": 0}, 33, 17),
        "vit_lanczos_24": ({"size": 24, "resample": 1}, 24, 24),
        "vit_box_20x28": ({"size": {"height": 20, "width": 28}, "resample": 4}, 20, 28),
        "vit_hamming_30": ({"size": {"height": 30, "width": 30}, "resample": 5}, 30, 30),
        "hf_shortest_edge_crop": ({"size": {"shortest_edge": 40}, "resample": 3, "do_center_crop": True,
                                   "crop_size": {"height": 32, "width": 36}, "image_mean": imagenet_mean,
                                   "image_std": imagenet_std}, 32, 36),
        "hf_crop_pads": ({"do_resize": False, "do_center_crop": True, "crop_size": {"height": 60, "width": 40},
                          "do_normalize": False}, 60, 40),
    }
    mv_cases = {
        # name: (config.json contents, model_h, model_w)
        "mv_default_32": ({"model_type": "mambavision", "dim": 80, "depths": [1, 3, 8, 4]}, 32, 32),
        "mv_crop875_40": ({"model_type": "mambavision", "crop_pct": 0.875, "crop_mode": "center",
                           "interpolation": "bicubic", "mean": imagenet_mean, "std": imagenet_std}, 40, 40),
        "mv_small_arch_48": ({"model_type": "mambavision", "dim": 96, "depths": [3, 3, 7, 5]}, 48, 48),
        "mv_squash_36": ({"model_type": "mambavision", "crop_pct": 0.9, "crop_mode": "squash",
                          "interpolation": "bilinear", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.4]}, 36, 36),
        # border: fit inside, pad with round(255 * mean) = (76, 128, 178): Python rounds half to even
        "mv_border_36": ({"model_type": "mambavision", "crop_pct": 0.95, "crop_mode": "border",
                          "interpolation": "bicubic", "mean": [0.3, 0.5, 0.7], "std": [0.25, 0.25, 0.25]}, 36, 36),
        # non-square center: timm's ResizeKeepRatio without its interpolation argument (bilinear)
        "mv_nonsquare_32x48": ({"model_type": "mambavision", "crop_pct": 0.9, "crop_mode": "center",
                                "interpolation": "bicubic"}, 32, 48),
    }
    mv_default_pct = {"mv_default_32": 1.0, "mv_small_arch_48": 0.93}

    def timm_eval(im, th, tw, crop_pct, crop_mode, interp, mean, std):
        interp_enum = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                       "nearest": Image.Resampling.NEAREST}[interp]
        sh, sw = math.floor(th / crop_pct), math.floor(tw / crop_pct)
        w, h = im.size
        fill = (0, 0, 0)

        def keep_ratio(longest):  # timm ResizeKeepRatio.get_params (no random parts)
            ratio_h, ratio_w = h / sh, w / sw
            ratio = max(ratio_h, ratio_w) * longest + min(ratio_h, ratio_w) * (1. - longest)
            return [round(x * 1.0 / ratio) for x in (h, w)]

        if crop_mode == "squash":
            size = (sh, sw)
        elif crop_mode == "border":
            size = keep_ratio(1.0)
            fill = tuple(round(255 * v) for v in mean)
        elif sh != sw:
            size = keep_ratio(0.0)
            interp_enum = Image.Resampling.BILINEAR  # ResizeKeepRatio(scale_size): default interpolation
        else:
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = sh, int(sh * long / short)
            size = (new_long, new_short) if w <= h else (new_short, new_long)
        if [h, w] != list(size):
            im = im.resize((size[1], size[0]), interp_enum)
        w, h = im.size
        if tw > w or th > h:  # torchvision center_crop / timm center_crop_or_pad pad first
            pad = [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                   (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0]
            canvas = Image.new("RGB", (w + pad[0] + pad[2], h + pad[1] + pad[3]), fill)
            canvas.paste(im, (pad[0], pad[1]))
            im = canvas
            w, h = im.size
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        im = im.crop((left, top, left + tw, top + th))
        x = np.asarray(im, dtype=np.uint8).astype(np.float32) / np.float32(255)
        x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1).astype(np.float32))

    expected, manifest_cases = {}, []
    for name, (cfg, mh, mw) in hf_cases.items():
        d = os.path.join(pdir, name)
        os.makedirs(d)
        with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        proc = ViTImageProcessorPil.from_pretrained(d)
        for s in pre_samples:
            with Image.open(samples[s]) as im:
                rgb = im.convert("RGB")
            out = proc(images=rgb, return_tensors="np")["pixel_values"][0]
            expected[f"{name}/{s}"] = np.ascontiguousarray(out.astype(np.float32))
        manifest_cases.append({"name": name, "model_type": "vit", "model_h": mh, "model_w": mw,
                               "reference": "transformers ViTImageProcessorPil", "samples": pre_samples})
    for name, (cfg, mh, mw) in mv_cases.items():
        d = os.path.join(pdir, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        crop_pct = cfg.get("crop_pct", mv_default_pct.get(name, 1.0))
        for s in pre_samples:
            with Image.open(samples[s]) as im:
                rgb = im.convert("RGB")
            expected[f"{name}/{s}"] = timm_eval(rgb, mh, mw, crop_pct, cfg.get("crop_mode", "center"),
                                                cfg.get("interpolation", "bicubic"),
                                                cfg.get("mean", imagenet_mean), cfg.get("std", imagenet_std))
        manifest_cases.append({"name": name, "model_type": "mambavision", "model_h": mh, "model_w": mw,
                               "reference": "timm eval transform emulated with PIL + numpy", "samples": pre_samples})
    save_file(expected, os.path.join(pdir, "expected.safetensors"),
              # one metadata key: safetensors writes a dict's keys in no fixed order
              metadata={"source": f"Pillow {PIL.__version__}, transformers {transformers.__version__}"})

    manifest = {"pillow": PIL.__version__, "transformers": transformers.__version__, "numpy": np.__version__,
                "samples": sorted(samples), "bad": {k: v[1] for k, v in sorted(bad.items())},
                "cases": manifest_cases}
    with open(os.path.join(ROOT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    for dp, _, fns in os.walk(ROOT):  # safetensors writes 0600 files; make them like the rest
        for fn in fns:
            os.chmod(os.path.join(dp, fn), 0o644)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(ROOT) for fn in fns)
    print(f"wrote {ROOT}: {len(samples)} samples, {len(bad)} bad files, {len(manifest_cases)} cases, "
          f"{total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
