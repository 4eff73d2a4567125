//! Subject distinguished names and subject alternative names, as paypki accepts them.
//!
//! A subject is an ordered list of single-valued attributes from a fixed set; a SAN is a
//! DNS name, an e-mail address, a URI or an IP address. Anything else is refused by the
//! parsers here, so the policy checks and the CA only ever see these forms.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A subject attribute type that paypki knows how to check and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeType {
    /// commonName (2.5.4.3)
    CommonName,
    /// organizationName (2.5.4.10)
    Organization,
    /// organizationalUnitName (2.5.4.11)
    OrganizationalUnit,
    /// countryName (2.5.4.6), two letters, PrintableString
    Country,
    /// stateOrProvinceName (2.5.4.8)
    State,
    /// localityName (2.5.4.7)
    Locality,
    /// serialNumber (2.5.4.5), PrintableString: the participant's network ID (merchant ID, BIC…)
    SerialNumber,
    /// organizationIdentifier (2.5.4.97), e.g. an LEI or VAT number
    OrganizationIdentifier,
}

/// Name in policy files and subject strings, OID arcs, and whether X.520 makes it a
/// PrintableString.
const ATTRIBUTES: [(AttributeType, &str, &[u64], bool); 8] = [
    (AttributeType::CommonName, "CN", &[2, 5, 4, 3], false),
    (AttributeType::Organization, "O", &[2, 5, 4, 10], false),
    (
        AttributeType::OrganizationalUnit,
        "OU",
        &[2, 5, 4, 11],
        false,
    ),
    (AttributeType::Country, "C", &[2, 5, 4, 6], true),
    (AttributeType::State, "ST", &[2, 5, 4, 8], false),
    (AttributeType::Locality, "L", &[2, 5, 4, 7], false),
    (
        AttributeType::SerialNumber,
        "serialNumber",
        &[2, 5, 4, 5],
        true,
    ),
    (
        AttributeType::OrganizationIdentifier,
        "organizationIdentifier",
        &[2, 5, 4, 97],
        false,
    ),
];

impl AttributeType {
    fn entry(self) -> (AttributeType, &'static str, &'static [u64], bool) {
        ATTRIBUTES
            .iter()
            .copied()
            .find(|entry| entry.0 == self)
            .unwrap_or((self, "?", &[], false))
    }

    /// The short name (`CN`, `O`, …) used in policy files and subject strings.
    pub fn short_name(self) -> &'static str {
        self.entry().1
    }

    /// The OID arcs.
    pub fn oid(self) -> &'static [u64] {
        self.entry().2
    }

    /// Whether X.520 requires a PrintableString (countryName, serialNumber).
    pub fn is_printable_string(self) -> bool {
        self.entry().3
    }

    /// The attribute with this OID, if paypki supports it.
    pub fn from_oid(arcs: &[u64]) -> Option<Self> {
        ATTRIBUTES.iter().find(|e| e.2 == arcs).map(|e| e.0)
    }

    /// All names, for error messages.
    pub fn all_names() -> String {
        ATTRIBUTES
            .iter()
            .map(|e| e.1)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for AttributeType {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ATTRIBUTES
            .iter()
            .find(|e| e.1.eq_ignore_ascii_case(s.trim()))
            .map(|e| e.0)
            .ok_or_else(|| NameError::UnknownAttribute(s.trim().to_string()))
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl Serialize for AttributeType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.short_name())
    }
}

impl<'de> Deserialize<'de> for AttributeType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// An attribute type outside the supported set.
    #[error("unsupported subject attribute {0:?} (supported: {all})", all = AttributeType::all_names())]
    UnknownAttribute(String),
    /// `TYPE=value` syntax broken.
    #[error("subject {0:?} is not of the form \"CN=…,O=…\"")]
    Syntax(String),
    /// The same attribute twice.
    #[error("subject attribute {0} appears more than once")]
    Repeated(AttributeType),
    /// Empty, too long or has control characters.
    #[error(
        "subject attribute {0} has an empty, overlong (over 64 characters) or non-printable value"
    )]
    BadValue(AttributeType),
    /// A Unicode format character (category Cf: bidirectional overrides, zero-width
    /// joiners…), which can make a name display as another one.
    #[error("subject attribute {0} contains an invisible Unicode formatting character (such as a right-to-left override), which could make it display as another name")]
    FormatCharacter(AttributeType),
    /// PrintableString attribute with characters outside that set.
    #[error("subject attribute {0} may use only letters, digits, space and '()+,-./:=?")]
    NotPrintable(AttributeType),
    /// countryName that is not two letters.
    #[error("country (C) must be a two-letter ISO 3166 code")]
    BadCountry,
    /// A subject with no attributes.
    #[error("the subject is empty")]
    Empty,
    /// A SAN of an unknown kind or with a bad value.
    #[error("bad subject alternative name {0:?}: {1}")]
    BadSan(String, &'static str),
}

