use serde_json::{Value, json};

use super::*;

fn matches(filter: Value, payload: &str) -> bool {
    let filter = ContentFilter::parse(filter.clone()).unwrap_or_else(|error| {
        panic!("{filter} refused: {error:?}");
    });
    filter.matches(&PayloadDocument::json(payload))
}

#[test]
fn every_operator_matches_and_refuses_as_documented() {
    let payload = r#"{
        "type": "invoice.paid",
        "data": {"status": "paid", "amount": 1500, "ratio": 0.5, "note": null,
                 "tags": ["vip", "eu"], "code": "5",
                 "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
                 "dotted.key": true},
        "big": 18446744073709551615
    }"#;
    let cases: Vec<(Value, bool)> = vec![
        // Equality, nested paths.
        (json!({"type": "invoice.paid"}), true),
        (json!({"type": "invoice.failed"}), false),
        (json!({"data": {"status": "paid"}}), true),
        (json!({"data": {"status": "paid", "amount": 1500}}), true),
        (json!({"data": {"status": "paid", "amount": 1}}), false),
        (json!({"data": {"dotted.key": true}}), true),
        (json!({"data.status": "paid"}), false),
        (json!({"data": {"status": {"$eq": "paid"}}}), true),
        (json!({"data": {"status": {"$ne": "paid"}}}), false),
        (json!({"data": {"status": {"$ne": "open"}}}), true),
        // Numbers compare as numbers, never with strings.
        (json!({"data": {"amount": 1500.0}}), true),
        (json!({"data": {"amount": "1500"}}), false),
        (json!({"data": {"code": 5}}), false),
        (json!({"data": {"code": "5"}}), true),
        (json!({"data": {"code": {"$gt": 4}}}), false),
        (json!({"data": {"amount": {"$gt": 1000}}}), true),
        (json!({"data": {"amount": {"$gt": 1500}}}), false),
        (json!({"data": {"amount": {"$gte": 1500}}}), true),
        (json!({"data": {"amount": {"$lt": 1500.5}}}), true),
        (json!({"data": {"amount": {"$lte": 1499}}}), false),
        (
            json!({"data": {"amount": {"$gte": 1000, "$lt": 2000}}}),
            true,
        ),
        (
            json!({"data": {"amount": {"$gte": 1000, "$lt": 1200}}}),
            false,
        ),
        (json!({"data": {"ratio": {"$gt": 0.25, "$lt": 1}}}), true),
        (json!({"big": {"$gt": 9223372036854775807_i64}}), true),
        (json!({"big": 18446744073709551615_u64}), true),
        // $in / $nin.
        (
            json!({"data": {"status": {"$in": ["paid", "refunded"]}}}),
            true,
        ),
        (json!({"data": {"status": {"$in": ["open"]}}}), false),
        (json!({"data": {"status": {"$in": []}}}), false),
        (
            json!({"data": {"status": {"$nin": ["open", "void"]}}}),
            true,
        ),
        (json!({"data": {"status": {"$nin": ["paid"]}}}), false),
        (json!({"data": {"missing": {"$nin": ["paid"]}}}), true),
        (json!({"data": {"amount": {"$in": [1500.0, "x"]}}}), true),
        // Null is a value; absent is not.
        (json!({"data": {"note": null}}), true),
        (json!({"data": {"missing": null}}), false),
        (json!({"data": {"note": {"$exists": true}}}), true),
        (json!({"data": {"missing": {"$exists": true}}}), false),
        (json!({"data": {"missing": {"$exists": false}}}), true),
        (json!({"data": {"note": {"$exists": false}}}), false),
        (json!({"data": {"missing": {"$ne": "paid"}}}), true),
        (json!({"data": {"missing": {"$gt": 0}}}), false),
        (json!({"nothing": {"deeper": 1}}), false),
        // Arrays: the whole array, or one element.
        (json!({"data": {"tags": "vip"}}), true),
        (json!({"data": {"tags": "us"}}), false),
        (json!({"data": {"tags": ["vip", "eu"]}}), true),
        (json!({"data": {"tags": ["eu", "vip"]}}), false),
        (json!({"data": {"tags": {"$in": ["us", "eu"]}}}), true),
        (json!({"data": {"tags": {"$nin": ["eu"]}}}), false),
        (json!({"data": {"tags": {"$ne": "vip"}}}), false),
        (json!({"data": {"items": {"sku": "b"}}}), true),
        (json!({"data": {"items": {"sku": "b", "qty": 1}}}), false),
        (json!({"data": {"items": {"qty": {"$gt": 2}}}}), true),
        (json!({"data": {"items": {"qty": {"$gt": 3}}}}), false),
        // Whole objects with $eq are compared exactly.
        (
            json!({"data": {"items": {"$eq": [{"qty": 1, "sku": "a"}, {"sku": "b", "qty": 3.0}]}}}),
            true,
        ),
        (
            json!({"data": {"items": {"$eq": [{"sku": "a"}, {"sku": "b", "qty": 3}]}}}),
            false,
        ),
        // A nested document needs an object (or an array of them) there.
        (json!({"type": {"status": "paid"}}), false),
        // $and, $or, $not.
        (
            json!({"$and": [{"type": "invoice.paid"}, {"data": {"amount": {"$gt": 1000}}}]}),
            true,
        ),
        (
            json!({"$and": [{"type": "invoice.paid"}, {"data": {"amount": {"$gt": 2000}}}]}),
            false,
        ),
        (
            json!({"$or": [{"type": "invoice.failed"}, {"data": {"tags": "vip"}}]}),
            true,
        ),
        (
            json!({"$or": [{"type": "invoice.failed"}, {"data": {"tags": "us"}}]}),
            false,
        ),
        (json!({"$not": {"type": "invoice.failed"}}), true),
        (json!({"$not": {"type": "invoice.paid"}}), false),
        (json!({"data": {"$not": {"status": "paid"}}}), false),
        (
            json!({"data": {"$or": [{"status": "open"}, {"amount": 1500}]}}),
            true,
        ),
        (
            json!({"type": "invoice.paid", "$not": {"data": {"tags": "vip"}}}),
            false,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter.clone(), payload), expected, "{filter}");
    }
}

