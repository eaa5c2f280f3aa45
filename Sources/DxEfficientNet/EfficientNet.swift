import DxNN
import DxTensor

/// EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks
/// (Mingxing Tan, Quoc V. Le, ICML 2019, https://arxiv.org/abs/1905.11946), and its Lite
/// variants for edge devices.
///
///     conv_stem 3x3/2 -> bn1+act -> blocks (7 stages of MBConv) -> conv_head 1x1 -> bn2+act
///     -> global average pool -> dropout -> classifier
///
/// Built from an `EfficientNetConfig` (a stage table plus compound scaling); parameters carry
/// timm's names, so timm checkpoints load without renaming. The forward pass is split as timm
/// splits it (`forwardFeatures`, `forwardHead(preLogits:)`), and `stageOutputs` exposes every
/// stage for debugging parity.
public final class EfficientNet: Layer {
  public private(set) var config: EfficientNetConfig
  let convStem: Conv2D
  let bn1: BatchNormAct
  /// `blocks[stage][repeat]`.
  public let blocks: [[MBConvBlock]]
  let convHead: Conv2D
  let bn2: BatchNormAct
  let pool = GlobalAvgPool()
  private(set) var dropout: Dropout
  /// The classifier on pooled features (a `Linear`, or an MLP when `config.classifierHidden`),
  /// replaceable for transfer learning.
  public private(set) var classifier: any Layer

  /// Builds the network with timm's initialisation, seeded; with `placeholderWeights`, with
  /// zeros instead, for a checkpoint's weights to be loaded over (much faster for large ones).
  public init(_ config: EfficientNetConfig, seed: UInt64 = 0, placeholderWeights: Bool = false) throws {
    try config.validate()
    self.config = config
    var rng = placeholderWeights ? SeededGenerator.placeholders(seed: seed) : SeededGenerator(seed: seed)
    let stages = try config.scaledStages()
    let stem = config.scaledStemChannels
    convStem = Conv2D(3, stem, kernel: 3, stride: 2, padding: config.padding, rng: &rng)
    bn1 = BatchNormAct(stem, config, activation: config.activation)
    let total = stages.reduce(0) { $0 + $1.repeats }
    var index = 0
    var channels = stem
    var built: [[MBConvBlock]] = []
    for stage in stages {
      var row: [MBConvBlock] = []
      for r in 0..<stage.repeats {
        var args = stage
        if r > 0 { args.stride = 1 }  // only a stage's first block downsamples
        let rate = config.dropPathRate * Float(index) / Float(total)
        row.append(MBConvBlock.make(args, inChannels: channels, config: config, dropPathRate: rate, rng: &rng))
        channels = args.outChannels
        index += 1
      }
      built.append(row)
    }
    blocks = built
    convHead = Conv2D(channels, config.scaledHeadChannels, kernel: 1, padding: config.padding, rng: &rng)
    bn2 = BatchNormAct(config.scaledHeadChannels, config, activation: config.activation)
    dropout = Dropout(rate: config.dropRate, seed: rng.next())
    classifier = Linear(config.scaledHeadChannels, config.numClasses, rng: &rng)
    if let hidden = config.classifierHidden { resetClassifier(numClasses: config.numClasses, hidden: hidden, seed: seed) }
  }

  /// What training recomputes in backward instead of keeping from forward (`Recomputation`);
  /// every level gives identical results. `.elementwise` by default: it halves the memory a
  /// step keeps for a few percent of its time.
  public var recomputation: Recomputation {
    get { blocks.first?.first?.recomputation ?? .elementwise }
    set { for stage in blocks { for block in stage { block.recomputation = newValue } } }
  }

  /// Channels of the pooled features (the classifier's input).
  public var numFeatures: Int { config.scaledHeadChannels }

  /// Replaces the classifier with a freshly initialised one for `numClasses` classes (the first
  /// step of transfer learning).
  ///
  /// The new layer is initialised as PyTorch's `nn.Linear` (uniform in `±1/sqrt(features)`), so
  /// the first logits on pretrained features are small and the loss starts near `log(classes)`.
  /// With `hidden`, the head is a small MLP (`fc1`, SiLU, dropout 0.2, `fc2`). The
  /// configuration records the head, so checkpoints rebuild it.
  public func resetClassifier(numClasses: Int, hidden: Int? = nil, seed: UInt64 = 0) {
    var rng = SeededGenerator(seed: seed)
    func linear(_ i: Int, _ o: Int) -> Linear {
      let l = Linear(i, o, rng: &rng)
      let bound = 1 / Float(i).squareRoot()
      l.weight.value = .randomUniform(l.weight.value.shape, low: -bound, high: bound, using: &rng)
      return l
    }
    if let hidden {
      classifier = Sequential([("fc1", linear(numFeatures, hidden)), ("act", Activation(.silu)), ("drop", Dropout(rate: 0.2, seed: rng.next())), ("fc2", linear(hidden, numClasses))])
    } else {
      classifier = linear(numFeatures, numClasses)
    }
    config.numClasses = numClasses
    config.classifierHidden = hidden
  }

  /// Backward of `forwardHead`: dLoss/dLogits to dLoss/dFeatures (for Grad-CAM and for training
  /// only the head).
  public func backwardHead(_ dy: Tensor) -> Tensor { pool.backward(dropout.backward(classifier.backward(dy))) }

