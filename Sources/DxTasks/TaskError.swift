import Foundation

/// A configuration or data problem of a task run.
public enum TaskError: Error, CustomStringConvertible, Equatable {
  case invalid(String)
  public var description: String {
    switch self {
    case .invalid(let m): return m
    }
  }
}

extension JSONEncoder {
  /// Keys sorted, one line: the same text for the same value (checkpoint metadata, `--json`).
  public static var sortedKeys: JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
  }
}
