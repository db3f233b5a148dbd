//! What a verifier reads of an inbound HTTP request: the raw query, the headers and the raw
//! body, borrowed from the caller. It owns header lookup (ASCII case-insensitive, first value
//! wins, a value that is not UTF-8 counts as malformed) so that every scheme looks headers up
//! the same way. It does no I/O: the caller has already read the request.

use crate::VerifyError;

/// An inbound request as a verifier sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboundRequest<'a> {
    /// The query string as received, without the `?`; empty if there was none. Only Twilio
    /// signs it.
    pub query: &'a str,
    /// Every header as received, in order. Names are matched ignoring ASCII case.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body exactly as received, byte for byte.
    pub body: &'a [u8],
}

impl<'a> InboundRequest<'a> {
    /// The first value of header `name`, or `None` if the request has no such header or its
    /// value is empty.
    ///
    /// # Errors
    /// `malformed` if the value is not UTF-8, since no scheme signs such a header.
    pub(crate) fn header(
        &self,
        name: &str,
        malformed: VerifyError,
    ) -> Result<Option<&'a str>, VerifyError> {
        let Some((_, value)) = self
            .headers
            .iter()
            .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        let value = std::str::from_utf8(value).map_err(|_| malformed)?;
        Ok((!value.is_empty()).then_some(value))
    }

    /// Like [`InboundRequest::header`], with an absent or empty header reported as `missing`.
    pub(crate) fn required_header(
        &self,
        name: &str,
        missing: VerifyError,
        malformed: VerifyError,
    ) -> Result<&'a str, VerifyError> {
        self.header(name, malformed)?.ok_or(missing)
    }
}
