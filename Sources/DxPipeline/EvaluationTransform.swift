import DxImaging
import DxTensor
import Foundation
import Yams

/// The one contract by which an image becomes a network input outside training: decode
/// (within `maxPixels`), the pipeline's deterministic `eval_transforms` in order, a final resize
/// to `resolution` when they leave another size, and normalisation by `mean` and `std`.
///
/// Validation, the held-out test evaluation, the feature cache, `diagnose` (photos and slide
/// tiles) and `gradcam` all call this one value, and every checkpoint `effdx train` writes
/// records it (`effdx.eval_transform`), so a checkpoint diagnoses exactly as it was validated.
public struct EvaluationTransform: Equatable, Sendable {
  public var resolution: Int
  public var mean: [Double]
  public var std: [Double]
  public var steps: [TransformSpec]
  public var maxPixels: Int
  /// Decode JPEGs in the DCT domain at the smallest scale that still covers the first step's
  /// target (`jpegDecodeShortSide`): part of the contract, so validation and diagnosis decode
  /// alike. Off for checkpoints that do not record it (they were validated on full decodes).
  public var jpegScaling = false

  /// The metadata key checkpoints record the transform under.
  public static let metadataKey = "effdx.eval_transform"

  /// From a pipeline. Random transforms have no place in evaluation (two runs over the same
  /// image would disagree), so they are refused.
  public init(spec: PipelineSpec) throws {
    if let problem = NormalizationRange.problem(mean: spec.mean, std: spec.std) {
      throw PipelineSpecError(file: spec.name, line: 0, message: "normalization: \(problem)")
    }
    if let random = spec.evalTransforms.first(where: \.isRandom) {
      throw PipelineSpecError(file: spec.name, line: 0, message: "eval_transforms must be deterministic; '\(random.name)' draws random numbers (move it to train_transforms)")
    }
    self.init(resolution: spec.resolution, mean: spec.mean, std: spec.std, steps: spec.evalTransforms, maxPixels: spec.maxPixels)
    jpegScaling = spec.jpegScaling
  }

  public init(resolution: Int, mean: [Double], std: [Double], steps: [TransformSpec], maxPixels: Int = ImageLimits.default.maxPixels) {
    self.resolution = resolution
    self.mean = mean
    self.std = std
    self.steps = steps
    self.maxPixels = maxPixels
  }

  /// The transform of a checkpoint that records none (ImageNet weights from `import-weights`,
  /// older runs): timm's centre crop with the weights' `crop_pct` and interpolation.
  public init(resolution: Int, cropFraction: Double, interpolation: String, mean: [Double], std: [Double]) {
    let filter = ResizeFilter(rawValue: interpolation) ?? .bicubic
    self.init(resolution: resolution, mean: mean, std: std, steps: [.centerCrop(cropFraction: min(1, max(0.1, cropFraction)), filter: filter)])
  }

  // MARK: Applying

  /// Decodes `path` and prepares it: `resolution * resolution * 3` normalised values (HWC).
  public func prepare(path: String) throws -> [Float] {
    try prepare(decode(path: path), source: path)
  }

  /// Decodes `path` as this transform prepares it (DCT-scaled when `jpegScaling` allows).
  public func decode(path: String) throws -> Image {
    try ImageDecoder.decode(path: path, limits: ImageLimits(maxPixels: maxPixels), minShortSide: jpegScaling ? jpegDecodeShortSide : nil)
  }

  /// The short side a decode must keep for the first step to see what it would see in a full
  /// decode: a centre crop scales the short side to `resolution / crop_fraction`, a resize
  /// makes both sides `resolution`. Nil (decode whole) when the first step is not geometric.
  public var jpegDecodeShortSide: Int? {
    // Evaluation's steps are deterministic, so the photo's size does not enter.
    steps.first?.decodeShortSide(width: 0, height: 0, size: resolution)
  }

  /// Prepares a decoded image (a photo, or a slide tile read in memory).
  public func prepare(_ image: Image, source: String) throws -> [Float] {
    var values = try transformed(image, source: source).values  // the only reference: normalised in place
    normalize(&values)
    return values
  }

  /// The image after the steps, at `resolution` x `resolution`, before normalisation (what
  /// Grad-CAM draws on).
  public func transformed(_ image: Image, source: String) throws -> FloatImage {
    var plain: Image? = image, float: FloatImage? = nil
    var rng = SeededGenerator(seed: 0)  // never drawn from: the steps are deterministic
    for (i, step) in steps.enumerated() {
      if case .centerCrop(let fraction, let filter) = step {
        let input = plain ?? float!.image(bitDepth: 16)
        try checkCropBudget(width: input.width, height: input.height, fraction: fraction, source: source)
        // Straight to Floats unless another centre crop reads the integer image.
        if i + 1 < steps.count, case .centerCrop = steps[i + 1] {
          (plain, float) = (input.centerCropped(size: resolution, cropFraction: fraction, filter: filter), nil)
        } else {
          (plain, float) = (nil, input.centerCroppedFloat(size: resolution, cropFraction: fraction, filter: filter))
        }
      } else {
        float = step.apply(float ?? FloatImage(plain!), size: resolution, using: &rng)
        plain = nil
      }
    }
    var out = float ?? FloatImage(plain!)
    if out.width != resolution || out.height != resolution { out = out.resized(width: resolution, height: resolution, filter: .bilinear) }
    return out
  }

