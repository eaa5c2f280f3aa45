import DxImaging
import Foundation

/// libFuzzer entry point: any bytes must decode or give an ImageError, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let limits = ImageLimits(maxPixels: 4_000_000, maxSide: 8192)
  _ = try? PNGCodec.decode(Data(bytes: data, count: size), path: "fuzz.png", limits: limits)
  return 0
}

// SwiftPM links an executable's entry point as FuzzPNG_main; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzPNG_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzPNG)
}
