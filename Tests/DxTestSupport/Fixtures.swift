import Foundation
import XCTest

/// Finds `shared/` beside the checkout (`../shared` from the repository root), or where
/// `EFFDX_SHARED` points; tests that need it skip with a clear message when it is absent.
public enum SharedData {
  /// The shared folder, or nil.
  public static func locate(filePath: String = #filePath) -> URL? {
    if let env = ProcessInfo.processInfo.environment["EFFDX_SHARED"], !env.isEmpty {
      return URL(fileURLWithPath: env)
    }
    // Tests/<Target>/<File>.swift -> repository root -> ../shared
    let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidate = root.deletingLastPathComponent().appendingPathComponent("shared")
    return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
  }

  /// `shared/fixtures`, or an `XCTSkip` explaining how to provide it.
  public static func fixtures(filePath: String = #filePath) throws -> URL {
    if let env = ProcessInfo.processInfo.environment["EFFDX_FIXTURES"], !env.isEmpty {
      return URL(fileURLWithPath: env)
    }
    guard let shared = locate(filePath: filePath) else {
      throw XCTSkip("parity fixtures not found beside the checkout (../shared/fixtures); set EFFDX_FIXTURES or EFFDX_SHARED")
    }
    return shared.appendingPathComponent("fixtures")
  }

  /// The repository root (for Samples/ and the built binaries).
  public static func repositoryRoot(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }
}
