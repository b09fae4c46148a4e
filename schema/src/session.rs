//! Who is asking: the verified claims of a request's token, as the resolvers need them.

/// The caller of one request. Built by the gateway's auth layer from a verified token; the
/// schema crate only reads it (row filters bind its agency and jurisdiction as parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Who issued the token (`iss`): this gateway or a trusted identity provider.
    pub issuer: String,
    pub subject: String,
    pub role: String,
    /// The agency's code (`KANIM-JKP`), as in `agencies.code`.
    pub agency: String,
    /// A Kemendagri region-code prefix: `31`, `31.71`, `31.71.01` or `31.71.01.1001`.
    pub jurisdiction: String,
    pub token_id: String,
    /// When the token was issued (`iat`, Unix seconds; 0 if it does not say).
    pub issued_at: i64,
    pub purpose: Option<String>,
    /// Scopes that narrow the role (sorted, without duplicates); empty: the whole role.
    pub scopes: Vec<String>,
}

impl Session {
    /// One key per caller, however many tokens it holds: limits are per caller, so minting
    /// fresh tokens does not buy a fresh allowance.
    pub fn caller_key(&self) -> String {
        format!("{}\u{0}{}", self.issuer, self.subject)
    }
}

/// Whether `code` is a well-formed Kemendagri region code (province, city, district or village).
pub fn is_region_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    let widths = [2, 2, 2, 4];
    !parts.is_empty()
        && parts.len() <= widths.len()
        && parts
            .iter()
            .zip(widths)
            .all(|(p, w)| p.len() == w && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_region_code;

    #[test]
    fn region_codes() {
        for ok in ["31", "31.71", "31.71.01", "31.71.01.1001"] {
            assert!(is_region_code(ok), "{ok}");
        }
        for bad in [
            "",
            "3",
            "3171",
            "31.7",
            "31.71.01.100",
            "31.71.01.1001.1",
            "31.71.%",
            "31._1",
        ] {
            assert!(!is_region_code(bad), "{bad}");
        }
    }
}
