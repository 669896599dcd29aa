//! The Client ID Metadata Document, validated into a typed value (spec §3.4).

use mcp_auth_core::types::is_loopback_host;
use mcp_auth_core::{
    Client, ClientId, ClientSource, GrantType, RedirectUri, ScopeSet, TokenEndpointAuthMethod,
    UnixTime,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::DocumentError;

/// A validated Client ID Metadata Document (SEP-991, RFC 7591 §2 members).
///
/// Built only by validation, so every value of this type already meets spec §3.4: `client_id`
/// equals its URL, `redirect_uris` are https or http loopback, the auth method is `none` or
/// `private_key_jwt` (with exactly one of `jwks`/`jwks_uri`), no `client_secret*` members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadataDocument {
    /// `client_id`: the URL the document was fetched from.
    pub client_id: ClientId,
    /// `client_name`; `None` only under the lenient name switch.
    pub client_name: Option<String>,
    /// `redirect_uris`, non-empty.
    pub redirect_uris: Vec<RedirectUri>,
    /// `grant_types`; `["authorization_code"]` when absent.
    pub grant_types: Vec<GrantType>,
    /// The method the client authenticates with: the document's `token_endpoint_auth_method`,
    /// `none` when it has neither that nor `token_endpoint_auth_methods_supported` (spec A7);
    /// with the plural member, `none` when it is listed, else the first listed method.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Every method the client may use, from `token_endpoint_auth_methods_supported`
    /// (SEP-3149): the listed methods this server supports for such clients (`none`,
    /// `private_key_jwt`), in the document's order, without repeats. Empty when the document
    /// has no plural member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods: Vec<TokenEndpointAuthMethod>,
    /// Inline JWK Set for `private_key_jwt`.
    pub jwks: Option<Value>,
    /// URL of the JWK Set for `private_key_jwt` (https).
    pub jwks_uri: Option<String>,
    /// `scope`: the most this client may ask for.
    pub scope: Option<ScopeSet>,
    /// `client_uri`, if an https URL.
    pub client_uri: Option<String>,
    /// `logo_uri`, if an https URL.
    pub logo_uri: Option<String>,
    /// `tos_uri`, if an https URL.
    pub tos_uri: Option<String>,
    /// `policy_uri`, if an https URL.
    pub policy_uri: Option<String>,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): the client's token requests must carry a
    /// DPoP proof. `false` when absent.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

/// Options of [`ClientMetadataDocument::validate`].
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// Accept a document without `client_name` (spec A9 lenient mode); the consent page then
    /// shows the client_id host. Default `false`.
    pub lenient_client_name: bool,
    /// The grant types a document may list. Default `authorization_code`, `refresh_token`.
    pub supported_grant_types: Vec<String>,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            lenient_client_name: false,
            supported_grant_types: vec![
                GrantType::AUTHORIZATION_CODE.to_owned(),
                GrantType::REFRESH_TOKEN.to_owned(),
            ],
        }
    }
}

