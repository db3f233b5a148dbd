//! Query strings, cursors, `Last-Event-ID`, names and ids, parsed as the API parses them
//! (`hookd::api::fuzzing`, axum-extra's `Query` over serde_html_form). The input is lines: the
//! query string, the `Last-Event-ID` value (an empty line: none), a uid or name, and bytes that
//! seed the generated ids. On arbitrary input nothing may panic, and
//! - every refusal is a 422 (or 400) with a JSON `detail`;
//! - a page request's limit is 1 to 250, and a page's cursors (`iterator`, `prevIterator`)
//!   sent back as `?iterator=` resume exactly after (or before) the item they name;
//! - a stream never starts after an empty id;
//! - uids, event type and channel names that parse keep their text and pass as query values;
//!   a generated id is its prefix and 27 base62 characters, and is never a valid uid.
#![no_main]

use hookd::api::fuzzing::{self as api, Refusal};
use hookd::domain::{AppId, ChannelName, EndpointId, EventTypeName, MessageId, Uid};
use hookd::store::paging::{Order, PagePlan, PageRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(4, |byte| *byte == b'\n');
    let query = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let last_event_id = lines.next().filter(|value| !value.is_empty());
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut id_seed = [0u8; 25];
    for (slot, byte) in id_seed.iter_mut().zip(lines.next().unwrap_or_default()) {
        *slot = *byte;
    }
    let order = if id_seed[0] & 1 == 0 {
        Order::Descending
    } else {
        Order::Ascending
    };
    // What a request line can carry; anything else never reaches the extractor.
    if http::Uri::try_from(format!("/?{query}")).is_ok() {
        check_queries(&query, last_event_id, order);
    }
    check_name(&name);
    let micros = i64::from_le_bytes(id_seed[1..9].try_into().expect("8 bytes"));
    let random = u128::from_le_bytes(id_seed[9..25].try_into().expect("16 bytes"));
    check_ids(micros, random, order);
});

fn check_queries(query: &str, last_event_id: Option<&[u8]>, order: Order) {
    if let Some(request) = answered(api::page_query(query, order)) {
        assert!((1..=250).contains(&request.limit), "{query:?}: {request:?}");
        assert!(
            request
                .iterator
                .as_deref()
                .is_none_or(|cursor| !cursor.is_empty())
        );
        let _ = PagePlan::new(&request);
    }
    if let Some(filter) = answered(api::message_filter_query(query)) {
        assert!(filter.event_types.is_none_or(|types| !types.is_empty()));
    }
    let header = last_event_id.and_then(|bytes| http::HeaderValue::from_bytes(bytes).ok());
    if let Some(Some(after)) = answered(api::stream_start_at(header, query)) {
        assert!(!after.is_empty());
    }
}

fn answered<T>(parsed: Result<T, Refusal>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(refusal) => {
            assert!(matches!(refusal.status, 400 | 422), "{refusal:?}");
            assert!(
                refusal.body["detail"].is_array() || refusal.body["detail"].is_string(),
                "{refusal:?}"
            );
            None
        }
    }
}

fn check_name(name: &str) {
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    if let Ok(uid) = Uid::parse(name) {
        assert_eq!(uid.as_str(), name);
        assert!(!name.starts_with("app_") && !name.starts_with("ep_") && !name.starts_with("msg_"));
    }
    if let Ok(event_type) = EventTypeName::parse(name) {
        assert_eq!(event_type.as_str(), name);
        let filter = api::message_filter_query(&format!("event_types={encoded}"))
            .expect("a valid event type is a valid filter");
        assert_eq!(filter.event_types, Some(vec![event_type]));
    }
    if let Ok(channel) = ChannelName::parse(name) {
        assert_eq!(channel.as_str(), name);
        let filter = api::message_filter_query(&format!("channel={encoded}"))
            .expect("a valid channel is a valid filter");
        assert_eq!(filter.channel, Some(channel));
    }
}

/// Ids, and the cursors a page of them makes, sent back as a client would.
fn check_ids(micros: i64, random: u128, order: Order) {
    let Some(now) = chrono::DateTime::from_timestamp_micros(micros) else {
        return;
    };
    let app = AppId::generate(now, random).to_string();
    let endpoint = EndpointId::generate(now, random).to_string();
    let message = MessageId::generate(now, random).to_string();
    for (id, prefix) in [(&app, "app_"), (&endpoint, "ep_"), (&message, "msg_")] {
        let suffix = id
            .strip_prefix(prefix)
            .expect("an id starts with its prefix");
        assert_eq!(suffix.len(), 27);
        assert!(suffix.bytes().all(|byte| byte.is_ascii_alphanumeric()));
        assert!(Uid::parse(id).is_err(), "{id} would be a uid");
    }
    let request = PageRequest {
        limit: 1,
        iterator: None,
        order,
    };
    let page = PagePlan::new(&request).page(vec![message.clone(), app], Clone::clone);
    let forward = page.iterator.expect("a page of items has a next cursor");
    let backward = page
        .prev_iterator
        .expect("a page of items has a previous cursor");
    for (cursor, backwards) in [(forward, false), (backward, true)] {
        let encoded: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        let resumed = api::page_query(&format!("limit=1&iterator={encoded}"), order)
            .expect("a cursor is a valid iterator");
        assert_eq!(resumed.iterator.as_deref(), Some(cursor.as_str()));
        let plan = PagePlan::new(&resumed);
        assert_eq!(plan.position.as_deref(), Some(message.as_str()), "{cursor}");
        let ascending_scan = (order == Order::Ascending) != backwards;
        assert_eq!(plan.comparison, if ascending_scan { ">" } else { "<" });
    }
}
