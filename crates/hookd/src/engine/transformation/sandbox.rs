//! The JavaScript sandbox: QuickJS (rquickjs) with a fresh runtime and context for every call,
//! so nothing one call leaves behind (globals, prototypes changed, memory) reaches another.
//!
//! What the sandbox holds: the ECMAScript built-ins and nothing else. hookd registers no host
//! function, no module loader and none of QuickJS's `std`/`os` modules, so a function can do no
//! I/O at all: no `fetch`, no `require`, no `import`, no timers, no files. Each runtime has a
//! memory limit and a stack limit, and an interrupt handler that stops the code at its deadline
//! (QuickJS polls it while running bytecode, so an infinite loop ends). Everything here is
//! blocking: callers run it off the async runtime (`super::run`).

use std::time::{Duration, Instant};

use rquickjs::{Context, Ctx, Function, Object, Runtime, Type, Value};

use super::TransformationError;

/// The bounds of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for evaluating the code and running `handler`.
    pub time: Duration,
    /// Bytes the runtime may allocate.
    pub memory_bytes: usize,
    /// Bytes of native stack the interpreter may use (deep recursion ends here).
    pub stack_bytes: usize,
}

/// What is handed to `handler`, as JavaScript values are made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInput {
    pub method: String,
    pub url: String,
    pub event_type: String,
    /// The payload: JSON text (parsed into `webhook.payload`) or, for a payload that is not
    /// JSON, its text (given as a string).
    pub payload: SandboxPayload,
    pub headers: Vec<(String, String)>,
}

/// A payload in or out of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxPayload {
    /// JSON text.
    Json(String),
    /// Text sent as it is (a string the function set, or an opaque inbound body).
    Text(String),
}

/// What `handler` returned, read into Rust values but not yet judged (`super` does that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOutput {
    pub method: String,
    pub url: String,
    pub payload: SandboxPayload,
    pub headers: Vec<(String, String)>,
    pub cancel: bool,
}

/// Evaluates `code` in a fresh sandbox and checks that it defines a function named `handler`.
/// This is what a PATCH runs, so a syntax error is refused there and never met at delivery.
pub fn check(code: &str, limits: Limits) -> Result<(), TransformationError> {
    with_sandbox(limits, |ctx, deadline| {
        handler_of(&ctx, code, deadline)?;
        Ok(())
    })
}

/// Evaluates `code` in a fresh sandbox and calls `handler(webhook)` with `input`.
pub fn run(
    code: &str,
    input: &SandboxInput,
    limits: Limits,
) -> Result<SandboxOutput, TransformationError> {
    with_sandbox(limits, |ctx, deadline| {
        let handler = handler_of(&ctx, code, deadline)?;
        let webhook = webhook_object(&ctx, input).map_err(|error| thrown(&ctx, error, deadline))?;
        let returned: Value = handler
            .call((webhook,))
            .map_err(|error| thrown(&ctx, error, deadline))?;
        read_output(&ctx, returned).map_err(|error| match error {
            ReadError::Invalid(problem) => TransformationError::InvalidResult(problem),
            ReadError::Js(error) => thrown(&ctx, error, deadline),
        })
    })
}

fn with_sandbox<T>(
    limits: Limits,
    body: impl for<'js> FnOnce(Ctx<'js>, Instant) -> Result<T, TransformationError>,
) -> Result<T, TransformationError> {
    let sandbox = |error: rquickjs::Error| TransformationError::Sandbox(error.to_string());
    let runtime = Runtime::new().map_err(sandbox)?;
    runtime.set_memory_limit(limits.memory_bytes);
    runtime.set_max_stack_size(limits.stack_bytes);
    let deadline = Instant::now() + limits.time;
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() >= deadline)));
    let context = Context::full(&runtime).map_err(sandbox)?;
    let result = context.with(|ctx| body(ctx, deadline));
    drop(context);
    result
}

/// Runs the code's top level and takes its global `handler`.
fn handler_of<'js>(
    ctx: &Ctx<'js>,
    code: &str,
    deadline: Instant,
) -> Result<Function<'js>, TransformationError> {
    ctx.eval::<(), _>(code)
        .map_err(|error| match thrown(ctx, error, deadline) {
            TransformationError::Threw(message) if message.starts_with("SyntaxError") => {
                TransformationError::Syntax(message)
            }
            other => other,
        })?;
    let handler: Value = ctx
        .globals()
        .get("handler")
        .map_err(|error| thrown(ctx, error, deadline))?;
    handler
        .into_function()
        .ok_or(TransformationError::NoHandler)
}

