import CDxKernels
import Foundation

/// SHA-256 (FIPS 180-4), for the digests provenance records (training data, checkpoints):
/// Foundation on Linux has none, and one function does not justify a crypto dependency. The
/// compression runs in C (CDxKernels' `dx_sha256_blocks`), with the CPU's SHA extensions where
/// it has them: diagnosis hashes the whole checkpoint before its first image.
public enum SHA256 {
  /// The digest as 64 lower-case hex digits.
  public static func hex(_ data: Data) -> String {
    var hasher = Hasher()
    hasher.update(data)
    return hasher.finalizeHex()
  }

  /// A digest fed piece by piece (a checkpoint file of hundreds of megabytes, 4 MiB at a time).
  public struct Hasher {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    /// Fewer than 64 bytes not yet compressed.
    private var pending: [UInt8] = []
    private var length: UInt64 = 0
    /// False only in tests, to check the plain C rounds on a CPU with the extensions.
    let allowExtensions: Bool

    public init() { self.init(allowExtensions: true) }

    init(allowExtensions: Bool) { self.allowExtensions = allowExtensions }

    public mutating func update(_ data: Data) {
      data.withUnsafeBytes { update($0) }
    }

    /// Bytes that stay where they are (a mapped file).
    public mutating func update(_ raw: UnsafeRawBufferPointer) {
      length &+= UInt64(raw.count)
      var bytes = raw.bindMemory(to: UInt8.self)[...]
      if !pending.isEmpty {
        let take = min(64 - pending.count, bytes.count)
        pending.append(contentsOf: bytes.prefix(take))
        bytes = bytes.dropFirst(take)
        guard pending.count == 64 else { return }
        let block = pending
        pending.removeAll(keepingCapacity: true)
        block.withUnsafeBufferPointer { compress($0, blocks: 1) }
      }
      let whole = bytes.count / 64
      if whole > 0 { compress(UnsafeBufferPointer(rebasing: bytes), blocks: whole) }
      pending.append(contentsOf: bytes.dropFirst(whole * 64))
    }

    public mutating func finalizeHex() -> String {
      var message = pending
      let bitLength = length &* 8
      message.append(0x80)
      while message.count % 64 != 56 { message.append(0) }
      for i in (0..<8).reversed() { message.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
      message.withUnsafeBufferPointer { compress($0, blocks: $0.count / 64) }
      return h.map { String(format: "%08x", $0) }.joined()
    }

    private mutating func compress(_ bytes: UnsafeBufferPointer<UInt8>, blocks: Int) {
      let allow: Int32 = allowExtensions ? 1 : 0
      h.withUnsafeMutableBufferPointer { dx_sha256_blocks($0.baseAddress, bytes.baseAddress, blocks, allow) }
    }
  }
}
