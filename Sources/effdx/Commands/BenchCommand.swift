import ArgumentParser
import DxEfficientNet
import DxNN
import DxTensor
import Foundation

/// `effdx bench ...`: every measurement the tool makes of itself, in one group.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench", abstract: "Measure EfficientDx (release builds): network images/s, kernels, the evaluator, imaging.",
    subcommands: [BenchInferCommand.self, BenchTrainCommand.self, BenchHeadCommand.self, BenchKernelsCommand.self, BenchEvaluateCommand.self, BenchImagingCommand.self])
}

struct BenchInferCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "infer", abstract: "Inference images/s (folded network, as diagnosis runs it), per layer kind.")
  @OptionGroup var options: NetworkBenchOptions
  func run() throws { try options.run(mode: "infer") }
}

struct BenchTrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "train", abstract: "Full fine-tuning step images/s, per layer kind, with peak memory.")
  @OptionGroup var options: NetworkBenchOptions
  @Option(help: "What backward recomputes instead of keeping: none, elementwise (BatchNorm+activation and SE outputs; as train's default) or all (each block's inside; as train --low-memory).")
  var recompute: Recomputation = .elementwise
  func run() throws { try options.run(mode: "train", recompute: recompute) }
}

struct BenchHeadCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "head", abstract: "Head-only step images/s: the frozen backbone run each time (as PyTorch's), or --cached on cached features.")
  @OptionGroup var options: NetworkBenchOptions
  @Flag(help: "On cached features (each epoch after the first of train --policy head).") var cached = false
  func run() throws { try options.run(mode: cached ? "head-cached" : "head") }
}

extension Recomputation: ExpressibleByArgument {}

