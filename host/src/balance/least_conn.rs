//! STUB (being replaced by the real algorithm).
use super::*;
use std::sync::Arc;
pub struct LeastConn;
impl LeastConn {
    pub fn new<T>(_: T) -> Self {
        LeastConn
    }
}
impl Balancer for LeastConn {
    fn pick(&self, _s: &[Arc<Backend>], c: &[usize], _x: &PickContext<'_>) -> usize {
        c[0]
    }
}