impl ClientMetadataDocument {
    /// Validate a fetched body against spec §3.4 for the `client_id` it was fetched from.
    ///
    /// # Errors
    /// The first rule broken, as a [`DocumentError`]: not JSON or not an object (CIMD-04),
    /// `client_id` not byte-for-byte `url` (CIMD-03), `redirect_uris` missing or not allowed
    /// (CIMD-04), a `client_secret*` member (CIMD-13), a shared-secret auth method (CIMD-12),
    /// key material rules, unsupported grant or response types, a malformed scope, a missing
    /// `client_name`. Unknown members are ignored.
    pub fn validate(
        body: &[u8],
        url: &ClientId,
        options: &ValidationOptions,
    ) -> Result<Self, DocumentError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| DocumentError::NotJson)?;
        let Value::Object(doc) = value else {
            return Err(DocumentError::NotObject);
        };
        match doc.get("client_id") {
            Some(Value::String(id)) if id.as_bytes() == url.as_str().as_bytes() => {}
            _ => return Err(DocumentError::ClientIdMismatch),
        }
        if let Some(key) = doc.keys().find(|k| k.starts_with("client_secret")) {
            return Err(DocumentError::SecretPresent(key.clone()));
        }
        let redirect_uris = redirect_uris(&doc)?;
        let (token_endpoint_auth_method, token_endpoint_auth_methods) = auth_methods(&doc)?;
        let uses_keys = token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
            || token_endpoint_auth_methods.contains(&TokenEndpointAuthMethod::PrivateKeyJwt);
        let (jwks, jwks_uri) = key_material(&doc, uses_keys)?;
        let grant_types = grant_types(&doc, options)?;
        let scope = match optional_str(&doc, "scope")? {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| DocumentError::InvalidScope)?),
        };
        let client_name = match optional_str(&doc, "client_name")? {
            Some(name) if !name.trim().is_empty() => {
                mcp_auth_core::types::check_client_name(name)
                    .map_err(|e| DocumentError::InvalidClientName(e.0))?;
                Some(name.to_owned())
            }
            _ if options.lenient_client_name => None,
            _ => return Err(DocumentError::MissingClientName),
        };
        let dpop_bound_access_tokens = match doc.get("dpop_bound_access_tokens") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(DocumentError::WrongType("dpop_bound_access_tokens")),
        };
        let display_url = |key: &str| {
            doc.get(key)
                .and_then(Value::as_str)
                .filter(|u| is_https_url(u))
                .map(str::to_owned)
        };
        Ok(Self {
            client_id: url.clone(),
            client_name,
            redirect_uris,
            grant_types,
            token_endpoint_auth_method,
            token_endpoint_auth_methods,
            jwks,
            jwks_uri,
            scope,
            client_uri: display_url("client_uri"),
            logo_uri: display_url("logo_uri"),
            tos_uri: display_url("tos_uri"),
            policy_uri: display_url("policy_uri"),
            dpop_bound_access_tokens,
        })
    }

    /// The client record the authorization server acts on: `source` is
    /// [`ClientSource::MetadataDocument`], no secrets, no resource restriction, issued at `now`
    /// (seconds since the epoch).
    pub fn to_client(&self, now: UnixTime) -> Client {
        Client {
            client_id: self.client_id.clone(),
            client_name: self.client_name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            token_endpoint_auth_methods: self.token_endpoint_auth_methods.clone(),
            secrets: vec![],
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            scope: self.scope.clone(),
            resources: None,
            client_id_issued_at: now,
            source: ClientSource::MetadataDocument,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
        }
    }

    /// True when every redirect URI is http on a loopback host: the client runs on the user's
    /// device, and the consent page should say so (spec CIMD-UI-3, CIMD-18).
    pub fn is_loopback_only(&self) -> bool {
        self.redirect_uris.iter().all(RedirectUri::is_loopback)
    }
}

/// The client's authentication methods (spec A7, CIMD-12, SEP-3149): the method it
/// authenticates with and, when the document has `token_endpoint_auth_methods_supported`, every
/// listed method this server supports for metadata document clients.
///
/// - The plural member wins over the singular one. A listed shared-secret method is refused
///   (a metadata document cannot carry a secret, CIMD-12); other methods this server does not
///   know are passed over; a list left with no method is refused, never read as `none`.
/// - With both members, the singular one must be in the list.
/// - With neither, the client is public (`none`).
fn auth_methods(
    doc: &Map<String, Value>,
) -> Result<(TokenEndpointAuthMethod, Vec<TokenEndpointAuthMethod>), DocumentError> {
    let single = optional_str(doc, "token_endpoint_auth_method")?;
    let Some(listed) = string_list(doc, "token_endpoint_auth_methods_supported")? else {
        let method = match single {
            None => TokenEndpointAuthMethod::None,
            Some(name) => match metadata_document_method(name)? {
                Some(method) => method,
                None => return Err(DocumentError::ForbiddenAuthMethod(name.to_owned())),
            },
        };
        return Ok((method, Vec::new()));
    };
    if let Some(name) = single
        && !listed.iter().any(|m| m == name)
    {
        return Err(DocumentError::AuthMethodsDisagree(name.to_owned()));
    }
    let mut methods = Vec::new();
    for name in &listed {
        if let Some(method) = metadata_document_method(name)?
            && !methods.contains(&method)
        {
            methods.push(method);
        }
    }
    let primary = if methods.contains(&TokenEndpointAuthMethod::None) {
        TokenEndpointAuthMethod::None
    } else {
        *methods
            .first()
            .ok_or(DocumentError::NoSupportedAuthMethod)?
    };
    Ok((primary, methods))
}

