#!/usr/bin/env python3
"""The same tile extraction as `effdx bench imaging`, in Python: tifffile + imagecodecs + numpy
read every 256 x 256 tile of level 0 (developer tooling; compare in the same run, same machine).
    /tmp/refvenv/bin/python Scripts/dev/bench_tifffile.py /tmp/effdx-bench-imaging/slide_8192_jpeg.tif
"""
import sys, time
import numpy as np
import tifffile

path = sys.argv[1]
with tifffile.TiffFile(path) as tif:
    page = tif.pages[0]
    h, w = page.shape[:2]
    fh = tif.filehandle
    start = time.perf_counter()
    n = 0
    # Decode tile by tile, as a region reader does (page.asarray would decode the whole level).
    for index, (offset, bytecount) in enumerate(zip(page.dataoffsets, page.databytecounts)):
        fh.seek(offset)
        data = fh.read(bytecount)
        tile, _, _ = page.decode(data, index, jpegtables=page.jpegtables)
        arr = np.asarray(tile)
        n += 1
    elapsed = time.perf_counter() - start
print(f"tifffile {tifffile.__version__}: {n} tiles in {elapsed:.2f} s = {n / elapsed:.0f} tiles/s on 1 thread")
