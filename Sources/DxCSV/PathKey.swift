/// A path compared by its bytes. Swift's `String` equality is Unicode canonical equivalence,
/// so `café.png` written precomposed and decomposed compare equal, while a file system holds
/// them as two files: keying joins, sets and ledgers by `String` merged two files into one
/// (a comparison of a file with itself scored -0.25; `merge` refused a whole job).
public struct PathKey: Hashable, Sendable {
  public let bytes: [UInt8]
  public init(_ path: String) { bytes = Array(path.utf8) }
}
