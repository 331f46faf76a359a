//! ServiceAccount tokens and identities: the admin token, who a token stands for,
//! minting (TokenRequest) and token lifetimes. The HTTP side (the 401/403 gate,
//! TokenRequest and SelfSubjectAccessReview handlers) is `http::auth`.
//!
//! Compatibility: a request without an `Authorization` header, or with the admin token
//! the sandbox's kubeconfig carries ([`ADMIN_TOKEN`]), is the admin and skips RBAC, so
//! existing clients that connect without credentials keep full access. Only requests
//! bearing a minted ServiceAccount token are authorized with RBAC (deny by default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::Value;

use crate::object::{self, int_at};
use crate::rbac::UserInfo;
use crate::resources::SERVICEACCOUNTS;
use crate::store::State;

/// The bearer token of the admin user in the kubeconfig the sandbox writes.
pub const ADMIN_TOKEN: &str = "firedrill-sandbox-admin";

/// The admin's user name (as kubeadm's and kind's admin kubeconfigs).
pub const ADMIN_USER: &str = "kubernetes-admin";

/// A token's lifetime when the TokenRequest does not say (the API server's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The shortest lifetime the API server accepts in a TokenRequest.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credential or the admin token: full access.
    Admin,
    /// A ServiceAccount's minted token: authorized with RBAC.
    ServiceAccount(UserInfo),
}

impl Identity {
    /// The user and groups, as RBAC and reviews see them.
    pub fn user(&self) -> UserInfo {
        match self {
            Self::Admin => UserInfo {
                name: ADMIN_USER.to_owned(),
                groups: vec![
                    "system:masters".to_owned(),
                    "system:authenticated".to_owned(),
                ],
            },
            Self::ServiceAccount(user) => user.clone(),
        }
    }
}

/// What a minted token stands for.
#[derive(Debug, Clone)]
struct Bound {
    namespace: String,
    name: String,
    /// The ServiceAccount's uid when the token was minted: a recreated account of the
    /// same name does not inherit its predecessor's tokens.
    uid: String,
    expires: DateTime<Utc>,
}

/// The tokens minted so far; opaque random strings the sandbox remembers.
#[derive(Debug, Default)]
pub struct Tokens {
    by_token: Mutex<HashMap<String, Bound>>,
}

impl Tokens {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bound>> {
        // Entries are inserted and removed whole: a poisoned map is still consistent.
        self.by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Mints a token for the ServiceAccount `namespace/name` (uid `uid`) valid until
    /// `expires`.
    pub fn mint(&self, namespace: &str, name: &str, uid: &str, expires: DateTime<Utc>) -> String {
        let token = format!(
            "firedrill-sa.{}",
            Alphanumeric.sample_string(&mut rand::rng(), 48)
        );
        self.locked().insert(
            token.clone(),
            Bound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid: uid.to_owned(),
                expires,
            },
        );
        token
    }

    /// The ServiceAccount user of `token` at `now`, if the token is known, unexpired, and
    /// its ServiceAccount still exists with the uid it was minted for. Expired tokens
    /// and tokens of deleted accounts are forgotten.
    pub fn authenticate(&self, state: &State, token: &str, now: DateTime<Utc>) -> Option<UserInfo> {
        let mut tokens = self.locked();
        let bound = tokens.get(token)?;
        let account_alive = state
            .get(&SERVICEACCOUNTS, &bound.namespace, &bound.name)
            .is_some_and(|account| object::uid(account) == bound.uid);
        if bound.expires <= now || !account_alive {
            tokens.remove(token);
            return None;
        }
        Some(UserInfo::service_account(&bound.namespace, &bound.name))
    }
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The ServiceAccount does not exist.
    #[error("serviceaccounts \"{name}\" not found")]
    NotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The lifetime is shorter than ten minutes (or absurdly long).
    #[error("spec.expirationSeconds: Invalid value: {seconds}: {why}")]
    InvalidLifetime {
        /// The requested lifetime.
        seconds: i64,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Mints a token for a ServiceAccount lasting `lifetime`; returns it and its expiry.
pub fn mint(
    app_tokens: &Tokens,
    state: &State,
    namespace: &str,
    name: &str,
    lifetime: Duration,
) -> Result<(String, DateTime<Utc>), TokenError> {
    let account = state
        .get(&SERVICEACCOUNTS, namespace, name)
        .ok_or_else(|| TokenError::NotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
    let lifetime =
        chrono::Duration::from_std(lifetime).map_err(|_| TokenError::InvalidLifetime {
            seconds: i64::MAX,
            why: "may not specify a duration larger than 2^32 seconds",
        })?;
    let expires = Utc::now() + lifetime;
    let token = app_tokens.mint(namespace, name, object::uid(account), expires);
    Ok((token, expires))
}

pub(crate) fn lifetime_of(request: &Value) -> Result<Duration, TokenError> {
    let Some(seconds) = int_at(request, "/spec/expirationSeconds") else {
        return Ok(DEFAULT_TOKEN_LIFETIME);
    };
    if seconds < MIN_TOKEN_LIFETIME.as_secs() as i64 {
        return Err(TokenError::InvalidLifetime {
            seconds,
            why: "may not specify a duration less than 10 minutes",
        });
    }
    if seconds > 1 << 32 {
        return Err(TokenError::InvalidLifetime {
            seconds,
            why: "may not specify a duration larger than 2^32 seconds",
        });
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn tokens_expire_and_die_with_their_service_account() {
        let store = Store::new(16);
        let mut state = store.lock();
        state
            .create(
                &crate::resources::NAMESPACES,
                json!({"metadata": {"name": "shop"}}),
            )
            .map_err(|e| format!("{e:?}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let account = state
            .create(
                &SERVICEACCOUNTS,
                json!({"metadata": {"name": "drill", "namespace": "shop"}}),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        let tokens = Tokens::default();
        let now = Utc::now();
        let token = tokens.mint(
            "shop",
            "drill",
            object::uid(&account),
            now + chrono::Duration::seconds(600),
        );
        let user = tokens.authenticate(&state, &token, now);
        assert_eq!(
            user.map(|u| u.name),
            Some("system:serviceaccount:shop:drill".to_owned())
        );
        assert!(
            tokens
                .authenticate(&state, "firedrill-sa.nope", now)
                .is_none()
        );
        assert!(
            tokens
                .authenticate(&state, &token, now + chrono::Duration::seconds(601))
                .is_none(),
            "expired"
        );
        let second = tokens.mint(
            "shop",
            "drill",
            object::uid(&account),
            now + chrono::Duration::seconds(600),
        );
        state.remove(&SERVICEACCOUNTS, "shop", "drill");
        state
            .create(
                &SERVICEACCOUNTS,
                json!({"metadata": {"name": "drill", "namespace": "shop"}}),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(
            tokens.authenticate(&state, &second, now).is_none(),
            "a recreated account does not inherit the tokens"
        );
    }

    #[test]
    fn lifetimes_follow_the_token_request_api() {
        assert_eq!(lifetime_of(&json!({})), Ok(DEFAULT_TOKEN_LIFETIME));
        assert_eq!(
            lifetime_of(&json!({"spec": {"expirationSeconds": 7200}})),
            Ok(Duration::from_secs(7200))
        );
        assert!(lifetime_of(&json!({"spec": {"expirationSeconds": 60}})).is_err());
    }
}
