import DxEfficientNet
import DxImaging
import DxNN
import DxTensor
import Foundation

/// Grad-CAM (Selvaraju et al., 2017): where in the image the network looked for a class. The
/// last feature maps are weighted by the spatial mean of the class score's gradient, summed,
/// and rectified.
public enum GradCAM {
  /// A `[h, w]` map in [0, 1] at the feature-map resolution, for `input` `[1, H, W, 3]`.
  public static func map(_ model: EfficientNet, input: Tensor, classIndex: Int) -> (values: [Float], width: Int, height: Int) {
    let features = model.forwardFeatures(input, mode: .inference)
    let logits = model.forwardHead(features, mode: .inference)
    var dy = Tensor.zeros(logits.shape)
    dy.scalars[classIndex] = 1
    let grad = model.backwardHead(dy)
    let (_, h, w, c) = features.nhwc()
    var weights = [Float](repeating: 0, count: c)
    for p in 0..<(h * w) { for k in 0..<c { weights[k] += grad.scalars[p * c + k] / Float(h * w) } }
    var cam = [Float](repeating: 0, count: h * w)
    for p in 0..<(h * w) {
      var s: Float = 0
      for k in 0..<c { s += weights[k] * features.scalars[p * c + k] }
      cam[p] = max(0, s)
    }
    let top = cam.max() ?? 0
    if top > 0 { cam = cam.map { $0 / top } }
    return (cam, w, h)
  }

  /// `image` with the map laid over it in a blue-to-red colour scale.
  public static func overlay(_ image: Image, map: (values: [Float], width: Int, height: Int), alpha: Float = 0.45) -> Image {
    let base = FloatImage(image)
    let up = Resampler.resize(map.values, width: map.width, height: map.height, channels: 1, toWidth: base.width, toHeight: base.height, filter: .bilinear)
    var out = base.values
    for p in 0..<(base.width * base.height) {
      let v = max(0, min(1, up[p]))
      let color: [Float] = [min(1, 2 * v), 1 - abs(2 * v - 1), min(1, 2 * (1 - v))]  // blue, green, red
      for ch in 0..<3 { out[3 * p + ch] = out[3 * p + ch] * (1 - alpha) + color[ch] * alpha }
    }
    return FloatImage(width: base.width, height: base.height, values: out).image()
  }
}
