import Foundation

/// RFC 4180 CSV as EfficientDx reads and writes it everywhere (manifests, predictions, errors
/// ledgers, reports): one writer and one reader, so a field written by one command reads back
/// the same in every other, whatever it holds (PlantVillage's `Pepper,_bell___Bacterial_spot`,
/// quotes, newlines).
public enum CSV {
  /// A field, quoted when it holds a comma, a quote, a line feed or a carriage return.
  public static func field(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }

  /// One record with its line end.
  public static func row(_ fields: [String]) -> String {
    fields.map(field).joined(separator: ",") + "\n"
  }

  /// Every record of `text` as strings (blank lines skipped, `\r\n` accepted, a UTF-8 BOM
  /// dropped), each with the 1-based line it starts on.
  public static func records(_ text: String) -> [(line: Int, fields: [String])] {
    records(Data(text.utf8))
  }

  public static func records(_ data: Data) -> [(line: Int, fields: [String])] {
    var out: [(line: Int, fields: [String])] = []
    _ = data.withUnsafeBytes { raw in
      CSVRecords.forEachRecord(raw.bindMemory(to: UInt8.self)) { line, fields, bytes in
        out.append((line, fields.map { $0.string(bytes) }))
      }
    }
    return out
  }
}
