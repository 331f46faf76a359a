//! Who may read the console and how a browser proves it: the viewer token as a bearer token or a signed session cookie, and the same-origin check every form post passes.
//!
//! The session cookie is `ISSUED.TAG`: the Unix time it was issued and an HMAC-SHA256 of
//! that time keyed with the viewer token. The server keeps no session table, so any
//! replica sharing the configuration accepts it, a restart keeps people signed in, and
//! changing the viewer token signs everybody out. The token itself never reaches the
//! browser's storage. Cookies are `HttpOnly` (no script reads them) and
//! `SameSite=Strict` (no other site's page sends them).

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use ring::hmac;

/// The session cookie's name.
pub const COOKIE: &str = "firedrill_console";

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// How far in the future an issue time may be (clocks of replicas differ a little).
const CLOCK_SKEW_SECONDS: i64 = 300;

/// The viewer token, when reading the console needs one.
#[derive(Clone)]
pub struct ViewerAccess {
    token: Option<String>,
}

impl std::fmt::Debug for ViewerAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerAccess")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ViewerAccess {
    pub fn new(token: Option<String>) -> ViewerAccess {
        ViewerAccess {
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// Whether the pages are open to anyone (no viewer token configured).
    pub fn open(&self) -> bool {
        self.token.is_none()
    }

    /// Whether `presented` is the viewer token.
    pub fn matches(&self, presented: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| super::super::same(token.as_bytes(), presented.as_bytes()))
    }

    fn key(&self) -> Option<hmac::Key> {
        self.token
            .as_ref()
            .map(|token| hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes()))
    }

    /// A session cookie's value issued at `now`; `None` when the pages are open.
    pub fn mint(&self, now: DateTime<Utc>) -> Option<String> {
        let key = self.key()?;
        let issued = now.timestamp();
        let tag = hmac::sign(&key, message(issued).as_bytes());
        Some(format!("{issued}.{}", hex::encode(tag.as_ref())))
    }

    /// Whether `value` is a session cookie this token issued less than
    /// [`SESSION_SECONDS`] before `now`.
    pub fn session_valid(&self, value: &str, now: DateTime<Utc>) -> bool {
        let Some(key) = self.key() else {
            return false;
        };
        let Some((issued, tag)) = value.split_once('.') else {
            return false;
        };
        let (Ok(issued), Ok(tag)) = (issued.parse::<i64>(), hex::decode(tag)) else {
            return false;
        };
        let age = now.timestamp() - issued;
        if !(-CLOCK_SKEW_SECONDS..SESSION_SECONDS).contains(&age) {
            return false;
        }
        hmac::verify(&key, message(issued).as_bytes(), &tag).is_ok()
    }
}

/// What the tag signs: a fixed purpose and the issue time.
fn message(issued: i64) -> String {
    format!("firedrill console session v1 issued {issued}")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a new session (`Secure` when the console is reached over https).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether the browser reached the console over https: `api.public_url` says so, or the
/// proxy in front of it does (`X-Forwarded-Proto`).
pub fn over_https(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    public_url.is_some_and(|url| url.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Refuses a form posted from another site. Browsers say where a request comes from:
/// `Sec-Fetch-Site` (must be `same-origin`, or `none` for one the user started), else
/// `Origin` (must be this host, or `api.public_url`'s). A request with neither did not
/// come from a browser's cross-site form; the forms' own secrets (the admin token) still
/// apply to it.
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), String> {
    // A header sent twice (or not as text) counts as foreign: only one clear answer passes.
    let text = |name: &str| -> Result<Option<&str>, String> {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => value
                .to_str()
                .map(Some)
                .map_err(|_| format!("a form whose {name} is not text is refused")),
            (Some(_), Some(_)) => Err(format!("a form with more than one {name} is refused")),
        }
    };
    if let Some(site) = text("sec-fetch-site")? {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(format!(
                "a form posted from another site (Sec-Fetch-Site: {other}) is refused"
            )),
        };
    }
    let Some(origin) = text("origin")? else {
        return Ok(());
    };
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = text("host")?;
    let public = public_url.and_then(|url| {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        Some(format!("{scheme}://{authority}"))
    });
    if authority.is_some() && authority == host {
        return Ok(());
    }
    if public.as_deref() == Some(origin) {
        return Ok(());
    }
    Err(format!(
        "a form posted from another origin ({origin}) is refused"
    ))
}

/// Where to go after signing in: `next` when it is a path on this server, else `/`
/// (never another site: `//host` and `/\host` are refused).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use chrono::Duration;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_session_cookie_is_accepted_for_twelve_hours_and_only_with_the_token_that_issued_it() {
        let now = Utc::now();
        let access = ViewerAccess::new(Some("v1ewer".into()));
        let value = access.mint(now).unwrap();
        assert!(access.session_valid(&value, now));
        assert!(access.session_valid(&value, now + Duration::hours(11)));
        assert!(!access.session_valid(&value, now + Duration::hours(12)));
        let rotated = ViewerAccess::new(Some("another".into()));
        assert!(!rotated.session_valid(&value, now));
        // A changed issue time breaks the tag.
        let (issued, tag) = value.split_once('.').unwrap();
        let later: i64 = issued.parse::<i64>().unwrap() + 3600;
        assert!(!access.session_valid(&format!("{later}.{tag}"), now));
        assert!(!access.session_valid("garbage", now));
        assert!(!access.session_valid("1.zz", now));
        assert!(ViewerAccess::new(None).mint(now).is_none());
        assert!(ViewerAccess::new(None).open());
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict_and_found_among_others() {
        let set = set_cookie("1.ab", false);
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        assert!(!set.contains("Secure"), "{set}");
        assert!(set_cookie("1.ab", true).ends_with("; Secure"));
        let map = headers(&[("cookie", "a=1; firedrill_console=1.ab; b=2")]);
        assert_eq!(cookie(&map, COOKIE), Some("1.ab"));
        assert_eq!(cookie(&map, "c"), None);
    }

    #[test]
    fn forms_from_another_site_are_refused_and_same_origin_ones_pass() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), None).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")]), None).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")]), None).is_err());
        let ok = headers(&[
            ("origin", "http://127.0.0.1:9477"),
            ("host", "127.0.0.1:9477"),
        ]);
        assert!(same_origin(&ok, None).is_ok());
        let evil = headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:9477"),
        ]);
        assert!(same_origin(&evil, None).is_err());
        let proxied = headers(&[
            ("origin", "https://firedrill.example.com"),
            ("host", "firedrill.firedrill.svc:9477"),
        ]);
        assert!(same_origin(&proxied, Some("https://firedrill.example.com/")).is_ok());
        assert!(same_origin(&headers(&[("origin", "null")]), None).is_err());
        assert!(same_origin(&headers(&[]), None).is_ok());
        let twice = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(same_origin(&twice, None).is_err());
    }

    #[test]
    fn sign_in_only_ever_returns_to_a_path_on_this_server() {
        assert_eq!(safe_next(Some("/runs?drill=a")), "/runs?drill=a");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
