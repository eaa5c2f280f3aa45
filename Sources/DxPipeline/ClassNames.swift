import Foundation

/// What makes a list of class names unusable, wherever the names come from (class folders, a
/// checkpoint's `classes`). Each name becomes a `p_<name>` column and a cell of a top-k list
/// (`a;b`), and is read back by name, so:
/// - no name is empty, or has spaces around it (manifests trim their labels; `a` and `a ` made
///   two `p_a` columns that `evaluate` refused);
/// - no two are equal as Swift compares them, which includes Unicode canonical equivalence
///   (`café` written precomposed and decomposed are two folders but one name: training ran to its
///   end and wrote a checkpoint every later command refused);
/// - none holds `;`, which separates a top-k cell's names.
public enum ClassNames {
  /// The first problem, naming the name(s), or nil. `new`: names about to be given (class
  /// folders); else names a checkpoint already has, of which only the empty and the equal are
  /// refused, so a checkpoint trained before these rules still loads.
  public static func problem(_ names: [String], new: Bool = true) -> String? {
    var seen: [String: String] = [:]
    for name in names {
      let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
      if trimmed.isEmpty { return "a class name is empty" }
      if new && trimmed != name { return "the class name '\(name)' has spaces around it" }
      if new && name.contains(";") { return "the class name '\(name)' holds ';', which separates the names of a top-k list" }
      if let other = seen[name] {
        return other.utf8.elementsEqual(name.utf8)
          ? "the class name '\(name)' appears twice" : "the class names '\(other)' and '\(name)' are the same name written two ways (Unicode)"
      }
      seen[name] = name
    }
    return nil
  }
}
