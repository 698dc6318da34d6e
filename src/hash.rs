//! Stable hashes: FNV-1a and a fingerprint of length-prefixed fields.

use std::time::Duration;

/// FNV-1a: tiny and stable across builds and platforms (unlike
/// `DefaultHasher`), for schedule phases, fingerprints and file names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fields hashed with FNV-1a, each prefixed with its length so that
/// ("ab", "c") and ("a", "bc") differ.
#[derive(Default)]
pub(crate) struct Fingerprint(Vec<u8>);

impl Fingerprint {
    /// Adds one field.
    pub(crate) fn add(&mut self, field: impl AsRef<[u8]>) -> &mut Self {
        let field = field.as_ref();
        self.0
            .extend_from_slice(&(field.len() as u64).to_le_bytes());
        self.0.extend_from_slice(field);
        self
    }

    pub(crate) fn option(&mut self, field: Option<impl AsRef<[u8]>>) -> &mut Self {
        match field {
            Some(f) => self.add([1]).add(f),
            None => self.add([0]),
        }
    }

    pub(crate) fn duration(&mut self, d: Duration) -> &mut Self {
        self.add(d.as_nanos().to_le_bytes())
    }

    /// The hash of the fields added so far.
    pub(crate) fn finish(&self) -> u64 {
        fnv1a(&self.0)
    }
}
