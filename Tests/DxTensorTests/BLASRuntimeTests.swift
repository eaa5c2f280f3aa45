import DxTensor
import XCTest

final class BLASRuntimeTests: XCTestCase {
  func testReportsTheKernelSetOpenBLASLoaded() {
    XCTAssertFalse(BLASRuntime.coreName.isEmpty)
    XCTAssertNotEqual(BLASRuntime.coreName, "unknown", "openblas_get_corename returned nothing")
  }

  func testRecommendsWideKernelsOnlyWhenOpenBLASFellBackToOldOnes() {
    let avx512: Set<String> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
    let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma"]
    XCTAssertEqual(BLASRuntime.recommendedCoreType(coreName: "Prescott", cpuFlags: avx512, environment: [:]), "SkylakeX")
    XCTAssertEqual(BLASRuntime.recommendedCoreType(coreName: "Prescott", cpuFlags: avx2, environment: [:]), "Haswell")
    XCTAssertEqual(BLASRuntime.recommendedCoreType(coreName: "Sandybridge", cpuFlags: avx2, environment: [:]), "Haswell")
    // Already wide, a CPU without AVX2, or the user's own choice: leave OpenBLAS alone.
    XCTAssertNil(BLASRuntime.recommendedCoreType(coreName: "Haswell", cpuFlags: avx512, environment: [:]))
    XCTAssertNil(BLASRuntime.recommendedCoreType(coreName: "Zen", cpuFlags: avx2, environment: [:]))
    XCTAssertNil(BLASRuntime.recommendedCoreType(coreName: "Prescott", cpuFlags: ["sse4_2", "avx"], environment: [:]))
    XCTAssertNil(BLASRuntime.recommendedCoreType(coreName: "Prescott", cpuFlags: avx512, environment: ["OPENBLAS_CORETYPE": "Haswell"]))
  }
}