impl NameError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            NameError::UnknownAttribute(_)
            | NameError::Syntax(_)
            | NameError::Repeated(_)
            | NameError::BadValue(_)
            | NameError::FormatCharacter(_)
            | NameError::NotPrintable(_)
            | NameError::BadCountry
            | NameError::Empty
            | NameError::BadSan(..) => crate::error::ErrorKind::PolicyViolation,
        }
    }
}

/// An ordered subject distinguished name, one value per attribute type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectName {
    attributes: Vec<(AttributeType, String)>,
}

impl SubjectName {
    /// Builds a subject from attributes, checking every value.
    pub fn new(attributes: Vec<(AttributeType, String)>) -> Result<Self, NameError> {
        if attributes.is_empty() {
            return Err(NameError::Empty);
        }
        let mut seen = Vec::new();
        for (kind, value) in &attributes {
            if seen.contains(kind) {
                return Err(NameError::Repeated(*kind));
            }
            seen.push(*kind);
            check_value(*kind, value)?;
        }
        Ok(SubjectName { attributes })
    }

    /// The attributes in order.
    pub fn attributes(&self) -> &[(AttributeType, String)] {
        &self.attributes
    }

    /// The value of one attribute.
    pub fn value(&self, kind: AttributeType) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_str())
    }

    /// Builds rcgen's form of this name.
    pub fn to_rcgen(&self) -> Result<rcgen::DistinguishedName, rcgen::Error> {
        let mut dn = rcgen::DistinguishedName::new();
        for (kind, value) in &self.attributes {
            let dn_type = match kind {
                AttributeType::CommonName => rcgen::DnType::CommonName,
                AttributeType::Organization => rcgen::DnType::OrganizationName,
                AttributeType::OrganizationalUnit => rcgen::DnType::OrganizationalUnitName,
                AttributeType::Country => rcgen::DnType::CountryName,
                AttributeType::State => rcgen::DnType::StateOrProvinceName,
                AttributeType::Locality => rcgen::DnType::LocalityName,
                other => rcgen::DnType::CustomDnType(other.oid().to_vec()),
            };
            let dn_value = if kind.is_printable_string() {
                rcgen::DnValue::PrintableString(value.as_str().try_into()?)
            } else {
                rcgen::DnValue::Utf8String(value.clone())
            };
            dn.push(dn_type, dn_value);
        }
        Ok(dn)
    }

    /// Reads a subject from a parsed certificate or CSR.
    pub fn from_x509(name: &x509_parser::x509::X509Name<'_>) -> Result<Self, NameError> {
        let mut attributes = Vec::new();
        for rdn in name.iter() {
            for attribute in rdn.iter() {
                let arcs: Vec<u64> = attribute
                    .attr_type()
                    .iter()
                    .map(|iter| iter.collect())
                    .unwrap_or_default();
                let kind = AttributeType::from_oid(&arcs).ok_or_else(|| {
                    NameError::UnknownAttribute(attribute.attr_type().to_id_string())
                })?;
                let value = attribute
                    .as_str()
                    .map_err(|_| NameError::BadValue(kind))?
                    .to_string();
                attributes.push((kind, value));
            }
        }
        SubjectName::new(attributes)
    }
}

fn check_value(kind: AttributeType, value: &str) -> Result<(), NameError> {
    // RFC 5280 Appendix A upper bounds are 64 for most attributes; we apply 64 to all.
    if value.trim().is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control)
    {
        return Err(NameError::BadValue(kind));
    }
    if value.chars().any(is_format_character) {
        return Err(NameError::FormatCharacter(kind));
    }
    if kind.is_printable_string() && !value.chars().all(is_printable_string_char) {
        return Err(NameError::NotPrintable(kind));
    }
    if kind == AttributeType::Country
        && !(value.len() == 2 && value.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(NameError::BadCountry);
    }
    Ok(())
}

/// Unicode general category Cf (format): U+202E RIGHT-TO-LEFT OVERRIDE makes
/// "Shop<U+202E>moc.live" display as "Shopevil.com"; no participant name needs one.
fn is_format_character(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.general_category() == GeneralCategory::Format
}

/// X.680 PrintableString alphabet.
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

