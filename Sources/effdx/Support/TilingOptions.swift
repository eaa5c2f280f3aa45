import ArgumentParser
import DxPipeline

/// How slides are cut, shared by `tile` and `diagnose`: a pipeline's `tiling` block, with any
/// flag given overriding its key. Every value is checked against the same ranges as the YAML.
struct TilingOptions: ParsableArguments {
  @Option(name: [.customLong("tile-size"), .customLong("tile")], help: "Tile side in pixels at the tiling resolution, the size of the training patches there (16...8192; default: the pipeline's tiling.tile_size, else diagnose: the checkpoint's resolution, tile: 256).")
  var tileSize: Int?
  @Option(name: [.customLong("mpp"), .customLong("slide-mpp")], help: "Target microns per pixel (0.01...100; default: the pipeline's tiling.mpp; slides without a recorded resolution use --level).")
  var mpp: Double?
  @Option(name: [.customLong("level"), .customLong("slide-level")], help: "Pyramid level read when no --mpp applies (0...64; default: the pipeline's tiling.level).")
  var level: Int?
  @Option(help: "Level 0's microns per pixel, for slides that record none (0.01...100); each level's is this times its downsample.")
  var baseMPP: Double?
  @Option(help: "Pixels shared by neighbouring tiles (0 up to the tile size; default: the pipeline's tiling.overlap).") var overlap: Int?
  @Option(help: "Minimum tissue fraction of a kept tile (0...1; default: the pipeline's tiling.min_tissue).") var minTissue: Double?

  /// Each flag given, against its range, before any file is opened.
  func validate() throws {
    if let tileSize, !(16...8192).contains(tileSize) { throw ValidationError("--tile-size must be in 16...8192, not \(tileSize)") }
    if let mpp, !(mpp.isFinite && (0.01...100).contains(mpp)) { throw ValidationError("--mpp must be in 0.01...100 microns per pixel, not \(mpp)") }
    if let level, !(0...64).contains(level) { throw ValidationError("--level must be in 0...64, not \(level)") }
    if let overlap, overlap < 0 { throw ValidationError("--overlap must be 0 or more, not \(overlap)") }
    if let minTissue, !(0...1).contains(minTissue) { throw ValidationError("--min-tissue must be in 0...1, not \(minTissue)") }
    if let baseMPP, !(baseMPP.isFinite && (0.01...100).contains(baseMPP)) { throw ValidationError("--base-mpp must be in 0.01...100 microns per pixel, not \(baseMPP)") }
  }

  /// `base` with the flags applied, checked; a tile size neither gives is `defaultTileSize`,
  /// which `defaultSource` names in messages ("the checkpoint's resolution").
  func tiling(_ base: PipelineSpec.Tiling, defaultTileSize: Int, defaultSource: String) throws -> PipelineSpec.Tiling {
    var t = base
    if t.tileSize == nil { t.tileSize = defaultTileSize }
    if let tileSize {
      guard (16...8192).contains(tileSize) else { throw ValidationError("--tile-size must be in 16...8192, not \(tileSize)") }
      t.tileSize = tileSize
    }
    if let mpp {
      guard mpp.isFinite, (0.01...100).contains(mpp) else { throw ValidationError("--mpp must be in 0.01...100 microns per pixel, not \(mpp)") }
      t.mpp = mpp
    }
    if let level {
      guard (0...64).contains(level) else { throw ValidationError("--level must be in 0...64, not \(level)") }
      t.level = level
      if mpp == nil { t.mpp = nil }  // a level asked for by flag wins over the pipeline's mpp
    }
    if let overlap { t.overlap = overlap }
    guard (0..<t.tileSize!).contains(t.overlap) else {
      // Named where it came from: the flag, or the pipeline's tiling block (a message about
      // --overlap for a value the user never typed).
      let source = overlap != nil ? "--overlap" : "the pipeline's tiling.overlap"
      throw ValidationError("\(source) must be in 0..<\(t.tileSize!) (the tile size\(tileSize == nil && base.tileSize == nil ? ", \(defaultSource) when tiling gives no tile_size" : "")), not \(t.overlap)")
    }
    if let minTissue {
      guard (0...1).contains(minTissue) else { throw ValidationError("--min-tissue must be in 0...1, not \(minTissue)") }
      t.minTissue = minTissue
    }
    return t
  }
}
