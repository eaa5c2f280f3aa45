import DxNN
import DxTensor

/// A tiny generated image-classification problem, the demo's data until real sample images
/// ship: 16x16 RGB images of four texture classes (horizontal stripes, vertical stripes,
/// diagonal stripes, checkerboard) with random period, phase, colours and pixel noise.
///
/// It is small enough to train in seconds on a CPU yet needs real convolutions to solve
/// (the classes have the same mean colour), so a broken kernel shows up as a failure to learn.
public enum ToyPatterns {
  /// Class names in label order.
  public static let classes = ["horizontal", "vertical", "diagonal", "checkerboard"]
  /// Image side in pixels.
  public static let size = 16

  /// `count` images `[count, 16, 16, 3]` in [0, 1] and their labels, balanced across classes.
  public static func generate(count: Int, seed: UInt64) -> (images: Tensor, labels: [Int]) {
    var rng = SeededGenerator(seed: seed)
    let s = size
    var pixels = [Float](repeating: 0, count: count * s * s * 3)
    var labels: [Int] = []
    for i in 0..<count {
      let label = i % classes.count
      labels.append(label)
      let period = 3 + Int(rng.next() % 4)  // 3...6 pixels
      let phase = Int(rng.next() % UInt64(period))
      let a = (0..<3).map { _ in rng.nextUniform() }
      let b = (0..<3).map { _ in rng.nextUniform() }
      for y in 0..<s {
        for x in 0..<s {
          let on: Bool
          switch label {
          case 0: on = (y + phase) % period < period / 2 + 1
          case 1: on = (x + phase) % period < period / 2 + 1
          case 2: on = (x + y + phase) % period < period / 2 + 1
          default: on = ((x + phase) / 2 + (y + phase) / 2) % 2 == 0
          }
          for c in 0..<3 {
            let v = (on ? a[c] : b[c]) + 0.1 * rng.nextNormal()
            pixels[((i * s + y) * s + x) * 3 + c] = min(max(v, 0), 1)
          }
        }
      }
    }
    return (Tensor(shape: [count, s, s, 3], scalars: pixels), labels)
  }

  /// Writes the bundled sample file: `train.images`, `train.labels`, `val.images`, `val.labels`.
  public static func writeSamples(to path: String, train: Int = 320, validation: Int = 96, seed: UInt64 = 2026) throws {
    let tr = generate(count: train, seed: seed)
    let va = generate(count: validation, seed: seed &+ 1)
    try SafeTensorsWriter.write(
      [
        "train.images": tr.images, "train.labels": Tensor(shape: [train], scalars: tr.labels.map(Float.init)),
        "val.images": va.images, "val.labels": Tensor(shape: [validation], scalars: va.labels.map(Float.init)),
      ],
      metadata: [
        "generator": "ToyPatterns (Sources/DxDemo/ToyPatterns.swift)", "seed": "\(seed)",
        "classes": classes.joined(separator: ","), "layout": "NHWC float32 in [0,1]",
      ], to: path)
  }

  /// A labelled split read back from a sample file.
  public struct Split {
    public var images: Tensor
    public var labels: [Int]
  }

  /// Reads a split (`train` or `val`) from a sample file written by `writeSamples`.
  public static func load(_ path: String, split: String) throws -> Split {
    let f = try SafeTensorsFile(path: path)
    let images = try f.tensor("\(split).images")
    let labels = try f.tensor("\(split).labels").scalars.map { Int($0) }
    return Split(images: images, labels: labels)
  }
}
