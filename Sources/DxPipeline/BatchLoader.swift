import DxImaging
import DxTensor
import Foundation

/// One batch: images `[N, H, W, 3]` normalised, their labels and paths, and the files that
/// failed to decode (left out, reported, never fatal).
public struct Batch: Sendable {
  public var images: Tensor
  public var labels: [Int]
  public var paths: [String]
  public var failures: [ImageError]
}

/// Decodes, transforms and batches images on worker threads, a few batches ahead of the
/// consumer.
///
/// Deterministic for a seed whatever the number of workers: the order is a shuffle seeded by
/// (seed, epoch), and every sample's augmentation draws from its own generator seeded by
/// (seed, epoch, position in the dataset), so threads only change who does the work.
public final class BatchLoader: Sequence, IteratorProtocol {
  public let spec: PipelineSpec
  public let items: [DatasetIndex.Item]
  public let training: Bool
  /// What evaluation batches (`training == false`) are prepared with: the one contract
  /// diagnosis uses too.
  public let evaluation: EvaluationTransform
  public let order: [Int]
  /// A data-parallel replica's part of every batch (`index` of `count` near-equal contiguous
  /// parts of the batch's positions); nil: whole batches.
  public let share: (index: Int, count: Int)?
  private let seed: UInt64, epoch: Int
  private var queue: [Batch] = []
  private var producedAll = false
  private let condition = NSCondition()
  private var consumed = 0
  private var thread: Thread?

  /// - Parameters:
  ///   - training: shuffle and apply `trainTransforms`; otherwise keep order and prepare each
  ///     image with `evaluation` (by default the spec's `eval_transforms`).
  ///   - share: decode only this replica's part of each batch: batch `b` is the same global
  ///     batch for any number of replicas (the order does not depend on them).
  public init(items: [DatasetIndex.Item], spec: PipelineSpec, training: Bool, seed: UInt64, epoch: Int = 0, evaluation: EvaluationTransform? = nil,
              share: (index: Int, count: Int)? = nil) {
    precondition(share.map { $0.count >= 1 && (0..<$0.count).contains($0.index) } ?? true, "share \(String(describing: share)) is not a part of a batch")
    self.share = share
    self.items = items
    self.spec = spec
    self.training = training
    self.evaluation = evaluation ?? {
      var t = EvaluationTransform(resolution: spec.resolution, mean: spec.mean, std: spec.std, steps: spec.evalTransforms, maxPixels: spec.maxPixels)
      t.jpegScaling = spec.jpegScaling
      return t
    }()
    self.seed = seed
    self.epoch = epoch
    var order = Array(items.indices)
    if training {
      var rng = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
      order.shuffle(using: &rng)
    }
    self.order = order
  }

  deinit {
    condition.lock()
    producedAll = true
    consumed = Int.max
    condition.broadcast()
    condition.unlock()
  }

  public var batchCount: Int { (items.count + spec.batchSize - 1) / spec.batchSize }

  /// One sample, as the loader prepares it (used by tools and tests too).
  public func sample(_ position: Int) throws -> [Float] {
    let item = items[position]
    if !training { return try evaluation.prepare(path: item.path) }
    let limits = ImageLimits(maxPixels: spec.maxPixels)
    let (size, first) = (spec.resolution, spec.trainTransforms.first)
    // A JPEG is decoded as small as the first step allows (`decode.jpeg_scaling`), and that
    // step cuts its crop from the decoded samples: no full-size Float copy.
    let shortSide: ((Int, Int) -> Int?)? = spec.jpegScaling ? { w, h in first?.decodeShortSide(width: w, height: h, size: size) } : nil
    let decoded = try ImageDecoder.decode(path: item.path, limits: limits, shortSide: shortSide)
    if case .centerCrop(let fraction, _)? = first {
      try EvaluationTransform.checkCropBudget(width: decoded.width, height: decoded.height, fraction: fraction, resolution: size, maxPixels: spec.maxPixels, source: item.path)
    }
    var rng = SeededGenerator(seed: seed ^ (UInt64(epoch) << 40) ^ (UInt64(position) &* 0xD1B5_4A32_D192_ED03))
    var transforms = spec.trainTransforms[...]
    var image: FloatImage
    if let sized = first?.applyFirst(decoded, size: size, using: &rng) {
      image = sized
      transforms = transforms.dropFirst()
    } else {
      image = FloatImage(decoded)
    }
    for t in transforms { image = t.apply(image, size: spec.resolution, using: &rng) }
    if image.width != spec.resolution || image.height != spec.resolution {
      image = image.resized(width: spec.resolution, height: spec.resolution, filter: .bilinear)
    }
    let mean = spec.mean.map(Float.init), std = spec.std.map(Float.init)
    return image.values.enumerated().map { ($1 - mean[$0 % 3]) / std[$0 % 3] }
  }

  /// Builds batch `b` with `spec.workers` threads.
  func makeBatch(_ b: Int) -> Batch {
    var positions = Array(order[(b * spec.batchSize)..<Swift.min(items.count, (b + 1) * spec.batchSize)])
    if let share { positions = Array(positions[Self.part(share.index, of: share.count, in: positions.count)]) }
    var results = [Result<[Float], ImageError>?](repeating: nil, count: positions.count)
    let workers = Swift.max(1, Swift.min(spec.workers, positions.count))
    results.withUnsafeMutableBufferPointer { out in
      DispatchQueue.concurrentPerform(iterations: workers) { w in
        for j in Swift.stride(from: w, to: positions.count, by: workers) {
          do { out[j] = .success(try sample(positions[j])) } catch let e as ImageError { out[j] = .failure(e) } catch {
            out[j] = .failure(.corrupt(path: items[positions[j]].path, reason: "\(error)"))
          }
        }
      }
    }
    var values: [Float] = [], labels: [Int] = [], paths: [String] = [], failures: [ImageError] = []
    for (j, r) in results.enumerated() {
      switch r! {
      case .success(let v):
        values += v
        labels.append(items[positions[j]].label)
        paths.append(items[positions[j]].path)
      case .failure(let e): failures.append(e)
      }
    }
    let s = training ? spec.resolution : evaluation.resolution
    return Batch(images: Tensor(shape: [labels.count, s, s, 3], scalars: values), labels: labels, paths: paths, failures: failures)
  }

  /// Part `index` of `count` of `n` positions: contiguous, sizes differing by at most one.
  public static func part(_ index: Int, of count: Int, in n: Int) -> Range<Int> { (n * index / count)..<(n * (index + 1) / count) }

  private func startIfNeeded() {
    guard thread == nil else { return }
    let t = Thread { [weak self] in
      guard let count = self?.batchCount else { return }
      for b in 0..<count {
        guard let self else { return }
        self.condition.lock()
        while self.queue.count >= self.spec.prefetch && self.consumed != Int.max { self.condition.wait() }
        let stop = self.consumed == Int.max
        self.condition.unlock()
        if stop { return }
        let batch = self.makeBatch(b)
        self.condition.lock()
        self.queue.append(batch)
        self.condition.broadcast()
        self.condition.unlock()
      }
      self?.condition.lock()
      self?.producedAll = true
      self?.condition.broadcast()
      self?.condition.unlock()
    }
    t.name = "effdx-batch-loader"
    thread = t
    t.start()
  }

  /// The next batch in order, or nil after the last.
  public func next() -> Batch? {
    startIfNeeded()
    condition.lock()
    defer { condition.unlock() }
    while queue.isEmpty && !producedAll { condition.wait() }
    guard !queue.isEmpty else { return nil }
    consumed += 1
    let batch = queue.removeFirst()
    condition.broadcast()
    return batch
  }
}
