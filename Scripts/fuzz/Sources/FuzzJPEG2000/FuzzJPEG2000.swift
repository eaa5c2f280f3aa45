import DxImaging
import Foundation

/// libFuzzer entry point: any bytes, as the JPEG 2000 codestream of a 64 x 64 slide tile (odd
/// sizes as Aperio's YCbCr 33003, even as RGB 33005), must decode or give an ImageError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG2000(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? JPEG2000Codec.decode(bytes, width: 64, height: 64, ycbcr: size % 2 == 1, maxPixels: 4_000_000, source: "fuzz.j2k")
  return 0
}

// SwiftPM links an executable's entry point as FuzzJPEG2000_main; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzJPEG2000_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzJPEG2000)
}
