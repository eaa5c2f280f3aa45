import Foundation

/// A one-line progress bar on standard error (plain lines every few seconds when it is not a
/// terminal; nothing with `--quiet`). Each phase (an epoch, validation, the feature cache) has
/// its own clock, so the ETA is that phase's, not the run's.
final class ProgressBar {
  var phase = "", phaseStart = Date()
  var last = Date.distantPast
  let interactive: Bool
  var showing = false

  init(interactive: Bool = isatty(STDERR_FILENO) != 0) { self.interactive = interactive }

  func update(done: Int, total: Int, label: String, extra: String = "") {
    guard Console.level <= .info, let line = render(done: done, total: total, label: label, extra: extra, now: Date()) else { return }
    FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
    showing = interactive
  }

  /// The line to show at `now`, or nil when the last one is recent enough.
  func render(done: Int, total: Int, label: String, extra: String, now: Date) -> String? {
    if label != phase { phase = label; phaseStart = now; last = .distantPast }
    guard now.timeIntervalSince(last) > (interactive ? 0.2 : 5) || done == total else { return nil }
    last = now
    let width = 24, filled = total == 0 ? width : min(width, width * done / max(total, 1))
    let elapsed = now.timeIntervalSince(phaseStart)
    let eta = done > 0 ? elapsed / Double(done) * Double(max(0, total - done)) : 0
    return "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) \(extra)\(done < total ? " ETA \(Int(eta.rounded())) s" : "")"
  }

  /// Ends the bar's line so the next message starts on its own.
  func finish() {
    if showing { FileHandle.standardError.write(Data("\n".utf8)) }
    showing = false
  }
}
