import DxCSV
/// Which directories of a TIFF are the slide's pyramid and which are associated images (a
/// scanner's thumbnail, the slide label, the macro photograph), and where the slide's microns
/// per pixel come from. A pure function of what the directories say, so it is tested on the
/// layouts vendors write without their files.
enum SlideLayout {
  struct Directory {
    var width: Int, height: Int
    var tiled: Bool
    var isSubIFD: Bool
    /// The page the directory is (SubIFDs: the page they hang from).
    var page: Int
    /// NewSubfileType (bit 0: a reduced-resolution copy).
    var subfileType: Int
    var description: String
  }

  enum Vendor: String { case aperio, ome, philips, generic }

  static func vendor(_ first: Directory) -> Vendor {
    if first.description.hasPrefix("Aperio") { return .aperio }
    if first.description.contains("<OME") { return .ome }
    if first.description.contains("DPUfsImport") { return .philips }
    return .generic
  }

  /// Indices of the pyramid levels (largest first; level 0 is the first page) and the named
  /// associated images.
  static func classify(_ dirs: [Directory]) -> (pyramid: [Int], associated: [(name: String, index: Int)]) {
    guard let base = dirs.first else { return ([], []) }
    let vendor = vendor(base)
    var pyramid = [0], associated: [(name: String, index: Int)] = []
    var used = Set<String>()
    func add(_ name: String, _ i: Int) {
      var n = name, k = 2
      while used.contains(n) { n = "\(name)_\(k)"; k += 1 }
      used.insert(n)
      associated.append((n, i))
    }
    for i in dirs.indices.dropFirst() {
      let d = dirs[i]
      if let keyword = keyword(d, vendor: vendor) { add(keyword, i); continue }
      if vendor == .aperio && d.page == 1 && !d.isSubIFD && !d.tiled { add("thumbnail", i); continue }
      let last = dirs[pyramid.last!]
      let sameAspect = abs(Double(d.width) / Double(d.height) - Double(base.width) / Double(base.height)) < 0.02 * Double(base.width) / Double(base.height) + 1 / Double(d.height)
      if sameAspect && d.width < last.width && (d.tiled || !base.tiled) {
        pyramid.append(i)
      } else {
        add(sameAspect && d.width < base.width ? "thumbnail" : "image_\(i)", i)
      }
    }
    return (pyramid, associated)
  }

  /// `label`, `macro` or `thumbnail` when the directory says it is one.
  static func keyword(_ d: Directory, vendor: Vendor) -> String? {
    let text = d.description.lowercased()
    if vendor == .aperio {
      // Aperio: the line after the library's name starts with "label" or "macro".
      let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
      for line in lines.dropFirst().prefix(1) {
        for k in ["label", "macro"] where line.hasPrefix(k) { return k }
      }
      return nil
    }
    for k in ["label", "macro", "thumbnail"] where text.hasPrefix(k) || text.contains(" \(k)") { return k }
    return nil
  }

  /// The level-0 resolution a vendor's metadata gives, in microns per pixel: Aperio's
  /// `MPP = 0.4990`, OME's `PhysicalSizeX` with its unit, Philips' `DICOM_PIXEL_SPACING`
  /// (millimetres, rows then columns, as DICOM's Pixel Spacing).
  static func vendorMPP(_ description: String) -> (x: Double, y: Double)? {
    guard let mpp = anyVendorMPP(description), plausibleMPP(mpp.x), plausibleMPP(mpp.y) else { return nil }
    return mpp
  }

  /// A resolution a slide can have: 1 nanometre to 1 millimetre a pixel. Anything else is a
  /// broken header (1e-300 would make a tile of 10^300 pixels).
  public static func plausibleMPP(_ mpp: Double) -> Bool { mpp.isFinite && mpp >= 1e-3 && mpp <= 1e3 }

