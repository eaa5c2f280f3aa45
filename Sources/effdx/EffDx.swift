import ArgumentParser
import DxTensor

/// The EfficientDx command-line tool: thin commands over the Dx libraries.
@main
struct EffDx: ParsableCommand {
  static func main() {
    TensorMemory.keepLargeBlocks()
    var command: ParsableCommand
    do { command = try parseAsRoot() } catch { exit(withError: error) }
    do { try command.run() } catch { exit(withError: error) }
  }

  static let configuration = CommandConfiguration(
    commandName: "effdx",
    abstract: "EfficientNet-based leaf-disease and histopathology classification on the CPU.",
    subcommands: [
      ModelsCommand.self, ImportWeightsCommand.self, ForwardCommand.self, EvaluateCommand.self, InspectCommand.self,
      ConvertCommand.self, TileCommand.self, SamplesCommand.self, TrainCommand.self, DiagnoseCommand.self, GradCAMCommand.self,
      DemoCommand.self,
      MakeToySamplesCommand.self,
      BenchCommand.self, BenchKernelsCommand.self, BenchEvaluateCommand.self, BenchImagingCommand.self,
    ])
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
  @Option(help: "Threads for OpenBLAS and EfficientDx's kernels (default: all cores, or EFFDX_THREADS).")
  var threads: Int?

  func apply() throws {
    if let threads {
      guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
      ThreadPool.threadCount = threads
    }
  }
}
