/// A decimal number written as people write one: an optional sign, digits with an optional
/// fraction, an optional exponent (YAML 1.2's core schema). Swift's `Double(String)` also
/// reads hexadecimal (`0x1p-3` is 0.125), `nan`, `inf` and `infinity`: a learning rate or a
/// slide's microns per pixel that no one wrote as a decimal was taken as one.
public enum DecimalText {
  public static func parse<S: StringProtocol>(_ text: S) -> Double? {
    var digits = 0, i = text.utf8.startIndex
    let u = text.utf8
    func skipDigits() { while i < u.endIndex, (48...57).contains(u[i]) { digits += 1; i = u.index(after: i) } }
    if i < u.endIndex, u[i] == 43 || u[i] == 45 { i = u.index(after: i) }  // + -
    skipDigits()
    if i < u.endIndex, u[i] == 46 { i = u.index(after: i); skipDigits() }  // .
    guard digits > 0 else { return nil }
    if i < u.endIndex, u[i] == 101 || u[i] == 69 {  // e E
      i = u.index(after: i)
      if i < u.endIndex, u[i] == 43 || u[i] == 45 { i = u.index(after: i) }
      let before = digits
      skipDigits()
      guard digits > before else { return nil }
    }
    guard i == u.endIndex else { return nil }
    return Double(text.hasPrefix("+") ? String(text.dropFirst()) : String(text))
  }
}