  /// A centre crop first scales the whole image: refuse a scale whose result would exceed the
  /// pixel budget (a 1 x 1,000,000 strip would otherwise become a 256 x 256,000,000 image).
  func checkCropBudget(width: Int, height: Int, fraction: Double, source: String) throws {
    try Self.checkCropBudget(width: width, height: height, fraction: fraction, resolution: resolution, maxPixels: maxPixels, source: source)
  }

  /// The same check for any resolution and budget: training's loader makes it too, so a file
  /// evaluation refuses is not trained on.
  public static func checkCropBudget(width: Int, height: Int, fraction: Double, resolution: Int, maxPixels: Int, source: String) throws {
    let short = Double(max(1, min(width, height))), long = Double(max(width, height))
    let scaled = (Double(resolution) / fraction).rounded(.down)
    let pixels = scaled * (long * scaled / short).rounded(.down)
    if pixels > Double(maxPixels) {
      throw ImageError.unsupported(path: source, reason: "\(width) x \(height) is too elongated for a centre crop to \(resolution) px (it would be scaled to \(Int(pixels)) pixels)")
    }
  }

  /// Interleaved RGB values made `(v - mean) / std` per channel (a division, as torchvision's
  /// Normalize computes it, so the values match it to the bit).
  func normalize(_ values: inout [Float]) {
    let m = mean.map(Float.init), s = std.map(Float.init)
    // Sixteen pixels (48 values, three vectors) per step: each vector's lanes have a fixed
    // channel pattern, so the step is three vector subtractions and divisions.
    let means = (0..<3).map { k in SIMD16<Float>((0..<16).map { m[(16 * k + $0) % 3] }) }
    let stds = (0..<3).map { k in SIMD16<Float>((0..<16).map { s[(16 * k + $0) % 3] }) }
    values.withUnsafeMutableBufferPointer { v in
      guard let base = v.baseAddress else { return }
      let n = v.count - v.count % 3
      let raw = UnsafeMutableRawPointer(base)
      var p = 0
      while p + 48 <= n {
        for k in 0..<3 {
          let at = (p + 16 * k) * MemoryLayout<Float>.stride
          raw.storeBytes(of: (raw.loadUnaligned(fromByteOffset: at, as: SIMD16<Float>.self) - means[k]) / stds[k], toByteOffset: at, as: SIMD16<Float>.self)
        }
        p += 48
      }
      while p + 3 <= n {
        v[p] = (v[p] - m[0]) / s[0]
        v[p + 1] = (v[p + 1] - m[1]) / s[1]
        v[p + 2] = (v[p + 2] - m[2]) / s[2]
        p += 3
      }
    }
  }

  // MARK: Recording

  /// One line of JSON (which is also YAML) for checkpoint metadata.
  public var json: String {
    func list(_ v: [Double]) -> String { "[" + v.map { "\($0)" }.joined(separator: ", ") + "]" }
    return "{\"resolution\": \(resolution), \"mean\": \(list(mean)), \"std\": \(list(std)), \"max_pixels\": \(maxPixels), \"jpeg_scaling\": \(jpegScaling), \"steps\": [\(steps.map(\.json).joined(separator: ", "))]}"
  }

  /// Reads `json` back with a pipeline file's checks; `source` names it in errors (a
  /// checkpoint's path and key).
  public static func decode(json: String, source: String) throws -> EvaluationTransform {
    guard json.utf8.count <= 1 << 16 else { throw PipelineSpecError(file: source, line: 1, message: "\(json.utf8.count) bytes; an evaluation transform is at most 64 KiB") }
    let root = try YAMLNodeReader.compose(json, file: source)
    var r = try YAMLNodeReader(root, file: source)
    let resolution = try r.int("resolution", range: 16...2048)
    let mean = try r.doubles("mean", count: 3)
    let std = try r.doubles("std", count: 3)
    let maxPixels = try r.int("max_pixels", default: ImageLimits.default.maxPixels, range: 1...300_000_000)!
    let jpegScaling = try r.bool("jpeg_scaling", default: false)
    guard let resolution, let mean, let std, let stepsNode = r.value("steps"), let seq = stepsNode.sequence else {
      throw r.error(root, "needs resolution, mean, std and steps")
    }
    if let problem = NormalizationRange.problem(mean: mean, std: std) { throw r.error(root, problem) }
    try r.finish("the evaluation transform")
    guard seq.count <= TransformSpec.maxSteps else { throw r.error(stepsNode, "\(seq.count) steps; an evaluation transform has at most \(TransformSpec.maxSteps)") }
    let steps = try seq.map { try TransformSpec.decode($0, file: source) }
    if let random = steps.first(where: \.isRandom) { throw r.error(stepsNode, "'\(random.name)' is random; an evaluation transform must be deterministic") }
    var t = EvaluationTransform(resolution: resolution, mean: mean, std: std, steps: steps, maxPixels: maxPixels)
    t.jpegScaling = jpegScaling
    return t
  }
}
