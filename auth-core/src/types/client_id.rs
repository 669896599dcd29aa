use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// An OAuth `client_id` (RFC 6749 §2.2): an opaque string, compared exactly.
///
/// A `client_id` that starts with `https://` is a Client ID Metadata Document URL (SEP-991);
/// [`ClientId::is_metadata_document_url`] tells the two kinds apart. Length: 1 to 2048 bytes of
/// visible ASCII (RFC 6749 Appendix A.1, VSCHAR).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Longest accepted `client_id`, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// The `client_id` as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the id is URL-shaped (`https://…`), i.e. a CIMD client (SEP-991).
    pub fn is_metadata_document_url(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl FromStr for ClientId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseError::new("client_id is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new("client_id is too long"));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ParseError::new("client_id has characters outside VSCHAR"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for ClientId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ClientId> for String {
    fn from(c: ClientId) -> Self {
        c.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shaped_ids_are_metadata_documents() {
        let id: ClientId = "https://app.example.com/client.json".parse().unwrap();
        assert!(id.is_metadata_document_url());
        let id: ClientId = "dcr_abc".parse().unwrap();
        assert!(!id.is_metadata_document_url());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!("a\nb".parse::<ClientId>().is_err());
        assert!("".parse::<ClientId>().is_err());
    }
}
