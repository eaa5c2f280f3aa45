import CDxMPI
import DxNN
import Foundation

/// The processes `mpirun` started, as a `ReplicaGroup` (MPI_COMM_WORLD, through Open MPI).
///
/// Joined once per process, by `effdx train` when the environment says `mpirun` launched it;
/// a process started any other way never touches MPI and trains alone.
public final class MPIWorld: ReplicaGroup {
  public let rank: Int
  public let size: Int

  /// Joins the world (MPI_Init). Throws when Open MPI cannot start (its message included).
  public init() throws {
    var rank: Int32 = 0, size: Int32 = 0
    try Self.check { dxmpi_init(&rank, &size, $0, $1) }
    self.rank = Int(rank)
    self.size = Int(size)
  }

  /// Leaves the world (MPI_Finalize) after a run every member finished.
  public func finalize() { _ = dxmpi_finalize() }

  public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
    try Self.check { dxmpi_allreduce_sum_float(values.baseAddress, Int64(values.count), $0, $1) }
  }

  public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
    try Self.check { dxmpi_allreduce_sum_double(values.baseAddress, Int64(values.count), $0, $1) }
  }

  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
    guard bytes.count > 0 else { return }
    try Self.check { dxmpi_broadcast(bytes.baseAddress, Int64(bytes.count), Int32(root), $0, $1) }
  }

  public func gather(_ bytes: [UInt8], to root: Int) throws -> [[UInt8]]? {
    var counts = [Int64](repeating: 0, count: rank == root ? size : 1)
    try Self.check { dxmpi_gather_int64(Int64(bytes.count), &counts, Int32(root), $0, $1) }
    guard bytes.count <= Int(Int32.max), counts.allSatisfy({ (0...Int64(Int32.max)).contains($0) }) else {
      throw ReplicaGroupError("gather: more than 2 GB from one member")
    }
    let total = rank == root ? Int(counts.reduce(0, +)) : 0
    var received = [UInt8](repeating: 0, count: max(1, total))
    let counts32 = counts.map { Int32($0) }
    try bytes.withUnsafeBytes { send in
      try received.withUnsafeMutableBytes { receive in
        try counts32.withUnsafeBufferPointer { c in
          try Self.check { dxmpi_gather_bytes(send.baseAddress, Int32(bytes.count), receive.baseAddress, c.baseAddress, Int32(root), $0, $1) }
        }
      }
    }
    guard rank == root else { return nil }
    var out: [[UInt8]] = [], at = 0
    for c in counts {
      out.append(Array(received[at..<(at + Int(c))]))
      at += Int(c)
    }
    return out
  }

  public func abort(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error (rank \(rank) of \(size)): \(message)\n".utf8))
    dxmpi_abort(1)
    exit(1)  // dxmpi_abort does not return; this tells the compiler so
  }

  private static func check(_ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
    var message = [CChar](repeating: 0, count: 512)
    let rc = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
    if rc != 0 { throw ReplicaGroupError(String(cString: message)) }
  }
}
