//! Redaction of secrets before records are written. (Skeleton.)

#[derive(Debug, Clone, Default)]
pub struct Redactor;
