import DxNN
import DxTensor
import Foundation

/// Runs a block's layers in order and owns everything about *how* they run in training, so the
/// blocks only say *what* they are:
///
/// - recomputation: what training drops after forward and recomputes just before it is needed
///   in backward (see `Recomputation`): `.elementwise` drops the outputs of BatchNorm+activation
///   and of SE; `.all` drops each BatchNorm's input too, for two extra 1x1 convolutions and a
///   depthwise one per block;
/// - SE gating: in training the 1x1 convolution after squeeze-excitation reads SE's input with
///   the gate applied as it multiplies (`Conv2D.forward(_:inputGate:)`), so SE's output map is
///   written only where backward keeps it (`.none`) or when it is recomputed for the
///   convolution's backward;
/// - freeing: each child's kept map is freed right after the child's backward.
final class BlockChain {
  /// The layers in the order they run, under timm's `state_dict` names.
  let children: [(name: String, layer: any Layer)]
  var recomputation = Recomputation.elementwise
  /// Children whose input is released under `recomputation`: index i, recomputed by child i - 1.
  private var releasable: Set<Int> {
    guard recomputation != .none else { return [] }
    return Set(children.indices.filter { i in
      guard i > 0, children[i].layer is ReleasableInput, let producer = children[i - 1].layer as? RecomputableOutput else { return false }
      return recomputation == .all || producer.recomputesElementwise
    })
  }
  /// The index of SE when the child after it is a 1x1 convolution it can gate as it reads.
  private let gatedProjection: Int?
  /// Whether the latest forward ran `gatedProjection`.
  private var gatedNow = false
  /// The children whose input is released right now.
  private var released: Set<Int> = []
  /// Backward ran since the latest forward (and freed the children's maps).
  private var backwardDone = false

  init(_ children: [(String, any Layer)]) {
    self.children = children.map { (name: $0.0, layer: $0.1) }
    gatedProjection = children.indices.first { i in
      guard i + 1 < children.count, children[i].1 is SqueezeExcite, let conv = children[i + 1].1 as? Conv2D else { return false }
      return conv.kernel == 1 && conv.stride == 1 && conv.bias == nil
    }
  }

  /// Gives child `i` its input back, first restoring the input its producer needs.
  private func restoreInput(of i: Int) {
    guard released.contains(i) else { return }
    restoreInput(of: i - 1)
    let input: Tensor
    if gatedNow, let s = gatedProjection, i == s + 2 {
      // The gated projection's output, recomputed as forward computed it (the gate on the weights).
      let se = children[s].layer as! SqueezeExcite
      input = (children[s + 1].layer as! Conv2D).forward(se.cachedInput!, inputGate: se.cachedGate!)
    } else {
      input = (children[i - 1].layer as! RecomputableOutput).recomputeOutput()
    }
    (children[i].layer as! ReleasableInput).restoreInput(input)
    released.remove(i)
  }

  func forward(_ x: Tensor, mode: Mode) -> Tensor {
    let releasing = recomputation != .none && mode == .training ? releasable : []
    gatedNow = mode == .training && MBConvBlock.gatesAsRead && gatedProjection != nil
    var y = x
    var i = 0
    while i < children.count {
      if gatedNow, i == gatedProjection {
        let se = children[i].layer as! SqueezeExcite, conv = children[i + 1].layer as! Conv2D
        let next = conv.forward(y, inputGate: se.forwardGate(y, mode: mode))
        // Backward gets SE's output as the convolution's input: now if it is kept, else when
        // restored (as any released input).
        if !releasing.contains(i + 1) { conv.restoreInput(se.recomputeOutput()) }
        y = next
        i += 2
        continue
      }
      y = children[i].layer.forward(y, mode: mode)
      i += 1
    }
    released = []
    backwardDone = false
    for i in releasing { (children[i].layer as! ReleasableInput).releaseInput() }
    released = releasing
    return y
  }

  /// Backward of the latest forward, once: each child's kept map is freed right after the
  /// child's backward (nothing reads it again before the next forward), so a training step's
  /// memory shrinks as backward walks back instead of holding every map until the next forward.
  func backward(_ dy: Tensor) -> Tensor {
    precondition(!backwardDone, "a block's backward ran twice after one forward: backward frees the forward's maps")
    var dx = dy
    for i in children.indices.reversed() {
      restoreInput(of: i)
      dx = children[i].layer.backward(dx)
      (children[i].layer as? ReleasableInput)?.releaseInput()
    }
    backwardDone = true
    return dx
  }

  func visitParameters(_ visit: (String, Parameter) -> Void) {
    for (name, layer) in children { layer.visitParameters { visit("\(name).\($0)", $1) } }
  }
}
