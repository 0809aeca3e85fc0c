//! (being written)
pub mod audit;
