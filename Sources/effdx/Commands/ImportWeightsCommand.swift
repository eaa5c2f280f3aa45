import ArgumentParser
import DxEfficientNet
import DxNN
import Foundation

/// Brings ImageNet (or any) weights from timm, torchvision or efficientnet_pytorch into an
/// EfficientDx checkpoint, optionally with a new classifier for transfer learning.
struct ImportWeightsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import-weights",
    abstract: "Convert a .safetensors or PyTorch .pth/.pt state dict into an EfficientDx checkpoint.",
    discussion: """
      The naming is detected from the keys unless --naming says otherwise. PyTorch layouts are
      converted once. With --num-classes different from the source's classifier, the classifier
      starts fresh (the first step of fine-tuning). Strict by default: any missing, unexpected
      or mis-shaped tensor is an error listing each by name; --non-strict loads what fits and
      lists what it skipped.
      """)

  @Argument(help: "Source weights (.safetensors, .pth or .pt).") var source: String
  @Option(help: "Architecture, a name from `effdx models` (e.g. efficientnet_b0, tf_efficientnet_b3).") var arch: String
  @Option(help: "The source's parameter naming (auto: detected from its keys).") var naming: NamingChoice = .auto
  @Option(help: "Number of classes of the new network (default: the source's).") var numClasses: Int?
  @Flag(help: "Load what fits and list what was skipped, instead of failing.") var nonStrict = false
  @Option(help: "Seed for any freshly initialised part (a new classifier).") var seed: UInt64 = 0
  @Option(help: "Output checkpoint (.safetensors).") var out: String
  @OptionGroup var verbosity: VerbosityOptions

  func validate() throws {
    guard Variants.named(arch) != nil else {
      throw ValidationError("unknown --arch '\(arch)'; one of: \(Variants.all.map(\.name).joined(separator: ", "))")
    }
    if let numClasses, !(1...100_000).contains(numClasses) { throw ValidationError("--num-classes must be in 1...100000, not \(numClasses)") }
    try OutputFile.check(out, writes: "a checkpoint", extensions: ["safetensors"], inputs: [source])
  }

  func run() throws {
    try verbosity.apply()
    let config = Variants.named(arch)!
    // The source is mapped: what its tensors decode to must fit beside it.
    let mapped = Double((try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0)
    let budget = Int(min(Double(Int.max / 2), max(0, MemoryCheck.available - mapped)))
    let (model, report, skipped) = try EfficientNet.importing(
      from: source, config: config, naming: WeightNaming(rawValue: naming.rawValue), numClasses: numClasses, strict: !nonStrict, seed: seed,
      maxDecodedBytes: budget)
    // A NaN or infinity in the source (an F16 overflow, a damaged file) is named here, with the
    // file it came from, rather than written into a checkpoint every later command refuses as
    // "a diverged training run?".
    if let bad = EfficientNet.implausibleTensor(model.stateDict()) {
      throw CommandFailure("\(source): the weights imported as '\(bad.name)' hold \(bad.negativeVariance ? "a negative variance" : "NaN or infinite values"); nothing was written")
    }
    try model.save(to: out, metadata: ["effdx.source": (source as NSString).lastPathComponent, "effdx.naming": report.naming.rawValue])
    print("imported \(source) as \(arch) (\(model.config.numClasses) classes, \(model.parameterCount) parameters)")
    print(report)
    if !skipped.isEmpty { print("not floating point, ignored: \(skipped.count) (\(skipped.prefix(3).joined(separator: ", "))\(skipped.count > 3 ? ", ..." : ""))") }
    print("wrote \(out)")
  }
}

/// `--naming`: detect, or one of the layouts `WeightNaming` reads.
enum NamingChoice: String, ExpressibleByArgument, CaseIterable {
  case auto, timm, torchvision, efficientnetPyTorch = "efficientnet_pytorch"
}