/// One method name of a document: `none` and `private_key_jwt` are the methods of metadata
/// document clients; a shared-secret method is refused (CIMD-12); any other name is `None` (a
/// method this server does not support).
fn metadata_document_method(name: &str) -> Result<Option<TokenEndpointAuthMethod>, DocumentError> {
    match name {
        "none" => Ok(Some(TokenEndpointAuthMethod::None)),
        "private_key_jwt" => Ok(Some(TokenEndpointAuthMethod::PrivateKeyJwt)),
        "client_secret_basic" | "client_secret_post" | "client_secret_jwt" => {
            Err(DocumentError::ForbiddenAuthMethod(name.to_owned()))
        }
        _ => Ok(None),
    }
}

fn optional_str<'a>(
    doc: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, DocumentError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DocumentError::WrongType(key)),
    }
}

fn string_list(
    doc: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<Vec<String>>, DocumentError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(DocumentError::WrongType(key))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(DocumentError::WrongType(key)),
    }
}

/// `jwks` or `jwks_uri` (not both; a `jwks` with a `keys` array; a fetchable https
/// `jwks_uri`), one of them required when the client authenticates with keys (`uses_keys`).
fn key_material(
    doc: &Map<String, Value>,
    uses_keys: bool,
) -> Result<(Option<Value>, Option<String>), DocumentError> {
    let jwks = doc.get("jwks").cloned();
    let jwks_uri = optional_str(doc, "jwks_uri")?.map(str::to_owned);
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(DocumentError::BothJwksAndJwksUri);
    }
    if let Some(set) = &jwks
        && !set.get("keys").is_some_and(Value::is_array)
    {
        return Err(DocumentError::InvalidJwks);
    }
    if let Some(uri) = &jwks_uri
        && !is_fetchable_https_url(uri)
    {
        return Err(DocumentError::InvalidJwksUri);
    }
    if uses_keys && jwks.is_none() && jwks_uri.is_none() {
        return Err(DocumentError::MissingKeys);
    }
    Ok((jwks, jwks_uri))
}

/// `grant_types` (default `authorization_code`), each supported, and `response_types`, when
/// given, exactly `code` (and containing it when the code grant is listed).
fn grant_types(
    doc: &Map<String, Value>,
    options: &ValidationOptions,
) -> Result<Vec<GrantType>, DocumentError> {
    let grant_types = match string_list(doc, "grant_types")? {
        None => vec![GrantType::authorization_code()],
        Some(list) => {
            if let Some(bad) = list
                .iter()
                .find(|g| !options.supported_grant_types.iter().any(|s| s == *g))
            {
                return Err(DocumentError::UnsupportedGrantType(bad.clone()));
            }
            list.into_iter().map(GrantType::new).collect()
        }
    };
    if let Some(response_types) = string_list(doc, "response_types")? {
        let only_code = response_types.iter().all(|r| r == "code");
        let has_code = response_types.iter().any(|r| r == "code");
        let needs_code = grant_types
            .iter()
            .any(|g| g.as_str() == GrantType::AUTHORIZATION_CODE);
        if !only_code || (needs_code && !has_code) {
            return Err(DocumentError::UnsupportedResponseType);
        }
    }
    Ok(grant_types)
}

fn redirect_uris(doc: &Map<String, Value>) -> Result<Vec<RedirectUri>, DocumentError> {
    let list = match string_list(doc, "redirect_uris") {
        Ok(Some(list)) if !list.is_empty() => list,
        _ => return Err(DocumentError::MissingRedirectUris),
    };
    list.into_iter()
        .map(|raw| {
            let uri: RedirectUri = raw
                .parse()
                .map_err(|_| DocumentError::InvalidRedirectUri(raw.clone()))?;
            uri.check_registrable()
                .map_err(|_| DocumentError::InvalidRedirectUri(raw.clone()))?;
            Ok(uri)
        })
        .collect()
}

