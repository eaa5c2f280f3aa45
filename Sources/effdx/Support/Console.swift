import ArgumentParser
import Foundation
import Logging

/// How much the tool says: results on standard output, notes, warnings and progress through
/// swift-log on standard error. `--quiet` keeps warnings and errors, `--verbose` adds detail.
enum Console {
  nonisolated(unsafe) static var level: Logger.Level = .info
  nonisolated(unsafe) static var logger = Logger(label: "effdx")

  static func bootstrap(_ level: Logger.Level) {
    Console.level = level
    LoggingSystem.bootstrap { label in
      var handler = StandardErrorHandler()
      handler.logLevel = level
      return handler
    }
    logger = Logger(label: "effdx")
  }

  static func note(_ message: String) { logger.info("\(message)") }
  static func warning(_ message: String) { logger.warning("\(message)") }
  static func detail(_ message: String) { logger.debug("\(message)") }
}

/// `note: ...` and `warning: ...` lines on standard error.
struct StandardErrorHandler: LogHandler {
  var logLevel: Logger.Level = .info
  var metadata: Logger.Metadata = [:]
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let prefix: String
    switch event.level {
    case .trace, .debug: prefix = "detail: "
    case .info, .notice: prefix = "note: "
    case .warning: prefix = "warning: "
    case .error, .critical: prefix = "error: "
    }
    FileHandle.standardError.write(Data((prefix + event.message.description + "\n").utf8))
  }
}

/// `--quiet` and `--verbose`, for the commands that talk while they work.
struct VerbosityOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Only warnings and errors on standard error (no notes, no progress).") var quiet = false
  @Flag(name: .shortAndLong, help: "More detail on standard error.") var verbose = false

  /// `quieted`: as if --quiet were given (a data-parallel rank other than 0).
  func apply(quieted: Bool = false) throws {
    guard !(quiet && verbose) else { throw ValidationError("--quiet and --verbose exclude each other") }
    Console.bootstrap(quiet || quieted ? .warning : verbose ? .debug : .info)
  }
}

/// A run that cannot go on for a reason other than the flags' syntax: printed as `Error: ...`
/// with exit status 1 (ArgumentParser keeps 64 for usage errors).
struct CommandFailure: Error, CustomStringConvertible {
  var description: String
  init(_ message: String) { description = message }
}
