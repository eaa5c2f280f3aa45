import Foundation

/// Every `EFFDX_*` environment variable EfficientDx honours, read once and in one place, so no
/// library code (Swift or C) reads the environment on its own and a test or tool can see the
/// whole set. `effdx` applies it at start-up (`apply()`).
public struct RuntimeEnvironment: Sendable, Equatable {
  /// `EFFDX_THREADS`: compute threads (default: every core).
  public var threads: Int?
  /// `EFFDX_STREAMING_MIN_MB`: outputs from this size up use streaming stores (A/B runs, tests).
  public var streamingMinimumMB: Int?
  /// `EFFDX_GATE_AS_READ=0`: SE's gate applied as a separate pass (A/B runs).
  public var gatesAsRead: Bool
  /// `EFFDX_RETURN_FREED_MEMORY=1`: return freed blocks to the system (lower peak, slower).
  public var returnFreedMemory: Bool
  /// `EFFDX_TEST_KILL_AT=<epoch>:<point>`: crash tests kill `effdx train` at a save point.
  public var testKillAt: String?
  /// `EFFDX_KERNEL_ISA=c|avx2|avx512`: cap the instruction set of EfficientDx's own kernels.
  public var kernelISA: KernelInstructionSet?
  /// `EFFDX_OPENSLIDE_LIBRARY=<path>`: the OpenSlide library to load for vendor slides (one
  /// built or installed outside the system's library path), instead of the system's.
  public var openSlideLibrary: String?

  /// Slurm's job-array task, when the process runs as one (`SLURM_ARRAY_TASK_ID` less
  /// `SLURM_ARRAY_TASK_MIN`, over `SLURM_ARRAY_TASK_STEP`, of `SLURM_ARRAY_TASK_COUNT`):
  /// `diagnose`'s default `--shard`.
  public var slurmArrayTask: (index: Int, count: Int)?
  /// Why Slurm's array variables, though set, name no task: `diagnose` then stops rather than
  /// diagnose the whole list in every task of the array (unless `--shard` is given).
  public var slurmArrayProblem: String?

  /// Set when `mpirun` (Open MPI: `OMPI_COMM_WORLD_SIZE`) or Slurm's `srun --mpi=pmix`
  /// (`PMIX_RANK`) started this process: how many ranks share its machine
  /// (`OMPI_COMM_WORLD_LOCAL_SIZE`, else a plain `SLURM_NTASKS_PER_NODE`, else 1).
  /// `effdx train` then joins the MPI world, and its default threads are the cores divided
  /// among those ranks. Nil: not an MPI launch.
  public var mpiLocalRanks: Int?

  public static func == (a: RuntimeEnvironment, b: RuntimeEnvironment) -> Bool {
    a.threads == b.threads && a.streamingMinimumMB == b.streamingMinimumMB && a.gatesAsRead == b.gatesAsRead && a.returnFreedMemory == b.returnFreedMemory
      && a.testKillAt == b.testKillAt && a.kernelISA == b.kernelISA && a.openSlideLibrary == b.openSlideLibrary && a.problems == b.problems
      && a.slurmArrayTask?.index == b.slurmArrayTask?.index && a.slurmArrayTask?.count == b.slurmArrayTask?.count
      && a.mpiLocalRanks == b.mpiLocalRanks && a.slurmArrayProblem == b.slurmArrayProblem
  }

  /// Values that were set but could not be used (and so were ignored), for a warning.
  public var problems: [String] = []

