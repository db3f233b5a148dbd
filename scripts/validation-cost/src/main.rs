//! Validation cost per message, as `ops::payload_validation` runs it: parse the payload text
//! into a `serde_json::Value`, then judge it with a validator compiled once (offline, regex
//! engine), as hookd's `PayloadSchema::compile` builds it.
use std::time::Instant;
fn main() {
    let schema: serde_json::Value = serde_json::json!({
        "type": "object",
        "required": ["id", "customer", "items", "total", "currency", "createdAt"],
        "properties": {
            "id": {"type": "string", "pattern": "^ord_[A-Za-z0-9]{8,32}$"},
            "customer": {"type": "object", "required": ["id", "email"], "properties": {
                "id": {"type": "string"}, "email": {"type": "string", "maxLength": 254},
                "name": {"type": "string"}}},
            "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                "type": "object", "required": ["sku", "quantity", "price"],
                "additionalProperties": false,
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1},
                    "price": {"type": "number", "minimum": 0}}}},
            "total": {"type": "number", "minimum": 0},
            "currency": {"enum": ["EUR", "USD", "GBP"]},
            "createdAt": {"type": "string"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let items: Vec<String> = (0..5).map(|i| format!(r#"{{"sku":"sku-{i}","quantity":{},"price":19.99}}"#, i + 1)).collect();
    let valid = format!(r#"{{"id":"ord_AbCdEf123456","customer":{{"id":"cus_1","email":"a@example.com","name":"Ada"}},"items":[{}],"total":299.85,"currency":"EUR","createdAt":"2026-12-03T14:00:00Z","metadata":{{"channel":"web"}}}}"#, items.join(","));
    let invalid = valid.replace(r#""quantity":3"#, r#""quantity":0"#);
    let started = Instant::now();
    let compiles = 200;
    for _ in 0..compiles {
        let v = jsonschema::options().offline()
            .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(1 << 20).dfa_size_limit(1 << 20))
            .build(&schema).unwrap();
        std::hint::black_box(v);
    }
    let compile_us = started.elapsed().as_secs_f64() * 1e6 / compiles as f64;
    let validator = jsonschema::options().offline()
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(1 << 20).dfa_size_limit(1 << 20))
        .build(&schema).unwrap();
    let rounds = 200_000;
    for (name, text) in [("valid", &valid), ("invalid", &invalid)] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..rounds {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                let ok = validator.is_valid(&value);
                if !ok {
                    let errors: Vec<_> = validator.iter_errors(&value).take(10).map(|e| e.to_string()).collect();
                    std::hint::black_box(errors);
                }
                std::hint::black_box(ok);
            }
            best = best.min(started.elapsed().as_secs_f64() * 1e6 / rounds as f64);
        }
        let parse_only = {
            let started = Instant::now();
            for _ in 0..rounds { std::hint::black_box(serde_json::from_str::<serde_json::Value>(text).unwrap()); }
            started.elapsed().as_secs_f64() * 1e6 / rounds as f64
        };
        println!("{name}: payload {} bytes, parse+validate {best:.2} us/message (parse alone {parse_only:.2} us)", text.len());
    }
    println!("compile: {compile_us:.1} us per schema");
}