/// Whole-network throughput: inference, a full fine-tuning step, or a head-only step, with a
/// per-layer-kind time breakdown and peak memory. Compare with
/// `../shared/tools/bench_reference.py` run in the same session on the same machine.
struct NetworkBenchOptions: ParsableArguments {
  @Option(help: "Architecture.") var arch = "efficientnet_b0"
  @Option(help: "Input resolution.") var res = 224
  @Option(help: "Batch size.") var batch = 32
  @Option(help: "Timed iterations (median reported), after one warm-up.") var iters = 3
  @Option(help: "Classes of the classifier.") var classes = 10
  @Flag(help: "Print one JSON object.") var json = false
  @Flag(help: "Break the time down by layer shape as well as kind (inference's folded layers).") var byShape = false
  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    guard Variants.named(arch) != nil else { throw ValidationError("unknown --arch '\(arch)'; one of: \(Variants.all.map(\.name).joined(separator: ", "))") }
    guard (16...2048).contains(res) else { throw ValidationError("--res must be in 16...2048, not \(res)") }
    guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, not \(batch)") }
    guard (1...10_000).contains(iters) else { throw ValidationError("--iters must be in 1...10000, not \(iters)") }
    guard (1...100_000).contains(classes) else { throw ValidationError("--classes must be in 1...100000, not \(classes)") }
  }

  func run(mode: String, recompute: Recomputation = .elementwise) throws {
    try compute.apply()
    #if DEBUG
      Console.warning("debug build; use swift build -c release")
    #endif
    var config = Variants.named(arch)!
    config.numClasses = classes
    try MemoryCheck.check(config, batch: batch, resolution: res, keepsMaps: mode == "train" && recompute != .all, flags: "--batch \(batch) at --res \(res)")
    if mode == "train" {
      let side = config.featureMapSide(resolution: res)
      guard batch * side * side >= 2 else {
        throw ValidationError("--batch \(batch) at --res \(res): the last feature map is \(side) x \(side), so training's BatchNorm would see one value per channel; use --batch 2 or more")
      }
    }
    let model = try EfficientNet(config, seed: 0)
    model.recomputation = recompute
    var rng = SeededGenerator(seed: 1)
    let x = Tensor.randomNormal([batch, res, res, 3], using: &rng)
    let labels = (0..<batch).map { $0 % classes }
    let loss = SoftmaxCrossEntropy()
    let sgd = SGD(momentum: 0.9)
    if mode.hasPrefix("head") { model.setFrozen(true); model.setFrozen(false, prefix: "classifier.") }
    let params = model.namedParameters()
    // Inference and the frozen backbone of a head-only step run folded, as diagnosis does.
    let folded = mode == "train" ? nil : FoldedEfficientNet(model)
    let cached = mode == "head-cached" ? folded!.pooledFeatures(x) : nil
    // A head step on cached features takes microseconds: time 50 of them together.
    let repeats = mode == "head-cached" ? 50 : 1
    func step() { for _ in 0..<repeats { oneStep() } }
    func oneStep() {
      switch mode {
      case "infer":
        _ = folded!.forward(x)
      case "head", "head-cached":
        let pooled = cached ?? folded!.pooledFeatures(x)
        model.zeroGradients()
        let (_, g) = loss(logits: model.classify(pooled: pooled, mode: .training), labels: labels)
        _ = model.backwardClassify(g)
        sgd.step(params, lr: 0.01)
      default:
        model.zeroGradients()
        let (_, g) = loss(logits: model.forward(x, mode: .training), labels: labels)
        model.backwardParameters(g)
        sgd.step(params, lr: 0.01)
      }
    }
    step()
    var times: [Double] = []
    for _ in 0..<max(1, iters) {
      let t0 = Date()
      step()
      times.append(Date().timeIntervalSince(t0))
    }
    let median = times.sorted()[times.count / 2]
    Profiler.reset()
    Profiler.enabled = true
    Profiler.byShape = byShape
    let t0 = Date()
    step()
    let profiled = Date().timeIntervalSince(t0)
    Profiler.enabled = false
    let peakMB = peakMemoryMB()
    let imagesPerSecond = Double(batch * repeats) / median
    let breakdown = Profiler.report
    if json {
      let object: [String: Any] = ["system": "effdx", "mode": mode, "arch": arch, "res": res, "batch": batch, "threads": ThreadPool.threadCount, "blas_core": BLASRuntime.coreName,
                                   "images_per_s": (imagesPerSecond * 100).rounded() / 100, "peak_rss_mb": peakMB,
                                   "layers": Dictionary(uniqueKeysWithValues: breakdown.map { ($0.kind, ($0.seconds * 1e5).rounded() / 100) })]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
      return
    }
    print(String(format: "%@ %@ at %d px, batch %d, %d threads: %.2f images/s (%.1f ms per batch, median of %d); peak memory %d MB",
                 arch, mode, res, batch, ThreadPool.threadCount, imagesPerSecond, median * 1e3, times.count, peakMB))
    print("OpenBLAS \(BLASRuntime.coreName) kernels; EfficientDx kernels \(KernelInstructionSet.current)")
    print("time by layer kind (one profiled \(mode) pass, \(String(format: "%.1f", profiled * 1e3)) ms):")
    let accounted = breakdown.reduce(0) { $0 + $1.seconds }
    func pad(_ s: String) -> String { "  " + s.padding(toLength: byShape ? 44 : 32, withPad: " ", startingAt: 0) }
    for r in breakdown {
      let rate = r.flops > 0 ? String(format: "  %6.1f GFLOP/s", r.flops / r.seconds / 1e9)
        : r.bytes > 0 ? String(format: "  %6.1f GB/s", r.bytes / r.seconds / 1e9) : ""
      print(pad(r.kind) + String(format: "%8.1f ms  %5.1f%%  (%3d calls)", r.seconds * 1e3, 100 * r.seconds / profiled, r.calls) + rate)
    }
    print(pad("other (adds, loss, optimizer)") + String(format: "%8.1f ms  %5.1f%%", (profiled - accounted) * 1e3, 100 * (profiled - accounted) / profiled))
  }
}
