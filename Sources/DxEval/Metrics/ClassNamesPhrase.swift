/// The classes a warning is about, as a phrase: `'mildew'` for one, `3 classes, 'a', 'b', 'c'`
/// for a few, the first ten and a count past that. One sentence per kind of problem naming its
/// classes, rather than a sentence per class: a study of a few images over a thousand classes
/// made thousands of sentences, most of a report's time and none of its readability.
func classNamesPhrase(_ names: [String]) -> String {
  let quoted = names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
  if names.count == 1 { return quoted }
  return "\(names.count) classes, " + quoted + (names.count > 10 ? " and \(names.count - 10) more" : "")
}
