//! The approval gate: rules that say which tool calls run, wait for a person or are
//! refused, and the calls waiting now.

pub mod pending;
pub mod rules;

pub use pending::{ApprovalError, Approvals, DecisionInput, PendingApproval};
pub use rules::{ApprovalsConfig, Rule, RuleDecision, glob, verdict};
