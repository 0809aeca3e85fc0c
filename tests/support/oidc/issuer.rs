//! An in-test identity provider: OpenID discovery and a JWKS served like a Keycloak realm
//! (`/realms/test`), and tokens signed with its test-only key, shaped like Keycloak's
//! (realm and client roles) or Authentik's (groups).
#![allow(dead_code)]

use axum::Json;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const KEY: &str = include_str!("test-key.pem");
pub const OTHER_KEY: &str = include_str!("other-key.pem");
const JWKS: &str = include_str!("jwks.json");

/// Serve discovery and JWKS like a Keycloak realm; returns the issuer URL.
pub async fn identity_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/test", listener.local_addr().unwrap());
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
    });
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let router = axum::Router::new()
        .route(
            "/realms/test/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route(
            "/realms/test/protocol/openid-connect/certs",
            get(move || async move { Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    issuer
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT of `claims`, signed with `key` (HS256: with a guessable secret, to be refused).
pub fn token(key: &str, alg: Algorithm, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("test-key-1".into());
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(b"guessable"),
        _ => EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
    };
    encode(&header, &claims, &key).unwrap()
}

/// Issuer, audience, subject `alice`, and an expiry `exp_in` seconds away.
pub fn claims(issuer: &str, audience: &str, exp_in: i64) -> Value {
    json!({"iss": issuer, "aud": audience, "sub": "alice", "iat": now(), "exp": now() + exp_in})
}

/// A Keycloak access token's claims: realm roles and the roles of `client`, as Keycloak
/// puts them (`realm_access.roles`, `resource_access.<client>.roles`), beside the roles
/// every Keycloak user has.
pub fn keycloak(
    issuer: &str,
    audience: &str,
    user: &str,
    realm_roles: &[&str],
    client: &str,
    client_roles: &[&str],
) -> Value {
    let mut realm: Vec<&str> = vec!["offline_access", "uma_authorization"];
    realm.extend_from_slice(realm_roles);
    json!({
        "iss": issuer, "aud": [audience, "account"], "sub": format!("f3a1-{user}"),
        "typ": "Bearer", "azp": client, "preferred_username": user,
        "iat": now(), "exp": now() + 300,
        "realm_access": {"roles": realm},
        "resource_access": {
            client: {"roles": client_roles},
            "account": {"roles": ["manage-account", "view-profile"]},
        },
        "scope": "openid profile email",
    })
}

/// An Authentik access token's claims: the user's groups in `groups`.
pub fn authentik(issuer: &str, audience: &str, user: &str, groups: &[&str]) -> Value {
    json!({
        "iss": issuer, "aud": audience, "sub": format!("9c2e{user}"),
        "preferred_username": user, "email": format!("{user}@example.com"),
        "iat": now(), "exp": now() + 300,
        "groups": groups,
    })
}

/// A signed token of `claims` from the test key.
pub fn signed(claims: Value) -> String {
    token(KEY, Algorithm::RS256, claims)
}
