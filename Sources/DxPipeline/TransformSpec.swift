import DxImaging
import DxTensor
import Yams

/// One image transform of a pipeline, decoded from a one-key mapping such as
/// `- horizontal_flip: {p: 0.5}`. Random ones draw from the generator they are given, so a
/// sample's augmentation depends only on (seed, epoch, index).
public enum TransformSpec: Equatable, Sendable {
  case randomResizedCrop(scale: ClosedRange<Double>, ratio: ClosedRange<Double>)
  /// Resize the short side to `size / cropFraction` with `filter`, then crop the centre square
  /// (timm's `crop_pct` and `interpolation`).
  case centerCrop(cropFraction: Double, filter: ResizeFilter = .bicubic)
  case resize(filter: ResizeFilter)
  case horizontalFlip(p: Double)
  case verticalFlip(p: Double)
  case rotate90(p: Double)
  case rotation(maxDegrees: Double, fill: [Double])
  case colorJitter(brightness: Double, contrast: Double, saturation: Double, hue: Double)
  case gaussianBlur(p: Double, sigma: ClosedRange<Double>)
  case gaussianNoise(p: Double, sigma: Double)
  case cutout(p: Double, size: Int)
  case hedJitter(sigma: Double, bias: Double)
  case stainNormalize(method: String)
  /// RandAugment: `n` operations, each at magnitude bin `m` of 0...30 (torchvision's scale).
  case randAugment(n: Int, m: Int)
  /// TrivialAugment: one operation at a random magnitude, wide ranges.
  case trivialAugment

  /// The most steps a list of transforms holds (a pipeline's `train_transforms` or
  /// `eval_transforms`, a checkpoint's evaluation transform): a checkpoint with 100 stain
  /// normalisations took minutes per image, and its 64 KiB allowed 1,484 of them.
  public static let maxSteps = 32

  public static let names = ["random_resized_crop", "center_crop", "resize", "horizontal_flip", "vertical_flip", "rotate90", "rotation", "color_jitter",
                      "gaussian_blur", "gaussian_noise", "cutout", "hed_jitter", "stain_normalize", "rand_augment", "trivial_augment"]

  static func decode(_ node: Node, file: String) throws -> TransformSpec {
    guard let mapping = node.mapping, mapping.count == 1, let (keyNode, valueNode) = mapping.first, let name = keyNode.string else {
      throw PipelineSpecError(file: file, line: YAMLNodeReader.line(node), message: "a transform is a one-key mapping such as '- horizontal_flip: {p: 0.5}'")
    }
    // Parameters are a mapping, or nothing (`- resize:`) for the defaults; `- horizontal_flip: 1.0`
    // would otherwise mean p = 0.5 without a word.
    if valueNode.mapping == nil && !(valueNode.scalar.map { ["", "~", "null"].contains($0.string) } ?? false) {
      throw PipelineSpecError(file: file, line: YAMLNodeReader.line(valueNode), message: "the parameters of '\(name)' must be a mapping such as {p: 0.5}, or nothing for the defaults")
    }
    let params = valueNode.mapping != nil ? valueNode : Node.mapping(Node.Mapping([]))
    var r = try YAMLNodeReader(params, file: file)
    func range(_ key: String, _ d: ClosedRange<Double>, within limits: ClosedRange<Double>) throws -> ClosedRange<Double> {
      guard let v = try r.doubles(key, count: 2) else { return d }
      guard v.allSatisfy({ limits.contains($0) }) else { throw r.error(r.node, "'\(key)' values must be in \(limits.lowerBound)...\(limits.upperBound), not \(v)") }
      guard v[0] <= v[1] else { throw r.error(r.node, "'\(key)' must be [low, high]") }
      return v[0]...v[1]
    }
    let t: TransformSpec
    switch name {
    case "random_resized_crop": t = .randomResizedCrop(scale: try range("scale", 0.08...1, within: 0.01...1), ratio: try range("ratio", 0.75...(4.0 / 3), within: 0.05...20))
    case "center_crop":
      t = .centerCrop(cropFraction: try r.double("crop_fraction", default: 0.875, range: 0.1...1)!,
                      filter: ResizeFilter(rawValue: try r.string("filter", default: "bicubic", allowed: ResizeFilter.allCases.map(\.rawValue))!)!)
    case "resize": t = .resize(filter: ResizeFilter(rawValue: try r.string("filter", default: "bicubic", allowed: ResizeFilter.allCases.map(\.rawValue))!)!)
    case "horizontal_flip": t = .horizontalFlip(p: try r.double("p", default: 0.5, range: 0...1)!)
    case "vertical_flip": t = .verticalFlip(p: try r.double("p", default: 0.5, range: 0...1)!)
    case "rotate90": t = .rotate90(p: try r.double("p", default: 0.75, range: 0...1)!)
    case "rotation": t = .rotation(maxDegrees: try r.double("degrees", default: 15, range: 0...180)!, fill: try r.doubles("fill", count: 3).map { f in
        guard f.allSatisfy({ (0...1).contains($0) }) else { throw r.error(r.node, "'fill' values must be in 0...1") }
        return f
      } ?? [1, 1, 1])
    case "color_jitter":
      t = .colorJitter(brightness: try r.double("brightness", default: 0, range: 0...1)!, contrast: try r.double("contrast", default: 0, range: 0...1)!,
                       saturation: try r.double("saturation", default: 0, range: 0...1)!, hue: try r.double("hue", default: 0, range: 0...0.5)!)
    case "gaussian_blur": t = .gaussianBlur(p: try r.double("p", default: 0.5, range: 0...1)!, sigma: try range("sigma", 0.1...2, within: 0.01...20))
    case "gaussian_noise": t = .gaussianNoise(p: try r.double("p", default: 0.5, range: 0...1)!, sigma: try r.double("sigma", default: 0.02, range: 0...1)!)
    case "cutout": t = .cutout(p: try r.double("p", default: 0.5, range: 0...1)!, size: try r.int("size", default: 32, range: 1...4096)!)
    case "hed_jitter": t = .hedJitter(sigma: try r.double("sigma", default: 0.05, range: 0...1)!, bias: try r.double("bias", default: 0.05, range: 0...1)!)
    case "stain_normalize": t = .stainNormalize(method: try r.string("method", default: "macenko", allowed: ["macenko", "reinhard"])!)
    case "rand_augment": t = .randAugment(n: try r.int("n", default: 2, range: 1...10)!, m: try r.int("m", default: 9, range: 0...30)!)
    case "trivial_augment": t = .trivialAugment
    default:
      throw PipelineSpecError(file: file, line: YAMLNodeReader.line(keyNode), message: "unknown transform '\(name)' (one of: \(names.joined(separator: ", ")))")
    }
    try r.finish("transform '\(name)'")
    return t
  }

