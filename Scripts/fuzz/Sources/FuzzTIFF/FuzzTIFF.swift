import DxImaging
import Foundation

let scratch = "/dev/shm/effdx-fuzz-\(getpid()).tif"

/// libFuzzer entry point: the bytes become a file (TIFF is read by path); every level and a
/// window of it must decode or give an ImageError, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTIFF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
  let limits = ImageLimits(maxPixels: 1_000_000, maxSide: 1 << 16, maxTiffAllocation: 16 << 20)
  guard let reader = try? TIFFReader(path: scratch, limits: limits) else { return 0 }
  for level in reader.levels.prefix(4) {
    _ = try? reader.read(level: level.index)
    _ = try? reader.readRegion(level: level.index, x: level.width / 3, y: level.height / 3, width: min(64, level.width - level.width / 3), height: min(64, level.height - level.height / 3))
  }
  return 0
}

// SwiftPM links an executable's entry point as FuzzTIFF_main; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzTIFF_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzTIFF)
}
