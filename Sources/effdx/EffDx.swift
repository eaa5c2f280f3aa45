import ArgumentParser
import DxEfficientNet
import DxTensor
import Foundation

/// The EfficientDx command-line tool: thin commands over the Dx libraries.
@main
struct EffDx: ParsableCommand {
  static func main() {
    CPUFeatures.exitUnlessKernelsCanRun()
    restartWithTunedBLASIfNeeded()
    RuntimeEnvironment.current.apply()
    for p in RuntimeEnvironment.current.problems { FileHandle.standardError.write(Data("warning: \(p)\n".utf8)) }
    MBConvBlock.gatesAsRead = RuntimeEnvironment.current.gatesAsRead
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
      MergeCommand.self, BenchCommand.self,
    ])
}

/// Two OpenBLAS settings that it reads only when it loads, so when either needs setting the tool
/// sets both and re-executes itself once:
/// - its idle threads spin for a long time after each GEMM (its default thread timeout),
///   stealing a core from EfficientDx's own kernels that run next: 30-40% of inference time on
///   two cores. `OPENBLAS_THREAD_TIMEOUT=4` puts them to sleep almost at once.
/// - on a CPU newer than the library it falls back to SSE3 kernels (see `BLASRuntime`);
///   `OPENBLAS_CORETYPE` names the kernels the CPU can run.
func restartWithTunedBLASIfNeeded() {
  #if os(Linux)
    let environment = ProcessInfo.processInfo.environment
    let coreType = BLASRuntime.recommendedCoreType(cpuFlags: CPUFeatures.flags, environment: environment)
    guard environment["OPENBLAS_THREAD_TIMEOUT"] == nil || coreType != nil else { return }
    if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) }
    if let coreType { setenv("OPENBLAS_CORETYPE", coreType, 1) }
    let argv = CommandLine.unsafeArgv
    execv("/proc/self/exe", &argv[0])  // returns only on failure: then carry on as we are
  #endif
}
