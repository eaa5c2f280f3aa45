import DxEfficientNet
import DxImaging
import DxPipeline
import DxTensor
import Foundation

/// Images in, class probabilities out: the checkpoint's evaluation transform, the folded
/// network, softmax, and optionally test-time augmentation. `diagnose`, slide diagnosis and
/// `train`'s held-out test predictions all go through this one type, so they agree to rounding.
public struct Predictor {
  /// What classification runs: the network with BatchNorm folded and its passes fused.
  let folded: FoldedEfficientNet
  public let model: EfficientNet
  public let classes: [String]
  public let evaluation: EvaluationTransform
  /// Average with horizontally and vertically flipped copies (test-time augmentation).
  public var tta = false

  public init(model: EfficientNet, classes: [String], evaluation: EvaluationTransform) {
    self.model = model
    self.folded = FoldedEfficientNet(model)
    self.classes = classes
    self.evaluation = evaluation
  }

  public init(_ checkpoint: TaskCheckpoint) {
    self.init(model: checkpoint.model, classes: checkpoint.classes, evaluation: checkpoint.evaluation)
  }

  /// One file's outcome.
  public enum Outcome {
    case probabilities([Float])
    case failed(ImageError)
  }

  /// Classifies a prefetched batch: one outcome per item, in order. `source` names an item in
  /// its error.
  public func classify(_ batch: BatchPrefetcher.Batch, source: (Int) -> String = { "item \($0)" }) -> [Outcome] {
    let s = evaluation.resolution
    let probabilities = batch.preparedCount == 0 ? [] : self.probabilities(Tensor(shape: [batch.preparedCount, s, s, 3], scalars: batch.inputs))
    var next = 0
    return zip(batch.items, batch.errors).map { item, error in
      if let error { return .failed((error as? ImageError) ?? .corrupt(path: source(item), reason: "\(error)")) }
      next += 1
      return Self.outcome(probabilities[next - 1], source: source(item))
    }
  }

  /// The probabilities, or a failure when they are not numbers: a finite checkpoint whose
  /// weights overflow on an image gives NaN logits, which were written as `-nan` rows (exit 0)
  /// that the next run then refused as not probabilities.
  static func outcome(_ p: [Float], source: String) -> Outcome {
    p.allSatisfy(\.isFinite)
      ? .probabilities(p) : .failed(.outOfBounds(path: source, reason: "the network's outputs are not finite numbers (its weights overflow on this input)"))
  }

  /// Classifies decoded images (slide tiles read in memory); `sources` name them in errors.
  public func classify(images: [Image], sources: [String]) -> [Outcome] {
    classify(zip(images, sources).map { image, source in
      Result { try evaluation.prepare(image, source: source) }.mapError { ($0 as? ImageError) ?? .corrupt(path: source, reason: "\($0)") }
    }, sources: sources)
  }

  func classify(_ prepared: [Result<[Float], ImageError>], sources: [String]) -> [Outcome] {
    var values: [Float] = [], count = 0
    for case .success(let v) in prepared { values += v; count += 1 }
    let s = evaluation.resolution
    let probs = count == 0 ? [] : probabilities(Tensor(shape: [count, s, s, 3], scalars: values))
    var next = 0
    return zip(prepared, sources).map { p, source in
      switch p {
      case .failure(let e): return .failed(e)
      case .success: next += 1; return Self.outcome(probs[next - 1], source: source)
      }
    }
  }

  /// Softmax probabilities of prepared inputs `[N, H, W, 3]`, averaged over flips with TTA.
  public func probabilities(_ x: Tensor) -> [[Float]] {
    var views = [x]
    if tta { views += [Self.flip(x, horizontal: true), Self.flip(x, horizontal: false)] }
    let k = classes.count, n = x.shape[0]
    var sum = [[Float]](repeating: [Float](repeating: 0, count: k), count: n)
    for v in views {
      let logits = folded.forward(v)
      for i in 0..<n {
        let row = Array(logits.scalars[(i * k)..<((i + 1) * k)])
        let m = row.max()!
        let e = row.map { exp($0 - m) }
        let z = e.reduce(0, +)
        for c in 0..<k { sum[i][c] += e[c] / z / Float(views.count) }
      }
    }
    return sum
  }

  static func flip(_ x: Tensor, horizontal: Bool) -> Tensor {
    let (n, h, w, c) = x.nhwc()
    var out = x
    for i in 0..<n { for y in 0..<h { for xx in 0..<w {
      let (sy, sx) = horizontal ? (y, w - 1 - xx) : (h - 1 - y, xx)
      for ch in 0..<c { out.scalars[((i * h + y) * w + xx) * c + ch] = x.scalars[((i * h + sy) * w + sx) * c + ch] }
    } } }
    return out
  }
}
