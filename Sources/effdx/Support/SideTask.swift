import DxTensor
import Foundation

/// Work a command can do on the second core while its main thread does something else (the
/// checkpoint's digest while the checkpoint loads). With one thread it runs when asked for, so
/// `--threads 1` keeps to one core.
final class SideTask<T>: @unchecked Sendable {
  private var result: Result<T, Error>?
  private let done = DispatchSemaphore(value: 0)
  private let body: () throws -> T
  private let started: Bool
  private var joined = false

  init(_ body: @escaping @Sendable () throws -> T) {
    self.body = body
    started = ThreadPool.threadCount > 1
    if started {
      Thread.detachNewThread { [self] in
        result = Result(catching: body)
        done.signal()
      }
    }
  }

  /// The result, waiting for it if it is still being computed.
  func value() throws -> T {
    if started && !joined {
      done.wait()
      joined = true
    }
    if result == nil { result = Result(catching: body) }
    return try result!.get()
  }
}