impl FromStr for SubjectName {
    type Err = NameError;
    /// Parses `CN=Alice,O=Shop Ltd` (RFC 4514 style: `\,` escapes a comma; a `/`-separated
    /// OpenSSL form `/CN=Alice/O=Shop` is accepted too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let parts: Vec<String> = if let Some(rest) = text.strip_prefix('/') {
            rest.split('/').map(str::to_string).collect()
        } else {
            split_unescaped(text)
        };
        let mut attributes = Vec::new();
        for part in parts {
            let (kind, value) = part
                .split_once('=')
                .ok_or_else(|| NameError::Syntax(s.to_string()))?;
            attributes.push((kind.trim().parse()?, value.trim().to_string()));
        }
        SubjectName::new(attributes)
    }
}

fn split_unescaped(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

impl fmt::Display for SubjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (kind, value) in &self.attributes {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(
                f,
                "{}={}",
                kind,
                value.replace('\\', "\\\\").replace(',', "\\,")
            )?;
        }
        Ok(())
    }
}

impl Serialize for SubjectName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SubjectName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The kinds of subject alternative name a policy can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanKind {
    /// dNSName
    Dns,
    /// rfc822Name
    Email,
    /// uniformResourceIdentifier
    Uri,
    /// iPAddress
    Ip,
}

impl fmt::Display for SanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SanKind::Dns => "dns",
            SanKind::Email => "email",
            SanKind::Uri => "uri",
            SanKind::Ip => "ip",
        })
    }
}

/// One subject alternative name, written `dns:pay.example.com`, `email:a@b.example`,
/// `uri:https://…` or `ip:192.0.2.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// A DNS host name (no wildcards).
    Dns(String),
    /// An e-mail address.
    Email(String),
    /// A URI.
    Uri(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Which kind of name this is.
    pub fn kind(&self) -> SanKind {
        match self {
            SubjectAltName::Dns(_) => SanKind::Dns,
            SubjectAltName::Email(_) => SanKind::Email,
            SubjectAltName::Uri(_) => SanKind::Uri,
            SubjectAltName::Ip(_) => SanKind::Ip,
        }
    }

    /// Builds rcgen's form of this name.
    pub fn to_rcgen(&self) -> Result<rcgen::SanType, rcgen::Error> {
        Ok(match self {
            SubjectAltName::Dns(name) => rcgen::SanType::DnsName(name.as_str().try_into()?),
            SubjectAltName::Email(addr) => rcgen::SanType::Rfc822Name(addr.as_str().try_into()?),
            SubjectAltName::Uri(uri) => rcgen::SanType::URI(uri.as_str().try_into()?),
            SubjectAltName::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        })
    }

    /// Reads one general name from a parsed certificate or CSR.
    pub fn from_x509(name: &x509_parser::extensions::GeneralName<'_>) -> Result<Self, NameError> {
        use x509_parser::extensions::GeneralName;
        let text = match name {
            GeneralName::DNSName(v) => format!("dns:{v}"),
            GeneralName::RFC822Name(v) => format!("email:{v}"),
            GeneralName::URI(v) => format!("uri:{v}"),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                    _ => None,
                };
                match ip {
                    Some(ip) => format!("ip:{ip}"),
                    None => {
                        return Err(NameError::BadSan(
                            hex::encode(bytes),
                            "not an IPv4 or IPv6 address",
                        ))
                    }
                }
            }
            other => {
                return Err(NameError::BadSan(
                    format!("{other:?}"),
                    "only DNS, e-mail, URI and IP names are supported",
                ))
            }
        };
        text.parse()
    }
}

impl FromStr for SubjectAltName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| NameError::BadSan(s.to_string(), why);
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| bad("write it as dns:NAME, email:ADDRESS, uri:URI or ip:ADDRESS"))?;
        let value = value.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "dns" => {
                let name = value.trim_end_matches('.').to_ascii_lowercase();
                if is_dns_name(&name) {
                    Ok(SubjectAltName::Dns(name))
                } else {
                    Err(bad(
                        "not a valid host name (letters, digits and hyphens, no wildcards)",
                    ))
                }
            }
            "email" => {
                let (local, domain) = value
                    .split_once('@')
                    .ok_or_else(|| bad("not an e-mail address"))?;
                if local.is_empty()
                    || local.len() > 64
                    || !local.chars().all(|c| c.is_ascii_graphic() && c != '@')
                    || !is_dns_name(&domain.to_ascii_lowercase())
                {
                    return Err(bad("not an e-mail address"));
                }
                Ok(SubjectAltName::Email(format!(
                    "{local}@{}",
                    domain.to_ascii_lowercase()
                )))
            }
            "uri" => {
                let scheme_ok = value.split_once(':').is_some_and(|(scheme, rest)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                        && !rest.is_empty()
                });
                if scheme_ok && value.len() <= 2048 && value.chars().all(|c| c.is_ascii_graphic()) {
                    Ok(SubjectAltName::Uri(value.to_string()))
                } else {
                    Err(bad("not an absolute URI"))
                }
            }
            "ip" => value
                .parse::<IpAddr>()
                .map(SubjectAltName::Ip)
                .map_err(|_| bad("not an IPv4 or IPv6 address")),
            _ => Err(bad("unknown kind: use dns:, email:, uri: or ip:")),
        }
    }
}

