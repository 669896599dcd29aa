//! Branding of the pages (`[ui]`) and human descriptions of scopes (`[scopes]`,
//! `[[resources]] scope_descriptions`): issue 14, "Users".
//!
//! Everything here is checked once, at start-up: the logo is read from a local file (never a
//! URL: a remote logo would let its host track every sign-in and would make the server fetch
//! from the network), the primary colour is a strict `#rgb`/`#rrggbb` value because it is
//! written into CSS, and the stylesheet the pages load is built once from the shipped base
//! stylesheet and that colour. The server serves both itself ([`STYLESHEET_PATH`],
//! [`LOGO_PATH`]), so the pages' Content-Security-Policy needs no inline style, no script and
//! no other origin (`style-src 'self'; img-src 'self'`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Path, under the issuer, of the pages' stylesheet.
pub const STYLESHEET_PATH: &str = "/ui/style.css";
/// Path, under the issuer, of the configured logo (`404` when none is configured).
pub const LOGO_PATH: &str = "/ui/logo";
/// Largest logo file accepted, bytes (512 KiB).
pub const MAX_LOGO_BYTES: u64 = 512 * 1024;
/// Product name shown when `ui.product_name` is not set.
pub const DEFAULT_PRODUCT_NAME: &str = "mcp-auth";
/// Longest `ui.product_name`, characters.
pub const MAX_PRODUCT_NAME_CHARS: usize = 80;
/// The shipped base stylesheet; the configured primary colour is appended as a custom property.
pub const BASE_STYLESHEET: &str = include_str!("../../assets/style.css");

/// Policy of the logo response: an SVG opened on its own cannot run script or load anything.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// A branding or scope-description setting that cannot be used; the server refuses to start.
/// The message names the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// `ui.logo_path` parses as a URL with a scheme: only a local file is accepted.
    #[error("ui.logo_path must be a local file, not a URL ({0})")]
    LogoIsUrl(String),
    /// `ui.logo_path` does not end in `.png`, `.svg`, `.jpg`, `.jpeg` or `.webp`.
    #[error("ui.logo_path {0}: the file must be .png, .svg, .jpg, .jpeg or .webp")]
    LogoExtension(String),
    /// The logo file cannot be read.
    #[error("ui.logo_path {path}: {source}")]
    LogoRead {
        /// The configured path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The logo file is larger than [`MAX_LOGO_BYTES`].
    #[error("ui.logo_path {path}: {size} bytes, more than the {max} allowed")]
    LogoTooLarge {
        /// The configured path.
        path: String,
        /// Its size, bytes.
        size: u64,
        /// [`MAX_LOGO_BYTES`].
        max: u64,
    },
    /// The logo's content is not the image type its extension names.
    #[error("ui.logo_path {0}: the content is not the image type its extension names")]
    LogoContent(String),
    /// `ui.primary_color` is not `#rgb` or `#rrggbb`.
    #[error("ui.primary_color {0:?}: expected #rgb or #rrggbb (hexadecimal digits)")]
    PrimaryColor(String),
    /// `ui.product_name` is empty, too long, or has control characters.
    #[error(
        "ui.product_name must be 1 to {MAX_PRODUCT_NAME_CHARS} characters without control characters"
    )]
    ProductName,
    /// `ui.templates_dir` is not a readable directory, or a template in it does not compile.
    #[error("ui.templates_dir {path}: {message}")]
    Templates {
        /// The configured directory.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A scope description is empty or has control characters.
    #[error("description of scope {0:?} must be non-empty text without control characters")]
    ScopeDescription(String),
}

/// A CSS colour of the strict form `#rgb` or `#rrggbb` (CSS Color 4 §5.2 hex notation), kept
/// lowercase. Nothing else can be written into the stylesheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryColor(String);

