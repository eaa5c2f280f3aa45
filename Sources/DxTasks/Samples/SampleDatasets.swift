import DxCSV
import DxImaging
import DxTensor
import Foundation

/// Writes the bundled-sample datasets `effdx samples` makes: labelled, with studies, in the
/// folder-per-class layout plus a CSV manifest, so every workflow can be tried without
/// downloading anything.
public enum SampleDatasets {
  /// `out/train` and `out/holdout` (a new season: other fields, other seed), each a folder per
  /// class with `manifest.csv` (`path,label,study`; the study is the field).
  public static func leafDisease(to out: String, count: Int, holdout: Int, size: Int = 160, seed: UInt64) throws {
    try write(to: (out as NSString).appendingPathComponent("train"), count: count, classes: LeafSamples.classes, studyPrefix: "field", studies: 6, seed: seed) { label, rng in
      LeafSamples.render(label: label, size: size, using: &rng)
    }
    try write(to: (out as NSString).appendingPathComponent("holdout"), count: holdout, classes: LeafSamples.classes, studyPrefix: "newfield", studies: 3, seed: seed &+ 1_000_003) { label, rng in
      LeafSamples.render(label: label, size: size, using: &rng)
    }
  }

  /// `out/patches/{train,holdout}` (patients as studies) and `out/slides` with two small
  /// pyramidal slides (one with a tumour region) and their `manifest.csv`.
  public static func histopathology(to out: String, count: Int, holdout: Int, size: Int = 96, slideSize: Int = 2048, seed: UInt64) throws {
    let patches = (out as NSString).appendingPathComponent("patches")
    try write(to: (patches as NSString).appendingPathComponent("train"), count: count, classes: HistologySamples.classes, studyPrefix: "patient", studies: 8, seed: seed) { label, rng in
      HistologySamples.render(label: HistologySamples.classes[label], size: size, using: &rng)
    }
    try write(to: (patches as NSString).appendingPathComponent("holdout"), count: holdout, classes: HistologySamples.classes, studyPrefix: "newpatient", studies: 3, seed: seed &+ 7) { label, rng in
      HistologySamples.render(label: HistologySamples.classes[label], size: size, using: &rng)
    }
    let slides = (out as NSString).appendingPathComponent("slides")
    try FileManager.default.createDirectory(atPath: slides, withIntermediateDirectories: true)
    var manifest = "path,label,study\n"
    for (i, hasTumor) in [true, false].enumerated() {
      let name = "slide_\(i + 1).tif"
      try slide(to: (slides as NSString).appendingPathComponent(name), side: slideSize, tumor: hasTumor, patchSize: size, seed: seed &+ UInt64(100 + i))
      manifest += CSV.row([name, hasTumor ? "tumor" : "stroma", "slide_\(i + 1)"])
    }
    try manifest.write(toFile: (slides as NSString).appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
  }

  static func write(to dir: String, count: Int, classes: [String], studyPrefix: String, studies: Int, seed: UInt64, render: (Int, inout SeededGenerator) -> Image) throws {
    var manifest = "path,label,study\n"
    for i in 0..<count {
      let label = i % classes.count
      var rng = SeededGenerator(seed: seed ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
      let image = render(label, &rng)
      let study = "\(studyPrefix)\((i / classes.count) % studies + 1)"
      let rel = "\(classes[label])/\(classes[label].lowercased())_\(String(format: "%04d", i)).png"
      let path = (dir as NSString).appendingPathComponent(rel)
      try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try PNGCodec.write(image, to: path, level: 3)
      manifest += CSV.row([rel, classes[label], study])
    }
    try manifest.write(toFile: (dir as NSString).appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
  }

  /// A JPEG pyramid (3 levels, 256-pixel tiles, 0.5 um/px) of glass with tissue: stroma with
  /// lymphocyte clusters, and with `tumor` a tumour region.
  static func slide(to path: String, side: Int, tumor: Bool, patchSize: Int = 96, seed: UInt64) throws {
    let grid = 8
    var map = [String](repeating: "background", count: grid * grid)
    var rng = SeededGenerator(seed: seed)
    for y in 0..<grid {
      for x in 0..<grid {
        let dx = Double(x) - 3.5, dy = Double(y) - 3.5
        if dx * dx / 9 + dy * dy / 6 < 1 { map[y * grid + x] = rng.below(5) == 0 ? "lymphocytes" : "stroma" }
      }
    }
    if tumor { for (x, y) in [(2, 3), (3, 3), (2, 4), (3, 4), (4, 3)] { map[y * grid + x] = "tumor" } }
    let levels = (0..<3).map { k -> TIFFWriter.Level in
      let s = side >> k
      let cellSide = max(1, s / grid)
      // Tissue is drawn in patches of the training patches' scale (96 level-0 pixels), so tiles
      // read at the slide's resolution look like the patches a model was trained on.
      let patch = max(8, patchSize >> k)
      return TIFFWriter.Level(width: s, height: s) { x, y, w, h in
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for py in (y / patch)...((y + h - 1) / patch) {
          for pxIndex in (x / patch)...((x + w - 1) / patch) {
            let cx = min(grid - 1, (pxIndex * patch + patch / 2) / cellSide), cy = min(grid - 1, (py * patch + patch / 2) / cellSide)
            var r = SeededGenerator(seed: seed ^ UInt64(k * 1_000_003 + py * 4099 + pxIndex))
            let texture = HistologySamples.render(label: map[cy * grid + cx], size: patch, using: &r)
            guard case .uint8(let t) = texture.samples else { continue }
            for yy in max(y, py * patch)..<min(y + h, (py + 1) * patch) {
              for xx in max(x, pxIndex * patch)..<min(x + w, (pxIndex + 1) * patch) {
                for c in 0..<3 { px[((yy - y) * w + (xx - x)) * 3 + c] = t[((yy - py * patch) * patch + (xx - pxIndex * patch)) * 3 + c] }
              }
            }
          }
        }
        return Image(width: w, height: h, channels: 3, samples: .uint8(px))
      }
    }
    try TIFFWriter.write(levels: levels, to: path, tileSize: 256, compression: .jpeg(quality: 85), mpp: 0.5)
  }
}
