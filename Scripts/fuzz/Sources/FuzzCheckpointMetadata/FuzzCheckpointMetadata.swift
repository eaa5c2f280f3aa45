import DxEfficientNet
import Foundation

/// libFuzzer entry point: any `effdx.config` metadata must decode and pass `validate()`, or be
/// refused, without building a network it describes (which is what the checks are for: no
/// trap, no huge allocation). A configuration that passes is also built when it is small.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpointMetadata(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Data(bytes: data, count: size)
  guard let config = try? JSONDecoder().decode(EfficientNetConfig.self, from: bytes) else { return 0 }
  guard (try? config.validate()) != nil else { return 0 }
  if config.resolution <= 64 && config.widthMultiplier <= 0.5 && config.depthMultiplier <= 0.5 && config.numClasses <= 100 && config.headChannels <= 2048 {
    _ = try? EfficientNet(config)
  }
  return 0
}

// SwiftPM links an executable's entry point as FuzzCheckpointMetadata_main; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzCheckpointMetadata_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzCheckpointMetadata)
}