  public init(_ environment: [String: String]) {
    var problems: [String] = []
    func int(_ name: String, _ range: ClosedRange<Int>) -> Int? {
      guard let text = environment[name], !text.isEmpty else { return nil }
      guard let v = Int(text), range.contains(v) else { problems.append("\(name)=\(text) ignored: not a whole number in \(range.lowerBound)...\(range.upperBound)"); return nil }
      return v
    }
    func flag(_ name: String, default d: Bool) -> Bool {
      guard let text = environment[name], !text.isEmpty else { return d }
      switch text.lowercased() {
      case "1", "true", "yes", "on": return true
      case "0", "false", "no", "off": return false
      default: problems.append("\(name)=\(text) ignored: use 1 or 0"); return d
      }
    }
    threads = int("EFFDX_THREADS", 1...1024)
    streamingMinimumMB = int("EFFDX_STREAMING_MIN_MB", 0...(1 << 20))
    gatesAsRead = flag("EFFDX_GATE_AS_READ", default: true)
    returnFreedMemory = flag("EFFDX_RETURN_FREED_MEMORY", default: false)
    testKillAt = environment["EFFDX_TEST_KILL_AT"]
    if let path = environment["EFFDX_OPENSLIDE_LIBRARY"], !path.isEmpty {
      // The loader keeps up to 4,095 bytes of it: a longer one would be cut, and name another file.
      if path.utf8.count < 4096 { openSlideLibrary = path } else { problems.append("EFFDX_OPENSLIDE_LIBRARY ignored: a path of \(path.utf8.count) bytes (at most 4,095)") }
    }
    switch environment["EFFDX_KERNEL_ISA"] {
    case nil, "": kernelISA = nil
    case "c": kernelISA = .portableC
    case "avx2": kernelISA = .avx2
    case "avx512": kernelISA = .avx512
    case let other?:
      // Capping to the portable kernels is the safe reading of a value meant to cap.
      kernelISA = .portableC
      problems.append("EFFDX_KERNEL_ISA=\(other) is not c, avx2 or avx512: the kernels are capped to c")
    }
    if environment["SLURM_ARRAY_TASK_ID"] != nil || environment["SLURM_ARRAY_TASK_COUNT"] != nil {
      let id = int("SLURM_ARRAY_TASK_ID", 0...100_000_000), count = int("SLURM_ARRAY_TASK_COUNT", 1...1_000_000)
      let lowValue = int("SLURM_ARRAY_TASK_MIN", 0...100_000_000), stepValue = int("SLURM_ARRAY_TASK_STEP", 1...100_000_000)
      let low = lowValue ?? 0, step = stepValue ?? 1
      // A MIN or STEP that is set but no count cannot be replaced by 0 and 1 (a STEP of 0 put
      // task 1 of 2 on shard 0, beside task 0).
      let unreadable = [("SLURM_ARRAY_TASK_MIN", lowValue), ("SLURM_ARRAY_TASK_STEP", stepValue)].filter { environment[$0.0] != nil && $0.1 == nil }.map(\.0)
      if !unreadable.isEmpty {
        slurmArrayProblem = unreadable.map { "\($0)=\(environment[$0]!)" }.joined(separator: " and ") + " is not a count: which shard this task diagnoses cannot be told"
      } else if let id, let count, (id - low) % step == 0, (id - low) / step >= 0, (id - low) / step < count {
        slurmArrayTask = ((id - low) / step, count)
      } else if id != nil, count != nil {
        slurmArrayProblem = "SLURM_ARRAY_TASK_ID=\(environment["SLURM_ARRAY_TASK_ID"]!) is not one of SLURM_ARRAY_TASK_COUNT=\(environment["SLURM_ARRAY_TASK_COUNT"]!) tasks from SLURM_ARRAY_TASK_MIN=\(low) by SLURM_ARRAY_TASK_STEP=\(step) (an irregular array such as 1,3,7?)"
      } else {
        slurmArrayProblem = "SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not both set to counts (ID \(environment["SLURM_ARRAY_TASK_ID"] ?? "unset"), COUNT \(environment["SLURM_ARRAY_TASK_COUNT"] ?? "unset"))"
      }
    }
    if environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil {
      // SLURM_NTASKS_PER_NODE may read "2(x3)": only a plain count is used.
      let slurm = environment["SLURM_NTASKS_PER_NODE"].flatMap { Int($0) }.flatMap { (1...65_536).contains($0) ? $0 : nil }
      mpiLocalRanks = int("OMPI_COMM_WORLD_LOCAL_SIZE", 1...65_536) ?? slurm ?? 1
    }
    self.problems = problems
  }

  /// Puts the settings that live in C in force (the kernels' instruction set).
  public func apply() {
    if let kernelISA { KernelInstructionSet.cap(kernelISA) }
  }

  /// This process's, read at first use.
  public static let current = RuntimeEnvironment(ProcessInfo.processInfo.environment)
}