  /// The transform's name in pipeline YAML.
  public var name: String {
    switch self {
    case .randomResizedCrop: return "random_resized_crop"
    case .centerCrop: return "center_crop"
    case .resize: return "resize"
    case .horizontalFlip: return "horizontal_flip"
    case .verticalFlip: return "vertical_flip"
    case .rotate90: return "rotate90"
    case .rotation: return "rotation"
    case .colorJitter: return "color_jitter"
    case .gaussianBlur: return "gaussian_blur"
    case .gaussianNoise: return "gaussian_noise"
    case .cutout: return "cutout"
    case .hedJitter: return "hed_jitter"
    case .stainNormalize: return "stain_normalize"
    case .randAugment: return "rand_augment"
    case .trivialAugment: return "trivial_augment"
    }
  }

  /// The transform as a one-line JSON mapping, which is also YAML: `decode` reads it back with
  /// the same checks as a pipeline file (checkpoints record their evaluation transform so).
  public var json: String {
    func n(_ v: Double) -> String { "\(v)" }
    func pair(_ r: ClosedRange<Double>) -> String { "[\(n(r.lowerBound)), \(n(r.upperBound))]" }
    let params: String
    switch self {
    case .randomResizedCrop(let scale, let ratio): params = "\"scale\": \(pair(scale)), \"ratio\": \(pair(ratio))"
    case .centerCrop(let f, let filter): params = "\"crop_fraction\": \(n(f)), \"filter\": \"\(filter.rawValue)\""
    case .resize(let filter): params = "\"filter\": \"\(filter.rawValue)\""
    case .horizontalFlip(let p), .verticalFlip(let p), .rotate90(let p): params = "\"p\": \(n(p))"
    case .rotation(let d, let fill): params = "\"degrees\": \(n(d)), \"fill\": [\(fill.map(n).joined(separator: ", "))]"
    case .colorJitter(let b, let c, let s, let h): params = "\"brightness\": \(n(b)), \"contrast\": \(n(c)), \"saturation\": \(n(s)), \"hue\": \(n(h))"
    case .gaussianBlur(let p, let sigma): params = "\"p\": \(n(p)), \"sigma\": \(pair(sigma))"
    case .gaussianNoise(let p, let sigma): params = "\"p\": \(n(p)), \"sigma\": \(n(sigma))"
    case .cutout(let p, let size): params = "\"p\": \(n(p)), \"size\": \(size)"
    case .hedJitter(let sigma, let bias): params = "\"sigma\": \(n(sigma)), \"bias\": \(n(bias))"
    case .stainNormalize(let method): params = "\"method\": \"\(method)\""
    case .randAugment(let n, let m): params = "\"n\": \(n), \"m\": \(m)"
    case .trivialAugment: params = ""
    }
    return "{\"\(name)\": {\(params)}}"
  }

  /// Whether the transform draws random numbers (an augmentation), as opposed to a fixed
  /// preprocessing step that gives every epoch the same image.
  public var isRandom: Bool {
    switch self {
    case .centerCrop, .resize, .stainNormalize: return false
    case .horizontalFlip(let p), .verticalFlip(let p), .rotate90(let p), .gaussianBlur(let p, _), .gaussianNoise(let p, _), .cutout(let p, _): return p > 0
    case .rotation(let degrees, _): return degrees > 0
    case .colorJitter(let b, let c, let s, let h): return b > 0 || c > 0 || s > 0 || h > 0
    case .randomResizedCrop, .hedJitter, .randAugment, .trivialAugment: return true
    }
  }