/// An https URL with a DNS-name host: the fetch client screens the addresses a name resolves
/// to, and IP-literal hosts never reach its resolver, so they are refused here (CIMD-20).
fn is_fetchable_https_url(raw: &str) -> bool {
    is_https_url(raw)
        && url::Url::parse(raw).is_ok_and(|u| matches!(u.host(), Some(url::Host::Domain(_))))
}

fn is_https_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| {
        u.scheme() == "https"
            && u.host_str()
                .is_some_and(|h| !h.is_empty() && !is_loopback_host(h))
            && u.username().is_empty()
            && u.password().is_none()
            && u.fragment().is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn id() -> ClientId {
        URL.parse().unwrap()
    }

    fn validate(doc: Value) -> Result<ClientMetadataDocument, DocumentError> {
        ClientMetadataDocument::validate(
            doc.to_string().as_bytes(),
            &id(),
            &ValidationOptions::default(),
        )
    }

    fn base() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Example MCP Desktop",
            "redirect_uris": ["http://127.0.0.1:3000/callback", "https://app.example.com/cb"],
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut doc = base();
        doc[key] = value;
        doc
    }

    /// Spec §3.9: the example document validates; missing method is `none` (A7) and missing
    /// grant types are `authorization_code`.
    #[test]
    fn minimal_document_gets_public_client_defaults() {
        let doc = validate(base()).unwrap();
        assert_eq!(doc.client_id.as_str(), URL);
        assert_eq!(doc.client_name.as_deref(), Some("Example MCP Desktop"));
        assert_eq!(
            doc.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert_eq!(doc.grant_types, vec![GrantType::authorization_code()]);
        let client = doc.to_client(1_700_000_000);
        assert_eq!(client.source, ClientSource::MetadataDocument);
        assert!(client.secrets.is_empty());
        assert_eq!(client.resources, None);
        assert_eq!(client.client_id_issued_at, 1_700_000_000);
        assert!(client.is_public());
    }

    /// RFC 9449 §5.2: `dpop_bound_access_tokens` reaches the client record; absent is false;
    /// a value that is not a boolean is refused.
    #[test]
    fn dpop_bound_access_tokens_is_read() {
        assert!(
            !validate(base())
                .unwrap()
                .to_client(0)
                .dpop_bound_access_tokens
        );
        let bound = validate(with("dpop_bound_access_tokens", json!(true))).unwrap();
        assert!(bound.to_client(0).dpop_bound_access_tokens);
        assert_eq!(
            validate(with("dpop_bound_access_tokens", json!("true"))).unwrap_err(),
            DocumentError::WrongType("dpop_bound_access_tokens")
        );
    }

    /// CIMD-03: `client_id` must equal the URL byte for byte.
    #[test]
    fn mismatched_client_id_is_refused() {
        for other in [
            json!("https://evil.example/oauth/client.json"),
            json!("https://APP.example.com/oauth/client.json"),
            json!("https://app.example.com/oauth/client.json/"),
            json!(null),
            json!(7),
        ] {
            assert_eq!(
                validate(with("client_id", other.clone())),
                Err(DocumentError::ClientIdMismatch),
                "{other}"
            );
        }
        let mut doc = base();
        doc.as_object_mut().unwrap().remove("client_id");
        assert_eq!(validate(doc), Err(DocumentError::ClientIdMismatch));
    }

    /// CIMD-04: not JSON, or not an object, is refused.
    #[test]
    fn non_json_and_non_object_bodies_are_refused() {
        let opts = ValidationOptions::default();
        assert_eq!(
            ClientMetadataDocument::validate(b"<html>", &id(), &opts),
            Err(DocumentError::NotJson)
        );
        assert_eq!(
            ClientMetadataDocument::validate(b"[1]", &id(), &opts),
            Err(DocumentError::NotObject)
        );
    }

    /// CIMD-04: `redirect_uris` missing, empty or of the wrong type is refused.
    #[test]
    fn missing_redirect_uris_are_refused() {
        let mut doc = base();
        doc.as_object_mut().unwrap().remove("redirect_uris");
        assert_eq!(validate(doc), Err(DocumentError::MissingRedirectUris));
        assert_eq!(
            validate(with("redirect_uris", json!([]))),
            Err(DocumentError::MissingRedirectUris)
        );
        assert_eq!(
            validate(with("redirect_uris", json!("https://app.example.com/cb"))),
            Err(DocumentError::MissingRedirectUris)
        );
    }

    /// Spec §3.4, SEC-02: each redirect URI is https or http on a loopback host.
    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        for bad in [
            "http://app.example.com/cb",
            "javascript://x/alert(1)",
            "https://app.example.com/cb#frag",
            "/relative",
        ] {
            assert_eq!(
                validate(with("redirect_uris", json!([bad]))),
                Err(DocumentError::InvalidRedirectUri(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(validate(with("redirect_uris", json!(["http://localhost:8080/cb"]))).is_ok());
        assert!(validate(with("redirect_uris", json!(["http://[::1]/cb"]))).is_ok());
    }

    /// Issue #8 item 5: a redirect URI a parser would read differently from its string (a
    /// backslash, whitespace or control characters, non-ASCII, userinfo) is refused, so the
    /// string compared is the string redirected to.
    #[test]
    fn redirect_uris_read_differently_by_parsers_are_refused() {
        for bad in [
            "http://127.0.0.1:3000\\@evil.example/cb",
            "https://app.example.com\\cb",
            "http://127.0.0.1:3000/c\tb",
            "http://127.0.0.1:3000/cb\n",
            " https://app.example.com/cb",
            "https://app.example.com/caf\u{e9}",
            "http://@127.0.0.1:3000/cb",
            "https://user@app.example.com/cb",
        ] {
            assert_eq!(
                validate(with(
                    "redirect_uris",
                    json!(["https://app.example.com/ok", bad])
                )),
                Err(DocumentError::InvalidRedirectUri(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    /// CIMD-13: `client_secret` and `client_secret_expires_at` are refused.
    #[test]
    fn client_secret_members_are_refused() {
        assert_eq!(
            validate(with("client_secret", json!("s3cr3t"))),
            Err(DocumentError::SecretPresent("client_secret".into()))
        );
        assert_eq!(
            validate(with("client_secret_expires_at", json!(0))),
            Err(DocumentError::SecretPresent(
                "client_secret_expires_at".into()
            ))
        );
    }

    /// CIMD-12: shared-secret auth methods are refused.
    #[test]
    fn shared_secret_auth_methods_are_refused() {
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "tls_client_auth",
        ] {
            assert_eq!(
                validate(with("token_endpoint_auth_method", json!(method))),
                Err(DocumentError::ForbiddenAuthMethod(method.into())),
                "{method}"
            );
        }
    }

    fn with_methods(methods: Value, single: Option<&str>) -> Value {
        let mut doc = with("token_endpoint_auth_methods_supported", methods);
        doc["jwks_uri"] = json!("https://app.example.com/jwks.json");
        if let Some(single) = single {
            doc["token_endpoint_auth_method"] = json!(single);
        }
        doc
    }

    /// SEP-3149: `token_endpoint_auth_methods_supported` lists every method the client may
    /// use; with `none` listed the client is public until it authenticates, and it may also
    /// authenticate with `private_key_jwt`. The plural member wins over a singular one that is
    /// in it.
    #[test]
    fn plural_auth_methods_are_all_accepted() {
        use TokenEndpointAuthMethod::{None as Public, PrivateKeyJwt};
        for single in [None, Some("private_key_jwt"), Some("none")] {
            let doc = validate(with_methods(json!(["private_key_jwt", "none"]), single)).unwrap();
            assert_eq!(doc.token_endpoint_auth_method, Public, "{single:?}");
            assert_eq!(doc.token_endpoint_auth_methods, vec![PrivateKeyJwt, Public]);
            let client = doc.to_client(0);
            assert!(client.accepts_auth_method(Public));
            assert!(client.accepts_auth_method(PrivateKeyJwt));
            assert!(!client.accepts_auth_method(TokenEndpointAuthMethod::ClientSecretBasic));
            assert!(!client.clone().authenticated_with(PrivateKeyJwt).is_public());
        }
    }

    /// SEP-3149: when the plural member is present, `none` is never assumed: a list of only
    /// `private_key_jwt` makes a confidential client, even without the singular member.
    #[test]
    fn plural_auth_methods_never_assume_none() {
        let doc = validate(with_methods(json!(["private_key_jwt"]), None)).unwrap();
        assert_eq!(
            doc.token_endpoint_auth_method,
            TokenEndpointAuthMethod::PrivateKeyJwt
        );
        let client = doc.to_client(0);
        assert!(!client.is_public());
        assert!(!client.accepts_auth_method(TokenEndpointAuthMethod::None));
    }

    /// SEP-3149: a singular member that is not in the plural list is refused; so is a list
    /// with no method this server supports (empty, or only unknown methods), and a list naming
    /// a shared-secret method (CIMD-12).
    #[test]
    fn disagreeing_or_unusable_auth_method_lists_are_refused() {
        assert_eq!(
            validate(with_methods(json!(["private_key_jwt"]), Some("none"))),
            Err(DocumentError::AuthMethodsDisagree("none".into()))
        );
        for list in [json!([]), json!(["tls_client_auth"])] {
            assert_eq!(
                validate(with_methods(list.clone(), None)),
                Err(DocumentError::NoSupportedAuthMethod),
                "{list}"
            );
        }
        assert_eq!(
            validate(with_methods(json!(["none", "client_secret_basic"]), None)),
            Err(DocumentError::ForbiddenAuthMethod(
                "client_secret_basic".into()
            ))
        );
        assert_eq!(
            validate(with_methods(json!("none"), None)),
            Err(DocumentError::WrongType(
                "token_endpoint_auth_methods_supported"
            ))
        );
        assert_eq!(
            validate(with_methods(json!(["none", 7]), None)),
            Err(DocumentError::WrongType(
                "token_endpoint_auth_methods_supported"
            ))
        );
    }

    /// SEP-3149 and spec §3.4: a list naming `private_key_jwt` needs the client's keys; unknown
    /// methods beside supported ones are passed over.
    #[test]
    fn plural_private_key_jwt_needs_keys_and_unknown_methods_are_skipped() {
        let mut doc = with(
            "token_endpoint_auth_methods_supported",
            json!(["none", "private_key_jwt"]),
        );
        assert_eq!(validate(doc.clone()), Err(DocumentError::MissingKeys));
        doc["jwks_uri"] = json!("https://app.example.com/jwks.json");
        doc["token_endpoint_auth_methods_supported"] =
            json!(["tls_client_auth", "none", "none", "private_key_jwt"]);
        let doc = validate(doc).unwrap();
        assert_eq!(
            doc.token_endpoint_auth_methods,
            vec![
                TokenEndpointAuthMethod::None,
                TokenEndpointAuthMethod::PrivateKeyJwt
            ]
        );
    }

    /// Spec §3.4: `private_key_jwt` needs exactly one of `jwks` and `jwks_uri`.
    #[test]
    fn private_key_jwt_needs_exactly_one_key_source() {
        let pkj = with("token_endpoint_auth_method", json!("private_key_jwt"));
        assert_eq!(validate(pkj.clone()), Err(DocumentError::MissingKeys));
        let mut both = pkj.clone();
        both["jwks"] = json!({"keys": []});
        both["jwks_uri"] = json!("https://app.example.com/jwks.json");
        assert_eq!(validate(both), Err(DocumentError::BothJwksAndJwksUri));
        let mut inline = pkj.clone();
        inline["jwks"] = json!({"keys": [{"kty": "EC"}]});
        let doc = validate(inline).unwrap();
        assert_eq!(
            doc.token_endpoint_auth_method,
            TokenEndpointAuthMethod::PrivateKeyJwt
        );
        assert_eq!(doc.jwks, Some(json!({"keys": [{"kty": "EC"}]})));
        let mut by_uri = pkj.clone();
        by_uri["jwks_uri"] = json!("https://app.example.com/jwks.json");
        let client = validate(by_uri).unwrap().to_client(0);
        assert_eq!(
            client.jwks_uri.as_deref(),
            Some("https://app.example.com/jwks.json")
        );
        let mut bad_set = pkj.clone();
        bad_set["jwks"] = json!({"kty": "EC"});
        assert_eq!(validate(bad_set), Err(DocumentError::InvalidJwks));
        for bad in [
            "http://app.example.com/jwks.json",
            "https://10.0.0.1/jwks.json",
            "https://[::1]/jwks.json",
            "https://localhost/jwks.json",
        ] {
            let mut doc = pkj.clone();
            doc["jwks_uri"] = json!(bad);
            assert_eq!(validate(doc), Err(DocumentError::InvalidJwksUri), "{bad}");
        }
    }

    /// Spec A9: `client_name` is required unless the lenient switch is on.
    #[test]
    fn client_name_is_required_unless_lenient() {
        let mut doc = base();
        doc.as_object_mut().unwrap().remove("client_name");
        assert_eq!(validate(doc.clone()), Err(DocumentError::MissingClientName));
        let lenient = ValidationOptions {
            lenient_client_name: true,
            ..ValidationOptions::default()
        };
        let parsed =
            ClientMetadataDocument::validate(doc.to_string().as_bytes(), &id(), &lenient).unwrap();
        assert_eq!(parsed.client_name, None);
        assert_eq!(parsed.to_client(0).display_name(), "app.example.com");
    }

    /// Issue #8 item 6: a `client_name` with a bidirectional override (or another format
    /// character) is refused, even under the lenient name switch.
    #[test]
    fn client_name_with_bidi_control_is_refused() {
        let lenient = ValidationOptions {
            lenient_client_name: true,
            ..ValidationOptions::default()
        };
        for c in ['\u{202E}', '\u{2067}', '\u{200B}'] {
            let mut doc = base();
            doc["client_name"] = json!(format!("Acme{c}moc.elgoog"));
            let expected = DocumentError::InvalidClientName(format!(
                "client_name contains the control or format character U+{:04X}",
                u32::from(c)
            ));
            assert_eq!(validate(doc.clone()), Err(expected.clone()));
            let parsed =
                ClientMetadataDocument::validate(doc.to_string().as_bytes(), &id(), &lenient);
            assert_eq!(parsed.err(), Some(expected));
        }
    }

    /// Spec §3.4: grant and response types are limited to what the server supports.
    #[test]
    fn unsupported_grant_and_response_types_are_refused() {
        assert_eq!(
            validate(with(
                "grant_types",
                json!(["authorization_code", "password"])
            )),
            Err(DocumentError::UnsupportedGrantType("password".into()))
        );
        assert_eq!(
            validate(with("response_types", json!(["token"]))),
            Err(DocumentError::UnsupportedResponseType)
        );
        let doc = validate(with(
            "grant_types",
            json!(["authorization_code", "refresh_token"]),
        ))
        .unwrap();
        assert_eq!(
            doc.grant_types,
            vec![GrantType::authorization_code(), GrantType::refresh_token()]
        );
    }

    /// Spec §3.4: malformed display URLs are ignored; `scope` is kept.
    #[test]
    fn display_urls_must_be_https_and_scope_is_kept() {
        let mut doc = with("logo_uri", json!("http://app.example.com/logo.png"));
        doc["client_uri"] = json!("https://app.example.com");
        doc["scope"] = json!("mcp:basic files:read");
        let doc = validate(doc).unwrap();
        assert_eq!(doc.logo_uri, None);
        assert_eq!(doc.client_uri.as_deref(), Some("https://app.example.com"));
        assert_eq!(
            doc.scope.map(|s| s.to_string()).as_deref(),
            Some("files:read mcp:basic")
        );
    }

    /// CIMD-18: a document whose redirect URIs are all loopback is flagged.
    #[test]
    fn loopback_only_documents_are_flagged() {
        assert!(!validate(base()).unwrap().is_loopback_only());
        let doc = validate(with(
            "redirect_uris",
            json!(["http://127.0.0.1/cb", "http://localhost/cb"]),
        ))
        .unwrap();
        assert!(doc.is_loopback_only());
    }
}