impl PrimaryColor {
    /// The colour as written into CSS, e.g. `#1f5fbf`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The WCAG 2.x contrast ratio of white text on this colour, from 1.0 (white) to 21.0
    /// (black). Buttons of this colour carry white text: WCAG AA asks for at least
    /// [`MIN_BUTTON_CONTRAST`].
    pub fn contrast_with_white(&self) -> f64 {
        let hex = self.0.trim_start_matches('#');
        let digits: Vec<u8> = hex
            .chars()
            .filter_map(|c| c.to_digit(16))
            .map(|d| d as u8)
            .collect();
        let channels: [u8; 3] = match digits.as_slice() {
            [r, g, b] => [r * 17, g * 17, b * 17],
            [r1, r2, g1, g2, b1, b2] => [r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2],
            _ => return 1.0,
        };
        // WCAG 2.x relative luminance of sRGB channels.
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let luminance = 0.2126 * linear(channels[0])
            + 0.7152 * linear(channels[1])
            + 0.0722 * linear(channels[2]);
        1.05 / (luminance + 0.05)
    }
}

/// WCAG 2.x AA contrast for normal text: white button text on `ui.primary_color` should reach
/// it; a colour below it is warned about at start.
pub const MIN_BUTTON_CONTRAST: f64 = 4.5;

impl std::str::FromStr for PrimaryColor {
    type Err = UiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix('#')
            .ok_or_else(|| UiError::PrimaryColor(s.to_owned()))?;
        if (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(format!("#{}", hex.to_ascii_lowercase())))
        } else {
            Err(UiError::PrimaryColor(s.to_owned()))
        }
    }
}

