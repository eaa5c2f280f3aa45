import DxCSV
import DxEval
import DxImaging
import DxTensor
import Foundation

/// The pictures of an evaluation report: thumbnails of its examples (with their Grad-CAM when
/// the checkpoint is given) and the slide heatmaps `diagnose --heatmaps` wrote, as PNG data
/// URIs within a byte budget, so the HTML stays one file of a bounded size.
public enum ReportPictures {
  /// Bytes of data URIs the examples and the slide maps may add to the HTML, each.
  public static let exampleBudget = 2_000_000, slideMapBudget = 3_000_000
  /// Longest side of an example thumbnail and of a slide map, in pixels.
  public static let thumbnailSide = 112, slideMapSide = 520

  /// Thumbnails (and Grad-CAM overlays with `checkpoint`) of `report.examples`, until the
  /// budget is spent; marks each example with what it got.
  public static func addExamples(to report: inout EvaluationReport, checkpoint: TaskCheckpoint?) {
    guard var examples = report.examples else { return }
    var spent = 0
    for i in examples.indices {
      let e = examples[i]
      guard let image = try? ImageDecoder.decode(path: e.path, limits: pictureLimits) else { continue }
      guard let uri = dataURI(FloatImage(image.rgb()), side: thumbnailSide), spent + uri.utf8.count <= exampleBudget else { continue }
      report.embedded[e.path] = uri
      spent += uri.utf8.count
      examples[i].thumbnail = true
      if let checkpoint, let overlay = try? gradCAM(e, image: image, checkpoint: checkpoint),
        let cam = dataURI(overlay, side: thumbnailSide), spent + cam.utf8.count <= exampleBudget
      {
        report.embedded["gradcam:" + e.path] = cam
        spent += cam.utf8.count
        examples[i].gradCAM = true
      }
    }
    report.examples = examples
  }

  /// The Grad-CAM of the predicted class over the image as the checkpoint sees it.
  static func gradCAM(_ e: EvaluationReport.Example, image: Image, checkpoint: TaskCheckpoint) throws -> FloatImage {
    let evaluation = checkpoint.evaluation
    guard let c = checkpoint.classes.firstIndex(of: e.predicted) else { throw TaskError.invalid("\(e.predicted) is not a class of the checkpoint") }
    let s = evaluation.resolution
    let input = Tensor(shape: [1, s, s, 3], scalars: try evaluation.prepare(image, source: e.path))
    let map = GradCAM.map(checkpoint.model, input: input, classIndex: c)
    return FloatImage(GradCAM.overlay(try evaluation.transformed(image, source: e.path).image(), map: map))
  }

  /// Every `<stem>_heatmap.png` in `folder` with its `<stem>_tiles.csv` counts, embedded until
  /// the budget is spent.
  /// What a report's pictures and image statistics decode: 2^26 pixels (a 48-megapixel photo
  /// fits). A 13,000-pixel-square PNG under the general limit took minutes for a 520-pixel
  /// thumbnail.
  public static let pictureLimits = ImageLimits(maxPixels: 1 << 26)
  /// The largest `<slide>_tiles.csv` read (4 million tiles' rows).
  static let maxTilesCSVBytes = 256 << 20

  public static func addSlideMaps(to report: inout EvaluationReport, folder: String) throws {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix("_heatmap.png") }.sorted() } catch {
      throw TaskError.invalid("--heatmaps \(folder): cannot list (\((error as NSError).localizedDescription))")
    }
    var maps: [EvaluationReport.SlideMap] = [], spent = 0
    for name in names {
      let stem = String(name.dropLast("_heatmap.png".count))
      let path = (folder as NSString).appendingPathComponent(name)
      var tiles = 0, failed = 0, byClass: [String: Int] = [:]
      // Read only when a regular file of a sane size (a FIFO blocked, /dev/zero never ended);
      // one that cannot be read is said, not counted as a slide without tiles.
      let csvPath = (folder as NSString).appendingPathComponent(stem + "_tiles.csv")
      var text: String? = nil
      if FileManager.default.fileExists(atPath: csvPath) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: csvPath)
        let regular = attributes?[.type] as? FileAttributeType == .typeRegular
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? Int.max
        if regular && size <= maxTilesCSVBytes, let t = try? String(contentsOfFile: csvPath, encoding: .utf8) {
          text = t
        } else {
          report.warnings.append("--heatmaps: \(csvPath) could not be read (\(regular ? size > maxTilesCSVBytes ? "\(size) bytes, more than \(maxTilesCSVBytes)" : "not UTF-8 text" : "not a regular file")): \(stem)'s tile counts are left out")
        }
      }
      if let text {
        let rows = CSV.records(text)
        let header = rows.first?.fields ?? []
        if let p = header.firstIndex(of: "predicted") {
          for row in rows.dropFirst() where row.fields.count > p {
            if row.fields[p].isEmpty { failed += 1 } else {
              tiles += 1
              byClass[row.fields[p], default: 0] += 1
            }
          }
        }
      }
      var map = EvaluationReport.SlideMap(slide: stem, heatmap: path, tiles: tiles, failedTiles: failed, tilesByClass: byClass)
      let image: Image?
      do { image = try ImageDecoder.decode(path: path, limits: pictureLimits) } catch {
        image = nil
        report.warnings.append("--heatmaps: \(error); the map is not shown")
      }
      if let image, let uri = dataURI(FloatImage(image.rgb()), side: slideMapSide), spent + uri.utf8.count <= slideMapBudget {
        report.embedded[path] = uri
        spent += uri.utf8.count
        map.shown = true
      }
      maps.append(map)
    }
    report.slideMaps = maps
  }

  /// The image scaled down to `side` pixels at most, as a PNG data URI.
  static func dataURI(_ image: FloatImage, side: Int) -> String? {
    let scale = min(1, Double(side) / Double(max(image.width, image.height)))
    let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
    guard let png = try? PNGCodec.encode(image.resized(width: w, height: h, filter: .area).image(), level: 9) else { return nil }
    return "data:image/png;base64," + png.base64EncodedString()
  }
}
