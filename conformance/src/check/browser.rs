//! A headless user agent for the authorization code flow: follows the authorization server's
//! redirects with a cookie jar until it is sent to the client's `redirect_uri`, and on the way
//! fills a plain HTML sign-in form (`--login-form user:password`) and approves a consent form.
//! With [`Login::Auto`] it only follows redirects and approves consent, which is enough for an
//! AS in an auto-signing-in test mode (`auth-server serve --dev`).
//!
//! Forms are read with a small tag scanner (`<form>`, `<input>`, `<button>`; attributes with
//! HTML character references decoded), not a full HTML parser: sign-in pages that build their
//! form with JavaScript are out of reach and end as [`Authorization::NeedsUser`].

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::http::{Exchange, Http, form};

/// How the user's part of the flow is played.
#[derive(Clone, PartialEq, Eq)]
pub enum Login {
    /// Follow redirects and approve consent forms; a sign-in form stops the flow.
    Auto,
    /// Also fill a sign-in form (an `<input type="password">`) with these credentials.
    Form {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Auto => f.write_str("Auto"),
            Login::Form { username, .. } => write!(f, "Form({username}:[redacted])"),
        }
    }
}

impl std::str::FromStr for Login {
    type Err = super::ArgumentError;
    /// `user:password`.
    fn from_str(s: &str) -> Result<Self, super::ArgumentError> {
        let (u, p) = s.split_once(':').ok_or(super::ArgumentError::LoginForm)?;
        Ok(Login::Form {
            username: u.into(),
            password: p.into(),
        })
    }
}

/// Where an authorization request ended.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// The AS sent the user agent to the client's `redirect_uri` (the full URL, with `code`,
    /// `state`, `iss` or `error`); `exchange` is the response that carried the `Location`.
    Redirect {
        /// The redirect URL.
        url: url::Url,
        /// The last exchange.
        exchange: Exchange,
    },
    /// The flow stopped elsewhere: an error page, a redirect to another place the agent cannot
    /// follow, or a transport failure.
    Stopped {
        /// The last exchange.
        exchange: Exchange,
    },
    /// A sign-in form appeared and no credentials were given, or they were refused.
    NeedsUser {
        /// Why.
        reason: String,
    },
}

