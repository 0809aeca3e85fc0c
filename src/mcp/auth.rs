//! Who may call the HTTP server: static bearer tokens (compared in constant time) and,
//! optionally, OIDC JWTs. No tokens and no OIDC = open (loopback binds only; `http.rs`
//! refuses anything else).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::oidc::OidcVerifier;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A token that is not accepted; the reason is for the log, not the client.
    Invalid(String),
}

pub struct Auth {
    /// SHA-256 of each accepted token: equal-length values, so comparing them takes the
    /// same time whatever the token's length or where it differs.
    tokens: Vec<[u8; 32]>,
    oidc: Option<OidcVerifier>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    pub fn new(tokens: &[String], oidc: Option<OidcVerifier>) -> Auth {
        Auth {
            tokens: tokens
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| digest(t))
                .collect(),
            oidc,
        }
    }

    /// True when a request must carry a token.
    pub fn required(&self) -> bool {
        !self.tokens.is_empty() || self.oidc.is_some()
    }

    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }

    /// Check an `Authorization` header; `Ok(Some(subject))` for an OIDC token, `Ok(None)`
    /// for a static token (or when no auth is configured).
    pub async fn check(&self, header: Option<&str>) -> Result<Option<String>, Refusal> {
        if !self.required() {
            return Ok(None);
        }
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Missing)?;
        let presented = digest(token);
        // Every token is compared, so the time taken does not say which one matched.
        let matched = self
            .tokens
            .iter()
            .fold(subtle::Choice::from(0), |acc, t| acc | t.ct_eq(&presented));
        if bool::from(matched) {
            return Ok(None);
        }
        match &self.oidc {
            Some(v) if token.matches('.').count() == 2 => v
                .verify(token)
                .await
                .map(Some)
                .map_err(|e| Refusal::Invalid(e.to_string())),
            _ => Err(Refusal::Invalid("not an accepted token".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_are_checked() {
        let auth = Auth::new(&["s3cret".into(), "other".into()], None);
        assert!(auth.required());
        assert_eq!(auth.check(Some("Bearer s3cret")).await, Ok(None));
        assert_eq!(auth.check(Some("bearer other")).await, Ok(None));
        assert_eq!(auth.check(None).await, Err(Refusal::Missing));
        assert_eq!(
            auth.check(Some("Basic s3cret")).await,
            Err(Refusal::Missing)
        );
        assert!(matches!(
            auth.check(Some("Bearer s3cre")).await,
            Err(Refusal::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn no_tokens_means_open() {
        let auth = Auth::new(&[], None);
        assert!(!auth.required());
        assert_eq!(auth.check(None).await, Ok(None));
    }
}