/// The logo: the bytes of a local image file, read once at start-up, and its content type.
#[derive(Clone)]
pub struct Logo {
    bytes: Arc<[u8]>,
    content_type: &'static str,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Logo {
    /// Read the logo at `path`.
    ///
    /// # Errors
    /// [`UiError::LogoIsUrl`] for a value with a URL scheme (`https://…`, `file:…`),
    /// [`UiError::LogoExtension`] for a type other than png, svg, jpg/jpeg, webp,
    /// [`UiError::LogoRead`], [`UiError::LogoTooLarge`] (over [`MAX_LOGO_BYTES`]) and
    /// [`UiError::LogoContent`] when the bytes are not that type.
    pub fn load(path: &Path) -> Result<Self, UiError> {
        let shown = path.display().to_string();
        if url::Url::parse(&shown).is_ok() {
            return Err(UiError::LogoIsUrl(shown));
        }
        let read_error = |source| UiError::LogoRead {
            path: shown.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_LOGO_BYTES {
            return Err(UiError::LogoTooLarge {
                path: shown,
                size,
                max: MAX_LOGO_BYTES,
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        Self::from_bytes(&extension, bytes).map_err(|e| match e {
            UiError::LogoExtension(_) => UiError::LogoExtension(shown.clone()),
            UiError::LogoContent(_) => UiError::LogoContent(shown.clone()),
            other => other,
        })
    }

    /// A logo of type `extension` (`png`, `svg`, `jpg`, `jpeg` or `webp`) from `bytes`.
    ///
    /// # Errors
    /// [`UiError::LogoExtension`], [`UiError::LogoTooLarge`], [`UiError::LogoContent`].
    pub fn from_bytes(extension: &str, bytes: Vec<u8>) -> Result<Self, UiError> {
        let size = bytes.len() as u64;
        if size > MAX_LOGO_BYTES {
            return Err(UiError::LogoTooLarge {
                path: String::new(),
                size,
                max: MAX_LOGO_BYTES,
            });
        }
        let (content_type, looks_right) = match extension {
            "png" => ("image/png", bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
            "jpg" | "jpeg" => ("image/jpeg", bytes.starts_with(&[0xff, 0xd8, 0xff])),
            "webp" => (
                "image/webp",
                bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
            ),
            "svg" => (
                "image/svg+xml",
                std::str::from_utf8(&bytes).is_ok_and(|s| s.contains("<svg")),
            ),
            other => return Err(UiError::LogoExtension(other.to_owned())),
        };
        if !looks_right {
            return Err(UiError::LogoContent(extension.to_owned()));
        }
        Ok(Self {
            bytes: bytes.into(),
            content_type,
        })
    }

    /// The `Content-Type` it is served with.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }
}

/// Human descriptions of scopes, shown on the consent page next to the raw scope name. A
/// resource's own description of a scope wins over the global one; a scope nobody described is
/// shown by its name only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeDescriptions {
    global: BTreeMap<String, String>,
    per_resource: BTreeMap<String, BTreeMap<String, String>>,
}

impl ScopeDescriptions {
    /// Descriptions from the global `[scopes]` table.
    ///
    /// # Errors
    /// [`UiError::ScopeDescription`] for an empty description or one with control characters.
    pub fn new(global: BTreeMap<String, String>) -> Result<Self, UiError> {
        check_descriptions(&global)?;
        Ok(Self {
            global,
            per_resource: BTreeMap::new(),
        })
    }

    /// Add the `scope_descriptions` of the resource `resource` (its URI, byte for byte).
    ///
    /// # Errors
    /// As [`ScopeDescriptions::new`].
    pub fn with_resource(
        mut self,
        resource: &str,
        descriptions: BTreeMap<String, String>,
    ) -> Result<Self, UiError> {
        check_descriptions(&descriptions)?;
        if !descriptions.is_empty() {
            self.per_resource.insert(resource.to_owned(), descriptions);
        }
        Ok(self)
    }

    /// The description of `scope` when requested for `resource`: the resource's own, else the
    /// global one, else `None`.
    pub fn describe(&self, resource: &str, scope: &str) -> Option<&str> {
        self.per_resource
            .get(resource)
            .and_then(|m| m.get(scope))
            .or_else(|| self.global.get(scope))
            .map(String::as_str)
    }
}

/// Every description is non-empty text without control characters.
pub(crate) fn check_descriptions(map: &BTreeMap<String, String>) -> Result<(), UiError> {
    match map
        .iter()
        .find(|(_, d)| d.trim().is_empty() || d.chars().any(char::is_control))
    {
        Some((scope, _)) => Err(UiError::ScopeDescription(scope.clone())),
        None => Ok(()),
    }
}

/// The branding and scope descriptions of the pages, already checked.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Name shown in the page header and titles (default [`DEFAULT_PRODUCT_NAME`]).
    pub product_name: String,
    /// Logo served at [`LOGO_PATH`] and shown in the page header.
    pub logo: Option<Logo>,
    /// Colour of the primary action, set as the CSS custom property `--primary`.
    pub primary_color: Option<PrimaryColor>,
    /// A directory whose files override the shipped templates of the same name
    /// (`base.html`, `login.html`, `consent.html`, `error.html`).
    pub templates_dir: Option<PathBuf>,
    /// Descriptions shown next to scope names on the consent page.
    pub scope_descriptions: ScopeDescriptions,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo: None,
            primary_color: None,
            templates_dir: None,
            scope_descriptions: ScopeDescriptions::default(),
        }
    }
}

impl UiSettings {
    /// Check `name` as a product name: 1 to [`MAX_PRODUCT_NAME_CHARS`] characters, none a
    /// control character.
    ///
    /// # Errors
    /// [`UiError::ProductName`].
    pub fn check_product_name(name: &str) -> Result<(), UiError> {
        let n = name.trim().chars().count();
        if n == 0 || n > MAX_PRODUCT_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(UiError::ProductName);
        }
        Ok(())
    }
}

/// The static files the pages load, built once: the stylesheet (base stylesheet plus the primary
/// colour) and the logo, each with a content hash used as a cache-busting `?v=` in its URL.
#[derive(Debug, Clone)]
pub struct UiAssets {
    stylesheet: Arc<str>,
    stylesheet_version: String,
    logo: Option<(Logo, String)>,
}

