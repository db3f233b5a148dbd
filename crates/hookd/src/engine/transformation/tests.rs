//! The sandbox and the judge of what a function returns, called directly (no HTTP).

use super::sandbox::{self, SandboxInput, SandboxPayload};
use super::*;

fn input() -> SandboxInput {
    SandboxInput {
        method: "POST".into(),
        url: "https://example.com/hook".into(),
        event_type: "order.created".into(),
        payload: SandboxPayload::Json(r#"{"id":7,"items":[1,2]}"#.into()),
        headers: vec![("x-team".into(), "core".into())],
    }
}

/// Runs `handler` over `input()` and judges it as a JSON message.
fn outcome(code: &str) -> Result<Transformed, TransformationError> {
    let output = sandbox::run(code, &input(), limits_for(100))?;
    judge(output, None)
}

fn fails_with(code: &str, expected: fn(&TransformationError) -> bool) {
    let result = outcome(code);
    assert!(
        matches!(&result, Err(error) if expected(error)),
        "{code}: {result:?}"
    );
}

#[test]
fn a_handler_rewrites_every_part() {
    let code = r#"function handler(webhook) {
        webhook.payload = { wrapped: webhook.payload, type: webhook.eventType };
        webhook.url = webhook.url + "?v=2";
        webhook.method = "PUT";
        webhook.headers["x-extra"] = webhook.headers["x-team"] + "!";
        return webhook;
    }"#;
    let Ok(Transformed::Send(request)) = outcome(code) else {
        panic!("{:?}", outcome(code));
    };
    assert_eq!(request.method, HttpMethod::Put);
    assert_eq!(request.url.as_str(), "https://example.com/hook?v=2");
    assert_eq!(
        request.body,
        r#"{"wrapped":{"id":7,"items":[1,2]},"type":"order.created"}"#
    );
    assert_eq!(request.content_type, None);
    assert_eq!(
        request.headers.get("x-extra").map(String::as_str),
        Some("core!")
    );
    assert_eq!(
        request.headers.get("x-team").map(String::as_str),
        Some("core")
    );
}

#[test]
fn cancel_sends_nothing() {
    let code = "function handler(w) { w.cancel = true; return w; }";
    assert_eq!(outcome(code), Ok(Transformed::Cancelled));
}

/// What a case's error must be.
type Expected = fn(&TransformationError) -> bool;

#[test]
fn hostile_functions_fail_with_their_own_reason() {
    use TransformationError as E;
    let cases: &[(&str, Expected)] = &[
        ("function handler(w) { for (;;) {} }", |e| *e == E::TimedOut),
        (
            "function handler(w) { while (true) { try { for(;;){} } catch (e) {} } }",
            |e| *e == E::TimedOut,
        ),
        ("for (;;) {}", |e| *e == E::TimedOut),
        (
            "function handler(w) { let a = []; for (;;) a.push(new ArrayBuffer(1 << 22)); }",
            |e| *e == E::OutOfMemory,
        ),
        ("function handler(w) { return 'x'.repeat(1 << 28); }", |e| {
            *e == E::OutOfMemory
        }),
        (
            "function f(n) { return f(n + 1) + 1; } function handler(w) { return f(0); }",
            |e| *e == E::StackOverflow,
        ),
        (
            "function handler(w) { throw new TypeError('nope'); }",
            |e| *e == E::Threw("TypeError: nope".into()),
        ),
        ("function handler(w) { throw 42; }", |e| {
            *e == E::Threw("42".into())
        }),
        (
            "function handler(w) { return null; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("not null")),
        ),
        (
            "function handler(w) { return 3; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("a number")),
        ),
        (
            "function handler(w) { return [w]; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("an array")),
        ),
        (
            "function handler(w) { w.method = 'DELETE'; return w; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("\"DELETE\"")),
        ),
        ("function handler(w) { w.method = 7; return w; }", |e| {
            matches!(e, E::InvalidResult(_))
        }),
        (
            "function handler(w) { w.url = 'ftp://example.com/'; return w; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("http or https")),
        ),
        (
            "function handler(w) { w.url = 'not a url'; return w; }",
            |e| matches!(e, E::InvalidResult(_)),
        ),
        (
            "function handler(w) { w.headers['x-a'] = 'a\\r\\nInjected: 1'; return w; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("x-a")),
        ),
        (
            "function handler(w) { w.headers['bad name'] = 'a'; return w; }",
            |e| matches!(e, E::InvalidResult(_)),
        ),
        (
            "function handler(w) { w.headers['webhook-signature'] = 'v1,forged'; return w; }",
            |e| matches!(e, E::InvalidResult(m) if m.contains("set by hookd")),
        ),
        (
            "function handler(w) { w.headers['x-a'] = 1; return w; }",
            |e| matches!(e, E::InvalidResult(_)),
        ),
        (
            "function handler(w) { w.payload = undefined; return w; }",
            |e| matches!(e, E::InvalidResult(_)),
        ),
        (
            "function handler(w) { w.payload = {}; w.payload.self = w.payload; return w; }",
            |e| matches!(e, E::Threw(m) if m.starts_with("TypeError")),
        ),
        ("function handler(w) { w.cancel = 'yes'; return w; }", |e| {
            matches!(e, E::InvalidResult(_))
        }),
        ("var handler = 3;", |e| *e == E::NoHandler),
        ("function handler(w) { return w; ", |e| {
            matches!(e, E::Syntax(_))
        }),
    ];
    for (code, expected) in cases {
        fails_with(code, *expected);
    }
}

