import DxEfficientNet
import DxNN
import DxTensor
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Training reuses its memory from step to step: after the first step, the activation maps of
/// the next one land in blocks the heap kept (`TensorMemory.keepLargeBlocks`, which every
/// `effdx` command that runs a network sets) instead of fresh pages, each of which would cost
/// the kernel a fault and a zero-fill.
final class TrainingMemoryTests: XCTestCase {
  func testStepsAfterTheFirst_reuseTheFirstStepsMemory() throws {
    #if canImport(Glibc)
      TensorMemory.keepLargeBlocks()
      var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
      config.numClasses = 4
      let model = try EfficientNet(config, seed: 2)
      var rng = SeededGenerator(seed: 6)
      let x = Tensor.randomNormal([4, 96, 96, 3], using: &rng)
      let sgd = SGD(momentum: 0.9)
      let params = model.namedParameters()
      func step() {
        model.zeroGradients()
        let (_, g) = SoftmaxCrossEntropy()(logits: model.forward(x, mode: .training), labels: [0, 1, 2, 3])
        model.backwardParameters(g)
        sgd.step(params, lr: 0.01)
      }
      func pageFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
      }
      var faults = pageFaults()
      step()
      let first = pageFaults() - faults
      step()
      step()  // the heap settles
      faults = pageFaults()
      for _ in 0..<4 { step() }
      let later = (pageFaults() - faults) / 4
      // The first step faults in its maps (about 30 MB here); later steps a few hundred pages at
      // most (about 1,100 each with freed maps returned to the system).
      XCTAssertGreaterThan(first, 5_000, "the first step should fault in its activation maps")
      XCTAssertLessThan(later, first / 10, "steps after the first faulted in \(later) pages each, the first \(first)")
    #else
      throw XCTSkip("page-fault counts need Glibc")
    #endif
  }
}
