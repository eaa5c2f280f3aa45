import Foundation
import XCTest

/// What a system tool (`ldd`, `sha256sum`) prints, to check our output against it.
public func standardOutput(of tool: String, _ arguments: [String]) throws -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: tool)
  p.arguments = arguments
  let out = Pipe()
  p.standardOutput = out
  try p.run()
  let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  p.waitUntilExit()
  return text
}

/// A child's stdout and stderr, each read to its end at the same time (stderr on another
/// thread), so that neither pipe fills and blocks the child while the other is read.
func drain(_ out: Pipe, _ err: Pipe) -> (stdout: Data, stderr: Data) {
  final class Box: @unchecked Sendable { var data = Data() }
  let box = Box(), done = DispatchSemaphore(value: 0)
  let handle = err.fileHandleForReading
  Thread.detachNewThread {
    box.data = handle.readDataToEndOfFile()
    done.signal()
  }
  let o = out.fileHandleForReading.readDataToEndOfFile()
  done.wait()  // also orders the reader's write before this read
  return (o, box.data)
}

/// Runs the built `effdx` (found beside the test bundle, as swift-argument-parser's
/// `AssertExecuteCommand` does) and captures its output and exit status.
public enum EffDxRunner {
  public struct Result {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
      self.status = status
      self.stdout = stdout
      self.stderr = stderr
    }
  }

  /// The directory holding the built products.
  public static var productsDirectory: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  }

  public static func run(_ arguments: [String], currentDirectory: URL? = nil, environment: [String: String] = [:]) throws -> Result {
    let binary = productsDirectory.appendingPathComponent("effdx")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
      throw XCTSkip("effdx not built at \(binary.path); run `swift build` first")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let (o, e) = drain(out, err)
    process.waitUntilExit()
    return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
  }
}

/// `mpirun` from Open MPI (Debian's openmpi-bin, which the set-up installs), on loopback.
public enum MPIRunner {
  /// The launcher's arguments for `ranks` processes on this machine: oversubscribed (more ranks
  /// than cores is fine for a test), TCP over loopback only (containers often have no other
  /// network), and as root when the tests run as root.
  public static func launcher(ranks: Int) throws -> [String] {
    guard let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      XCTFail("mpirun not found: Scripts/install-deps.sh installs openmpi-bin")
      throw XCTSkip("no mpirun")
    }
    var args = [mpirun, "-n", "\(ranks)", "--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    if getuid() == 0 { args.append("--allow-run-as-root") }
    return args
  }

  /// Starts `mpirun -n ranks effdx arguments...` and returns the running process (its output
  /// goes to `log`).
  public static func start(ranks: Int, _ arguments: [String], log: URL) throws -> Process {
    let launcher = try launcher(ranks: ranks)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher[0])
    process.arguments = Array(launcher.dropFirst()) + [EffDxRunner.productsDirectory.appendingPathComponent("effdx").path] + arguments
    XCTAssertTrue(FileManager.default.createFile(atPath: log.path, contents: nil), "cannot create a test file")
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
  }

  /// Runs `mpirun -n ranks effdx arguments...` to the end.
  public static func run(ranks: Int, _ arguments: [String]) throws -> EffDxRunner.Result {
    let launcher = try launcher(ranks: ranks)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher[0])
    process.arguments = Array(launcher.dropFirst()) + [EffDxRunner.productsDirectory.appendingPathComponent("effdx").path] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let (o, e) = drain(out, err)
    process.waitUntilExit()
    return EffDxRunner.Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
  }
}
