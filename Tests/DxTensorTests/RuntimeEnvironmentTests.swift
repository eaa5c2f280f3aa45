import DxTensor
import XCTest

final class RuntimeEnvironmentTests: XCTestCase {
  func testEveryVariable_isReadInOnePlace_andOutOfRangeValuesAreIgnored() {
    let e = RuntimeEnvironment(["EFFDX_THREADS": "3", "EFFDX_STREAMING_MIN_MB": "0", "EFFDX_GATE_AS_READ": "0", "EFFDX_RETURN_FREED_MEMORY": "1",
                                "EFFDX_TEST_KILL_AT": "2:after-log", "EFFDX_KERNEL_ISA": "avx2", "EFFDX_OPENSLIDE_LIBRARY": "/opt/openslide/lib/libopenslide.so.1"])
    XCTAssertEqual(e.openSlideLibrary, "/opt/openslide/lib/libopenslide.so.1")
    XCTAssertEqual(e.threads, 3)
    XCTAssertEqual(e.streamingMinimumMB, 0)
    XCTAssertFalse(e.gatesAsRead)
    XCTAssertTrue(e.returnFreedMemory)
    XCTAssertEqual(e.testKillAt, "2:after-log")
    XCTAssertEqual(e.kernelISA, .avx2)
    let hostile = RuntimeEnvironment(["EFFDX_THREADS": "100000", "EFFDX_STREAMING_MIN_MB": "-5", "EFFDX_KERNEL_ISA": "sse9", "EFFDX_RETURN_FREED_MEMORY": "0", "EFFDX_GATE_AS_READ": "maybe",
                                      "EFFDX_OPENSLIDE_LIBRARY": "/" + String(repeating: "x", count: 5000)])
    XCTAssertNil(hostile.openSlideLibrary, "a path the loader would cut is not used")
    XCTAssertNil(RuntimeEnvironment(["EFFDX_OPENSLIDE_LIBRARY": ""]).openSlideLibrary, "empty: the system's OpenSlide")
    XCTAssertNil(hostile.threads)
    XCTAssertNil(hostile.streamingMinimumMB)
    XCTAssertEqual(hostile.kernelISA, .portableC, "an unknown cap caps to the portable kernels")
    XCTAssertTrue(hostile.gatesAsRead)
    XCTAssertFalse(hostile.returnFreedMemory, "=0 means off")
    XCTAssertEqual(hostile.problems.count, 5, "\(hostile.problems)")
    XCTAssertEqual(RuntimeEnvironment([:]).problems, [])
  }

  func testApplyingACap_lowersTheKernels() {
    // `with` puts the previous set back afterwards, so other tests keep the best one.
    KernelInstructionSet.with(KernelInstructionSet.current) {
      RuntimeEnvironment(["EFFDX_KERNEL_ISA": "c"]).apply()
      XCTAssertEqual(KernelInstructionSet.current, .portableC)
    }
  }

  func testAnMPILaunch_isSeen_andItsLocalRanksAreChecked() {
    XCTAssertNil(RuntimeEnvironment([:]).mpiLocalRanks, "not launched by mpirun")
    XCTAssertEqual(RuntimeEnvironment(["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]).mpiLocalRanks, 2)
    XCTAssertEqual(RuntimeEnvironment(["PMIX_RANK": "0", "SLURM_NTASKS_PER_NODE": "3"]).mpiLocalRanks, 3, "srun --mpi=pmix")
    XCTAssertEqual(RuntimeEnvironment(["PMIX_RANK": "0", "SLURM_NTASKS_PER_NODE": "2(x3)"]).mpiLocalRanks, 1, "a compound Slurm count is not guessed at")
    for bad in ["0", "-2", "lots", "99999999"] {
      let env = RuntimeEnvironment(["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": bad])
      XCTAssertEqual(env.mpiLocalRanks, 1, bad)
      XCTAssertTrue(env.problems.contains { $0.contains("OMPI_COMM_WORLD_LOCAL_SIZE=\(bad) ignored") }, "\(env.problems)")
    }
  }

  func testSlurmArrayTasks_becomeShards_withTheirMinimumAndStep() {
    let plain = RuntimeEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"])
    XCTAssertEqual(plain.slurmArrayTask?.index, 3)
    XCTAssertEqual(plain.slurmArrayTask?.count, 4)
    let stepped = RuntimeEnvironment(["SLURM_ARRAY_TASK_ID": "15", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_STEP": "5", "SLURM_ARRAY_TASK_COUNT": "3"])
    XCTAssertEqual(stepped.slurmArrayTask?.index, 2, "--array=5-15:5, task 15")
    let irregular = RuntimeEnvironment(["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"])
    XCTAssertNil(irregular.slurmArrayTask, "--array=1,3,7: no regular index")
    XCTAssertTrue(irregular.slurmArrayProblem?.contains("is not one of SLURM_ARRAY_TASK_COUNT=3 tasks") ?? false, "\(String(describing: irregular.slurmArrayProblem))")
    // Variables that name no task are a problem diagnose stops on, not the whole list in every
    // task of the array (an ID without a COUNT passed silently).
    let broken = RuntimeEnvironment(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"])
    XCTAssertNil(broken.slurmArrayTask)
    XCTAssertNotNil(broken.slurmArrayProblem)
    XCTAssertTrue(RuntimeEnvironment(["SLURM_ARRAY_TASK_ID": "3"]).slurmArrayProblem?.contains("COUNT unset") ?? false)
    XCTAssertNil(RuntimeEnvironment([:]).slurmArrayTask)
    XCTAssertNil(RuntimeEnvironment([:]).slurmArrayProblem)
    // A MIN or STEP set but unreadable was a warning, and 0 and 1 stood in: task 1 of 2 with
    // STEP=0 diagnosed shard 0, as task 0 did.
    for (key, value) in [("SLURM_ARRAY_TASK_STEP", "0"), ("SLURM_ARRAY_TASK_STEP", "abc"), ("SLURM_ARRAY_TASK_MIN", "-1")] {
      var variables = ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "2"]
      variables[key] = value
      let e = RuntimeEnvironment(variables)
      XCTAssertNil(e.slurmArrayTask, "\(key)=\(value)")
      XCTAssertTrue(e.slurmArrayProblem?.contains("\(key)=\(value) is not a count") ?? false, "\(String(describing: e.slurmArrayProblem))")
    }
  }
}