  /// Reseeds every dropout and drop-path layer, so a training step's masks depend only on the
  /// seed it is given (and a resumed run draws the same masks as an uninterrupted one).
  /// `firstSample`: where this replica's rows start in the global batch (data-parallel runs).
  public func reseedStochasticLayers(_ seed: UInt64, firstSample: Int = 0) {
    var rng = SeededGenerator(seed: seed)
    dropout.generator = rng.fork()
    dropout.skipSamples = firstSample
    for stage in blocks {
      for block in stage {
        block.dropPath?.generator = rng.fork()
        block.dropPath?.skipSamples = firstSample
      }
    }
    (classifier as? StochasticLayer)?.reseed(rng.next(), firstSample: firstSample)
  }

  /// Sets the dropout before the classifier (a fine-tune's choice, not the checkpoint's).
  public func setDropRate(_ rate: Float, seed: UInt64 = 0) {
    dropout = Dropout(rate: rate, seed: seed)
    config.dropRate = rate
  }

  /// Sets stochastic depth: block i of n drops its branch with probability `rate * i / n`, as
  /// timm scales `drop_path_rate` (blocks without a skip connection never drop).
  public func setDropPathRate(_ rate: Float, seed: UInt64 = 0) {
    var rng = SeededGenerator(seed: seed)
    let total = blocks.reduce(0) { $0 + $1.count }
    var index = 0
    for stage in blocks {
      for block in stage {
        let r = rate * Float(index) / Float(total)
        block.dropPath = block.hasSkip && r > 0 ? DropPath(rate: r, seed: rng.next()) : nil
        index += 1
      }
    }
    config.dropPathRate = rate
  }

  /// Every BatchNorm, stem to head: synchronised BatchNorm gives each the replicas of a
  /// data-parallel run.
  public var batchNorms: [BatchNorm2D] {
    [bn1.bn] + blocks.flatMap { stage in stage.flatMap { block in block.children.compactMap { ($0.layer as? BatchNormAct)?.bn } } } + [bn2.bn]
  }

  /// `[N, H, W, 3]` images to `[N, h, w, numFeatures]` feature maps (after conv_head + bn2).
  public func forwardFeatures(_ x: Tensor, mode: Mode) -> Tensor {
    var h = bn1.forward(convStem.forward(x, mode: mode), mode: mode)
    for stage in blocks { for block in stage { h = block.forward(h, mode: mode) } }
    return bn2.forward(convHead.forward(h, mode: mode), mode: mode)
  }

  /// Pooled features `[N, numFeatures]` to logits (dropout, then the classifier): the part a
  /// head-only fine-tune trains, on features cached once.
  public func classify(pooled: Tensor, mode: Mode) -> Tensor { classifier.forward(dropout.forward(pooled, mode: mode), mode: mode) }

  /// Backward of `classify`: dLoss/dLogits to dLoss/dPooled.
  public func backwardClassify(_ dy: Tensor) -> Tensor { dropout.backward(classifier.backward(dy)) }

  /// Feature maps to pooled features `[N, numFeatures]` (`preLogits`) or logits `[N, classes]`.
  public func forwardHead(_ features: Tensor, mode: Mode, preLogits: Bool = false) -> Tensor {
    let pooled = pool.forward(features, mode: mode)
    return preLogits ? pooled : classifier.forward(dropout.forward(pooled, mode: mode), mode: mode)
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    forwardHead(forwardFeatures(x, mode: mode), mode: mode)
  }

  /// Backward of `forward`: dLoss/dLogits in, dLoss/dImages out.
  public func backward(_ dy: Tensor) -> Tensor {
    convStem.backward(backwardToStem(dy))
  }

  /// Backward of `forward` for training: the parameters' gradients only. The images' gradient
  /// (the stem's col2im and one GEMM, about 4% of a B0 step) is what nothing in training reads,
  /// and what PyTorch skips too for inputs that do not require grad.
  public func backwardParameters(_ dy: Tensor) {
    convStem.backwardParameters(backwardToStem(dy))
  }

  /// dLoss/dLogits in, the gradient at the stem convolution's output out.
  private func backwardToStem(_ dy: Tensor) -> Tensor {
    let dFeatures = backwardHead(dy)
    var g = convHead.backward(bn2.backward(dFeatures))
    for stage in blocks.reversed() { for block in stage.reversed() { g = block.backward(g) } }
    return bn1.backward(g)
  }

  /// Outputs of the stem and of every stage (`stem`, `stage0` ... `stage6`), for locating where
  /// two implementations start to differ.
  public func stageOutputs(_ x: Tensor, mode: Mode = .inference) -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    var h = bn1.forward(convStem.forward(x, mode: mode), mode: mode)
    out["stem"] = h
    for (i, stage) in blocks.enumerated() {
      for block in stage { h = block.forward(h, mode: mode) }
      out["stage\(i)"] = h
    }
    return out
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    convStem.visitParameters { visit("conv_stem.\($0)", $1) }
    bn1.visitParameters { visit("bn1.\($0)", $1) }
    for (s, stage) in blocks.enumerated() {
      for (b, block) in stage.enumerated() { block.visitParameters { visit("blocks.\(s).\(b).\($0)", $1) } }
    }
    convHead.visitParameters { visit("conv_head.\($0)", $1) }
    bn2.visitParameters { visit("bn2.\($0)", $1) }
    classifier.visitParameters { visit("classifier.\($0)", $1) }
  }
}
