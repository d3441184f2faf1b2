//! STUB (being replaced by the real algorithm).
use super::*;
use std::sync::Arc;
pub struct RoundRobin;
impl RoundRobin {
    pub fn new<T>(_: T) -> Self {
        RoundRobin
    }
}
impl Balancer for RoundRobin {
    fn pick(&self, _s: &[Arc<Backend>], c: &[usize], _x: &PickContext<'_>) -> usize {
        c[0]
    }
}
