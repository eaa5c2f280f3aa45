import DxEval
import DxImaging
import DxTasks
import XCTest

/// The shortcut check's statistics: a photo's background is its border, a tissue tile's its glass.
final class ShortcutStatisticsTests: XCTestCase {
  func testATilesBackground_isItsGlass_notItsBorder() {
    // Pink tissue over the left 70% and the whole top and bottom rows; white glass on the right.
    let w = 80, h = 60
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h {
      for x in 0..<w {
        let tissue = x < 56 || y < 4 || y >= h - 4
        let c: [UInt8] = tissue ? [200, 90, 160] : [245, 245, 245]
        for k in 0..<3 { px[(y * w + x) * 3 + k] = c[k] }
      }
    }
    let image = Image(width: w, height: h, channels: 3, samples: .uint8(px))
    let asTile = ShortcutStatistics.statistics(of: image, tissue: true), asPhoto = ShortcutStatistics.statistics(of: image)
    XCTAssertEqual(asTile.border[0], 245.0 / 255, accuracy: 0.02, "the glass alone")
    XCTAssertEqual(asTile.border[1], 245.0 / 255, accuracy: 0.02)
    XCTAssertLessThan(asPhoto.border[1], 0.8, "the border holds tissue")
    XCTAssertEqual(asTile.colour, asPhoto.colour, "the whole image's colour does not depend on it")
    // A tile that is all tissue falls back to its border.
    let solid = Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 0, count: w * h * 3).enumerated().map { [200, 90, 160][$0.offset % 3] }))
    XCTAssertEqual(ShortcutStatistics.statistics(of: solid, tissue: true).border, ShortcutStatistics.statistics(of: solid).border)
  }
}
