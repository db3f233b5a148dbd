//! The table-driven check every scheme's negative tests use: a valid request, and cases that
//! each change one thing about it and state the verifier's expected answer.

use webhook_signature::VerifyError;

/// Everything a provider verifier may read; each provider uses the fields it needs.
#[derive(Clone, Default)]
pub struct Request {
    pub secret: Vec<u8>,
    pub url: String,
    pub params: Vec<(String, String)>,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub now: i64,
}

/// A named change to a valid request, and what verifying the changed request must return.
pub type Case<R = Request> = (&'static str, fn(&mut R), Result<(), VerifyError>);

/// Checks that `valid` verifies, then that every case gives its expected result.
pub fn check<R: Clone>(valid: &R, verify: fn(&R) -> Result<(), VerifyError>, cases: &[Case<R>]) {
    assert_eq!(verify(valid), Ok(()), "the unchanged request must verify");
    for (name, change, expected) in cases {
        let mut request = valid.clone();
        change(&mut request);
        assert_eq!(verify(&request), *expected, "case: {name}");
    }
}