fn webhook_object<'js>(ctx: &Ctx<'js>, input: &SandboxInput) -> rquickjs::Result<Object<'js>> {
    let webhook = Object::new(ctx.clone())?;
    webhook.set("method", input.method.as_str())?;
    webhook.set("url", input.url.as_str())?;
    webhook.set("eventType", input.event_type.as_str())?;
    let payload: Value = match &input.payload {
        SandboxPayload::Json(text) => ctx.json_parse(text.as_str())?,
        SandboxPayload::Text(text) => rquickjs::String::from_str(ctx.clone(), text)?.into_value(),
    };
    webhook.set("payload", payload)?;
    let headers = Object::new(ctx.clone())?;
    for (name, value) in &input.headers {
        headers.set(name.as_str(), value.as_str())?;
    }
    webhook.set("headers", headers)?;
    webhook.set("cancel", false)?;
    Ok(webhook)
}

enum ReadError {
    Invalid(String),
    Js(rquickjs::Error),
}

impl From<rquickjs::Error> for ReadError {
    fn from(error: rquickjs::Error) -> Self {
        ReadError::Js(error)
    }
}

fn invalid<T>(problem: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Invalid(problem.into()))
}

fn read_output<'js>(ctx: &Ctx<'js>, returned: Value<'js>) -> Result<SandboxOutput, ReadError> {
    let Some(webhook) = returned.as_object().filter(|_| !returned.is_array()) else {
        return invalid(format!(
            "handler must return the webhook object, not {}",
            type_name(&returned)
        ));
    };
    let cancel: Value = webhook.get("cancel")?;
    let cancel = match cancel.type_of() {
        Type::Undefined | Type::Null => false,
        Type::Bool => cancel.as_bool().unwrap_or(false),
        _ => return invalid("webhook.cancel must be a boolean"),
    };
    let method = string_field(webhook, "method")?;
    let url = string_field(webhook, "url")?;
    let payload: Value = webhook.get("payload")?;
    let payload = if let Some(text) = payload.as_string() {
        SandboxPayload::Text(text.to_string()?)
    } else {
        match ctx.json_stringify(payload)? {
            Some(text) => SandboxPayload::Json(text.to_string()?),
            None => return invalid("webhook.payload must be a JSON value"),
        }
    };
    let headers_value: Value = webhook.get("headers")?;
    let mut headers = Vec::new();
    match headers_value.type_of() {
        Type::Undefined | Type::Null => {}
        Type::Object if !headers_value.is_array() => {
            let object = headers_value.as_object().expect("an object");
            for entry in object.props::<String, Value>() {
                let (name, value) = entry?;
                let Some(value) = value.as_string() else {
                    return invalid(format!("webhook.headers[{name:?}] must be a string"));
                };
                headers.push((name, value.to_string()?));
            }
        }
        _ => return invalid("webhook.headers must be an object of strings"),
    }
    Ok(SandboxOutput {
        method,
        url,
        payload,
        headers,
        cancel,
    })
}

fn string_field(webhook: &Object<'_>, name: &str) -> Result<String, ReadError> {
    let value: Value = webhook.get(name)?;
    match value.as_string() {
        Some(text) => Ok(text.to_string()?),
        None => invalid(format!(
            "webhook.{name} must be a string, not {}",
            type_name(&value)
        )),
    }
}

fn type_name(value: &Value<'_>) -> &'static str {
    match value.type_of() {
        Type::Undefined | Type::Uninitialized => "undefined",
        Type::Null => "null",
        Type::Bool => "a boolean",
        Type::Int | Type::Float | Type::BigInt => "a number",
        Type::String => "a string",
        Type::Array => "an array",
        Type::Function | Type::Constructor => "a function",
        _ => "an object of another kind",
    }
}

/// Turns a failed JavaScript call into the error it means: the deadline, the memory or stack
/// limit, or what the code threw (its `name: message`).
fn thrown(ctx: &Ctx<'_>, error: rquickjs::Error, deadline: Instant) -> TransformationError {
    if Instant::now() >= deadline {
        return TransformationError::TimedOut;
    }
    let message = match error {
        rquickjs::Error::Exception => describe_exception(&ctx.catch()),
        rquickjs::Error::Allocation => return TransformationError::OutOfMemory,
        other => other.to_string(),
    };
    if message.contains("out of memory") {
        TransformationError::OutOfMemory
    } else if message.contains("stack overflow") || message.contains("call stack size") {
        TransformationError::StackOverflow
    } else {
        TransformationError::Threw(message)
    }
}

/// `Name: message` for an Error object, else the thrown value as JSON or text, cut short.
fn describe_exception(exception: &Value<'_>) -> String {
    const MAX_CHARS: usize = 500;
    let text = if let Some(object) = exception.as_object() {
        let name: Option<String> = object.get("name").ok();
        let message: Option<String> = object.get("message").ok();
        match (name, message) {
            (Some(name), Some(message)) => format!("{name}: {message}"),
            (None, Some(message)) => message,
            _ => "an object that is not an Error".to_owned(),
        }
    } else if let Some(text) = exception.as_string().and_then(|text| text.to_string().ok()) {
        text
    } else if let Some(number) = exception.as_number() {
        number.to_string()
    } else {
        type_name(exception).to_owned()
    };
    text.chars().take(MAX_CHARS).collect()
}
