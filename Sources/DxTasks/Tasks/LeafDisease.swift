import DxEval

extension Task {
  /// Whole leaf photos, a folder per class (PlantVillage `Crop___Disease`) or a manifest with
  /// the field as the study. A field's photos hold several diseases, so its diagnosis is the
  /// mean of its photos' probabilities.
  public static let leafDisease = Task(
    kind: .leafDisease, pipelineFile: "leaf-disease.yaml", slidePipelineFile: nil, labels: .topFolder,
    slideAggregation: { _ in .meanProbability })
}
