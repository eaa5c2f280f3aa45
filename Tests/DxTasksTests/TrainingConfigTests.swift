import DxNN
import DxTasks
import Foundation
import XCTest

/// The recipe as checkpoints record it: old records still read, every optimizer is built with
/// the hyper-parameters it names.
final class TrainingConfigTests: XCTestCase {
  func testARecordWrittenBeforeTheOptimizerKeys_readsWithTheirDefaults() throws {
    let old = #"{"backbone_lr_scale":0.1,"balanced_class_weights":false,"cache_features":true,"epochs":3,"gradient_clip":5,"head":"linear","label_smoothing":0.1,"learning_rate":0.001,"low_memory":false,"metric":"macro_f1","patience":5,"policy":"full","seed":5,"warmup_epochs":1,"weight_decay":0.01}"#
    let config = try JSONDecoder().decode(TrainingConfig.self, from: Data(old.utf8))
    XCTAssertEqual(config.epochs, 3)
    XCTAssertEqual(config.seed, 5)
    XCTAssertEqual(config.optimizer, .adamw)
    XCTAssertNil(config.ranks)
    XCTAssertNil(config.syncBatchNorm)
    var expected = TrainingConfig()
    expected.epochs = 3
    expected.seed = 5
    XCTAssertEqual(config, expected)
    // A key of the wrong type is an error, not a silent default.
    XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"epochs":"three"}"#.utf8)))
    XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"optimizer":"lion"}"#.utf8)))
  }

  func testEachOptimizerKind_buildsItsRuleAndRoundTrips() throws {
    var config = TrainingConfig()
    for kind in OptimizerKind.allCases {
      config.optimizer = kind
      config.momentum = 0.8
      config.eps = kind == .sgd ? nil : 1e-4
      config.ranks = 2
      config.syncBatchNorm = true
      let optimizer = config.makeOptimizer()
      switch kind {
      case .adamw: XCTAssertEqual((optimizer as? AdamW)?.eps, 1e-4)
      case .sgd:
        XCTAssertEqual((optimizer as? SGD)?.momentum, 0.8)
        XCTAssertEqual((optimizer as? SGD)?.nesterov, true)
      case .rmspropTF:
        XCTAssertEqual((optimizer as? RMSpropTF)?.momentum, 0.8)
        XCTAssertEqual((optimizer as? RMSpropTF)?.eps, 1e-4)
      }
      XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(config)), config)
    }
    config.optimizer = .sgd
    config.momentum = 0
    XCTAssertEqual((config.makeOptimizer() as? SGD)?.nesterov, false, "Nesterov needs momentum")
  }
}
