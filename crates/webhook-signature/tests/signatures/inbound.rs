//! A whole inbound request and the verifier it is checked with, for the table-driven tests of
//! [`Verifier`]: each case changes one header, the body, the query or the clock.

use webhook_signature::{InboundRequest, Verifier, VerifyError};

#[derive(Clone)]
pub struct Inbound {
    pub verifier: Verifier,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub now: i64,
}

impl Inbound {
    pub fn new(verifier: Verifier, headers: &[(&str, &str)], body: &[u8], now: i64) -> Self {
        Self {
            verifier,
            query: String::new(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
            now,
        }
    }

    pub fn verify(&self) -> Result<(), VerifyError> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        let request = InboundRequest {
            query: &self.query,
            headers: &headers,
            body: &self.body,
        };
        self.verifier.verify(&request, self.now)
    }

    /// The value of header `name` (exact case), to change it in place.
    pub fn header_mut(&mut self, name: &str) -> &mut Vec<u8> {
        &mut self
            .headers
            .iter_mut()
            .find(|(header, _)| header == name)
            .unwrap_or_else(|| panic!("no header {name}"))
            .1
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(header, _)| header != name);
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers
            .push((name.to_owned(), value.as_bytes().to_vec()));
    }
}
