import DxTestSupport
import Foundation
import XCTest

/// Sizes inside every flag's range that no machine can hold, and batches training's BatchNorm
/// cannot use: each is refused before anything is allocated, naming the flags (they used to end
/// in "failed to allocate" traps and an illegal instruction).
final class ResourceLimitTests: HostileCLITestCase {
  func testBatchesTooLargeForMemory_areRefusedNamingTheFlags() throws {
    try refuses(["bench", "infer", "--arch", "efficientnet_b0", "--res", "2048", "--batch", "4096"], "--batch 4096 at --res 2048", status: 64)
    try refuses(["bench", "train", "--res", "1024", "--batch", "64"], "GB", status: 64)
    try refuses(["bench", "evaluate", "--rows", "100000000", "--classes", "100000"], "--rows 100000000 with --classes 100000", status: 64)
    // Sixteen photos at 2048 pixels: each training image's maps are about 2 GB.
    let data = dir + "/data"
    for c in ["a", "b"] {
      try FileManager.default.createDirectory(atPath: "\(data)/\(c)", withIntermediateDirectories: true)
      for i in 0..<8 { try photo("\(data)/\(c)/\(i).png") }
    }
    let run = dir + "/run"
    try refuses(["train", "--task", "leaf-disease", "--data", data, "--resolution", "2048", "--batch-size", "4096", "--epochs", "1", "--out", run],
                "--batch-size 4096 at --resolution 2048", status: 64)
    XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/last.safetensors"))
    // A batch that fits is not refused (the estimate is a lower bound): one tiny step runs.
    let r = try effdx(["bench", "infer", "--arch", "efficientnet_b0", "--res", "64", "--batch", "2", "--iters", "1"])
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testABatchOfOneAtAOnePixelLastMap_isRefusedOrLeftOut() throws {
    try refuses(["bench", "train", "--res", "16", "--batch", "1"], "one value per channel", status: 64)
    // Nine training images, batches of four: the last batch holds one image, whose last map is
    // 1 x 1 at 32 pixels. It is left out and counted; the run ends normally.
    var manifest = "path,label,study,split\n"
    for i in 0..<13 {
      let label = ["a", "b"][i % 2]
      try FileManager.default.createDirectory(atPath: "\(dir!)/\(label)", withIntermediateDirectories: true)
      try photo("\(dir!)/\(label)/\(i).png")
      manifest += "\(label)/\(i).png,\(label),s\(i),\(i < 9 ? "train" : i < 11 ? "val" : "test")\n"
    }
    try manifest.write(toFile: dir + "/m.csv", atomically: true, encoding: .utf8)
    let common = ["train", "--task", "leaf-disease", "--data", dir + "/m.csv", "--arch", "efficientnet_b0", "--resolution", "32", "--epochs", "1"]
    try refuses(common + ["--batch-size", "1", "--out", dir + "/one"], "--batch-size 1 at --resolution 32", status: 1)
    let r = try effdx(common + ["--batch-size", "4", "--out", dir + "/four"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("1 image(s) in a batch of one left out"), r.stderr)
    let log = try String(contentsOfFile: dir + "/four/log.jsonl", encoding: .utf8)
    XCTAssertTrue(log.contains("\"skipped_lone_images\":1"), log)
    XCTAssertTrue(log.contains("\"steps\":2"), log)
  }
}
