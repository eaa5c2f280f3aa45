import Foundation

/// One part of a diagnosis job split over processes or machines (`--shard I/N`, or a Slurm job
/// array): the inputs expanded into files, sorted by path, and every N-th of them from the
/// I-th (0-based). The split depends on the list alone, never on file contents or timing, so
/// every shard computes the same list and the parts cover it exactly once.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
  public var index: Int
  public var count: Int

  public init(index: Int, count: Int) throws {
    guard count >= 1, count <= 1_000_000, index >= 0, index < count else {
      throw TaskError.invalid("a shard is I/N with 0 <= I < N <= 1000000, not \(index)/\(count)")
    }
    self.index = index
    self.count = count
  }

  /// `I/N`, as `--shard` takes it.
  public init(parsing text: String) throws {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
      throw TaskError.invalid("--shard \(text): give I/N, this shard's index from 0 and the number of shards (0/4 ... 3/4)")
    }
    do { try self.init(index: i, count: n) } catch { throw TaskError.invalid("--shard \(text): \(error)") }
  }

  public var description: String { "\(index)/\(count)" }

  /// This shard's part of `inputs`, and what identifies the whole list. Inputs that are not
  /// files at all (missing paths) are recorded by shard 0 alone.
  public func select(_ inputs: DiagnosisInputs) -> (DiagnosisInputs, DiagnosisMeta.ShardInfo) {
    let sorted = inputs.files.sorted { PredictionsMerge.byBytes($0.path, $1.path) }  // Unicode twins in a fixed order
    var part = inputs
    part.files = sorted.enumerated().filter { $0.offset % count == index }.map(\.element)
    if index != 0 { part.unusable = [] }
    part.notes.append("shard \(self): \(part.files.count) of \(sorted.count) files")
    let list = sorted.map(\.path).joined(separator: "\n")
    return (part, .init(index: index, count: count, totalFiles: sorted.count, listSHA256: SHA256.hex(Data(list.utf8))))
  }
}