#[test]
fn the_sandbox_offers_no_io() {
    // Each of these names would be a way out of the sandbox; none exists.
    for name in [
        "fetch",
        "require",
        "process",
        "std",
        "os",
        "setTimeout",
        "XMLHttpRequest",
        "Deno",
    ] {
        let code =
            format!("function handler(w) {{ w.payload = {{ t: typeof {name} }}; return w; }}");
        let Ok(Transformed::Send(request)) = outcome(&code) else {
            panic!("{name}: {:?}", outcome(&code));
        };
        assert_eq!(request.body, r#"{"t":"undefined"}"#, "{name}");
    }
    // No module loader: a dynamic import is refused.
    let code = "function handler(w) { import('os'); return w; }";
    assert!(outcome(code).is_ok() || outcome(code).is_err());
    let code = "import * as os from 'os'; function handler(w) { return w; }";
    fails_with(code, |e| matches!(e, TransformationError::Syntax(_)));
}

#[test]
fn one_call_cannot_leak_into_the_next() {
    let code = "var calls = (typeof calls === 'number' ? calls : 0) + 1;
        Object.prototype.polluted = 'yes';
        function handler(w) { w.payload = { calls: calls, polluted: ({}).polluted }; return w; }";
    for _ in 0..2 {
        let Ok(Transformed::Send(request)) = outcome(code) else {
            panic!("{:?}", outcome(code));
        };
        assert_eq!(request.body, r#"{"calls":1,"polluted":"yes"}"#);
    }
    let clean =
        "function handler(w) { w.payload = { polluted: ({}).polluted ?? null }; return w; }";
    let Ok(Transformed::Send(request)) = outcome(clean) else {
        panic!()
    };
    assert_eq!(request.body, r#"{"polluted":null}"#);
}

#[test]
fn text_payloads_stay_text() {
    let mut text_input = input();
    text_input.payload = SandboxPayload::Text("a=1&b=2".into());
    let code = "function handler(w) { w.payload = w.payload + '&c=3'; return w; }";
    let output = sandbox::run(code, &text_input, limits_for(10)).unwrap();
    let Ok(Transformed::Send(request)) = judge(output, Some("application/x-www-form-urlencoded"))
    else {
        panic!()
    };
    assert_eq!(request.body, "a=1&b=2&c=3");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    // A string returned for a JSON message is sent as a JSON string.
    let code = "function handler(w) { w.payload = 'hi'; return w; }";
    let Ok(Transformed::Send(request)) = outcome(code) else {
        panic!()
    };
    assert_eq!(request.body, r#""hi""#);
}

#[tokio::test]
async fn check_code_refuses_what_would_fail_every_delivery() {
    assert_eq!(
        check_code("function handler(w) { return w; }".into()).await,
        Ok(())
    );
    assert!(matches!(
        check_code("function handler(w) {".into()).await,
        Err(TransformationError::Syntax(_))
    ));
    assert_eq!(
        check_code("let x = 1;".into()).await,
        Err(TransformationError::NoHandler)
    );
    assert_eq!(
        check_code("while (1) {}".into()).await,
        Err(TransformationError::TimedOut)
    );
    assert_eq!(
        check_code(" ".repeat(MAX_CODE_BYTES + 1)).await,
        Err(TransformationError::TooLong)
    );
}
