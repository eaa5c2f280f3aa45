import DxNN
import DxTensor
import XCTest

/// Checks a layer's backward pass against central finite differences.
///
/// The scalar loss is `L = Σ y ⊙ R` for a fixed random `R` (so dL/dy = R), accumulated in Double.
/// For ~`samples` random coordinates of the input and of every trainable parameter, the
/// analytic gradient is compared with `(L(θ+ε) - L(θ-ε)) / 2ε`. Buffers (BatchNorm running
/// statistics) are restored around every forward, and `beforeForward` runs before each one
/// (reset a dropout generator there so every forward draws the same mask).
public struct GradientChecker {
  public var eps: Float = 1e-2
  public var atol: Double = 2e-3
  public var rtol: Double = 1e-2
  public var samples = 40
  public var seed: UInt64 = 7

  public init(eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, samples: Int = 40) {
    self.eps = eps
    self.atol = atol
    self.rtol = rtol
    self.samples = samples
  }

  /// Runs the check; returns the number of coordinates compared.
  @discardableResult
  public func check(
    _ layer: any Layer, input: Tensor, mode: Mode = .training, beforeForward: () -> Void = {},
    file: StaticString = #filePath, line: UInt = #line
  ) -> Int {
    var rng = SeededGenerator(seed: seed)
    let params = layer.namedParameters()
    let buffers = params.filter { $0.parameter.kind == .buffer }.map { ($0.parameter, $0.parameter.value) }
    func restoreBuffers() { for (p, v) in buffers { p.value = v } }

    restoreBuffers()
    beforeForward()
    let y = layer.forward(input, mode: mode)
    let r = Tensor.randomNormal(y.shape, using: &rng)
    layer.zeroGradients()
    let dx = layer.backward(r)
    XCTAssertEqual(dx.shape, input.shape, "input gradient shape", file: file, line: line)

    func loss(_ x: Tensor) -> Double {
      restoreBuffers()
      beforeForward()
      let out = layer.forward(x, mode: mode)
      var s = 0.0
      for i in 0..<out.count { s += Double(out.scalars[i]) * Double(r.scalars[i]) }
      return s
    }

    var compared = 0
    func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
      compared += 1
      let err = abs(Double(analytic) - numeric)
      if err > atol + rtol * max(abs(numeric), abs(Double(analytic))) {
        XCTFail("\(what): analytic \(analytic), finite difference \(numeric)", file: file, line: line)
      }
    }

    var x = input
    for i in sampleIndices(input.count, &rng) {
      let orig = x.scalars[i]
      x.scalars[i] = orig + eps
      let plus = loss(x)
      x.scalars[i] = orig - eps
      let minus = loss(x)
      x.scalars[i] = orig
      compare(dx.scalars[i], (plus - minus) / (2 * Double(eps)), "d/dinput[\(i)]")
    }
    for (name, p) in params where p.kind == .trainable {
      let analytic = p.grad
      XCTAssertGreaterThan(analytic.maxAbs(), 0, "\(name) received no gradient", file: file, line: line)
      for i in sampleIndices(p.value.count, &rng) {
        let orig = p.value.scalars[i]
        p.value.scalars[i] = orig + eps
        let plus = loss(input)
        p.value.scalars[i] = orig - eps
        let minus = loss(input)
        p.value.scalars[i] = orig
        compare(analytic.scalars[i], (plus - minus) / (2 * Double(eps)), "d/d\(name)[\(i)]")
      }
    }
    restoreBuffers()
    return compared
  }

  private func sampleIndices(_ count: Int, _ rng: inout SeededGenerator) -> [Int] {
    if count <= samples { return Array(0..<count) }
    return (0..<samples).map { _ in Int(rng.next() % UInt64(count)) }
  }
}