/// A PKCE pair (RFC 7636 §4.1-4.2).
#[derive(Clone)]
pub struct Pkce {
    /// 43 characters from the unreserved set.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A fresh random pair.
    pub fn generate() -> Self {
        let verifier = random_token(32);
        let challenge = s256(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// `BASE64URL(SHA256(s))`.
pub fn s256(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

/// `bytes` random bytes, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SystemRandom only fails when the OS has no randomness; a zero-filled value still works
    // as a (non-secret) test value.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A cookie jar: `name → value`, sent back to every URL (the agent only talks to the AS under
/// test; `Secure` and `Path` are ignored so a loopback http AS works).
#[derive(Debug, Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, ex: &Exchange) {
        for c in ex.headers_all("set-cookie") {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((n, v)) = pair.split_once('=') {
                self.0.insert(n.trim().to_owned(), v.trim().to_owned());
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Whether `url` is `redirect_uri` itself plus a query or fragment.
pub fn is_redirect_to(url: &str, redirect_uri: &str) -> bool {
    url.strip_prefix(redirect_uri)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#', '&']))
}

/// Most requests of one authorization.
const MAX_HOPS: usize = 12;

/// Run the authorization request `start` (the full authorization endpoint URL with its query)
/// until the AS redirects to `redirect_uri`, signing in and approving as `login` allows.
pub async fn authorize(
    http: &Http,
    start: &str,
    redirect_uri: &str,
    login: &Login,
) -> Authorization {
    let mut jar = Jar::default();
    let mut next: (String, String, Option<String>) = ("GET".into(), start.to_owned(), None);
    let mut signed_in = false;
    let mut last = None;
    for _ in 0..MAX_HOPS {
        let (method, url, body) = next.clone();
        let cookie = jar.header();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = &cookie {
            headers.push(("cookie", c));
        }
        if body.is_some() {
            headers.push(("content-type", "application/x-www-form-urlencoded"));
        }
        let ex = http.send(&method, &url, &headers, body).await;
        jar.absorb(&ex);
        if let Some(loc) = ex.location() {
            if is_redirect_to(loc.as_str(), redirect_uri) {
                return Authorization::Redirect {
                    url: loc,
                    exchange: ex,
                };
            }
            if !matches!(loc.scheme(), "http" | "https") {
                return Authorization::Stopped { exchange: ex };
            }
            next = ("GET".into(), loc.to_string(), None);
            last = Some(ex);
            continue;
        }
        if ex.status != 200 && ex.status != 401 {
            return Authorization::Stopped { exchange: ex };
        }
        let forms = parse_forms(&ex.body);
        if let Some(f) = forms.iter().find(|f| f.has_password()) {
            let Login::Form { username, password } = login else {
                return Authorization::NeedsUser {
                    reason: "the AS shows a sign-in form; pass --login-form user:password (or run the AS in an auto-approving test mode)".into(),
                };
            };
            if signed_in {
                return Authorization::NeedsUser {
                    reason: format!(
                        "the sign-in form came back after signing in as {username}: the credentials were refused"
                    ),
                };
            }
            signed_in = true;
            let fields = f.fill_login(username, password);
            next = ("POST".into(), resolve(&url, &f.action), Some(fields));
            last = Some(ex);
            continue;
        }
        if let Some((f, button)) = forms
            .iter()
            .find_map(|f| f.approve_button().map(|b| (f, b)))
        {
            let fields = f.submit_with(button);
            next = ("POST".into(), resolve(&url, &f.action), Some(fields));
            last = Some(ex);
            continue;
        }
        return Authorization::Stopped { exchange: ex };
    }
    match last {
        Some(exchange) => Authorization::Stopped { exchange },
        None => Authorization::NeedsUser {
            reason: "too many redirects".into(),
        },
    }
}

fn resolve(base: &str, action: &str) -> String {
    if action.is_empty() {
        return base.to_owned();
    }
    url::Url::parse(base)
        .and_then(|b| b.join(action))
        .map(|u| u.to_string())
        .unwrap_or_else(|_| action.to_owned())
}

/// One `<form>`: its `action` and its controls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlForm {
    /// The `action` attribute, decoded (empty: the page's URL).
    pub action: String,
    /// `(type, name, value)` of each `<input>`.
    pub inputs: Vec<(String, String, String)>,
    /// `(name, value, text)` of each submit `<button>`.
    pub buttons: Vec<(String, String, String)>,
}

impl HtmlForm {
    fn has_password(&self) -> bool {
        self.inputs.iter().any(|(t, _, _)| t == "password")
    }

    /// The fields of a sign-in: hidden inputs as they are, the first text-like input set to
    /// `username`, the password input set to `password`.
    fn fill_login(&self, username: &str, password: &str) -> String {
        let mut user_done = false;
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (t, n, v) in &self.inputs {
            if n.is_empty() {
                continue;
            }
            match t.as_str() {
                "password" => pairs.push((n.clone(), password.to_owned())),
                "text" | "email" | "" if !user_done => {
                    user_done = true;
                    pairs.push((n.clone(), username.to_owned()));
                }
                "submit" | "button" | "checkbox" | "radio" => {}
                _ => pairs.push((n.clone(), v.clone())),
            }
        }
        if let Some((n, v, _)) = self.buttons.first().filter(|(n, _, _)| !n.is_empty()) {
            pairs.push((n.clone(), v.clone()));
        }
        encode(&pairs)
    }

    /// The button that approves: value or text `approve`, `allow`, `accept`, `authorize`,
    /// `consent`, `yes` or `continue`.
    fn approve_button(&self) -> Option<&(String, String, String)> {
        const WORDS: [&str; 7] = [
            "approve",
            "allow",
            "accept",
            "authorize",
            "consent",
            "yes",
            "continue",
        ];
        let approving = |s: &str| {
            let s = s.to_ascii_lowercase();
            WORDS.iter().any(|w| s.contains(w))
        };
        self.buttons
            .iter()
            .find(|(_, v, text)| approving(v) || approving(text))
    }

    fn submit_with(&self, button: &(String, String, String)) -> String {
        let mut pairs: Vec<(String, String)> = self
            .inputs
            .iter()
            .filter(|(t, n, _)| !n.is_empty() && !matches!(t.as_str(), "submit" | "button"))
            .map(|(_, n, v)| (n.clone(), v.clone()))
            .collect();
        if !button.0.is_empty() {
            pairs.push((button.0.clone(), button.1.clone()));
        }
        encode(&pairs)
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    form(&refs)
}

/// Every `<form>` of `html`, with its inputs and submit buttons (`<input type=submit>` counts
/// as a button too).
pub fn parse_forms(html: &str) -> Vec<HtmlForm> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut pos = 0;
    while let Some(start) = lower[pos..].find("<form").map(|i| i + pos) {
        let end = lower[start..]
            .find("</form")
            .map_or(html.len(), |i| i + start);
        let tag_end = lower[start..].find('>').map_or(end, |i| i + start);
        let attrs = attributes(&html[start + 5..tag_end]);
        let mut f = HtmlForm {
            action: attr(&attrs, "action"),
            ..HtmlForm::default()
        };
        let body = &html[tag_end.min(end)..end];
        let body_lower = &lower[tag_end.min(end)..end];
        let mut p = 0;
        while let Some(i) = body_lower[p..].find('<').map(|i| i + p) {
            let close = body_lower[i..].find('>').map_or(body.len(), |j| j + i);
            let tag = &body_lower[i + 1..close];
            if tag.starts_with("input") {
                let a = attributes(&body[i + 6..close]);
                let t = attr(&a, "type").to_ascii_lowercase();
                if t == "submit" {
                    f.buttons
                        .push((attr(&a, "name"), attr(&a, "value"), attr(&a, "value")));
                } else {
                    f.inputs.push((t, attr(&a, "name"), attr(&a, "value")));
                }
            } else if tag.starts_with("button") {
                let a = attributes(&body[i + 7..close]);
                let t = attr(&a, "type").to_ascii_lowercase();
                let text_end = body_lower[close..]
                    .find("</button")
                    .map_or(body.len(), |j| j + close);
                let text = decode(body.get(close + 1..text_end).unwrap_or_default().trim());
                if t.is_empty() || t == "submit" {
                    f.buttons.push((attr(&a, "name"), attr(&a, "value"), text));
                }
            }
            p = close.max(i + 1);
        }
        forms.push(f);
        pos = end.max(start + 5);
    }
    forms
}

fn attr(attrs: &[(String, String)], name: &str) -> String {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The attributes of a tag's inside (`name="value"`, `name='value'`, `name=value`, `name`),
/// names lowercased, values decoded.
fn attributes(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = decode(&s[vs..i.min(b.len())]);
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode(&s[vs..i]);
            }
        }
        out.push((name, value));
    }
    out
}

/// `s` with HTML character references decoded (named: `amp lt gt quot apos`; numeric).
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..semi];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sign_in_and_a_consent_form() {
        let html = r#"<form method="post" action="/authorize/login">
  <input type="hidden" name="csrf_token" value="t&#x2f;1">
  <input type="hidden" name="request" value="a=1&amp;b=&#34;2&#34;">
  <input id="username" name="username" type="text" required autofocus>
  <input id="password" name="password" type="password" required>
  <button type="submit" class="primary">Sign in</button>
</form>
<form method=post action='/authorize/consent'>
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>"#;
        let forms = parse_forms(html);
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].action, "/authorize/login");
        assert!(forms[0].has_password());
        assert_eq!(
            forms[0].fill_login("alice", "pw"),
            "csrf_token=t%2F1&request=a%3D1%26b%3D%222%22&username=alice&password=pw"
        );
        let button = forms[1].approve_button().unwrap().clone();
        assert_eq!(forms[1].submit_with(&button), "decision=approve");
    }

    #[test]
    fn redirect_match_is_on_the_whole_uri() {
        assert!(is_redirect_to(
            "http://127.0.0.1:1/cb?code=1",
            "http://127.0.0.1:1/cb"
        ));
        assert!(!is_redirect_to(
            "http://127.0.0.1:1/cbx?code=1",
            "http://127.0.0.1:1/cb"
        ));
    }

    #[test]
    fn pkce_challenge_is_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