  /// The short side a JPEG may be decoded down to (in the DCT domain) when this step comes
  /// first in training's chain, for a `width` x `height` photo: the step still reads at least
  /// `size` + 1 source pixels across each side of what it keeps, so it only ever shrinks, as
  /// on the full photo. A random resized crop's smallest box is the smaller of two: `scale`'s
  /// lower bound of the area at the most extreme ratio, and the centred box it falls back to
  /// when no drawn box fits (a photo more elongated than the ratios: its short side times the
  /// ratio that trims it). A phone photo (4000 x 3000) for 224 px with the leaf pipeline's crop
  /// is decoded at 1/8. Nil (decode whole) for steps that are not geometric.
  public func decodeShortSide(width: Int, height: Int, size: Int) -> Int? {
    switch self {
    case .randomResizedCrop(let scale, let ratio):
      let short = Double(Swift.min(width, height))
      let squareness = Swift.min(1, ratio.lowerBound, 1 / ratio.upperBound)
      let drawn = (scale.lowerBound * Double(width) * Double(height) * squareness).squareRoot()
      let fallback = short * Swift.min(1, ratio.upperBound, 1 / ratio.lowerBound)
      let smallestSide = Swift.min(drawn, fallback)
      guard smallestSide >= 1 else { return nil }
      let side = (Double(size + 1) * short / smallestSide).rounded(.up)
      return side < short ? Int(side) : nil
    case .centerCrop(let fraction, _): return Int((Double(size) / fraction).rounded(.up)) + 1
    case .resize: return size + 1
    default: return nil
    }
  }

  /// Applies a geometric first step (`random_resized_crop`, `center_crop`) straight
  /// to the decoded image, with the same random draws as `apply`, and gives the network-sized
  /// Float image; nil for any other step. Training's loader starts with it, so a photo is never
  /// held as Floats at full size (a 108-megapixel photo: 1.3 GB of Floats, and 6.4 GB at peak
  /// for two loader workers). The result is rounded to the source's levels, as torchvision's
  /// crop of a PIL image is, where `apply` rounds to 16-bit levels.
  public func applyFirst(_ image: Image, size: Int, using rng: inout SeededGenerator) -> FloatImage? {
    switch self {
    case .randomResizedCrop(let scale, let ratio):
      return image.randomResizedCropFloat(size: size, scale: scale, ratio: ratio, using: &rng)
    case .centerCrop(let fraction, let filter): return image.centerCroppedFloat(size: size, cropFraction: fraction, filter: filter)
    // `resize` stays on the Float path evaluation's `resize` takes (one contract for both).
    default: return nil
    }
  }

  /// Applies the transform; `size` is the pipeline's resolution.
  public func apply(_ image: FloatImage, size: Int, using rng: inout SeededGenerator) -> FloatImage {
    func chance(_ p: Double) -> Bool { Double(rng.nextUniform()) < p }
    switch self {
    case .randomResizedCrop(let scale, let ratio):
      return FloatImage(image.image(bitDepth: 16).randomResizedCrop(size: size, scale: scale, ratio: ratio, using: &rng))
    case .centerCrop(let fraction, let filter):
      return FloatImage(image.image(bitDepth: 16).centerCropped(size: size, cropFraction: fraction, filter: filter))
    case .resize(let filter): return image.resized(width: size, height: size, filter: filter)
    case .horizontalFlip(let p): return chance(p) ? image.flippedHorizontally() : image
    case .verticalFlip(let p): return chance(p) ? image.flippedVertically() : image
    case .rotate90(let p): return chance(p) ? image.rotated90(1 + Int(rng.next() % 3)) : image
    case .rotation(let maxDegrees, let fill):
      return image.rotated(degrees: (2 * Double(rng.nextUniform()) - 1) * maxDegrees, fill: fill.map(Float.init))
    case .colorJitter(let b, let c, let s, let h):
      return image.colorJittered(brightness: Float(b), contrast: Float(c), saturation: Float(s), hue: Float(h), using: &rng)
    case .gaussianBlur(let p, let sigma):
      guard chance(p) else { return image }
      return image.blurred(sigma: sigma.lowerBound + (sigma.upperBound - sigma.lowerBound) * Double(rng.nextUniform()))
    case .gaussianNoise(let p, let sigma): return chance(p) ? image.withNoise(sigma: Float(sigma), using: &rng) : image
    case .cutout(let p, let size): return chance(p) ? image.cutout(size: size, using: &rng) : image
    case .hedJitter(let sigma, let bias): return image.hedAugmented(sigma: Float(sigma), bias: Float(bias), using: &rng)
    case .stainNormalize(let method):
      return method == "reinhard" ? ReinhardNormalizer(mean: [-0.05, 0.02, 0.01], std: [0.25, 0.04, 0.02]).normalize(image) : MacenkoNormalizer().normalize(image)
    case .randAugment(let n, let m): return AutoAugment.randAugment(image, n: n, m: m, using: &rng)
    case .trivialAugment: return AutoAugment.trivialAugment(image, using: &rng)
    }
  }
}
