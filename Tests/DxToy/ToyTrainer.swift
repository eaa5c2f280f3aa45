import DxNN
import DxTensor

/// Trains a network on an in-memory split with the full recipe the core provides: shuffled
/// mini-batches, label-smoothed cross-entropy, SGD with Nesterov momentum and decay that skips
/// biases and norms, warmup + cosine schedule and gradient clipping.
/// A stand-in for DxTasks' trainer, kept small so it reads as a usage example.
public struct ToyTrainer {
  public var epochs = 8
  public var batchSize = 32
  public var learningRate = 0.1
  public var seed: UInt64 = 0

  public init(epochs: Int = 8, batchSize: Int = 32, learningRate: Double = 0.1, seed: UInt64 = 0) {
    self.epochs = epochs
    self.batchSize = batchSize
    self.learningRate = learningRate
    self.seed = seed
  }

  /// One epoch's outcome.
  public struct EpochResult: Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var validationAccuracy: Double
  }

  /// Trains `model` in place; `onEpoch` sees each epoch's result as it finishes.
  public func train(
    _ model: any Layer, train: ToyPatterns.Split, validation: ToyPatterns.Split,
    onEpoch: (EpochResult) -> Void = { _ in }
  ) -> [EpochResult] {
    var rng = SeededGenerator(seed: seed)
    let n = train.labels.count
    let stepsPerEpoch = (n + batchSize - 1) / batchSize
    let schedule = LearningRateSchedule(
      baseLR: learningRate, shape: .cosine(totalSteps: epochs * stepsPerEpoch - stepsPerEpoch, minLR: learningRate / 100),
      warmupSteps: stepsPerEpoch, warmupStartLR: learningRate / 10)
    let optimizer = SGD(momentum: 0.9, nesterov: true, weightDecay: WeightDecay(1e-4, excludeBiasAndNorm: true))
    let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
    let params = model.namedParameters()
    var results: [EpochResult] = []
    var step = 0
    for epoch in 1...epochs {
      var order = Array(0..<n)
      order.shuffle(using: &rng)
      var total = 0.0
      for start in stride(from: 0, to: n, by: batchSize) {
        let idx = Array(order[start..<min(start + batchSize, n)])
        let (x, y) = batch(train, idx)
        model.zeroGradients()
        let logits = model.forward(x, mode: .training)
        let (l, grad) = loss(logits: logits, labels: y)
        _ = model.backward(grad)
        clipGradientNorm(params, maxNorm: 5)
        optimizer.step(params, lr: Float(schedule.lr(at: step)))
        total += l * Double(idx.count)
        step += 1
      }
      let result = EpochResult(epoch: epoch, trainLoss: total / Double(n), validationAccuracy: accuracy(model, validation))
      results.append(result)
      onEpoch(result)
    }
    return results
  }

  /// Fraction of `split` the model classifies correctly (inference mode, batched).
  public func accuracy(_ model: any Layer, _ split: ToyPatterns.Split) -> Double {
    var correct = 0
    let n = split.labels.count
    for start in stride(from: 0, to: n, by: 64) {
      let idx = Array(start..<min(start + 64, n))
      let (x, y) = batch(split, idx)
      let logits = model.forward(x, mode: .inference)
      let k = logits.shape[1]
      for (row, label) in y.enumerated() {
        let r = logits.scalars[(row * k)..<((row + 1) * k)]
        if r.indices.max(by: { r[$0] < r[$1] })! - row * k == label { correct += 1 }
      }
    }
    return Double(correct) / Double(max(n, 1))
  }

  private func batch(_ split: ToyPatterns.Split, _ idx: [Int]) -> (Tensor, [Int]) {
    let per = split.images.count / split.labels.count
    var pixels = [Float]()
    pixels.reserveCapacity(idx.count * per)
    for i in idx { pixels.append(contentsOf: split.images.scalars[(i * per)..<((i + 1) * per)]) }
    var shape = split.images.shape
    shape[0] = idx.count
    return (Tensor(shape: shape, scalars: pixels), idx.map { split.labels[$0] })
  }
}
