import ArgumentParser
import DxEfficientNet
import Foundation

/// Lists the EfficientNet variants with their cost, so a user can pick one for their budget.
struct ModelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "models", abstract: "List EfficientNet variants: parameters (1000 classes), MACs at native resolution, resolution, dropout.")

  @Flag(help: "Print a JSON array of {name, params, macs, resolution, dropout}.") var json = false

  struct Row: Encodable {
    var name: String, params: Int, macs: Int, resolution: Int, dropout: Double
  }

  func run() throws {
    let rows = try Variants.all.map { c in
      Row(name: c.name, params: try c.parameterCount(), macs: try c.macs(), resolution: c.resolution, dropout: (Double(c.dropRate) * 1000).rounded() / 1000)
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(rows), as: UTF8.self))
      return
    }
    print("name".padding(toLength: 24, withPad: " ", startingAt: 0) + "   params    GMACs  resolution  dropout")
    for r in rows {
      print(r.name.padding(toLength: 24, withPad: " ", startingAt: 0)
        + String(format: " %7.2fM  %7.3f  %10d  %7.1f", Double(r.params) / 1e6, Double(r.macs) / 1e9, r.resolution, r.dropout))
    }
  }
}
