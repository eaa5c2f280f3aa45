// Unaligned 8-float vector loads and stores (one AVX register) for the hand-blocked kernels.

@inline(__always)
func load8(_ p: UnsafePointer<Float>, _ offset: Int) -> SIMD8<Float> {
  UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafeMutablePointer<Float>, _ offset: Int) -> SIMD8<Float> {
  UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ offset: Int) {
  UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: SIMD8<Float>.self)
}