/// A preferred-name-syntax host name (RFC 1034 §3.5, RFC 5280 §4.2.1.6).
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').count() >= 1
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(v) => write!(f, "dns:{v}"),
            SubjectAltName::Email(v) => write!(f, "email:{v}"),
            SubjectAltName::Uri(v) => write!(f, "uri:{v}"),
            SubjectAltName::Ip(v) => write!(f, "ip:{v}"),
        }
    }
}

impl Serialize for SubjectAltName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SubjectAltName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_formatting_characters_are_refused() {
        for bad in [
            "CN=Shop\u{202E}moc.live,O=Shop",
            "CN=Sh\u{200B}op,O=Shop",
            "CN=Shop,O=Pay\u{2066}Pal\u{2069}",
            "CN=\u{FEFF}Shop,O=Shop",
        ] {
            assert!(
                matches!(
                    bad.parse::<SubjectName>(),
                    Err(NameError::FormatCharacter(_))
                ),
                "{bad:?}"
            );
        }
        // Ordinary non-ASCII names stay fine.
        assert!("CN=Café Zürich,O=Bäckerei Müller"
            .parse::<SubjectName>()
            .is_ok());
        assert!("CN=東京商店,O=株式会社".parse::<SubjectName>().is_ok());
    }

    #[test]
    fn subject_round_trips_with_escapes() {
        let s: SubjectName = "CN=Shop\\, Inc,O=Shop,C=DE,serialNumber=M12345678"
            .parse()
            .unwrap();
        assert_eq!(s.value(AttributeType::CommonName), Some("Shop, Inc"));
        assert_eq!(s.to_string().parse::<SubjectName>().unwrap(), s);
        let slash: SubjectName = "/CN=a/O=b".parse().unwrap();
        assert_eq!(slash.to_string(), "CN=a,O=b");
    }

    #[test]
    fn subject_refuses_bad_input() {
        assert_eq!(
            "CN=a,CN=b".parse::<SubjectName>(),
            Err(NameError::Repeated(AttributeType::CommonName))
        );
        assert_eq!(
            "C=Germany".parse::<SubjectName>(),
            Err(NameError::BadCountry)
        );
        assert!(matches!(
            "X=1".parse::<SubjectName>(),
            Err(NameError::UnknownAttribute(_))
        ));
        assert!(matches!(
            "CN".parse::<SubjectName>(),
            Err(NameError::Syntax(_))
        ));
        assert!(matches!(
            "serialNumber=a_b".parse::<SubjectName>(),
            Err(NameError::NotPrintable(_))
        ));
        assert!(matches!(
            "CN=".parse::<SubjectName>(),
            Err(NameError::BadValue(_))
        ));
        assert!(matches!(
            format!("CN={}", "a".repeat(65)).parse::<SubjectName>(),
            Err(NameError::BadValue(_))
        ));
    }

    #[test]
    fn sans_parse_and_refuse() {
        assert_eq!(
            "dns:Pay.Example.COM."
                .parse::<SubjectAltName>()
                .unwrap()
                .to_string(),
            "dns:pay.example.com"
        );
        assert!("dns:*.example.com".parse::<SubjectAltName>().is_err());
        assert!("dns:-bad.example".parse::<SubjectAltName>().is_err());
        assert!("email:a@b.example".parse::<SubjectAltName>().is_ok());
        assert!("email:nobody".parse::<SubjectAltName>().is_err());
        assert!("ip:192.0.2.1".parse::<SubjectAltName>().is_ok());
        assert!("ip:999.0.0.1".parse::<SubjectAltName>().is_err());
        assert!("uri:https://pay.example/x"
            .parse::<SubjectAltName>()
            .is_ok());
        assert!("uri:nope".parse::<SubjectAltName>().is_err());
        assert!("x400:foo".parse::<SubjectAltName>().is_err());
    }
}
