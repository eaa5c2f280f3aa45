// swift-tools-version:6.0
// libFuzzer harnesses for EfficientDx's decoders and its parsers of pipeline YAML and checkpoint metadata. Build and run with Scripts/fuzz/run.sh.
import PackageDescription

let harness: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
  name: "EfficientDxFuzz",
  dependencies: [.package(name: "EfficientDx", path: "../..")],
  targets: [
    .executableTarget(name: "FuzzPNG", dependencies: [.product(name: "DxImaging", package: "EfficientDx")], swiftSettings: harness),
    .executableTarget(name: "FuzzJPEG", dependencies: [.product(name: "DxImaging", package: "EfficientDx")], swiftSettings: harness),
    .executableTarget(name: "FuzzJPEG2000", dependencies: [.product(name: "DxImaging", package: "EfficientDx")], swiftSettings: harness),
    .executableTarget(name: "FuzzTIFF", dependencies: [.product(name: "DxImaging", package: "EfficientDx")], swiftSettings: harness),
    .executableTarget(name: "FuzzPipeline", dependencies: [.product(name: "DxPipeline", package: "EfficientDx")], swiftSettings: harness),
    .executableTarget(name: "FuzzCheckpointMetadata", dependencies: [.product(name: "DxEfficientNet", package: "EfficientDx")], swiftSettings: harness),
  ],
  swiftLanguageModes: [.v5]
)
