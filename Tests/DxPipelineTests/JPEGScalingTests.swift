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

  /// Training decodes as small as its first step allows: a random resized crop's smallest box
  /// (its lowest scale of the area at its most extreme ratio) keeps resolution + 1 pixels on
  /// each side, so a phone photo for the leaf pipeline decodes at 1/8 and every crop still
  /// shrinks; a deterministic first step gives inputs within the evaluation's tolerance of a
  /// full decode; `jpeg_scaling: false` decodes every pixel.
  func testTrainingsFirstStep_decodesAsSmallAsItsSmallestCropAllows() throws {
    let crop = TransformSpec.randomResizedCrop(scale: 0.5...1, ratio: 0.75...1.333)
    // sqrt(0.5 x 4000 x 3000 x 0.75) = 2121 px at full size; 225 of them across the short side
    // of 3000 is a short side of 319: 1/8 (375) covers it.
    let phone = try XCTUnwrap(crop.decodeShortSide(width: 4000, height: 3000, size: 224))
    XCTAssertEqual(phone, 319)
    XCTAssertEqual(JPEGCodec.scaledSize(width: 4000, height: 3000, minShortSide: phone).0, 500)
    // A wider ratio range or a smaller scale needs more of the photo.
    XCTAssertGreaterThan(try XCTUnwrap(TransformSpec.randomResizedCrop(scale: 0.08...1, ratio: 0.75...1.333).decodeShortSide(width: 4000, height: 3000, size: 224)), 2 * phone)
    XCTAssertGreaterThan(try XCTUnwrap(TransformSpec.randomResizedCrop(scale: 0.5...1, ratio: 0.25...4).decodeShortSide(width: 4000, height: 3000, size: 224)), phone)
    XCTAssertNil(crop.decodeShortSide(width: 300, height: 200, size: 224), "a photo too small to shrink decodes whole")
    // A photo more elongated than the ratios: no drawn box fits, and the centred fallback is
    // its short side across, so that side must keep 225 pixels (1/8 gave 150, upsampled).
    for (w, h) in [(12000, 1200), (1200, 12000), (6000, 1500)] {
      let side = try XCTUnwrap(crop.decodeShortSide(width: w, height: h, size: 224))
      let (sw, sh) = JPEGCodec.scaledSize(width: Int32(w), height: Int32(h), minShortSide: side)
      XCTAssertGreaterThanOrEqual(min(sw, sh), 225, "\(w) x \(h)")
    }
    XCTAssertNil(TransformSpec.horizontalFlip(p: 0.5).decodeShortSide(width: 4000, height: 3000, size: 224), "later steps would see the whole photo")
    XCTAssertEqual(TransformSpec.centerCrop(cropFraction: 0.875, filter: .bicubic).decodeShortSide(width: 4000, height: 3000, size: 224), 257)

    let files = try FileManager.default.contentsOfDirectory(atPath: photos.path).filter { $0.hasSuffix(".jpg") }.sorted()
    XCTAssertEqual(files.count, 4)
    let first = try XCTUnwrap(files.first.map { photos.appendingPathComponent($0).path })
    let decoded = try ImageDecoder.decode(path: first, shortSide: { w, h in crop.decodeShortSide(width: w, height: h, size: 224) })
    XCTAssertEqual([decoded.width, decoded.height], [480, 360], "1280 x 960 at 3/8: its smallest crop box is 255 px")
    var spec = PipelineSpec(name: "t")
    spec.resolution = 224
    spec.workers = 1
    let items = files.map { DatasetIndex.Item(path: photos.appendingPathComponent($0).path, label: 0) }
    for step in [TransformSpec.resize(filter: .bilinear), .centerCrop(cropFraction: 0.875, filter: .bicubic)] {
      spec.trainTransforms = [step]
      var whole = spec
      whole.jpegScaling = false
      var worstMean: Float = 0
      for i in items.indices {
        let a = try BatchLoader(items: items, spec: whole, training: true, seed: 1).sample(i)
        let b = try BatchLoader(items: items, spec: spec, training: true, seed: 1).sample(i)
        XCTAssertEqual(a.count, b.count)
        XCTAssertNotEqual(a, b, "\(step.name): the scaled decode was used")
        worstMean = max(worstMean, zip(a, b).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / Float(a.count))
      }
      XCTAssertLessThan(worstMean, 0.02, "\(step.name): mean absolute difference of the inputs")
    }
  }
}
