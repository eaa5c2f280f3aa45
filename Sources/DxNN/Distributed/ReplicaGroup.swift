import DxTensor
import Foundation

/// The processes of a data-parallel run, each holding a full replica of the model and training
/// on its own share of every batch (MPI's world, or threads in a test).
///
/// Every member calls the same collective operations in the same order; a member that stops
/// calling leaves the others waiting, so a failure must end the whole group
/// (`ReplicaGroup.abort`), never one member alone.
public protocol ReplicaGroup: AnyObject {
  /// This member's index, 0..<size; member 0 writes files and prints.
  var rank: Int { get }
  var size: Int { get }
  /// Elementwise sum of `values` over the members, in place on every member.
  func sum(_ values: UnsafeMutableBufferPointer<Float>) throws
  func sum(_ values: UnsafeMutableBufferPointer<Double>) throws
  /// `bytes` of member `root` to every member (every member passes a buffer of the same size).
  func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws
  /// Every member's bytes, in rank order, on member `root` (nil on the others).
  func gather(_ bytes: [UInt8], to root: Int) throws -> [[UInt8]]?
  /// Ends every member with `message` (on standard error) and a failure status: for a failure
  /// where one member alone cannot go on and the others would wait for it forever.
  func abort(_ message: String) -> Never
}

/// A collective operation of a replica group failed (a member died, the network broke).
public struct ReplicaGroupError: Error, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

extension ReplicaGroup {
  public func sum(_ values: inout [Double]) throws { try values.withUnsafeMutableBufferPointer { try sum($0) } }
  public func sum(_ values: inout [Float]) throws { try values.withUnsafeMutableBufferPointer { try sum($0) } }

  /// Member `root`'s bytes, whatever their length, on every member.
  public func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] {
    var count = UInt64(bytes.count)
    try withUnsafeMutableBytes(of: &count) { try broadcast($0, from: root) }
    guard count <= UInt64(Int.max / 2) else { throw ReplicaGroupError("broadcast: member \(root) announced \(count) bytes") }
    var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
    try out.withUnsafeMutableBytes { try broadcast($0, from: root) }
    return out
  }

  /// Member `root`'s tensors (names, shapes and values) on every member: the model and
  /// optimizer state a run starts or resumes from, so all replicas begin identical.
  public func broadcast(_ tensors: [String: Tensor], from root: Int) throws -> [String: Tensor] {
    let names = tensors.keys.sorted()
    let header = names.map { "\($0)\t\(tensors[$0]!.shape.map(String.init).joined(separator: ","))" }.joined(separator: "\n")
    let received = String(decoding: try broadcast(Array(header.utf8), from: root), as: UTF8.self)
    var layout: [(String, [Int])] = []
    for line in received.split(separator: "\n") {
      let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
      guard parts.count == 2 else { throw ReplicaGroupError("broadcast: a malformed tensor header line from member \(root)") }
      let shape = parts[1].isEmpty ? [] : parts[1].split(separator: ",").compactMap { Int($0) }
      guard shape.allSatisfy({ $0 >= 0 }) else { throw ReplicaGroupError("broadcast: a malformed tensor shape from member \(root)") }
      layout.append((String(parts[0]), shape))
    }
    let total = layout.reduce(0) { $0 + $1.1.reduce(1, *) }
    var flat = [Float](repeating: 0, count: total)
    if rank == root {
      var at = 0
      for (name, _) in layout {
        let s = tensors[name]!.scalars
        flat.replaceSubrange(at..<(at + s.count), with: s)
        at += s.count
      }
    }
    try flat.withUnsafeMutableBytes { try broadcast($0, from: root) }
    var out: [String: Tensor] = [:], at = 0
    for (name, shape) in layout {
      let n = shape.reduce(1, *)
      out[name] = Tensor(shape: shape, scalars: Array(flat[at..<(at + n)]))
      at += n
    }
    return out
  }
}