#[test]
fn payloads_that_are_not_json_objects_match_no_filter() {
    let filter = ContentFilter::parse(json!({"a": {"$exists": false}})).unwrap();
    assert!(filter.matches(&PayloadDocument::json("{}")));
    assert!(!filter.matches(&PayloadDocument::json("a=1&b=2")));
    assert!(!filter.matches(&PayloadDocument::unreadable()));
}

#[test]
fn a_payload_is_parsed_once_and_only_when_asked() {
    let payload = PayloadDocument::json(r#"{"a": 1}"#);
    assert!(!payload.was_parsed());
    let filter = ContentFilter::parse(json!({"a": 1})).unwrap();
    assert!(filter.matches(&payload));
    assert!(payload.was_parsed());
    assert!(filter.matches(&payload));
}

fn refused(filter: Value) -> ContentFilterError {
    ContentFilter::parse(filter.clone()).expect_err(&filter.to_string())
}

#[test]
fn bad_filters_are_refused_naming_where() {
    let deep = (0..MAX_DEPTH).fold(json!(1), |inner, _| json!({ "a": inner }));
    let too_many: Vec<Value> = (0..MAX_NODES).map(Value::from).collect();
    let long = "x".repeat(MAX_STRING_BYTES + 1);
    let long_key = [long.as_str()];
    let cases: Vec<(Value, &[&str], &str)> = vec![
        (json!("paid"), &[], "must be a JSON object"),
        (json!([]), &[], "must be a JSON object"),
        (json!({}), &[], "empty object"),
        (json!({"data": {}}), &["data"], "empty object"),
        (
            json!({"data": {"amount": {"$gt": "5"}}}),
            &["data", "amount", "$gt"],
            "takes a number",
        ),
        (
            json!({"a": {"$lte": null}}),
            &["a", "$lte"],
            "takes a number",
        ),
        (
            json!({"a": {"$in": "paid"}}),
            &["a", "$in"],
            "array of values",
        ),
        (
            json!({"a": {"$nin": {"x": 1}}}),
            &["a", "$nin"],
            "array of values",
        ),
        (
            json!({"a": {"$exists": 1}}),
            &["a", "$exists"],
            "true or false",
        ),
        (
            json!({"a": {"$regex": "x"}}),
            &["a", "$regex"],
            "unknown operator $regex",
        ),
        (json!({"a": {"$eq": 1, "b": 2}}), &["a"], "mixes operators"),
        (
            json!({"a": {"$gt": 1, "$or": [{"b": 1}]}}),
            &["a"],
            "mixes operators",
        ),
        (
            json!({"a": {"$or": [{"b": {"$in": 1}}]}}),
            &["a", "$or", "0", "b", "$in"],
            "array of values",
        ),
        (json!({"$eq": 1}), &["$eq"], "applies to a field"),
        (
            json!({"$where": "1"}),
            &["$where"],
            "unknown operator $where",
        ),
        (
            json!({"$and": {"a": 1}}),
            &["$and"],
            "array of filter objects",
        ),
        (json!({"$or": []}), &["$or"], "at least one"),
        (
            json!({"$or": [{"a": 1}, 2]}),
            &["$or", "1"],
            "takes filter objects",
        ),
        (
            json!({"$and": [{"a": {"$gt": true}}]}),
            &["$and", "0", "a", "$gt"],
            "takes a number",
        ),
        (
            json!({"$not": [{"a": 1}]}),
            &["$not"],
            "takes a filter object",
        ),
        (
            json!({"$not": {"a": {"$foo": 1}}}),
            &["$not", "a", "$foo"],
            "unknown operator",
        ),
        (
            json!({ "b": deep }),
            &["b", "a", "a", "a", "a", "a", "a", "a"],
            "nest at most",
        ),
        (
            json!({"a": {"$in": too_many}}),
            &["a", "$in", "253"],
            "at most 256 values",
        ),
        (json!({"a": long.clone()}), &["a"], "at most 1024 bytes"),
        (json!({ long.clone(): 1 }), &long_key, "keys in a filter"),
    ];
    for (filter, path, message) in cases {
        let error = refused(filter.clone());
        assert_eq!(error.path, path, "{filter}: {error:?}");
        assert!(
            error.message.contains(message),
            "{filter}: {}",
            error.message
        );
    }
}

#[test]
fn the_written_document_is_kept_and_bounds_admit_their_limit() {
    let written = json!({"data": {"status": {"$in": ["paid"]}}, "$or": [{"a": 1}]});
    assert_eq!(
        ContentFilter::parse(written.clone()).unwrap().as_json(),
        &written
    );
    let deepest = (0..MAX_DEPTH).fold(json!(1), |inner, _| json!({ "a": inner }));
    assert!(ContentFilter::parse(deepest).is_ok());
    let most: Vec<Value> = (0..MAX_NODES - 3).map(Value::from).collect();
    assert!(ContentFilter::parse(json!({"a": {"$in": most}})).is_ok());
    assert!(ContentFilter::parse(json!({"a": "x".repeat(MAX_STRING_BYTES)})).is_ok());
}
