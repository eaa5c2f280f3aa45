/// The files of a training run's folder, named once: the trainer writes them, and `train`
/// checks a folder for them before it starts (a folder holding one of them and no `.lock` is
/// the user's, not a run's) and lists them when it ends.
public enum RunFiles {
  public static let last = "last.safetensors"
  public static let state = "last.state.safetensors"
  public static let best = "best.safetensors"
  public static let bestEMA = "best_ema.safetensors"
  public static let log = "log.jsonl"
  /// The held-out test split as a manifest (absolute paths), written by `train`.
  public static let testManifest = "test.csv"
  public static let testPredictions = "test_predictions.csv"
  public static let testPredictionsEMA = "test_predictions_ema.csv"
  /// Created first by a run and locked for its life.
  public static let lock = ".lock"

  /// Every file a run writes besides `state` and `lock`.
  public static let outputs = [best, bestEMA, last, log, testManifest, testPredictions, testPredictionsEMA]
}
