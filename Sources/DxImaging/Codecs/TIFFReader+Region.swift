internal import CDxImaging
import Foundation

extension TIFFReader {
  /// The pixels of a window of `level`, decoding only the tiles or strips it touches.
  ///
  /// 8- and 16-bit gray, RGB (with or without alpha), palette and JPEG-YCbCr images are read
  /// sample-exact; anything else libtiff can decode (bilevel, 2/4-bit, other YCbCr, CMYK) goes
  /// through libtiff's RGBA conversion and comes out as 8-bit.
  public func readRegion(level index: Int, x: Int, y: Int, width: Int, height: Int) throws -> Image {
    let l = try level(index)
    // Compared without adding, so that values near Int.max cannot overflow.
    guard width > 0, height > 0, x >= 0, y >= 0, x <= l.width, y <= l.height, width <= l.width - x, height <= l.height - y else {
      throw ImageError.outOfBounds(path: path, reason: "region (\(x), \(y), \(width) x \(height)) is outside level \(index) (\(l.width) x \(l.height))")
    }
    guard saturatingProduct(width, height) <= limits.maxPixels else { throw ImageError.tooLarge(path: path, width: width, height: height, limit: limits.maxPixels) }
    try select(level: index)
    return try read(l, x: x, y: y, width: width, height: height, cacheLevel: index)
  }

