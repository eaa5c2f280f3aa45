import CBLAS
import CPNG
import CTIFF
import XCTest

/// The system-library shims resolve, link and call into the real libraries.
final class SystemLibraryTests: XCTestCase {
  func testLibtiffAndLibpng_linkAndReportVersions() {
    let tiff = String(cString: TIFFGetVersion())
    XCTAssertTrue(tiff.contains("LIBTIFF"), tiff)
    XCTAssertGreaterThanOrEqual(png_access_version_number(), 10_600)  // libpng 1.6+
  }

  func testOpenBLAS_computesASmallProduct() {
    let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
    var c = [Float](repeating: 0, count: 4)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
    XCTAssertEqual(c, [19, 22, 43, 50])
  }
}
