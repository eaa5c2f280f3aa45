import DxTensor
import Foundation

/// Softmax cross-entropy over `[N, K]` logits and integer labels, with label smoothing and
/// optional per-class weights, defined exactly as PyTorch's `F.cross_entropy`:
///
///     loss_i = (1 - ε) * w[y_i] * (-log p[i, y_i]) + ε / K * Σ_c w[c] * (-log p[i, c])
///     loss   = Σ_i loss_i / Σ_i w[y_i]            (mean reduction; w = 1 without weights)
///
/// Class weights let a lab counter an imbalanced dataset (rare lesions) without resampling.
public struct SoftmaxCrossEntropy: Sendable {
  /// ε in the formula above: mass moved from the true class to all classes uniformly.
  public var labelSmoothing: Float
  /// Optional per-class weights `[K]`.
  public var classWeights: [Float]?

  public init(labelSmoothing: Float = 0, classWeights: [Float]? = nil) {
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "label smoothing must be in [0, 1]")
    self.labelSmoothing = labelSmoothing
    self.classWeights = classWeights
  }

  /// `Σ_i w[y_i]`: the denominator of the mean.
  public func weightSum(_ labels: [Int]) -> Double {
    guard let classWeights else { return Double(labels.count) }
    return labels.reduce(0.0) { $0 + Double(classWeights[$1]) }
  }

  /// The mean loss and its gradient with respect to the logits.
  ///
  /// `normalizer`: the denominator of the mean when these rows are one replica's share of a
  /// larger batch (that batch's `weightSum`); the loss and gradient returned are then this
  /// share's part of the whole batch's, and they add up over replicas.
  public func callAsFunction(logits: Tensor, labels: [Int], normalizer: Double? = nil) -> (loss: Double, gradient: Tensor) {
    precondition(logits.rank == 2, "cross-entropy expects [N, K] logits, got \(logits.shape)")
    let n = logits.shape[0], k = logits.shape[1]
    precondition(labels.count == n, "\(labels.count) labels for \(n) rows of logits")
    if let classWeights { precondition(classWeights.count == k, "\(classWeights.count) class weights for \(k) classes") }
    let w = classWeights.map { $0.map(Double.init) } ?? [Double](repeating: 1, count: k)
    let eps = Double(labelSmoothing)
    let weightSum = normalizer ?? labels.reduce(0.0) { $0 + w[$1] }
    precondition(weightSum > 0, "the labels' class weights sum to zero")
    var total = 0.0
    var grad = Tensor.zeros(logits.shape)
    let sumW = w.reduce(0, +)
    for i in 0..<n {
      let y = labels[i]
      precondition(y >= 0 && y < k, "label \(y) outside 0..<\(k)")
      let row = logits.scalars[(i * k)..<((i + 1) * k)].map(Double.init)
      let mx = row.max()!
      let lse = mx + log(row.reduce(0) { $0 + exp($1 - mx) })
      var smooth = 0.0
      for c in 0..<k { smooth += w[c] * (lse - row[c]) }
      total += (1 - eps) * w[y] * (lse - row[y]) + eps / Double(k) * smooth
      // d loss_i / d z_c = p_c * ((1-ε) w_y + ε/K Σw) - (1-ε) w_y [c = y] - ε/K w_c
      let coef = (1 - eps) * w[y] + eps / Double(k) * sumW
      for c in 0..<k {
        var g = exp(row[c] - lse) * coef - eps / Double(k) * w[c]
        if c == y { g -= (1 - eps) * w[y] }
        grad.scalars[i * k + c] = Float(g / weightSum)
      }
    }
    return (total / weightSum, grad)
  }

  /// Cross-entropy against soft targets `[N, K]` (each row a distribution, label smoothing
  /// already in it: mixup's and CutMix's targets), timm's `SoftTargetCrossEntropy`:
  /// `loss = Σ_i Σ_c -t[i, c] log p[i, c] / normalizer` (normalizer: N, or the global batch's
  /// size for one replica's rows), gradient `(p - t) / normalizer`.
  public func callAsFunction(logits: Tensor, targets: [Float], normalizer: Double? = nil) -> (loss: Double, gradient: Tensor) {
    precondition(logits.rank == 2 && targets.count == logits.count, "soft targets \(targets.count) for logits \(logits.shape)")
    let n = logits.shape[0], k = logits.shape[1]
    let denominator = normalizer ?? Double(n)
    precondition(denominator > 0, "an empty batch")
    var total = 0.0
    var grad = Tensor.zeros(logits.shape)
    for i in 0..<n {
      let row = logits.scalars[(i * k)..<((i + 1) * k)].map(Double.init)
      let mx = row.max()!
      let lse = mx + log(row.reduce(0) { $0 + exp($1 - mx) })
      for c in 0..<k {
        let t = Double(targets[i * k + c])
        total += t * (lse - row[c])
        grad.scalars[i * k + c] = Float((exp(row[c] - lse) - t) / denominator)
      }
    }
    return (total / denominator, grad)
  }
}
