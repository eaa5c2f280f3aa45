#!/usr/bin/env python3
"""Pillow's RGB of Tests/TestData/images/cmyk.jpg (a CMYK JPEG with an Adobe marker, written by
Pillow), the reference CMYKTests compares EfficientDx's conversion with (developer tooling;
any Python with Pillow):
    python3 Scripts/dev/make_cmyk_reference.py
"""
import os
from PIL import Image
images = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "TestData", "images")
Image.open(os.path.join(images, "cmyk.jpg")).convert("RGB").save(os.path.join(images, "cmyk_pillow_rgb.png"))