  /// A region of the directory selected now, whose geometry is `l` (bounds checked by the caller).
  /// `cacheLevel`: the pyramid level it is, whose decoded blocks are kept for the next windows
  /// (nil for an associated image, read once).
  func read(_ l: Level, x: Int, y: Int, width: Int, height: Int, cacheLevel: Int? = nil) throws -> Image {
    // Signed and floating-point samples would read as unsigned bit patterns (-24137 as 41399).
    guard l.sampleFormat == "uint" else {
      throw ImageError.unsupported(path: path, reason: "\(l.sampleFormat == "float" ? "floating-point" : l.sampleFormat == "int" ? "signed integer" : l.sampleFormat) samples (SampleFormat); convert the image to unsigned 8- or 16-bit")
    }
    if l.photometric == "ycbcr" && l.compression == "jpeg" {
      _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_JPEGCOLORMODE), UInt32(JPEGCOLORMODE_RGB))
    }
    if l.isJPEG2000 {
      // libtiff has no JPEG 2000 codec: tiles are read raw and decoded by OpenJPEG (JPEG2000Codec).
      guard l.bitsPerSample == 8, l.samplesPerPixel == 3, !l.planarSeparate, ["rgb", "ycbcr"].contains(l.photometric) else {
        throw ImageError.unsupported(path: path, reason: "JPEG 2000 \(l.photometric) with \(l.samplesPerPixel) x \(l.bitsPerSample)-bit samples (8-bit RGB or YCbCr is read)")
      }
      return try readExact(l, x: x, y: y, width: width, height: height, as: UInt8.self, cacheLevel: cacheLevel)
    }
    let exact = (l.bitsPerSample == 8 || l.bitsPerSample == 16)
      && ["minisblack", "miniswhite", "rgb", "palette"].contains(l.photometric)
      || (l.photometric == "ycbcr" && l.compression == "jpeg" && l.bitsPerSample == 8 && !l.planarSeparate)
    if exact {
      return l.bitsPerSample == 16
        ? try readExact(l, x: x, y: y, width: width, height: height, as: UInt16.self, cacheLevel: cacheLevel)
        : try readExact(l, x: x, y: y, width: width, height: height, as: UInt8.self, cacheLevel: cacheLevel)
    }
    if l.bitsPerSample > 16 { throw ImageError.unsupported(path: path, reason: "\(l.bitsPerSample)-bit samples") }
    return try readRGBA(l, x: x, y: y, width: width, height: height)
  }

  /// The blocks (tiles or strips) of a level: size and a grid.
  struct Blocks {
    var width: Int, height: Int  // block size (a strip is the full width)
    var tiled: Bool
    /// Raw JPEG 2000 codestreams to decode with OpenJPEG, and whether they hold YCbCr.
    var jpeg2000 = false, ycbcr = false
    /// The level's height (the last strip is shorter than the others).
    var levelHeight = 0
  }

  /// The level's block geometry, refusing blocks whose decoded size exceeds the allocation
  /// limit (a hostile header can claim a 65,535 x 65,535 tile).
  func blocks(_ l: Level) throws -> Blocks {
    var b: Blocks
    if let tw = l.tileWidth, let th = l.tileHeight { b = Blocks(width: tw, height: th, tiled: true) } else {
      b = Blocks(width: l.width, height: l.rowsPerStrip ?? l.height, tiled: false)
    }
    b.jpeg2000 = l.isJPEG2000
    b.ycbcr = l.compression == "jpeg2000-ycbcr" || (l.isJPEG2000 && l.photometric == "ycbcr")
    b.levelHeight = l.height
    let bytesPerPixel = max(4, l.samplesPerPixel * max(1, l.bitsPerSample / 8))
    let bytes = saturatingProduct(saturatingProduct(b.width, b.height), bytesPerPixel)
    guard b.width > 0, b.height > 0 else { throw ImageError.corrupt(path: path, reason: "level \(l.index): blocks of \(b.width) x \(b.height) pixels") }
    // One block is decoded whole, whatever region is asked for: named as a block, not as the
    // whole-image limit (a 1 x 1 region of a file of 1,048,576-pixel-square tiles was told to
    // "read a region").
    guard bytes <= limits.maxTiffAllocation else {
      throw ImageError.unsupported(path: path, reason: "level \(l.index) is stored in \(b.tiled ? "tiles" : "strips") of \(b.width) x \(b.height) pixels (\(bytes) bytes decoded), more than the \(limits.maxTiffAllocation)-byte limit for one block")
    }
    return b
  }

  /// Decodes block (`bx`, `by`) of `plane` into `buffer`; returns false with the reason on failure.
  func decodeBlock(_ b: Blocks, bx: Int, by: Int, plane: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
    dx_tiff_clear_error(handle)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)  // a short block reads as zeros, never as stale memory
    if b.jpeg2000 { return try decodeJPEG2000Block(b, bx: bx, by: by, into: buffer) }
    let n: Int
    if b.tiled {
      let tile = TIFFComputeTile(tif, UInt32(bx * b.width), UInt32(by * b.height), 0, UInt16(plane))
      n = Int(TIFFReadEncodedTile(tif, tile, buffer.baseAddress, tmsize_t(buffer.count)))
    } else {
      let strip = TIFFComputeStrip(tif, UInt32(by * b.height), UInt16(plane))
      n = Int(TIFFReadEncodedStrip(tif, strip, buffer.baseAddress, tmsize_t(buffer.count)))
    }
    if n < 0 {
      let what = b.tiled ? "tile (\(bx), \(by))" : "strip \(by)"
      throw ImageError.corrupt(path: path, reason: "\(what): \(lastError.isEmpty ? "cannot decode" : lastError)")
    }
  }

  /// A JPEG 2000 block: its raw bytes (bounded by the allocation limit) through OpenJPEG.
  private func decodeJPEG2000Block(_ b: Blocks, bx: Int, by: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
    let what = b.tiled ? "tile (\(bx), \(by))" : "strip \(by)"
    let index = b.tiled ? TIFFComputeTile(tif, UInt32(bx * b.width), UInt32(by * b.height), 0, 0) : TIFFComputeStrip(tif, UInt32(by * b.height), 0)
    let count = Int(b.tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif))
    guard Int(index) < count else { throw ImageError.corrupt(path: path, reason: "\(what): no such block") }
    var stored: UInt64 = 0
    guard dx_tiff_block_bytecount(tif, index, &stored) == 0 else { throw ImageError.corrupt(path: path, reason: "\(what): no byte count") }
    guard stored > 0 else { throw ImageError.corrupt(path: path, reason: "\(what): empty (0 bytes of JPEG 2000)") }
    guard stored <= UInt64(limits.maxTiffAllocation) else {
      throw ImageError.corrupt(path: path, reason: "\(what): \(stored) bytes of JPEG 2000 (at most \(limits.maxTiffAllocation))")
    }
    let size = Int(stored)
    // OpenJPEG holds 4-byte planes and tile buffers, about 24 bytes a pixel: a few kilobytes of
    // lossless codestream can ask for gigabytes.
    guard saturatingProduct(b.width, b.height) <= JPEG2000Codec.maxTilePixels else {
      throw ImageError.unsupported(path: path, reason: "\(what): JPEG 2000 tiles of \(b.width) x \(b.height) pixels (at most \(JPEG2000Codec.maxTilePixels))")
    }
    var raw = [UInt8](repeating: 0, count: size)
    dx_tiff_clear_error(handle)
    let n = raw.withUnsafeMutableBytes { r in
      Int(b.tiled ? TIFFReadRawTile(tif, index, r.baseAddress, tmsize_t(size)) : TIFFReadRawStrip(tif, index, r.baseAddress, tmsize_t(size)))
    }
    guard n > 0 else { throw ImageError.corrupt(path: path, reason: "\(what): \(lastError.isEmpty ? "cannot read" : lastError)") }
    let rows = b.tiled ? b.height : min(b.height, b.levelHeight - by * b.height)
    try JPEG2000Codec.decode(raw[..<n], width: b.width, height: rows, ycbcr: b.ycbcr, maxPixels: limits.maxPixels,
                             into: buffer, source: "\(path) \(what)")
  }

  private func readExact<T: FixedWidthInteger & UnsignedInteger>(_ l: Level, x: Int, y: Int, width: Int, height: Int, as: T.Type, cacheLevel: Int?) throws -> Image {
    let b = try blocks(l)
    let outC = l.outputChannels
    let spp = l.samplesPerPixel
    let palette = l.photometric == "palette"
    let invert = l.photometric == "miniswhite"
    let ycbcrJPEG = l.photometric == "ycbcr"
    // Which stored sample feeds each output channel (palette: the index, expanded below).
    let baseSamples = palette ? 1 : (l.photometric == "rgb" || ycbcrJPEG ? 3 : 1)
    var sourceSample = Array(0..<(palette ? 1 : baseSamples))
    if outC == (palette ? 4 : baseSamples + 1) { sourceSample.append(palette ? 1 : baseSamples) }
    // A header can claim RGB with one sample per pixel: every sample read must exist.
    guard let highest = sourceSample.max(), highest < (ycbcrJPEG ? 3 : spp) else {
      throw ImageError.corrupt(path: path, reason: "\(l.photometric) image with \(spp) sample(s) per pixel")
    }
    var colormap: (r: UnsafePointer<UInt16>, g: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>)? = nil
    if palette {
      var r: UnsafePointer<UInt16>? = nil, g: UnsafePointer<UInt16>? = nil, bl: UnsafePointer<UInt16>? = nil
      guard dx_tiff_get_colormap(tif, &r, &g, &bl) == 0, let r, let g, let bl else { throw ImageError.corrupt(path: path, reason: "palette image without a colormap") }
      colormap = (r, g, bl)
    }
    let colormapSize = 1 << l.bitsPerSample
    var out = [T](repeating: 0, count: width * height * outC)
    let planes = l.planarSeparate ? spp : 1
    let perPixel = l.planarSeparate ? 1 : (ycbcrJPEG ? 3 : spp)
    let blockBytes = b.width * b.height * perPixel * MemoryLayout<T>.size
    let uncached = TIFFBlockCache(budget: 0)
    let maxValue = T.max
    let usedSamples = Set(sourceSample)
    let straightCopy = !l.planarSeparate && !palette && !invert && perPixel == outC && sourceSample == Array(0..<outC)
    for by in (y / b.height)...((y + height - 1) / b.height) {
      for bx in (x / b.width)...((x + width - 1) / b.width) {
        for plane in 0..<planes where !l.planarSeparate || usedSamples.contains(plane) {
          let cache = cacheLevel == nil ? uncached : blockCache
          let decoded = try cache.block(.init(level: cacheLevel ?? -1, bx: bx, by: by, plane: plane), byteCount: blockBytes) {
            try decodeBlock(b, bx: bx, by: by, plane: plane, into: $0)
          }
          let block = decoded.bindMemory(to: T.self)
          let x0 = max(x, bx * b.width), x1 = min(x + width, (bx + 1) * b.width)
          let y0 = max(y, by * b.height), y1 = min(y + height, (by + 1) * b.height)
          if straightCopy {
            // The common slide layout (8- or 16-bit RGB/gray, interleaved): copy row segments.
            out.withUnsafeMutableBufferPointer { o in
              for yy in y0..<y1 {
                let src = block.baseAddress! + ((yy - by * b.height) * b.width + (x0 - bx * b.width)) * perPixel
                (o.baseAddress! + ((yy - y) * width + (x0 - x)) * outC).update(from: src, count: (x1 - x0) * outC)
              }
            }
            continue
          }
          for yy in y0..<y1 {
            let rowIn = (yy - by * b.height) * b.width
            for xx in x0..<x1 {
              let src = (rowIn + xx - bx * b.width) * perPixel
              let dst = ((yy - y) * width + (xx - x)) * outC
              for (c, s) in sourceSample.enumerated() {
                if l.planarSeparate && s != plane { continue }
                var v = block[src + (l.planarSeparate ? 0 : s)]
                if invert && c < baseSamples { v = maxValue - v }
                if let cm = colormap, c == 0 {
                  let i = min(Int(v), colormapSize - 1)
                  let rgb = [cm.r[i], cm.g[i], cm.b[i]]
                  for k in 0..<3 { out[dst + k] = T(truncatingIfNeeded: T.bitWidth == 8 ? Int(rgb[k] >> 8) : Int(rgb[k])) }
                } else {
                  out[dst + (palette && c == 1 ? 3 : c)] = v
                }
              }
            }
          }
        }
      }
    }
    // T is UInt8 or UInt16 itself: reinterpreted, not cast (`as!` copied the array element by
    // element, 1.3% of a slide diagnosis).
    precondition(T.self == UInt8.self || T.self == UInt16.self, "TIFF samples are read as UInt8 or UInt16")
    let samples: Image.Samples = T.self == UInt16.self ? .uint16(unsafeBitCast(out, to: [UInt16].self)) : .uint8(unsafeBitCast(out, to: [UInt8].self))
    return Image(width: width, height: height, channels: outC, samples: samples)
  }

  /// libtiff's RGBA conversion, block by block (rasters come bottom-up).
  private func readRGBA(_ l: Level, x: Int, y: Int, width: Int, height: Int) throws -> Image {
    let b = try blocks(l)
    let outC = l.outputChannels == 1 ? 1 : (l.outputChannels == 2 || l.outputChannels == 4 ? 4 : 3)
    var out = [UInt8](repeating: 0, count: width * height * outC)
    var raster = [UInt32](repeating: 0, count: b.width * b.height)
    for by in (y / b.height)...((y + height - 1) / b.height) {
      for bx in (x / b.width)...((x + width - 1) / b.width) {
        dx_tiff_clear_error(handle)
        let ok = raster.withUnsafeMutableBufferPointer { r -> Int32 in
          b.tiled ? TIFFReadRGBATileExt(tif, UInt32(bx * b.width), UInt32(by * b.height), r.baseAddress, 1)
            : TIFFReadRGBAStripExt(tif, UInt32(by * b.height), r.baseAddress, 1)
        }
        guard ok == 1 else { throw ImageError.corrupt(path: path, reason: "\(b.tiled ? "tile" : "strip") at (\(bx), \(by)): \(lastError.isEmpty ? "cannot decode" : lastError)") }
        let rowsInBlock = b.tiled ? b.height : min(b.height, l.height - by * b.height)
        let x0 = max(x, bx * b.width), x1 = min(x + width, (bx + 1) * b.width)
        let y0 = max(y, by * b.height), y1 = min(y + height, by * b.height + rowsInBlock)
        for yy in y0..<y1 {
          let rasterRow = rowsInBlock - 1 - (yy - by * b.height)
          for xx in x0..<x1 {
            let p = raster[rasterRow * b.width + xx - bx * b.width]
            let dst = ((yy - y) * width + (xx - x)) * outC
            let rgba = [UInt8(p & 0xFF), UInt8((p >> 8) & 0xFF), UInt8((p >> 16) & 0xFF), UInt8(p >> 24)]
            if outC == 1 { out[dst] = rgba[0] } else { for c in 0..<outC { out[dst + c] = rgba[c] } }
          }
        }
      }
    }
    return Image(width: width, height: height, channels: outC, samples: .uint8(out))
  }
}
