import DxEfficientNet
import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// What the hostile-input tests share: a scratch folder, and `effdx` run as a user runs it,
/// under an 8 GB address-space limit and a one-minute clock, where a signal, a trap or a hang
/// fails the test.
class HostileCLITestCase: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-hostile-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  /// A tiny network's checkpoint with the given classes, resolution and tensors edited.
  func checkpoint(_ name: String, classes: String = #"["a","b"]"#, resolution: Int = 32, config: EfficientNetConfig? = nil,
                  metadata: [String: String] = [:], edit: (inout [String: Tensor]) -> Void = { _ in }) throws -> String {
    var c = config ?? EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    let plain = dir + "/\(name).plain.safetensors"
    try EfficientNet(c, seed: 1).save(to: plain, preprocessing: Preprocessing(resolution: resolution), metadata: ["classes": classes, "task": "leaf-disease"])
    let file = try SafeTensorsFile(path: plain)
    var tensors = try file.allTensors()
    edit(&tensors)
    let path = dir + "/\(name).safetensors"
    try SafeTensorsWriter.write(tensors, metadata: file.metadata.merging(metadata) { $1 }, to: path)
    return path
  }

  /// Names of two files that differ only in Unicode normalisation (NFC and NFD).
  let nfc = "caf\u{E9}.png", nfd = "cafe\u{301}.png"

  func write(_ text: String, _ name: String) throws -> String {
    try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    return dir + "/" + name
  }

  func report(_ out: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// `effdx` run in `folder` (relative paths resolve there), with the same limits as `effdx`.
  func effdxIn(_ folder: String, _ args: [String]) throws -> EffDxRunner.Result {
    let previous = FileManager.default.currentDirectoryPath
    XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
    defer { FileManager.default.changeCurrentDirectoryPath(previous) }
    return try effdx(args)
  }

  /// Runs `effdx` with `ulimit -v` 8 GB, killed after 60 s; fails the test on a signal or timeout.
  func effdx(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> EffDxRunner.Result {
    let binary = EffDxRunner.productsDirectory.appendingPathComponent("effdx").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "ulimit -v 8388608; exec \"$0\" \"$@\"", binary] + args
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let killer = DispatchWorkItem { process.terminate() }
    DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    let result = EffDxRunner.Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    XCTAssertEqual(process.terminationReason, .exit, "\(args.joined(separator: " ")) ended by a signal or the clock:\n\(result.stderr)", file: file, line: line)
    return result
  }

  /// Exits with `status`, and says `expected` on standard error.
  func refuses(_ args: [String], _ expected: String, status: Int32 = 1, file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try effdx(args, file: file, line: line)
    XCTAssertEqual(r.status, status, "\(args.joined(separator: " ")):\n\(r.stderr)", file: file, line: line)
    XCTAssertTrue(r.stderr.contains(expected), "\(args.joined(separator: " ")) should say '\(expected)':\n\(r.stderr)", file: file, line: line)
  }

  func photo(_ path: String, w: Int = 40, h: Int = 36) throws {
    try PNGCodec.write(Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 90, count: w * h * 3))), to: path)
  }
}