  static func anyVendorMPP(_ description: String) -> (x: Double, y: Double)? {
    if description.contains("DPUfsImport"), let r = description.range(of: "Name=\"DICOM_PIXEL_SPACING\"") {
      // The first spacing in the file is level 0's: `>"0.000243902" "0.000243902"<`, quotes
      // escaped as &quot; in the XML.
      let rest = description[r.upperBound...].drop { $0 != ">" }.dropFirst().prefix { $0 != "<" }
      let numbers = rest.replacingOccurrences(of: "&quot;", with: " ").replacingOccurrences(of: "\"", with: " ")
        .split(separator: " ").compactMap { DecimalText.parse($0) }.filter { $0 > 0 && $0.isFinite && $0 < 1 }
      if let rows = numbers.first { return ((numbers.count > 1 ? numbers[1] : rows) * 1000, rows * 1000) }
    }
    if let r = description.range(of: "MPP = ") {
      // The whole field up to the next `|`: `5e-1` is 0.5 (its digits alone read 5, ten times
      // too coarse), `0.5abc` is no number at all (no MPP, rather than a guess).
      let value = description[r.upperBound...].prefix { $0 != "|" && !$0.isNewline }.trimmingCharacters(in: .whitespaces)
      if let mpp = DecimalText.parse(value), mpp > 0, mpp.isFinite { return (mpp, mpp) }
    }
    if description.contains("<OME") { return omePhysicalSize(description) }
    return nil
  }

  /// Level 0's pixel size from OME-XML: the `Pixels` element of the `Image` whose `TiffData`
  /// starts at IFD 0 (the first `Image` when none says), its `PhysicalSizeX` and `PhysicalSizeY`
  /// each with its own unit from the same element (microns by default). The first value
  /// anywhere in the XML was taken: a label image listed first gave its resolution to the
  /// slide, and a macro image's `mm` unit made 0.25 um/px 250. A `PhysicalSizeY` that is not a
  /// size is no MPP at all (it was replaced by X in silence).
  static func omePhysicalSize(_ xml: String) -> (x: Double, y: Double)? {
    // `Image` elements only (not `ImageRef` or `ImagingEnvironment`).
    let images = xml.components(separatedBy: "<Image").dropFirst().filter { $0.first.map { " \t\r\n>".contains($0) } ?? false }
    func startsAtIFD0(_ image: String) -> Bool {
      guard let data = image.range(of: "<TiffData") else { return false }
      let tag = image[data.upperBound...].prefix { $0 != ">" }
      return attribute("IFD", in: tag).map { $0 == "0" } ?? true
    }
    // A `Pixels` outside any `Image` (not valid OME, but written) is read as the only one.
    guard let image = images.first(where: startsAtIFD0) ?? images.first ?? (images.isEmpty ? xml : nil), let pixels = image.range(of: "<Pixels") else { return nil }
    let tag = image[pixels.upperBound...].prefix { $0 != ">" }
    func size(_ axis: String) -> Double? {
      guard let text = attribute("PhysicalSize\(axis)", in: tag) else { return nil }
      let scale: [String: Double] = ["µm": 1, "um": 1, "micron": 1, "nm": 0.001, "mm": 1000, "cm": 10_000, "m": 1_000_000, "Å": 0.0001]
      guard let v = DecimalText.parse(text), v > 0, v.isFinite, let s = scale[attribute("PhysicalSize\(axis)Unit", in: tag) ?? "µm"] else { return nil }
      return v * s
    }
    guard let x = size("X") else { return nil }
    if attribute("PhysicalSizeY", in: tag) == nil { return (x, x) }
    return size("Y").map { (x, $0) }
  }

  /// The value of `name="..."` (or `'...'`) in a tag's text, the name after any XML white
  /// space (attributes are often one per line).
  static func attribute(_ name: String, in tag: Substring) -> String? {
    var rest = tag[...]
    while let r = rest.range(of: "\(name)=") {
      let before = r.lowerBound == tag.startIndex ? nil : tag[tag.index(before: r.lowerBound)]
      if let before, " \t\r\n".contains(before), let quote = tag[r.upperBound...].first, quote == "\"" || quote == "'" {
        return String(tag[tag.index(after: r.upperBound)...].prefix { $0 != quote })
      }
      rest = tag[r.upperBound...]
    }
    return nil
  }

}