impl UiAssets {
    /// The assets of `ui`.
    pub fn new(ui: &UiSettings) -> Self {
        let stylesheet = stylesheet(ui.primary_color.as_ref());
        let stylesheet_version = version(stylesheet.as_bytes());
        let logo = ui.logo.clone().map(|l| {
            let v = version(&l.bytes);
            (l, v)
        });
        Self {
            stylesheet: stylesheet.into(),
            stylesheet_version,
            logo,
        }
    }

    /// The stylesheet's URL relative to the issuer, e.g. `/ui/style.css?v=0123abcd`.
    pub fn stylesheet_path(&self) -> String {
        format!("{STYLESHEET_PATH}?v={}", self.stylesheet_version)
    }

    /// The logo's URL relative to the issuer, when a logo is configured.
    pub fn logo_path(&self) -> Option<String> {
        self.logo
            .as_ref()
            .map(|(_, v)| format!("{LOGO_PATH}?v={v}"))
    }

    /// `GET /ui/style.css`: `text/css`, cacheable (its URL changes with its content).
    pub fn stylesheet_response(&self) -> Response {
        asset(
            "text/css; charset=utf-8",
            self.stylesheet.as_bytes().to_vec(),
        )
    }

    /// `GET /ui/logo`: the logo with its content type and a sandboxing policy, or `404`.
    pub fn logo_response(&self) -> Response {
        match &self.logo {
            Some((logo, _)) => {
                let mut res = asset(logo.content_type, logo.bytes.to_vec());
                res.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(LOGO_CSP),
                );
                res
            }
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

/// The stylesheet the pages load: [`BASE_STYLESHEET`], then `--primary` when configured.
pub fn stylesheet(primary: Option<&PrimaryColor>) -> String {
    match primary {
        Some(c) => format!(
            "{BASE_STYLESHEET}\n/* ui.primary_color */\n:root {{ --primary: {}; }}\n",
            c.as_str()
        ),
        None => BASE_STYLESHEET.to_owned(),
    }
}

fn version(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    hex::encode(&digest.as_ref()[..6])
}

fn asset(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: the primary colour goes into CSS, so only `#rgb` and `#rrggbb` pass.
    #[test]
    fn white_text_contrast_follows_wcag() {
        let ratio = |c: &str| c.parse::<PrimaryColor>().unwrap().contrast_with_white();
        assert!((ratio("#000") - 21.0).abs() < 0.01);
        assert!((ratio("#ffffff") - 1.0).abs() < 0.01);
        // The default button colour passes AA; a light yellow does not.
        assert!(
            ratio("#1f5fbf") >= MIN_BUTTON_CONTRAST,
            "{}",
            ratio("#1f5fbf")
        );
        assert!(ratio("#ffcc00") < MIN_BUTTON_CONTRAST);
        // #767676 is the classic AA boundary grey (4.54:1).
        assert!(
            (ratio("#767676") - 4.54).abs() < 0.01,
            "{}",
            ratio("#767676")
        );
    }

    #[test]
    fn primary_color_accepts_only_strict_hex() {
        assert_eq!(
            "#1F5fBf".parse::<PrimaryColor>().unwrap().as_str(),
            "#1f5fbf"
        );
        assert_eq!("#abc".parse::<PrimaryColor>().unwrap().as_str(), "#abc");
        for bad in [
            "1f5fbf",
            "#1f5fb",
            "#1f5fbf0",
            "#abcd",
            "#ggg",
            "red",
            "#abc;}",
            "#abc} body{display:none",
            "",
            "#",
        ] {
            assert!(bad.parse::<PrimaryColor>().is_err(), "{bad}");
        }
    }

    /// Issue 14: a resource's description wins over the global one; unknown scopes have none.
    #[test]
    fn resource_scope_description_wins_over_global() {
        let d = ScopeDescriptions::new(BTreeMap::from([
            ("files:read".to_owned(), "Read your files".to_owned()),
            ("files:write".to_owned(), "Change files".to_owned()),
        ]))
        .unwrap()
        .with_resource(
            "https://mcp.example.com/mcp",
            BTreeMap::from([(
                "files:write".to_owned(),
                "Create, change and delete your files".to_owned(),
            )]),
        )
        .unwrap();
        let r = "https://mcp.example.com/mcp";
        assert_eq!(
            d.describe(r, "files:write"),
            Some("Create, change and delete your files")
        );
        assert_eq!(d.describe(r, "files:read"), Some("Read your files"));
        assert_eq!(
            d.describe("https://other.example/mcp", "files:write"),
            Some("Change files")
        );
        assert_eq!(d.describe(r, "mcp:tools"), None);
    }

    #[test]
    fn empty_scope_description_is_refused() {
        let e = ScopeDescriptions::new(BTreeMap::from([("a".to_owned(), " ".to_owned())]));
        assert!(matches!(e, Err(UiError::ScopeDescription(s)) if s == "a"));
    }

    /// Issue 14: the logo is a local file; anything that parses as a URL is refused at start.
    #[test]
    fn logo_url_is_refused() {
        for url in [
            "https://cdn.example.com/logo.png",
            "http://127.0.0.1/logo.png",
            "file:///etc/logo.png",
            "data:image/png;base64,AAAA",
        ] {
            assert!(
                matches!(Logo::load(Path::new(url)), Err(UiError::LogoIsUrl(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn logo_type_comes_from_the_extension_and_must_match_the_content() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(
            Logo::from_bytes("png", png.clone()).unwrap().content_type(),
            "image/png"
        );
        assert_eq!(
            Logo::from_bytes("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec())
                .unwrap()
                .content_type(),
            "image/svg+xml"
        );
        assert!(matches!(
            Logo::from_bytes("gif", png.clone()),
            Err(UiError::LogoExtension(_))
        ));
        assert!(matches!(
            Logo::from_bytes("jpg", png),
            Err(UiError::LogoContent(_))
        ));
        assert!(matches!(
            Logo::from_bytes("png", vec![0x89; MAX_LOGO_BYTES as usize + 1]),
            Err(UiError::LogoTooLarge { .. })
        ));
    }

    #[test]
    fn logo_file_is_read_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("logo.svg");
        std::fs::write(&ok, "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>").unwrap();
        assert_eq!(Logo::load(&ok).unwrap().content_type(), "image/svg+xml");
        let big = dir.path().join("big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(MAX_LOGO_BYTES as usize + 1, 0);
        std::fs::write(&big, bytes).unwrap();
        assert!(matches!(
            Logo::load(&big),
            Err(UiError::LogoTooLarge { .. })
        ));
        assert!(matches!(
            Logo::load(&dir.path().join("missing.png")),
            Err(UiError::LogoRead { .. })
        ));
    }

    #[test]
    fn stylesheet_sets_the_primary_colour_as_a_custom_property() {
        let c: PrimaryColor = "#0A7".parse().unwrap();
        let css = stylesheet(Some(&c));
        assert!(css.starts_with(BASE_STYLESHEET));
        assert!(css.ends_with(":root { --primary: #0a7; }\n"));
        assert_eq!(stylesheet(None), BASE_STYLESHEET);
    }

    #[test]
    fn asset_urls_change_with_their_content() {
        let a = UiAssets::new(&UiSettings::default());
        let b = UiAssets::new(&UiSettings {
            primary_color: Some("#000".parse().unwrap()),
            ..UiSettings::default()
        });
        assert!(a.stylesheet_path().starts_with("/ui/style.css?v="));
        assert_ne!(a.stylesheet_path(), b.stylesheet_path());
        assert_eq!(a.logo_path(), None);
    }

    #[test]
    fn product_name_is_checked() {
        assert!(UiSettings::check_product_name("Acme MCP").is_ok());
        assert!(UiSettings::check_product_name("").is_err());
        assert!(UiSettings::check_product_name("a\nb").is_err());
        assert!(UiSettings::check_product_name(&"x".repeat(81)).is_err());
    }
}
