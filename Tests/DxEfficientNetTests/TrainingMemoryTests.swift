import DxEfficientNet
import DxNN
import DxTensor
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Training reuses its memory from step to step: after the first steps, the activation maps of
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
      let x = Tensor.randomNormal([8, 224, 224, 3], using: &rng)
      let sgd = SGD(momentum: 0.9)
      let params = model.namedParameters()
      func step() {
        model.zeroGradients()
        let (_, g) = SoftmaxCrossEntropy()(logits: model.forward(x, mode: .training), labels: [0, 1, 2, 3, 0, 1, 2, 3])
        model.backwardParameters(g)
        sgd.step(params, lr: 0.01)
      }
      func pageFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
      }
      for _ in 0..<2 { step() }  // the first step faults its maps in; the heap settles
      let faults = pageFaults()
      for _ in 0..<3 { step() }
      let perStep = (pageFaults() - faults) / 3
      // B0 at batch 8 and 224 px: its largest maps (39 MB) are past glibc's default mmap
      // threshold, so with freed maps returned to the system each step faulted in about 14,000
      // pages (55 MB); with them kept, 0-2,300.
      XCTAssertLessThan(perStep, 6_000, "each training step after the first faulted in \(perStep) pages")
    #else
      throw XCTSkip("page-fault counts need Glibc")
    #endif
  }
}
