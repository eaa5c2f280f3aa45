import DxNN
import DxTensor
import DxTestSupport
import XCTest

final class LossTests: XCTestCase {
  func testCrossEntropy_plainMatchesLogSoftmax() {
    // log(e^1 + e^2 + e^3) - 3
    let (loss, _) = SoftmaxCrossEntropy()(logits: Tensor(shape: [1, 3], scalars: [1, 2, 3]), labels: [2])
    XCTAssertEqual(loss, 0.40760596444438013, accuracy: 1e-9)
  }

  func testCrossEntropy_labelSmoothingAndClassWeightsMatchPyTorchDefinition() {
    // Expected value from PyTorch's documented definition of F.cross_entropy(weight=w,
    // label_smoothing=0.1), evaluated in float64 with numpy:
    //   logp = z - logsumexp(z); nll = Σ -w[y] logp[y] / Σ w[y]
    //   smooth = Σ_i Σ_c -w[c] logp[i,c] / Σ w[y];  loss = 0.9 * nll + 0.1 / K * smooth
    let logits = Tensor(shape: [3, 4], scalars: [1.0, -0.5, 2.0, 0.25, 0.3, 0.1, -1.2, 0.8, 2.5, 0.0, 0.0, -1.0])
    let ce = SoftmaxCrossEntropy(labelSmoothing: 0.1, classWeights: [1.0, 2.0, 0.5, 1.5])
    let (loss, grad) = ce(logits: logits, labels: [2, 0, 1])
    XCTAssertEqual(loss, 1.9920532260013628, accuracy: 1e-6)
    // The gradient against central differences of the loss itself.
    for i in 0..<logits.count {
      var plus = logits, minus = logits
      plus.scalars[i] += 1e-3
      minus.scalars[i] -= 1e-3
      let numeric = (ce(logits: plus, labels: [2, 0, 1]).loss - ce(logits: minus, labels: [2, 0, 1]).loss) / 2e-3
      XCTAssertEqual(Double(grad.scalars[i]), numeric, accuracy: 1e-4, "dL/dz[\(i)]")
    }
  }

  func testCrossEntropy_gradientRowsSumToZeroWithoutWeights() {
    var rng = SeededGenerator(seed: 4)
    let logits = Tensor.randomNormal([5, 7], std: 3, using: &rng)
    let (_, grad) = SoftmaxCrossEntropy(labelSmoothing: 0.2)(logits: logits, labels: [0, 6, 3, 3, 1])
    for i in 0..<5 { XCTAssertEqual(grad.scalars[(i * 7)..<((i + 1) * 7)].reduce(0, +), 0, accuracy: 1e-6) }
  }
}
