import DxTensor

/// Batch normalisation over the last (channel) axis of `[N, H, W, C]` or `[N, C]` input.
///
/// Training normalises with batch statistics (biased variance) and moves the running statistics
/// towards them with `momentum` using the *unbiased* variance, exactly as PyTorch does
/// (`running = (1 - momentum) * running + momentum * batch`). TensorFlow-trained checkpoints use
/// `eps = 1e-3` and momentum `1 - 0.99`; PyTorch's defaults are `1e-5` and `0.1`.
public final class BatchNorm2D: Layer {
  public let channels: Int
  public let eps: Float
  public let momentum: Float
  /// Scale (gamma) and shift (beta), named as in PyTorch.
  public let weight: Parameter, bias: Parameter
  /// Running statistics: buffers, saved but never touched by optimizers.
  public let runningMean: Parameter, runningVar: Parameter

  /// Synchronised BatchNorm: in training, the statistics of the whole batch over every member
  /// of this group (`train --sync-bn`), instead of this replica's share of it. Nil: per-replica
  /// statistics, as PyTorch DDP does by default.
  public var replicas: ReplicaGroup?

  var input: Tensor?
  private var mean: [Float] = [], invStd: [Float] = []
  private var usedBatchStats = false
  /// Rows the latest batch statistics were taken over (every replica's, when synchronised).
  private var statisticsRows = 0

