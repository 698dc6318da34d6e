//! Property tests: no input makes the loader panic.

use super::load;
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "tls_server_config:",
    "basic_auth_users:",
    "http_server_config:",
    "headers:",
    "\n",
    "  ",
    "cert_file: ",
    "key_file: ",
    "client_ca_file: ",
    "client_auth_type: ",
    "RequireAndVerifyClientCert",
    "min_version: ",
    "TLS13",
    "cipher_suites: ",
    "http2: ",
    "false",
    "u: ",
    "$2y$10$abc",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "&a ",
    "*a",
    "\"",
    "é",
    "#",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_web_config_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..48),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        for text in [bytes, tokens.concat().into_bytes()] {
            std::fs::write(&path, &text).unwrap();
            let _ = load(&path, &mut super::Reader::default());
        }
    }
}
