import DxPipeline
import Foundation

/// libFuzzer entry point: any text must parse as a pipeline (or a recorded evaluation
/// transform) or give a PipelineSpecError naming a line, never crash, hang or recurse away.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let text = String(data: Data(bytes: data, count: size), encoding: .utf8) else { return 0 }
  _ = try? PipelineSpec.parse(text, file: "fuzz.yaml")
  _ = try? EvaluationTransform.decode(json: text, source: "fuzz.json")
  return 0
}

// SwiftPM links an executable's entry point as FuzzPipeline_main; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzPipeline_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzPipeline)
}
