//! OIDC bearer tokens: JWTs from an identity provider (Keycloak, Authentik, …) checked
//! against the issuer's JWKS: signature (asymmetric algorithms only), issuer, audience and
//! expiry. Keys are fetched on first use and again when a token names an unknown key id
//! (the provider rotated its keys), at most every `REFETCH_GAP`. The token's role is the
//! highest its claims grant ([`role_from_claims`]).

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::roles::{Role, RoleNames};

/// Shortest time between two JWKS fetches, so bad tokens cannot make us hammer the IdP.
const REFETCH_GAP: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token algorithm {0:?} is not accepted (asymmetric signatures only)")]
    Algorithm(Algorithm),
    #[error("no signing key `{0}` at the issuer's JWKS")]
    UnknownKey(String),
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("cannot fetch the issuer's keys from {url}: {message}")]
    Jwks { url: String, message: String },
}

/// The claims aios reads; issuer, audience and expiry are checked by `jsonwebtoken`. The
/// role claims are read as plain JSON: a provider that shapes one differently (an object
/// where a list was expected) grants nothing by it, instead of failing the token.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    realm_access: Value,
    #[serde(default)]
    resource_access: Value,
    #[serde(default)]
    groups: Value,
}

/// Who a valid token names, and the role its claims grant (`None`: no aios role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub role: Option<Role>,
}

/// Which claim values grant which role, and whose client roles count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleClaims {
    pub names: RoleNames,
    /// The `resource_access.<client>` entry read (Keycloak client roles).
    pub client: String,
}

/// The highest role the claims grant: Keycloak realm roles (`realm_access.roles`), the
/// client's roles (`resource_access.<client>.roles`) and groups (`groups`, Authentik's; a
/// Keycloak group's full path `/admin` counts as `admin`). Pure.
pub fn role_from_claims(
    realm_access: &Value,
    resource_access: &Value,
    groups: &Value,
    mapping: &RoleClaims,
) -> Option<Role> {
    fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }
    let realm = strings(realm_access.get("roles"));
    let client = strings(
        resource_access
            .get(&mapping.client)
            .and_then(|c| c.get("roles")),
    );
    let groups = strings(Some(groups)).map(|g| g.strip_prefix('/').unwrap_or(g));
    mapping.names.highest(realm.chain(client).chain(groups))
}

struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

