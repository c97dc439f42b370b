//! Genesys Cloud's regions: AWS names and their domains, and reading a
//! region given as either.

use crate::Error;

/// Genesys Cloud regions by AWS name, with their domain.
const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "mypurecloud.com"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("eu-west-1", "mypurecloud.ie"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("eu-central-1", "mypurecloud.de"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
];

/// The region used when none is given, as in the official SDKs.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The domain of a region given as an AWS name or as a known domain.
#[cfg(test)]
pub(crate) fn region_domain(input: &str) -> Result<&'static str, Error> {
    region(input).map(|(_, domain)| domain)
}

/// The AWS name and the domain of a region given as either.
pub(crate) fn region(input: &str) -> Result<(&'static str, &'static str), Error> {
    // `us_east_1`, as Genesys' own tools name regions, is `us-east-1`.
    let s = input.trim().to_ascii_lowercase().replace('_', "-");
    let host = s.strip_prefix("https://").unwrap_or(&s);
    let host = host.strip_suffix('/').unwrap_or(host);
    let host = host.strip_prefix("api.").unwrap_or(host);
    REGIONS
        .iter()
        .find(|(name, domain)| *name == s || *domain == host)
        .copied()
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown region {input:?}: use an AWS region name such as eu-west-1 or a \
                 Genesys Cloud domain such as mypurecloud.ie (for anything else, base_url)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_in_every_accepted_form() {
        for input in [
            "eu-west-1",
            "EU-WEST-1",
            "eu_west_1",
            " eu-west-1 ",
            "mypurecloud.ie",
            "api.mypurecloud.ie",
            "https://api.mypurecloud.ie",
            "https://api.mypurecloud.ie/",
        ] {
            assert_eq!(region_domain(input).unwrap(), "mypurecloud.ie", "{input}");
        }
        assert_eq!(region_domain(DEFAULT_REGION).unwrap(), "mypurecloud.com");
        for bad in [
            "",
            "eu-west-9",
            "evil.example.com",
            "http://api.mypurecloud.ie",
            "mypurecloud.ie/x",
            "login.mypurecloud.ie",
        ] {
            assert!(matches!(region_domain(bad), Err(Error::Config(_))), "{bad}");
        }
    }
}
