import DxEval

extension Task {
  /// Histology patches for training; patches or whole slides for diagnosis. A slide is tumour
  /// when its 5 most tumour-like tiles average 0.5 or more (a small tumour is still a tumour),
  /// when the checkpoint has a `tumor` class; otherwise the mean of its tiles.
  public static let histopathology = Task(
    kind: .histopathology, pipelineFile: "histopathology-patches.yaml", slidePipelineFile: "histopathology-slides.yaml", labels: .topFolder,
    slideAggregation: { classes in
      classes.contains(positiveClass) ? .topKMean(positiveClass: positiveClass, k: 5, threshold: 0.5) : .meanProbability
    })

  /// The class whose few confident tiles decide a slide.
  static let positiveClass = "tumor"
}