pub struct OidcVerifier {
    issuer: String,
    audience: String,
    roles: RoleClaims,
    /// Empty until discovered from the issuer's OpenID configuration.
    jwks_url: Mutex<String>,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl OidcVerifier {
    /// `jwks_url` empty = discover it from `<issuer>/.well-known/openid-configuration`;
    /// `roles` says which claims grant which role.
    pub fn new(
        issuer: &str,
        audience: &str,
        jwks_url: &str,
        roles: RoleClaims,
    ) -> Result<OidcVerifier, OidcError> {
        // Name the crypto backend outright: a second jsonwebtoken feature enabled elsewhere
        // in the build would otherwise leave none chosen and panic at the first token.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Jwks {
                url: jwks_url.to_string(),
                message: e.to_string(),
            })?;
        Ok(OidcVerifier {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            roles,
            jwks_url: Mutex::new(jwks_url.to_string()),
            http,
            keys: Mutex::new(Keys {
                set: None,
                fetched: None,
            }),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Check a token: the subject (its preferred username, else `sub`) it was issued to,
    /// and the role its claims grant.
    pub async fn verify(&self, token: &str) -> Result<Identity, OidcError> {
        let header = decode_header(token).map_err(|e| OidcError::Malformed(e.to_string()))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self.key(&kid, header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let data = decode::<Claims>(token, &key, &validation)
            .map_err(|e| OidcError::Invalid(e.to_string()))?;
        let c = data.claims;
        let role = role_from_claims(&c.realm_access, &c.resource_access, &c.groups, &self.roles);
        Ok(Identity {
            subject: c
                .preferred_username
                .or(c.sub)
                .unwrap_or_else(|| "unknown-subject".into()),
            role,
        })
    }

    /// The key for `kid` (or the only key when the token names none), fetching the JWKS
    /// when it is missing or the key is new.
    async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, OidcError> {
        let mut keys = self.keys.lock().await;
        if let Some(k) = pick(keys.set.as_ref(), kid, alg) {
            return k;
        }
        let may_fetch = keys.fetched.is_none_or(|t| t.elapsed() >= REFETCH_GAP);
        if may_fetch {
            keys.fetched = Some(Instant::now());
            keys.set = Some(self.fetch().await?);
        }
        pick(keys.set.as_ref(), kid, alg).unwrap_or_else(|| Err(OidcError::UnknownKey(kid.into())))
    }

    async fn fetch(&self) -> Result<JwkSet, OidcError> {
        let url = {
            let mut url = self.jwks_url.lock().await;
            if url.is_empty() {
                *url = self.discover().await?;
            }
            url.clone()
        };
        self.get_json::<JwkSet>(&url, "not a JWKS").await
    }

    async fn discover(&self) -> Result<String, OidcError> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let d: Discovery = self
            .get_json(&url, "no jwks_uri in the OpenID configuration")
            .await?;
        Ok(d.jwks_uri)
    }

    /// GET `url` as JSON of type `T`; any failure names the URL, `what` says what was wrong
    /// with a body that does not parse.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<T, OidcError> {
        let err = |message: String| OidcError::Jwks {
            url: url.to_string(),
            message,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        if !response.status().is_success() {
            return Err(err(format!("HTTP {}", response.status())));
        }
        response
            .json::<T>()
            .await
            .map_err(|e| err(format!("{what}: {e}")))
    }
}

/// The decoding key for `kid`; with no `kid`, the set's only key usable for `alg`.
fn pick(set: Option<&JwkSet>, kid: &str, alg: Algorithm) -> Option<Result<DecodingKey, OidcError>> {
    let set = set?;
    let jwk = if kid.is_empty() {
        let usable: Vec<_> = set
            .keys
            .iter()
            .filter(|k| k.is_supported() && fits(k, alg))
            .collect();
        match usable.as_slice() {
            [one] => *one,
            _ => return None,
        }
    } else {
        set.find(kid)?
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Invalid(format!("unusable key: {e}"))))
}

fn fits(jwk: &jsonwebtoken::jwk::Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    matches!(
        (&jwk.algorithm, alg),
        (
            P::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (P::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(claims: Value, mapping: &RoleClaims) -> Option<Role> {
        role_from_claims(
            &claims["realm_access"],
            &claims["resource_access"],
            &claims["groups"],
            mapping,
        )
    }

    fn defaults() -> RoleClaims {
        RoleClaims {
            names: RoleNames::default(),
            client: "aios".into(),
        }
    }

    #[test]
    fn keycloak_realm_and_client_roles_grant_the_highest() {
        let m = defaults();
        let realm = json!({"realm_access": {"roles": ["offline_access", "viewer"]}});
        assert_eq!(role(realm, &m), Some(Role::Viewer));
        let both = json!({
            "realm_access": {"roles": ["viewer"]},
            "resource_access": {"aios": {"roles": ["admin"]}, "account": {"roles": ["manage-account"]}},
        });
        assert_eq!(role(both, &m), Some(Role::Admin));
        // Another client's roles do not count.
        let other = json!({"resource_access": {"grafana": {"roles": ["admin"]}}});
        assert_eq!(role(other, &m), None);
        assert_eq!(
            role(
                json!({"realm_access": {"roles": ["uma_authorization"]}}),
                &m
            ),
            None
        );
    }

    #[test]
    fn authentik_groups_and_keycloak_group_paths_grant_roles() {
        let m = defaults();
        assert_eq!(
            role(json!({"groups": ["operator", "staff"]}), &m),
            Some(Role::Operator)
        );
        assert_eq!(role(json!({"groups": ["/admin"]}), &m), Some(Role::Admin));
        // Shapes a provider did not mean grant nothing, and fail nothing.
        assert_eq!(
            role(json!({"groups": "admin", "realm_access": ["admin"]}), &m),
            None
        );
        assert_eq!(role(json!({}), &m), None);
    }

    #[test]
    fn names_and_client_are_configurable() {
        let m = RoleClaims {
            names: RoleNames {
                viewer: "aios-read".into(),
                operator: "aios-run".into(),
                admin: "aios-admin".into(),
            },
            client: "aios-mcp".into(),
        };
        assert_eq!(role(json!({"groups": ["admin"]}), &m), None);
        assert_eq!(
            role(json!({"groups": ["aios-run"]}), &m),
            Some(Role::Operator)
        );
        let client = json!({"resource_access": {"aios-mcp": {"roles": ["aios-admin"]}}});
        assert_eq!(role(client, &m), Some(Role::Admin));
    }
}
