import DxTensor

/// Converts a PyTorch-layout tensor to the layout of the parameter it is loaded into, once, at
/// load: convolution OIHW -> `[k, k, I, O]`, depthwise `[C, 1, k, k]` -> `[k, k, C]`,
/// linear `[out, in]` -> `[in, out]`; vectors unchanged. Returns nil when no conversion fits
/// (the caller reports the shape mismatch by name).
public func fromPyTorchLayout(_ t: Tensor, toShape target: [Int]) -> Tensor? {
  let s = t.shape
  switch (s.count, target.count) {
  case (1, 1), (0, 0):
    return s == target ? t : nil
  case (2, 2):
    guard target == [s[1], s[0]] else { return nil }
    return permuted(t, [1, 0])
  case (4, 4):
    guard target == [s[2], s[3], s[1], s[0]] else { return nil }
    return permuted(t, [2, 3, 1, 0])
  case (4, 3):
    guard s[1] == 1, target == [s[2], s[3], s[0]] else { return nil }
    return permuted(t.reshaped([s[0], s[2], s[3]]), [1, 2, 0])
  default:
    return nil
  }
}

/// The PyTorch shape of a tensor of our `shape` (what `toPyTorchLayout` gives it).
public func pyTorchShape(of shape: [Int]) -> [Int] {
  switch shape.count {
  case 2: return [shape[1], shape[0]]
  case 3: return [shape[2], 1, shape[0], shape[1]]
  case 4: return [shape[3], shape[2], shape[0], shape[1]]
  default: return shape
  }
}

/// The inverse of `fromPyTorchLayout`: our layout back to PyTorch's, for exporting.
public func toPyTorchLayout(_ t: Tensor) -> Tensor {
  switch t.rank {
  case 2: return permuted(t, [1, 0])
  case 3: return permuted(t, [2, 0, 1]).reshaped([t.shape[2], 1, t.shape[0], t.shape[1]])
  case 4: return permuted(t, [3, 2, 0, 1])
  default: return t
  }
}

/// `out[i_perm[0], i_perm[1], ...] = t[i_0, i_1, ...]`: a general axis permutation
/// (`out.shape[j] = t.shape[perm[j]]`).
func permuted(_ t: Tensor, _ perm: [Int]) -> Tensor {
  let shape = t.shape
  let outShape = perm.map { shape[$0] }
  var inStrides = [Int](repeating: 1, count: shape.count)
  for i in stride(from: shape.count - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
  let strides = perm.map { inStrides[$0] }
  var out = [Float](repeating: 0, count: t.count)
  var index = [Int](repeating: 0, count: shape.count)
  for o in 0..<t.count {
    var src = 0
    for d in 0..<index.count { src += index[d] * strides[d] }
    out[o] = t.scalars[src]
    var d = index.count - 1
    while d >= 0 {
      index[d] += 1
      if index[d] < outShape[d] { break }
      index[d] = 0
      d -= 1
    }
  }
  return Tensor(shape: outShape, scalars: out)
}
