import DxImaging
import DxPipeline
import DxTestSupport
import Foundation
import XCTest

/// Decoding less: the evaluation transform decodes a JPEG at the smallest DCT scale that still
/// covers its centre crop, and on real photos the network's inputs stay within a stated
/// tolerance of a full decode.
final class JPEGScalingTests: XCTestCase {
  let photos = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/photos")

  func testTheSmallestCoveringScale_isChosen() {
    // 1280 x 960 for a 224 px centre crop of 87.5% (short side 256, plus one): 3/8 is the first
    // scale whose short side (360) covers it; 1/4 (240) does not.
    let (w, h) = JPEGCodec.scaledSize(width: 1280, height: 960, minShortSide: 257)
    XCTAssertEqual([w, h], [480, 360])
    let (w1, h1) = JPEGCodec.scaledSize(width: 4000, height: 3000, minShortSide: 257)
    XCTAssertEqual([w1, h1], [500, 375], "a 12 MP photo decodes at 1/8")
    let (w2, h2) = JPEGCodec.scaledSize(width: 300, height: 200, minShortSide: 257)
    XCTAssertEqual([w2, h2], [300, 200], "never upscaled")
  }

  func testOnRealPhotos_scaledDecodingStaysWithinTolerance_andIsRecorded() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: photos.path).filter { $0.hasSuffix(".jpg") }.sorted()
    XCTAssertEqual(files.count, 4)
    var full = EvaluationTransform(resolution: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], steps: [.centerCrop(cropFraction: 0.875, filter: .bicubic)])
    var scaled = full
    scaled.jpegScaling = true
    full.jpegScaling = false
    var worstMean: Float = 0
    for f in files {
      let path = photos.appendingPathComponent(f).path
      XCTAssertEqual(try scaled.decode(path: path).width, 480, "decoded at 3/8")
      let a = try full.prepare(path: path), b = try scaled.prepare(path: path)
      XCTAssertEqual(a.count, b.count)
      let mean = zip(a, b).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / Float(a.count)
      worstMean = max(worstMean, mean)
    }
    // Normalised units (one unit is about a quarter of the pixel range): the DCT-domain
    // downscale differs from a bicubic one by fine detail only.
    XCTAssertLessThan(worstMean, 0.02, "mean absolute difference of the inputs (measured 0.008)")
    XCTAssertEqual(try EvaluationTransform.decode(json: scaled.json, source: "t"), scaled, "recorded in checkpoints")
    XCTAssertFalse(try EvaluationTransform.decode(json: #"{"resolution": 224, "mean": [0,0,0], "std": [1,1,1], "steps": []}"#, source: "t").jpegScaling,
                   "a checkpoint that records nothing was validated on full decodes")
    print("JPEG DCT scaling on 4 real 1280 x 960 photos: worst mean absolute input difference \(worstMean)")
  }
}