  /// Identity-initialised BatchNorm (gamma 1, beta 0, running mean 0, running variance 1).
  public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
    self.channels = channels
    self.eps = eps
    self.momentum = momentum
    weight = Parameter(Tensor(shape: [channels], repeating: 1))
    bias = Parameter(.zeros([channels]))
    runningMean = Parameter(.zeros([channels]), kind: .buffer)
    runningVar = Parameter(Tensor(shape: [channels], repeating: 1), kind: .buffer)
  }

  /// A frozen BatchNorm (both affine parameters frozen, as when fine-tuning a pretrained
  /// backbone) also keeps its statistics: it normalises with the running ones even in training.
  public var isFrozen: Bool { weight.isFrozen && bias.isFrozen }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure("BatchNorm forward", bytes: 12 * Double(x.count)) { _forward(x, mode: mode, activation: .none) }
  }

  /// BatchNorm with an activation applied in the same pass; differentiate it with
  /// `backward(_:activation:)`, which recomputes the pre-activation values from the input.
  public func forward(_ x: Tensor, mode: Mode, activation: FusedActivation) -> Tensor {
    // Bytes: the statistics pass reads x, the map pass reads x and writes y.
    Profiler.measure("BatchNorm+activation forward", bytes: 12 * Double(x.count)) { _forward(x, mode: mode, activation: activation) }
  }

  private func _forward(_ x: Tensor, mode: Mode, activation: FusedActivation) -> Tensor {
    precondition(x.shape.last == channels, "BatchNorm2D expects \(channels) channels, got shape \(x.shape)")
    let m = x.count / channels
    let mode = isFrozen ? .inference : mode
    if mode == .training {
      let stats: (mean: [Float], variance: [Float], rows: Int)
      if let replicas {
        stats = synchronisedStatistics(x, rows: m, group: replicas)
      } else {
        let local = x.withPointer { batchStatistics($0, rows: m, channels: channels) }
        stats = (local.mean, local.variance, m)
      }
      statisticsRows = stats.rows
      precondition(stats.rows > 1, "BatchNorm in training needs more than one value per channel, got shape \(x.shape)")
      mean = stats.mean
      invStd = stats.variance.map { 1 / ($0 + eps).squareRoot() }
      let unbias = Float(stats.rows) / Float(stats.rows - 1)
      for j in 0..<channels {
        runningMean.value.scalars[j] = (1 - momentum) * runningMean.value.scalars[j] + momentum * stats.mean[j]
        runningVar.value.scalars[j] = (1 - momentum) * runningVar.value.scalars[j] + momentum * stats.variance[j] * unbias
      }
    } else {
      mean = runningMean.value.scalars
      invStd = runningVar.value.scalars.map { 1 / ($0 + eps).squareRoot() }
    }
    usedBatchStats = mode == .training
    input = x
    return apply(x, activation: activation)
  }

  /// The mean and biased variance of the batches of every replica: `Σx`, `Σx²` and the row count
  /// summed over the group in Double, one collective per layer.
  private func synchronisedStatistics(_ x: Tensor, rows m: Int, group: ReplicaGroup) -> (mean: [Float], variance: [Float], rows: Int) {
    let zero = [Double](repeating: 0, count: channels)
    let local = m == 0 ? (sum: zero, sumOfSquares: zero) : x.withPointer { channelSums($0, rows: m, channels: channels) }
    var sums = local.sum + local.sumOfSquares + [Double(m)]
    do { try group.sum(&sums) } catch { group.abort("synchronised BatchNorm (\(channels) channels): \(error)") }
    let rows = Int(sums[2 * channels])
    var mean = [Float](repeating: 0, count: channels), variance = [Float](repeating: 0, count: channels)
    for j in 0..<channels {
      let mu = sums[j] / Double(rows)
      mean[j] = Float(mu)
      variance[j] = Float(max(0, sums[channels + j] / Double(rows) - mu * mu))
    }
    return (mean, variance, rows)
  }

  /// `act((x - mean) * invStd * gamma + beta)` with the statistics of the latest forward.
  func apply(_ x: Tensor, activation: FusedActivation) -> Tensor {
    var y = Tensor.uninitialized(x.shape)
    x.withPointer { xp in
      y.withMutablePointer { yp in
        batchNormApply(
          xp, yp, mean: mean, invStd: invStd, gamma: weight.value.scalars, beta: bias.value.scalars,
          rows: x.count / channels, channels: channels, activation: activation)
      }
    }
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    Profiler.measure("BatchNorm backward", bytes: 20 * Double(dy.count)) { backwardPass(dy, activation: .none) }
  }

  /// Backward of `forward(_:mode:activation:)`: `dy` is the gradient at the activation's
  /// output. Two passes over the map, recomputing the pre-activation values from the input.
  public func backward(_ dy: Tensor, activation: FusedActivation) -> Tensor {
    // Bytes: pass 1 reads x and dy and writes g, pass 2 reads x and g and writes dx.
    Profiler.measure("BatchNorm+activation backward", bytes: 24 * Double(dy.count)) { backwardPass(dy, activation: activation) }
  }

  private func backwardPass(_ dy: Tensor, activation: FusedActivation) -> Tensor {
    guard let x = input else { preconditionFailure("BatchNorm2D.backward before forward") }
    precondition(dy.shape == x.shape, "BatchNorm2D.backward got \(dy.shape), expected \(x.shape)")
    var dx = Tensor.uninitialized(x.shape)
    x.withPointer { xp in
      dy.withPointer { dyp in
        dx.withMutablePointer { dxp in
          weight.grad.withMutablePointer { dg in
            bias.grad.withMutablePointer { db in
              batchNormActivationBackward(
                x: xp, outputGrad: dyp, inputGrad: dxp, mean: mean, invStd: invStd, gamma: weight.value.scalars,
                beta: bias.value.scalars, gammaGrad: dg, betaGrad: db, activation: activation,
                batchStats: usedBatchStats, rows: x.count / channels, channels: channels,
                statisticsRows: statisticsRows, globalSums: replicas.map { group in
                  { sums in
                    do { try group.sum(&sums) } catch { group.abort("synchronised BatchNorm backward (\(self.channels) channels): \(error)") }
                  }
                })
            }
          }
        }
      }
    }
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    visit("weight", weight)
    visit("bias", bias)
    visit("running_mean", runningMean)
    visit("running_var", runningVar)
  }
}
