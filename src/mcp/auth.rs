//! Who may call the HTTP server, and with which role: static bearer tokens (compared in
//! constant time), each with its role, and, optionally, OIDC JWTs whose claims grant one.
//! No tokens and no OIDC = open, as the owner (loopback binds only; `http.rs` refuses
//! anything else).

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};

use super::oidc::OidcVerifier;
use crate::roles::Role;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A token that is not accepted; the reason is for the log, not the client.
    Invalid(String),
    /// A valid OIDC token whose claims grant no aios role.
    NoRole { subject: String },
}

/// Who a request was authenticated as: the OIDC subject (none for a static token) and the
/// role. Put in the request's extensions by the guard, read by the MCP server and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthGrant {
    pub subject: Option<String>,
    pub role: Role,
}

pub struct Auth {
    /// Each accepted token with its role.
    tokens: Vec<(Accepted, Role)>,
    /// Where `vault:` tokens are read, as they are now (a rotation in Vault is accepted
    /// from its refresh on, and the old value no longer).
    secrets: crate::secrets::Secrets,
    oidc: Option<OidcVerifier>,
}

/// One accepted token: its SHA-256 (equal-length values, so comparing them takes the same
/// time whatever the token's length or where it differs), or the Vault reference whose
/// current value is hashed at each check.
enum Accepted {
    Digest([u8; 32]),
    Vault(crate::secrets::VaultRef),
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn role_index(role: Role) -> u8 {
    match role {
        Role::Viewer => 1,
        Role::Operator => 2,
        Role::Admin => 3,
    }
}

impl Auth {
    /// `tokens` with their roles, each a value or a `vault:` reference read through
    /// `secrets`; empty values are ignored.
    pub fn new(
        tokens: &[(String, Role)],
        secrets: crate::secrets::Secrets,
        oidc: Option<OidcVerifier>,
    ) -> Auth {
        Auth {
            tokens: tokens
                .iter()
                .filter(|(t, _)| !t.is_empty())
                .map(|(t, role)| {
                    // Config validation parsed every `vault:` value already.
                    let accepted = match crate::secrets::VaultRef::parse(t) {
                        Ok(reference) => Accepted::Vault(reference),
                        Err(_) => Accepted::Digest(digest(t)),
                    };
                    (accepted, *role)
                })
                .collect(),
            secrets,
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

    /// Check an `Authorization` header: the subject (for an OIDC token) and the role. With
    /// no auth configured, every caller is the owner (admin).
    pub async fn check(&self, header: Option<&str>) -> Result<AuthGrant, Refusal> {
        if !self.required() {
            return Ok(AuthGrant {
                subject: None,
                role: Role::Admin,
            });
        }
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Missing)?;
        let presented = digest(token);
        // Every token is compared and the role picked without a branch, so the time taken
        // says neither which token matched nor its role. Config validation makes sure at
        // most one value matches; two Vault references could still hold the same value,
        // and then the lower role is the one granted.
        let mut matched = 0u8;
        for (accepted, role) in &self.tokens {
            let current = match accepted {
                Accepted::Digest(d) => *d,
                // A reference not read (yet) matches nothing: all zeros is no SHA-256 of
                // any token anyone can find.
                Accepted::Vault(r) => self.secrets.get(r).map_or([0; 32], |v| digest(&v)),
            };
            let index = role_index(*role);
            let better = matched.ct_eq(&0) | index.ct_lt(&matched);
            matched.conditional_assign(&index, current.ct_eq(&presented) & better);
        }
        if let Some(role) = Role::ALL.into_iter().find(|r| role_index(*r) == matched) {
            return Ok(AuthGrant {
                subject: None,
                role,
            });
        }
        match &self.oidc {
            Some(v) if token.matches('.').count() == 2 => {
                let identity = v
                    .verify(token)
                    .await
                    .map_err(|e| Refusal::Invalid(e.to_string()))?;
                match identity.role {
                    Some(role) => Ok(AuthGrant {
                        subject: Some(identity.subject),
                        role,
                    }),
                    None => Err(Refusal::NoRole {
                        subject: identity.subject,
                    }),
                }
            }
            _ => Err(Refusal::Invalid("not an accepted token".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role) -> Result<AuthGrant, Refusal> {
        Ok(AuthGrant {
            subject: None,
            role,
        })
    }

    #[tokio::test]
    async fn static_tokens_are_checked_and_carry_their_role() {
        let auth = Auth::new(
            &[
                ("s3cret".into(), Role::Admin),
                ("other".into(), Role::Viewer),
                ("ops".into(), Role::Operator),
            ],
            Default::default(),
            None,
        );
        assert!(auth.required());
        assert_eq!(auth.check(Some("Bearer s3cret")).await, grant(Role::Admin));
        assert_eq!(auth.check(Some("bearer other")).await, grant(Role::Viewer));
        assert_eq!(auth.check(Some("Bearer ops")).await, grant(Role::Operator));
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
    async fn no_tokens_means_open_to_the_owner() {
        let auth = Auth::new(&[(String::new(), Role::Viewer)], Default::default(), None);
        assert!(!auth.required());
        assert_eq!(auth.check(None).await, grant(Role::Admin));
    }

    #[tokio::test]
    async fn a_vault_token_is_its_current_value_and_the_lower_role_wins_a_tie() {
        let secrets = crate::secrets::Secrets::with_values(&[
            ("vault:secret/aios/mcp#a", "shared-value"),
            ("vault:secret/aios/mcp#b", "shared-value"),
        ]);
        let auth = Auth::new(
            &[
                ("vault:secret/aios/mcp#a".into(), Role::Admin),
                ("vault:secret/aios/mcp#b".into(), Role::Viewer),
                ("vault:secret/aios/mcp#unread".into(), Role::Admin),
            ],
            secrets.clone(),
            None,
        );
        assert_eq!(
            auth.check(Some("Bearer shared-value")).await,
            grant(Role::Viewer)
        );
        // The reference itself is no token.
        assert!(matches!(
            auth.check(Some("Bearer vault:secret/aios/mcp#a")).await,
            Err(Refusal::Invalid(_))
        ));
        secrets.set_for_test("vault:secret/aios/mcp#b", "rotated-value");
        assert_eq!(
            auth.check(Some("Bearer shared-value")).await,
            grant(Role::Admin)
        );
        assert_eq!(
            auth.check(Some("Bearer rotated-value")).await,
            grant(Role::Viewer)
        );
    }
}
