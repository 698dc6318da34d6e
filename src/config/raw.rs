//! The file as written: serde structs, every one `deny_unknown_fields`,
//! values `Spanned` where validation must point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) services: Vec<RawService>,
    #[serde(default)]
    pub(super) logs: Vec<RawLog>,
    #[serde(default)]
    pub(super) modules: Vec<RawModule>,
    #[serde(default)]
    pub(super) service_files: Vec<RawServiceFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServiceFiles {
    pub(super) files: Spanned<Vec<Spanned<String>>>,
    pub(super) module: Spanned<String>,
    pub(super) interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModule {
    pub(super) name: Spanned<String>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) http: Option<RawHttp>,
    pub(super) tcp: Option<RawTcp>,
    #[serde(default)]
    pub(super) allowed_targets: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) allow_link_local: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) name: Spanned<String>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) http: Option<RawHttp>,
    pub(super) tcp: Option<RawTcp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) url: Option<Spanned<String>>,
    pub(super) method: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Spanned<String>>,
    pub(super) body: Option<String>,
    #[serde(default)]
    pub(super) valid_status_codes: Vec<Spanned<u16>>,
    #[serde(default)]
    pub(super) fail_if_body_matches: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) fail_if_body_not_matches: Vec<Spanned<String>>,
    pub(super) follow_redirects: Option<bool>,
    pub(super) tls: Option<RawTls>,
    pub(super) basic_auth: Option<RawBasicAuth>,
    pub(super) bearer_token_file: Option<Spanned<String>>,
    pub(super) max_body_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTcp {
    pub(super) address: Option<Spanned<String>>,
    pub(super) tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) insecure_skip_verify: bool,
    pub(super) server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBasicAuth {
    pub(super) username: Spanned<String>,
    pub(super) password_file: Spanned<String>,
}

/// A `logs:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) name: Spanned<String>,
    pub(super) paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) exclude: Vec<Spanned<String>>,
    pub(super) start_at: Option<Spanned<String>>,
    pub(super) max_line_bytes: Option<Spanned<u64>>,
    pub(super) levels: Option<RawLevels>,
    #[serde(default)]
    pub(super) patterns: Vec<RawPattern>,
    pub(super) service: Option<Spanned<String>>,
    pub(super) watch: Option<Spanned<String>>,
    pub(super) poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) path_labels: Vec<Spanned<String>>,
    pub(super) service_from: Option<Spanned<String>>,
    pub(super) max_series: Option<Spanned<u64>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) inner_format: Option<Spanned<String>>,
    pub(super) level_field: Option<Spanned<OneOrMany>>,
}

/// A key that takes one name or a list of names.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevels {
    pub(super) error: Option<Spanned<Vec<String>>>,
    pub(super) warning: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) case_insensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPattern {
    pub(super) name: Spanned<String>,
    pub(super) regex: Spanned<String>,
    #[serde(default)]
    pub(super) labels: Vec<Spanned<String>>,
    pub(super) max_series: Option<Spanned<u64>>,
    pub(super) field: Option<Spanned<String>>,
    pub(super) value: Option<super::log_values::RawValue>,
    pub(super) sum: Option<super::log_values::RawSum>,
}
