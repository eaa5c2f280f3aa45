import Foundation

/// Picks the backend for a slide by its content, never by its name: EfficientDx's own TIFF
/// reader for Aperio SVS, OME-TIFF and generic pyramidal TIFF (it reads JPEG 2000 tiles and
/// separates associated images itself), OpenSlide for every format OpenSlide recognises that
/// is not one of those (Hamamatsu, MIRAX, Leica, Ventana, Sakura, Philips). A file neither
/// reads is an error naming what it is, never skipped.
public enum SlideOpener {
  /// OpenSlide's vendors that the TIFF reader handles itself.
  static let nativeVendors: Set<String> = ["aperio", "generic-tiff"]

  /// Vendor formats by extension, for naming a file that no backend recognises.
  public static let vendorExtensions: [String: String] = [
    "ndpi": "Hamamatsu NDPI", "vms": "Hamamatsu VMS", "vmu": "Hamamatsu VMU", "mrxs": "MIRAX", "scn": "Leica SCN",
    "bif": "Ventana BIF", "svslide": "Sakura SVSlide", "czi": "Zeiss CZI", "isyntax": "Philips iSyntax",
  ]

  public enum Backend: String, Sendable { case tiff, openslide }

  /// Which backend reads `path`, or nil when neither recognises it.
  public static func backend(for path: String) -> Backend? {
    // PNG and JPEG content is never a slide: asked of every photo of a folder, OpenSlide's
    // detection (a third of a millisecond a file) is skipped for them.
    let format = try? ImageFormat.detect(path: path)
    if format == .png || format == .jpeg { return nil }
    if let vendor = OpenSlideReader.vendor(of: path), !nativeVendors.contains(vendor) { return .openslide }
    return format == .tiff ? .tiff : nil
  }

  public static func open(_ path: String, limits: ImageLimits = .default) throws -> any SlideSource {
    try ImageFormat.checkRegularFile(path)
    let ext = (path as NSString).pathExtension.lowercased()
    let claimed = vendorExtensions[ext].map { "a \($0) slide by its name" }  // what the name says it is
    switch backend(for: path) {
    case .openslide?: return try OpenSlideReader(path: path, limits: limits)
    case .tiff?:
      do { return try TIFFReader(path: path, limits: limits) } catch {
        // An NDPI OpenSlide did not recognise (truncated, say) is named as what it claims to be.
        guard let claimed else { throw error }
        if let missing = OpenSlideReader.unavailable { throw ImageError.unsupported(path: path, reason: "\(claimed), which needs OpenSlide: \(missing)") }
        throw ImageError.unknownFormat(path: path, reason: "\(claimed), but OpenSlide \(OpenSlideReader.version) does not recognise it and the TIFF reader cannot read it (\(error))")
      }
    case nil:
      // Without OpenSlide nothing was asked whether it reads the file: say so, not "unknown".
      if let missing = OpenSlideReader.unavailable {
        throw ImageError.unsupported(path: path, reason: "\(claimed ?? "not a TIFF slide"), and \(missing)")
      }
      throw ImageError.unknownFormat(path: path, reason: "\(claimed.map { "\($0), but " } ?? "")neither EfficientDx's TIFF reader nor OpenSlide \(OpenSlideReader.version) recognises its content (truncated, or a format they do not read)")
    }
  }
}
