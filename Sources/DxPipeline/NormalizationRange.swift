/// The values a normalization may hold, wherever one comes from (a pipeline, a checkpoint's
/// evaluation transform or preprocessing). Finite is not enough: a mean of 1e308 or a std of
/// 1e-300 is finite, yet every normalised pixel overflows, training writes NaN weights and
/// exits 0. Pixels are in [0, 1] (ImageNet's mean is 0.485, std 0.229), so a thousand either way
/// is room for any convention and far from overflow.
public enum NormalizationRange {
  public static let mean: ClosedRange<Double> = -1000...1000
  public static let std: ClosedRange<Double> = 1e-4...1000

  /// Nil when `mean` and `std` are three values each within the ranges, else what is wrong.
  public static func problem(mean: [Double], std: [Double]) -> String? {
    guard mean.count == 3, std.count == 3 else { return "needs 3 means and 3 stds, not \(mean.count) and \(std.count)" }
    if let m = mean.first(where: { !self.mean.contains($0) }) { return "mean \(m) is outside \(self.mean.lowerBound)...\(self.mean.upperBound)" }
    if let s = std.first(where: { !self.std.contains($0) }) { return "std \(s) is outside \(self.std.lowerBound)...\(self.std.upperBound)" }
    return nil
  }
}
