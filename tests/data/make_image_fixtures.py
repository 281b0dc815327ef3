#!/usr/bin/python3
# tests/data/make_image_fixtures.py — regenerates the image fixtures of tests/test_imagenet.cpp with PIL 9.4 and
# torchvision 0.14 (Debian bookworm: apt-get install python3-pil python3-torchvision), and prints the values that
# the test hard-codes. Run from the repository root:  /usr/bin/python3 tests/data/make_image_fixtures.py
# The tests themselves need no Python.
import numpy as np
from PIL import Image
from torchvision import transforms

OUT = "tests/data/"
SAMPLE = "../shared/data/imagenet-sample/"

# 1. pattern_37x23.jpg (width 37, height 23): R = 7x, G = 11y, B = 255 − 3(x + y), with a black 6×6 square at
#    x, y ∈ [8, 14). JPEG quality 90, PIL's default 4:2:0 chroma subsampling.
y, x = np.mgrid[0:23, 0:37]
pattern = np.stack([7 * x, 11 * y, 255 - 3 * (x + y)], axis=-1).astype(np.uint8)
pattern[8:14, 8:14] = 0
Image.fromarray(pattern, "RGB").save(OUT + "pattern_37x23.jpg", quality=90)
decoded = np.asarray(Image.open(OUT + "pattern_37x23.jpg").convert("RGB")).astype(np.float64)
print("pattern_37x23.jpg PIL decode: mean per channel", decoded.mean(axis=(0, 1)))
for (py, px) in [(0, 0), (11, 11), (22, 36), (5, 30)]:
    print(f"  pixel (y={py}, x={px})", decoded[py, px])

# 2. cmyk_37x23.jpg: a CMYK JPEG (PIL writes the Adobe marker, inverted CMYK), C = 6x, M = 10y, Y = 128,
#    K = 60 on a checkerboard. What PIL's convert("RGB") gives:
cmyk = np.zeros((23, 37, 4), np.uint8)
cmyk[..., 0], cmyk[..., 1], cmyk[..., 2], cmyk[..., 3] = 6 * x, 10 * y, 128, (x + y) % 2 * 60
Image.fromarray(cmyk, "CMYK").save(OUT + "cmyk_37x23.jpg", quality=95)
rgb = np.asarray(Image.open(OUT + "cmyk_37x23.jpg").convert("RGB")).astype(np.float64)
print("cmyk_37x23.jpg PIL convert('RGB'): mean per channel", rgb.mean(axis=(0, 1)))

# 3. photo_61x47.png: a 61×47 crop of a sample photo, lossless, and PIL's bilinear resizes of it to several sizes
#    (file names give width x height): shrink ×2.7, shrink ×1.15, enlarge ×2.5, vertical-only, to one pixel.
photo = Image.open(SAMPLE + "n01440764/n01440764_tench.JPEG").convert("RGB").crop((180, 130, 241, 177))
photo.save(OUT + "photo_61x47.png")
photo = Image.open(OUT + "photo_61x47.png")
for (w, h) in [(23, 17), (53, 40), (150, 117), (61, 20), (1, 1)]:
    photo.resize((w, h), Image.BILINEAR).save(OUT + f"photo_61x47_pil_{w}x{h}.png")

# 4. torchvision's eval transform of photo_61x47.png: Resize(256) → 332×256 (w×h), CenterCrop(224) at
#    top 16, left 54, ToTensor, Normalize. Printed as HWC values at a few places and the mean per channel.
normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
evaluate = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalize])
t = evaluate(photo).permute(1, 2, 0).numpy()  # CHW → HWC
print("photo_61x47.png eval transform: mean per channel", t.astype(np.float64).mean(axis=(0, 1)))
for (py, px) in [(0, 0), (100, 37), (223, 223)]:
    print(f"  (y={py}, x={px})", [float(v) for v in t[py, px]])

# 5. The eval transform of a real sample JPEG (decoded by libjpeg here, by stb in tern): mean per channel.
t = evaluate(Image.open(SAMPLE + "n01440764/n01440764_tench.JPEG").convert("RGB")).permute(1, 2, 0).numpy()
print("n01440764_tench.JPEG eval transform: mean per channel", t.astype(np.float64).mean(axis=(0, 1)))
