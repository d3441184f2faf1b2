//! STUB (being replaced by the real algorithm).
use super::*;
use std::sync::Arc;
pub struct Random;
impl Random {
    pub fn new<T>(_: T) -> Self {
        Random
    }
}
impl Balancer for Random {
    fn pick(&self, _s: &[Arc<Backend>], c: &[usize], _x: &PickContext<'_>) -> usize {
        c[0]
    }
}
