/// Counts of (true class, predicted class) pairs: rows are the truth, columns the prediction.
public struct ConfusionMatrix: Equatable, Sendable {
  public let classCount: Int
  /// Row-major `[truth][predicted]` counts.
  public var counts: [Int]

  public init(classCount: Int) {
    self.classCount = classCount
    counts = [Int](repeating: 0, count: classCount * classCount)
  }

  /// The matrix of `truth` against `predicted` (class indices).
  public init(truth: [Int32], predicted: [Int32], classCount k: Int) {
    self.init(classCount: k)
    counts.withUnsafeMutableBufferPointer { c in
      for i in truth.indices { c[Int(truth[i]) * k + Int(predicted[i])] += 1 }
    }
  }

  public subscript(truth: Int, predicted: Int) -> Int { counts[truth * classCount + predicted] }

  public var total: Int { counts.reduce(0, +) }
  /// Per class: true positives, predicted count (column sums), true count (row sums = support).
  public var truePositives: [Int] { (0..<classCount).map { self[$0, $0] } }
  public var predictedCounts: [Int] { (0..<classCount).map { c in (0..<classCount).reduce(0) { $0 + self[$1, c] } } }
  public var trueCounts: [Int] { (0..<classCount).map { r in (0..<classCount).reduce(0) { $0 + self[r, $1] } } }

  /// As nested rows.
  public var rows: [[Int]] { (0..<classCount).map { Array(counts[($0 * classCount)..<(($0 + 1) * classCount)]) } }

  /// Each row divided by its sum (recall per cell); all-zero rows stay zero, as scikit-learn's
  /// `normalize="true"`.
  public var rowNormalized: [[Double]] {
    rows.map { row in
      let s = row.reduce(0, +)
      return row.map { s == 0 ? 0 : Double($0) / Double(s) }
    }
  }

  public static func + (a: ConfusionMatrix, b: ConfusionMatrix) -> ConfusionMatrix {
    var c = a
    for i in c.counts.indices { c.counts[i] += b.counts[i] }
    return c
  }
}
