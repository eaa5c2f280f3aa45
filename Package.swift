// swift-tools-version:6.0
// EfficientDx: EfficientNet-based leaf-disease and histopathology classification on Linux CPUs.
import PackageDescription

#if arch(x86_64)
  // The numeric kernels are written for 8-wide AVX2 vectors with FMA (every x86-64 CPU since
  // 2015). `EFFDX_PORTABLE=1 swift build` builds for any x86-64 instead, at about half the speed.
  let portable = Context.environment["EFFDX_PORTABLE"] != nil
  let kernelFlags: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-target-cpu", "haswell"])]
  // The tool itself stays portable, so it can say so instead of dying on an illegal instruction.
  let toolFlags: [SwiftSetting] = portable ? [] : [.define("EFFDX_AVX2_KERNELS")]
#else
  let kernelFlags: [SwiftSetting] = []
  let toolFlags: [SwiftSetting] = []
#endif

let package = Package(
  name: "EfficientDx",
  products: [
    .library(name: "DxTensor", targets: ["DxTensor"]),
    .library(name: "DxNN", targets: ["DxNN"]),
    .library(name: "DxEfficientNet", targets: ["DxEfficientNet"]),
    .library(name: "DxCSV", targets: ["DxCSV"]),
    .library(name: "DxEval", targets: ["DxEval"]),
    .library(name: "DxImaging", targets: ["DxImaging"]),
    .library(name: "DxPipeline", targets: ["DxPipeline"]),
    .library(name: "DxTasks", targets: ["DxTasks"]),
    .library(name: "DxDistributed", targets: ["DxDistributed"]),
    .executable(name: "effdx", targets: ["effdx"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
  ],
  targets: [
    // System libraries: a module map plus one header each; only the Dx module that wraps one imports it.
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CTIFF", pkgConfig: "libtiff-4",
      providers: [.apt(["libtiff-dev"])]),
    .systemLibrary(
      name: "CPNG", pkgConfig: "libpng",
      providers: [.apt(["libpng-dev"])]),
    .systemLibrary(
      name: "CJPEG", pkgConfig: "libturbojpeg",
      providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(
      name: "COpenJPEG", pkgConfig: "libopenjp2",
      providers: [.apt(["libopenjp2-7-dev"])]),
    .systemLibrary(
      name: "CMPI", pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    // MPI's handles are macros Swift cannot import: a few calls on MPI_COMM_WORLD in C.
    .target(name: "CDxMPI", dependencies: ["CMPI"]),
    // libpng's longjmp errors, libtiff's variadic getters and OpenJPEG's stream callbacks need
    // C, and OpenSlide is loaded on first use (libopenslide-dev's header, dlopen), not linked.
    .target(name: "CDxImaging", dependencies: ["CTIFF", "CPNG", "COpenJPEG"]),

    // Intrinsics kernels (AVX-512 / AVX2 / plain C, chosen at run time) for the inference hot loops.
    .target(name: "CDxKernels", cSettings: [.unsafeFlags(["-O3"])]),
    .target(name: "DxTensor", dependencies: ["CBLAS", "CDxKernels"], swiftSettings: kernelFlags),
    .target(name: "DxNN", dependencies: ["DxCSV", "DxTensor"]),
    .target(name: "DxImaging", dependencies: ["CDxImaging", "CDxKernels", "CJPEG", "DxCSV", "DxTensor"]),
    // Foundation only: the one CSV reader and writer the engine and the evaluator share.
    .target(name: "DxCSV"),
    .target(name: "DxPipeline", dependencies: ["DxCSV", "DxImaging", "DxTensor", .product(name: "Yams", package: "Yams")]),
    .target(name: "DxEfficientNet", dependencies: ["DxNN", "DxTensor"]),
    // Data-parallel training across processes: MPI's world as a DxNN ReplicaGroup.
    .target(name: "DxDistributed", dependencies: ["CDxMPI", "DxNN"]),
    // Foundation only: reports can be produced anywhere predictions exist.
    .target(name: "DxEval", dependencies: ["DxCSV"]),
    .target(name: "DxTasks", dependencies: ["CDxKernels", "DxCSV", "DxEfficientNet", "DxPipeline", "DxEval", "DxImaging", "DxNN", "DxTensor"]),
    .executableTarget(
      name: "effdx",
      dependencies: [
        "DxCSV", "DxDistributed", "DxEfficientNet", "DxEval", "DxImaging", "DxNN", "DxPipeline", "DxTasks", "DxTensor",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ], swiftSettings: toolFlags),

    .target(name: "DxTestSupport", dependencies: ["DxNN", "DxTensor"], path: "Tests/DxTestSupport"),
    // Files labs send that the product never writes (JPEGs with restart markers, for VMS slides).
    .target(name: "CDxTestSupport", path: "Tests/CDxTestSupport", linkerSettings: [.linkedLibrary("jpeg")]),
    // The numeric core's end-to-end smoke problem (a small CNN on Samples/toy-patterns.safetensors), for tests only.
    .target(name: "DxToy", dependencies: ["DxNN", "DxTensor"], path: "Tests/DxToy"),
    .testTarget(name: "DxTensorTests", dependencies: ["DxTensor", "CDxKernels", "DxTestSupport"]),
    .testTarget(name: "DxNNTests", dependencies: ["DxNN", "DxTensor", "DxTestSupport", "DxToy"]),
    .testTarget(name: "DxEfficientNetTests", dependencies: ["DxEfficientNet", "DxNN", "DxTensor", "DxTestSupport"]),
    .testTarget(name: "DxImagingTests", dependencies: ["DxImaging", "DxNN", "DxTensor", "DxTestSupport", "CDxTestSupport", "CJPEG"]),
    .testTarget(name: "DxPipelineTests", dependencies: ["DxPipeline", "DxImaging", "DxTensor", "DxTestSupport"]),
    .testTarget(name: "DxTasksTests", dependencies: ["DxTasks", "DxCSV", "DxEval", "DxPipeline", "DxEfficientNet", "DxNN", "DxTensor", "DxImaging", "DxTestSupport"]),
    .testTarget(name: "DxEvalTests", dependencies: ["DxCSV", "DxEval", "DxTestSupport"]),
    .testTarget(name: "EffDxCLITests", dependencies: ["effdx", "CDxTestSupport", "DxCSV", "DxEval", "DxPipeline", "DxEfficientNet", "DxImaging", "DxNN", "DxTasks", "DxTensor", "DxTestSupport"]),
    .testTarget(name: "SystemLibraryTests", dependencies: ["CTIFF", "CPNG", "CBLAS"]),
  ],
  swiftLanguageModes: [.v5]
)
