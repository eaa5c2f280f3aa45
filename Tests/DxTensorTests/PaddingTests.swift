import DxTensor
import XCTest

final class PaddingTests: XCTestCase {
  func testSymmetricPadding_matchesTimmGetPadding() {
    // timm get_padding: ((stride - 1) + dilation * (kernel - 1)) // 2
    XCTAssertEqual(Padding2D(.symmetric, kernel: 3, stride: 1, height: 9, width: 9).top, 1)
    XCTAssertEqual(Padding2D(.symmetric, kernel: 3, stride: 2, height: 9, width: 9).top, 1)
    XCTAssertEqual(Padding2D(.symmetric, kernel: 5, stride: 2, height: 9, width: 9).top, 2)
    XCTAssertEqual(Padding2D(.symmetric, kernel: 1, stride: 1, height: 9, width: 9).top, 0)
  }

  func testSamePadding_dependsOnInputSizeAndPutsOddPixelAfter() {
    // B0 stem at 224: 3x3 stride 2 -> 112 outputs need 1 pixel of padding, all of it after.
    XCTAssertEqual(
      Padding2D(.same, kernel: 3, stride: 2, height: 224, width: 224),
      Padding2D(top: 0, bottom: 1, left: 0, right: 1))
    // Odd input: 225 -> 113 outputs need 2, split evenly.
    XCTAssertEqual(
      Padding2D(.same, kernel: 3, stride: 2, height: 225, width: 225),
      Padding2D(top: 1, bottom: 1, left: 1, right: 1))
    // B1 at 240 reaches 15x15 with a 5x5 stride-1 kernel: (2, 2).
    XCTAssertEqual(
      Padding2D(.same, kernel: 5, stride: 1, height: 15, width: 15),
      Padding2D(top: 2, bottom: 2, left: 2, right: 2))
    // 15x15, 5x5 stride 2 -> 8 outputs: total (8-1)*2+5-15 = 4.
    XCTAssertEqual(
      Padding2D(.same, kernel: 5, stride: 2, height: 15, width: 15),
      Padding2D(top: 2, bottom: 2, left: 2, right: 2))
    // 14x14, 5x5 stride 2 -> 7 outputs: total 3, one before, two after; non-square input.
    XCTAssertEqual(
      Padding2D(.same, kernel: 5, stride: 2, height: 14, width: 7),
      Padding2D(top: 1, bottom: 2, left: 2, right: 2))
  }

  func testConvGeometry_outputSizes() {
    let same = ConvGeometry(batch: 1, inHeight: 15, inWidth: 14, kernel: 3, stride: 2,
                            pad: Padding2D(.same, kernel: 3, stride: 2, height: 15, width: 14))
    XCTAssertEqual([same.outHeight, same.outWidth], [8, 7])  // ceil(in / stride)
    let sym = ConvGeometry(batch: 1, inHeight: 15, inWidth: 14, kernel: 3, stride: 2,
                           pad: Padding2D(.symmetric, kernel: 3, stride: 2, height: 15, width: 14))
    XCTAssertEqual([sym.outHeight, sym.outWidth], [8, 7])
  }
}
