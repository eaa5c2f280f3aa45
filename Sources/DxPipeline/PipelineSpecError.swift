/// A pipeline file that does not say what it must: names the file, the line and what was
/// expected, like a compiler error.
public struct PipelineSpecError: Error, CustomStringConvertible, Equatable, Sendable {
  public var file: String
  public var line: Int
  public var message: String

  public var description: String { "\(file):\(line): \(message)" }
}
