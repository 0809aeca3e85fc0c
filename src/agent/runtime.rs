//! (being written)
pub struct Runtime;
pub struct RuntimeOptions;
