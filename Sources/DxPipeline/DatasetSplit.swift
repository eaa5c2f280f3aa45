import DxTensor

/// Train / validation / test subsets of a dataset.
public struct DatasetSplit: Equatable, Sendable {
  public var train: [DatasetIndex.Item]
  public var validation: [DatasetIndex.Item]
  public var test: [DatasetIndex.Item]

  /// Splits `index` by the seed: stratified by class, and, with `byStudy` and studies present,
  /// by whole studies (so a patient's or slide's images never appear in two splits). Splits
  /// fixed in a manifest are kept as given.
  public init(_ index: DatasetIndex, validation: Double, test: Double, seed: UInt64, byStudy: Bool = true) {
    var rng = SeededGenerator(seed: seed)
    var train: [DatasetIndex.Item] = [], val: [DatasetIndex.Item] = [], tst: [DatasetIndex.Item] = []
    let fixed = index.items.filter { $0.split != nil }
    for item in fixed {
      switch item.split! {
      case "val": val.append(item)
      case "test": tst.append(item)
      default: train.append(item)
      }
    }
    let free = index.items.filter { $0.split == nil }
    // Units of assignment: whole studies, or single images.
    var units: [[DatasetIndex.Item]]
    if byStudy && free.contains(where: { $0.study != nil && !$0.study!.isEmpty }) {
      var groups: [String: [DatasetIndex.Item]] = [:]
      for (i, item) in free.enumerated() { groups[item.study.flatMap { $0.isEmpty ? nil : $0 } ?? "#image\(i)", default: []].append(item) }
      units = groups.keys.sorted().map { groups[$0]! }
    } else {
      units = free.map { [$0] }
    }
    // Stratify units by their majority label, shuffle each stratum, and deal it out.
    var strata: [Int: [[DatasetIndex.Item]]] = [:]
    for u in units {
      var counts: [Int: Int] = [:]
      for item in u { counts[item.label, default: 0] += 1 }
      let majority = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
      strata[majority, default: []].append(u)
    }
    for label in strata.keys.sorted() {
      var group = strata[label]!
      group.shuffle(using: &rng)
      let n = group.count
      let nTest = Int((Double(n) * test).rounded()), nVal = Int((Double(n) * validation).rounded())
      for (i, u) in group.enumerated() {
        if i < nTest { tst += u } else if i < nTest + nVal { val += u } else { train += u }
      }
    }
    func byPath(_ a: DatasetIndex.Item, _ b: DatasetIndex.Item) -> Bool { a.path < b.path }
    self.train = train.sorted(by: byPath)
    self.validation = val.sorted(by: byPath)
    self.test = tst.sorted(by: byPath)
  }
}
