internal import CDxKernels
import Foundation
import Synchronization

extension Image {
  /// The `window` of this image resized to `width` x `height`, computing only the window's
  /// pixels: the same values, bit for bit, as `resized(width:height:filter:)` then cropped,
  /// without the full-size resize or a Float copy of the source (a centre crop throws away a
  /// quarter of a photo's resized pixels; a 12-megapixel Float copy is 144 MB).
  ///
  /// Samples become Floats a source row at a time (the level times 1/255 or 1/65535, as
  /// `floatSamples` makes them), and each pass runs over raw buffers with the filter's taps in
  /// one flat array, so the compiler keeps the inner loops tight.
  ///
  /// - Parameter source: the rectangle of this image that is resized (the whole image by
  ///   default): a random resized crop reads its box straight from the decoded photo, with no
  ///   cropped copy and no Float copy of the whole (a 108-megapixel photo's was 1.3 GB).
  public func resized(width w: Int, height h: Int, filter: ResizeFilter, window: (x: Int, y: Int, width: Int, height: Int),
                      source: (x: Int, y: Int, width: Int, height: Int)? = nil) -> Image {
    Image(width: window.width, height: window.height, channels: channels,
          floats: resampled(width: w, height: h, filter: filter, window: window, source: source), bitDepth: bitDepth)
  }

  /// `FloatImage(resized(width:height:filter:window:))` for an RGB image, the same values,
  /// rounded to the source's levels in one pass without the integer image between (on a
  /// folder of photos that round trip cost as much as the resampling's vertical pass).
  public func resizedFloat(width w: Int, height h: Int, filter: ResizeFilter, window: (x: Int, y: Int, width: Int, height: Int),
                           source: (x: Int, y: Int, width: Int, height: Int)? = nil) -> FloatImage {
    guard channels == 3 else { return FloatImage(resized(width: w, height: h, filter: filter, window: window, source: source)) }
    let unit: Float = bitDepth == 16 ? 1 / 65535 : 1 / 255  // as `floatSamples` scales a level
    let values = resampled(width: w, height: h, filter: filter, window: window, source: source, roundedWith: unit)
    return FloatImage(width: window.width, height: window.height, values: values)
  }

