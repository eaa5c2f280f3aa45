import DxCSV
import DxEfficientNet
import DxImaging
import DxTasks
import DxTestSupport
import Foundation
import XCTest

/// Diagnosis split over processes: `--shard I/N` (or Slurm's array variables) takes a stable
/// part of the sorted file list, `effdx merge` joins the parts into what one run writes, and
/// refuses parts that do not belong together; the provenance every run records reaches the
/// evaluation report.
final class ShardingTests: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-shard-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    for seed in [1, 2] {
      try EfficientNet(c, seed: UInt64(seed)).save(to: dir + "/m\(seed).safetensors", preprocessing: Preprocessing(resolution: 32),
                                                    metadata: ["classes": "[\"healthy\",\"rust\"]", "task": "leaf-disease"])
    }
    for i in 0..<9 {
      var px = [UInt8](repeating: 0, count: 40 * 36 * 3)
      for j in px.indices { px[j] = UInt8(truncatingIfNeeded: j &* (i + 3) &+ j / 11) }
      try PNGCodec.write(Image(width: 40, height: 36, channels: 3, samples: .uint8(px)), to: dir + "/in/p\(i).png")
    }
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/in/broken.png"))
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  func diagnose(_ out: String, model: Int = 1, _ extra: [String] = [], environment: [String: String] = [:]) throws -> EffDxRunner.Result {
    try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/m\(model).safetensors", "--input", dir + "/in", "--out", dir + "/" + out, "--quiet"] + extra, environment: environment)
  }

  func rows(_ file: String) throws -> [[String]] {
    CSV.records(try String(contentsOfFile: dir + "/" + file, encoding: .utf8)).map(\.fields)
  }

  func testTwoShardsMerged_equalOneRun_andRecordTheirProvenance() throws {
    XCTAssertEqual(try diagnose("all.csv").status, 3, "one broken file")
    XCTAssertEqual(try diagnose("s0.csv", ["--shard", "0/2"]).status, 3, "the broken file (index 0 of the sorted list) is shard 0's")
    let s1 = try diagnose("s1.csv", environment: ["SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "7", "SLURM_ARRAY_TASK_COUNT": "2"])
    XCTAssertEqual(s1.status, 0, s1.stderr)
    let meta0 = try DiagnosisMeta.read(dir + "/s0.meta.json"), meta1 = try DiagnosisMeta.read(dir + "/s1.meta.json")
    XCTAssertEqual(meta0.shard?.index, 0)
    XCTAssertEqual(meta1.shard?.index, 1, "Slurm's task 8 of an array from 7")
    XCTAssertEqual(meta0.shard?.listSHA256, meta1.shard?.listSHA256)
    XCTAssertEqual(meta0.files.count + meta1.files.count, 10)
    XCTAssertEqual(Set(meta0.files).intersection(meta1.files), [])
    XCTAssertEqual(meta0.checkpoint.sha256, SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: dir + "/m1.safetensors"))))
    XCTAssertEqual(meta0.classes, ["healthy", "rust"])
    XCTAssertEqual(meta0.arch, "tiny")

    let merged = try EffDxRunner.run(["merge", dir + "/s1.csv", dir + "/s0.csv", "--out", dir + "/merged.csv"])
    XCTAssertEqual(merged.status, 0, merged.stderr)
    XCTAssertEqual(try rows("merged.csv").first, try rows("all.csv").first)
    XCTAssertEqual(try rows("merged.csv").dropFirst().sorted { $0[0] < $1[0] }, try rows("all.csv").dropFirst().sorted { $0[0] < $1[0] }, "the same predictions as one run")
    XCTAssertEqual(try rows("merged.errors.csv").dropFirst().map { ($0[0] as NSString).lastPathComponent }, ["broken.png"])
    let meta = try DiagnosisMeta.read(dir + "/merged.meta.json")
    XCTAssertNil(meta.shard)
    XCTAssertEqual(meta.rows, 9)
    XCTAssertEqual(meta.files.count, 10)
    XCTAssertEqual(meta.failed, 1)
    // A merge never overwrites.
    let again = try EffDxRunner.run(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/merged.csv"])
    XCTAssertEqual(again.status, 1)
    XCTAssertTrue(again.stderr.contains("exists"), again.stderr)
  }

  func testMerge_refusesPartsThatDoNotBelongTogether() throws {
    for (out, shard, model) in [("a0.csv", "0/3", 1), ("a1.csv", "1/3", 1), ("a2.csv", "2/3", 1), ("b2.csv", "2/3", 2), ("c0.csv", "0/2", 1)] {
      XCTAssertNotEqual(try diagnose(out, model: model, ["--shard", shard]).status, 1, out)
    }
    func refused(_ parts: [String], _ expected: String) throws {
      let r = try EffDxRunner.run(["merge"] + parts.map { dir + "/" + $0 } + ["--out", dir + "/m-\(UUID().uuidString).csv"])
      XCTAssertEqual(r.status, 1, "\(parts)")
      XCTAssertTrue(r.stderr.contains(expected), "\(parts) should say '\(expected)': \(r.stderr)")
    }
    try refused(["a0.csv", "a1.csv"], "shards 2/3 are missing")
    try refused(["a0.csv", "a1.csv", "b2.csv"], "different checkpoints")
    try refused(["a0.csv", "a1.csv", "a2.csv", "c0.csv"], "another file list")
    try refused(["a0.csv", "a0.csv"], "given twice")
    // Rows made with other settings are another diagnosis: merge and a resumed run refuse them
    // (a --tta shard merged with a plain one, a plain run resumed with --tta, both silently).
    XCTAssertNotEqual(try diagnose("t2.csv", model: 1, ["--shard", "2/3", "--tta"]).status, 1)
    try refused(["a0.csv", "a1.csv", "t2.csv"], "were diagnosed with other settings (tta false -> true)")
    let resumed = try diagnose("a2.csv", model: 1, ["--shard", "2/3", "--tta"])
    XCTAssertEqual(resumed.status, 1)
    XCTAssertTrue(resumed.stderr.contains("was diagnosed with other settings (tta false -> true)"), resumed.stderr)
    // Numbers and lists in PRED.meta.json are checked: a negative count, a shard out of range, a
    // file dropped from a shard's list.
    let original = try String(contentsOfFile: dir + "/a2.meta.json", encoding: .utf8)
    for (edit, expected) in [({ (s: String) in s.replacingOccurrences(of: "\"written\" : ", with: "\"written\" : -") }, "not a count"),
                             ({ (s: String) in s.replacingOccurrences(of: "\"count\" : 3", with: "\"count\" : -1") }, "is not a shard")] {
      try edit(original).write(toFile: dir + "/a2.meta.json", atomically: true, encoding: .utf8)
      try refused(["a0.csv", "a1.csv", "a2.csv"], expected)
    }
    var meta = try JSONSerialization.jsonObject(with: Data(original.utf8)) as! [String: Any]
    meta["files"] = (meta["files"] as! [String]).dropLast().map { $0 }
    try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: dir + "/a2.meta.json"))
    try refused(["a0.csv", "a1.csv", "a2.csv"], "not the 10 of the list")
    try original.write(toFile: dir + "/a2.meta.json", atomically: true, encoding: .utf8)
    // A shard cut short inside its last row, or with a damaged probability: refused at its line
    // (the cut one was merged, its last probability "0.23" for "0.234239").
    let text = try String(contentsOfFile: dir + "/a1.csv", encoding: .utf8)
    let lines = text.split(separator: "\n").map(String.init)
    try String(text.dropLast(3)).write(toFile: dir + "/a1.csv", atomically: true, encoding: .utf8)
    try refused(["a0.csv", "a1.csv", "a2.csv"], "a1.csv:\(lines.count): the last line has no line end")
    var damaged = lines
    damaged[1] = damaged[1].split(separator: ",", omittingEmptySubsequences: false).enumerated().map { $0.offset == 4 ? "1.5" : String($0.element) }.joined(separator: ",")
    try (damaged.joined(separator: "\n") + "\n").write(toFile: dir + "/a1.csv", atomically: true, encoding: .utf8)
    try refused(["a0.csv", "a1.csv", "a2.csv"], "a1.csv:2: p_")
    try text.write(toFile: dir + "/a1.csv", atomically: true, encoding: .utf8)
    // A shard whose rows were lost: the files are named.
    try text.split(separator: "\n").dropLast().map { $0 + "\n" }.joined().write(toFile: dir + "/a1.csv", atomically: true, encoding: .utf8)
    try refused(["a0.csv", "a1.csv", "a2.csv"], "are in no predictions or errors file")
    XCTAssertEqual(try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/m1.safetensors", "--input", dir + "/in", "--out", dir + "/x.csv", "--shard", "2/2"]).status, 64, "I < N")
    // Slurm array variables that name no task stop the run (each task diagnosed the whole list).
    let orphan = try diagnose("o.csv", environment: ["SLURM_ARRAY_TASK_ID": "3"])
    XCTAssertEqual(orphan.status, 64, orphan.stderr)
    XCTAssertTrue(orphan.stderr.contains("every task of the array would diagnose the whole list"), orphan.stderr)
    XCTAssertTrue([0, 3].contains(try diagnose("o.csv", ["--shard", "0/2"], environment: ["SLURM_ARRAY_TASK_ID": "3"]).status), "--shard decides (3: the folder's bad file)")
  }

  /// A real Slurm on this machine (slurmctld and slurmd from Debian's slurm-wlm, started by
  /// Scripts/slurm/test-local-cluster.sh): a 2-task array and its merge equal one run.
  func testASlurmJobArrayAndItsMerge_equalOneRun() throws {
    guard getuid() == 0 else { throw XCTSkip("the local Slurm cluster runs its daemons as root") }
    guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmctld") else { throw XCTSkip("slurm-wlm is not installed (Scripts/install-deps.sh installs it)") }
    XCTAssertEqual(try diagnose("all.csv").status, 3)
    let script = SharedData.repositoryRoot().appendingPathComponent("Scripts/slurm/test-local-cluster.sh").path
    let effdx = EffDxRunner.productsDirectory.appendingPathComponent("effdx").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [script, effdx, dir + "/m1.safetensors", dir + "/in", dir + "/slurm", "2"]
    let log = Pipe()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    let output = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, output)
    XCTAssertEqual(try rows("slurm/predictions.csv").dropFirst().sorted { $0[0] < $1[0] }, try rows("all.csv").dropFirst().sorted { $0[0] < $1[0] })
    XCTAssertEqual(try DiagnosisMeta.read(dir + "/slurm/predictions.meta.json").files.count, 10)
    XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/slurm/pred_0.meta.json") && FileManager.default.fileExists(atPath: dir + "/slurm/pred_1.meta.json"), "one shard per array task")
  }

  func testProvenance_goesFromDiagnoseIntoTheReport() throws {
    for (cls, seeds) in [("healthy", [1, 2, 3]), ("rust", [4, 5, 6])] {
      try FileManager.default.createDirectory(atPath: dir + "/lab/\(cls)", withIntermediateDirectories: true)
      for s in seeds { try FileManager.default.copyItem(atPath: dir + "/in/p\(s).png", toPath: dir + "/lab/\(cls)/p\(s).png") }
    }
    let d = try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/m2.safetensors", "--input", dir + "/lab", "--out", dir + "/lab.csv", "--quiet"])
    XCTAssertEqual(d.status, 0, d.stderr)
    let e = try EffDxRunner.run(["evaluate", "--predictions", dir + "/lab.csv", "--bootstrap", "0", "--out", dir + "/report"])
    XCTAssertEqual(e.status, 0, e.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report/report.json"))) as? [String: Any]
    let p = try XCTUnwrap(json?["provenance"] as? [String: Any], "report.json has provenance")
    XCTAssertEqual(p["checkpoint_sha256"] as? String, SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: dir + "/m2.safetensors"))))
    XCTAssertEqual(p["checkpoint"] as? String, dir + "/m2.safetensors")
    XCTAssertEqual(p["files"] as? Int, 6)
    XCTAssertEqual(p["classes"] as? [String], ["healthy", "rust"])
    XCTAssertEqual(p["task"] as? String, "leaf-disease")
    XCTAssertTrue((p["eval_transform"] as? String)?.contains("\"resolution\": 32") == true)
    let md = try String(contentsOfFile: dir + "/report/report.md", encoding: .utf8)
    XCTAssertTrue(md.contains("## Provenance") && md.contains("m2.safetensors"), md)
    let html = try String(contentsOfFile: dir + "/report/report.html", encoding: .utf8)
    XCTAssertTrue(html.contains("id=\"provenance\""))
    // The class that matters: operating points, and a target sensitivity checked like any flag.
    let op = try EffDxRunner.run(["evaluate", "--predictions", dir + "/lab.csv", "--bootstrap", "0", "--positive-class", "rust", "--target-sensitivity", "0.6", "--out", dir + "/report3"])
    XCTAssertEqual(op.status, 0, op.stderr)
    let json3 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report3/report.json"))) as? [String: Any]
    let points = (json3?["operating_points"] as? [String: Any])?["points"] as? [[String: Any]]
    XCTAssertEqual(points?.first?["rule"] as? String, "argmax")
    XCTAssertEqual(points?.compactMap { ($0["tp"] as? Int).map { $0 >= 0 } }.count, points?.count)
    for bad in ["2", "-0.1", "nan"] {
      XCTAssertEqual(try EffDxRunner.run(["evaluate", "--predictions", dir + "/lab.csv", "--positive-class", "rust", "--target-sensitivity", bad, "--out", dir + "/r4"]).status, 64, bad)
    }
    XCTAssertEqual(try EffDxRunner.run(["evaluate", "--predictions", dir + "/lab.csv", "--target-sensitivity", "0.9", "--out", dir + "/r5"]).status, 64, "a target needs a class")
    // Predictions without a provenance file still evaluate, without the section.
    try FileManager.default.removeItem(atPath: dir + "/lab.meta.json")
    XCTAssertEqual(try EffDxRunner.run(["evaluate", "--predictions", dir + "/lab.csv", "--bootstrap", "0", "--out", dir + "/report2"]).status, 0)
    XCTAssertFalse(try String(contentsOfFile: dir + "/report2/report.md", encoding: .utf8).contains("Provenance"))
  }
}
