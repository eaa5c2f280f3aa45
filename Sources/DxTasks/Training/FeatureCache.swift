import DxEfficientNet
import DxImaging
import DxNN
import DxPipeline
import DxTensor
import Foundation

/// Pooled backbone features of every training and validation image, computed once with the
/// evaluation transforms: with a frozen backbone and no augmentation they never change, so each
/// further epoch of head training costs a few matrix products.
struct FeatureCache {
  var trainFeatures: Tensor, trainLabels: [Int]
  var validationFeatures: Tensor, validationLabels: [Int]
  /// Images that could not be read (left out of the cache).
  var failures: [ImageError] = []

  /// Features through the evaluation transform (the one contract); `progress` sees images done
  /// of all, training and validation together.
  init(model: EfficientNet, spec: PipelineSpec, evaluation: EvaluationTransform, train: [DatasetIndex.Item], validation: [DatasetIndex.Item],
       progress: (Int, Int) -> Void = { _, _ in }) throws {
    let folded = FoldedEfficientNet(model)
    var done = 0, failed: [ImageError] = []
    func features(_ items: [DatasetIndex.Item]) -> (Tensor, [Int]) {
      var values: [Float] = [], labels: [Int] = []
      for batch in BatchLoader(items: items, spec: spec, training: false, seed: 0, evaluation: evaluation) {
        failed += batch.failures
        done += batch.labels.count + batch.failures.count
        progress(done, train.count + validation.count)
        guard !batch.labels.isEmpty else { continue }
        values += folded.pooledFeatures(batch.images).scalars
        labels += batch.labels
      }
      return (Tensor(shape: [labels.count, model.numFeatures], scalars: values), labels)
    }
    (trainFeatures, trainLabels) = features(train)
    (validationFeatures, validationLabels) = features(validation)
    failures = failed
  }

  func rows(_ t: Tensor, _ indices: [Int]) -> Tensor {
    let d = t.shape[1]
    var out: [Float] = []
    out.reserveCapacity(indices.count * d)
    for i in indices { out += t.scalars[(i * d)..<((i + 1) * d)] }
    return Tensor(shape: [indices.count, d], scalars: out)
  }

  func trainBatches(epoch: Int, batchSize: Int, seed: UInt64) -> [(Tensor, [Int])] {
    var order = Array(trainLabels.indices)
    var rng = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
    order.shuffle(using: &rng)
    return stride(from: 0, to: order.count, by: batchSize).map { s in
      let idx = Array(order[s..<min(order.count, s + batchSize)])
      return (rows(trainFeatures, idx), idx.map { trainLabels[$0] })
    }
  }

  func validationBatches(batchSize: Int) -> [(Tensor, [Int])] {
    stride(from: 0, to: validationLabels.count, by: batchSize).map { s in
      let idx = Array(s..<min(validationLabels.count, s + batchSize))
      return (rows(validationFeatures, idx), idx.map { validationLabels[$0] })
    }
  }
}