  /// The window's samples in 0...1: as the passes leave them (the caller rounds to levels), or
  /// with `unit`, rounded to the source's levels and scaled by `unit` in the vertical pass.
  private func resampled(width w: Int, height h: Int, filter: ResizeFilter, window: (x: Int, y: Int, width: Int, height: Int),
                         source: (x: Int, y: Int, width: Int, height: Int)? = nil, roundedWith unit: Float? = nil) -> [Float] {
    precondition(w > 0 && h > 0 && window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0
                   && window.x + window.width <= w && window.y + window.height <= h, "window \(window) of a \(w) x \(h) resize")
    let box = source ?? (0, 0, width, height)
    precondition(box.x >= 0 && box.y >= 0 && box.width > 0 && box.height > 0 && box.x + box.width <= width && box.y + box.height <= height,
                 "source \(box) of a \(width) x \(height) image")
    let c = channels
    let levels = maxValue
    // Taps index the box; the box's corner is added where the source's rows are read.
    let xs = Taps.cached(from: box.width, to: w, filter: filter, outputs: window.x..<(window.x + window.width))
    let ys = Taps.cached(from: box.height, to: h, filter: filter, outputs: window.y..<(window.y + window.height))
    // Only the source rows the window's output rows read.
    let rowLo = ys.lowestInput, rowHi = ys.highestInput
    let midRows = rowHi - rowLo
    let midWidth = window.width * c
    // Every float of `mid` and `values` is written by its pass: no zeroing first.
    var mid = [Float](unsafeUninitializedCapacity: max(1, midRows * midWidth)) { $1 = $0.count }
    let sampleUnit: Float = bitDepth == 16 ? 1 / 65535 : 1 / 255
    // Each source row's span the window reads, as Floats (one conversion per sample instead
    // of one per tap, vectorised: a 256-entry table lookup was a gather per sample), then the
    // taps: RGB rows in a C kernel with the three channels in one SSE vector (Swift's SIMD4
    // compiled to calls here), each summed in the same order as the general loop, so the
    // values are the same.
    let colLo = xs.lowestInput, span = max(1, xs.highestInput - colLo) * c
    var row = [Float](repeating: 0, count: span + 1)  // a spare float for the kernel's 4-lane loads
    func horizontal<T: FixedWidthInteger & UnsignedInteger>(_ src: [T]) {
      src.withUnsafeBufferPointer { s in
        mid.withUnsafeMutableBufferPointer { m in
          row.withUnsafeMutableBufferPointer { r in
            xs.first.withUnsafeBufferPointer { firsts in
              xs.count.withUnsafeBufferPointer { counts in
                for y in 0..<midRows {
                  let input = s.baseAddress! + ((box.y + rowLo + y) * width + box.x + colLo) * c
                  for i in 0..<span { r[i] = Float(input[i]) * sampleUnit }
                  let output = m.baseAddress! + y * midWidth
                  if c == 3 {
                    dx_resample_row_rgb(r.baseAddress! - colLo * 3, window.width, firsts.baseAddress!, counts.baseAddress!, xs.weights.baseAddress!, xs.stride, levels, output)
                    continue
                  }
                  for x in 0..<window.width {
                    let first = firsts[x] - colLo, count = counts[x], weights = xs.weights.baseAddress! + x * xs.stride
                    let p = r.baseAddress! + first * c
                    for ch in 0..<c {
                      var sum: Float = 0
                      for j in 0..<count { sum += p[j * c + ch] * weights[j] }
                      output[x * c + ch] = roundedLevel(sum * levels, levels: levels) / levels
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    switch samples {
    case .uint8(let s): horizontal(s)
    case .uint16(let s): horizontal(s)
    }
    var values = [Float](unsafeUninitializedCapacity: window.height * midWidth) { $1 = $0.count }
    mid.withUnsafeBufferPointer { m in
      values.withUnsafeMutableBufferPointer { out in
        for y in 0..<window.height {
          let first = ys.first[y] - rowLo
          dx_resample_rows(m.baseAddress! + first * midWidth, midWidth, midWidth, ys.count[y], ys.weights.baseAddress! + y * ys.stride,
                           unit == nil ? 0 : Float(levels), unit ?? 1, out.baseAddress! + y * midWidth)
        }
      }
    }
    return values
  }
}

/// One axis's filter taps for a range of outputs, flat: output i reads `count[i]` inputs from
/// `first[i]` with weights `weights[i * stride ..< i * stride + count[i]]` (Resampler's
/// coefficients, normalised the same way). Immutable once made, so one value serves every
/// thread.
struct Taps: @unchecked Sendable {
  private(set) var first: [Int] = [], count: [Int] = []
  private(set) var weights: UnsafeMutableBufferPointer<Float>
  private(set) var stride = 1
  /// The lowest and one past the highest input index any output reads.
  private(set) var lowestInput = 0, highestInput = 0
  final class Storage {
    let buffer: UnsafeMutableBufferPointer<Float>
    init(_ n: Int) { buffer = .allocate(capacity: max(1, n)); buffer.initialize(repeating: 0) }
    deinit { buffer.deallocate() }
  }
  private let storage: Storage

  init(from inSize: Int, to outSize: Int, filter: ResizeFilter, outputs: Range<Int>) {
    let all = Resampler.coefficients(from: inSize, to: outSize, filter: filter, outputs: outputs)
    stride = max(1, all.map(\.weights.count).max() ?? 1)
    storage = Storage(all.count * stride)
    weights = storage.buffer
    for (i, k) in all.enumerated() {
      first.append(k.first)
      count.append(k.weights.count)
      for (j, w) in k.weights.enumerated() { weights[i * stride + j] = w }
    }
    lowestInput = zip(first, count).filter { $0.1 > 0 }.map(\.0).min() ?? 0
    highestInput = zip(first, count).map { $0.0 + $0.1 }.max() ?? 0
  }

  private struct Key: Hashable {
    var inSize: Int, outSize: Int, filter: ResizeFilter, outputs: Range<Int>
  }
  /// The taps of the last few geometries: a folder of photos is mostly a few sizes, and making
  /// the taps (224 small arrays per axis) was a fifth of preparing an 800 x 600 photo.
  private static let recent = Mutex<[(Key, Taps)]>([])
  private static let remembered = 8

  /// `Taps(from:to:filter:outputs:)`, made once per geometry among the last few used.
  static func cached(from inSize: Int, to outSize: Int, filter: ResizeFilter, outputs: Range<Int>) -> Taps {
    let key = Key(inSize: inSize, outSize: outSize, filter: filter, outputs: outputs)
    if let hit = recent.withLock({ list in list.first { $0.0 == key }?.1 }) { return hit }
    let taps = Taps(from: inSize, to: outSize, filter: filter, outputs: outputs)
    recent.withLock { list in
      list.insert((key, taps), at: 0)
      if list.count > remembered { list.removeLast() }
    }
    return taps
  }
}
