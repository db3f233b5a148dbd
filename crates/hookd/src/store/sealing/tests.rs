//! Sealing and opening: every way a stored value can fail to open is an error that names the
//! row and the key, never a panic.

use super::keyring::decode_key;
use super::*;
use base64::engine::general_purpose::STANDARD;

const KEY_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn sealing(newest: &str, older: Option<&str>) -> Sealing {
    Sealing::new(Keyring::parse(Some(newest), older).unwrap())
}

fn place(record_id: &str) -> Place<'_> {
    Place {
        table: "endpoint",
        column: "headers",
        record_id,
    }
}

#[test]
fn a_sealed_value_opens_in_its_place_and_shows_nothing_of_the_plain_text() {
    let sealing = sealing(KEY_A, None);
    let sealed = sealing.seal(place("ep_1"), "whsec_known");
    assert!(sealed.starts_with("enc:v1:"), "{sealed}");
    assert!(!sealed.contains("known"), "{sealed}");
    assert_eq!(sealing.open(place("ep_1"), &sealed).unwrap(), "whsec_known");
    // A random nonce per value: the same text seals differently each time.
    assert_ne!(sealing.seal(place("ep_1"), "whsec_known"), sealed);
    assert!(!sealing.needs_reseal(&sealed));
}

#[test]
fn a_value_fails_to_open_with_a_clear_error() {
    let a = sealing(KEY_A, None);
    let b = sealing(KEY_B, None);
    let sealed = a.seal(place("ep_1"), "secret");
    let key_a = a.keyring().unwrap().newest_id().clone();
    let mut tampered = sealed.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let in_another_column = Place {
        table: "endpoint",
        column: "url",
        record_id: "ep_1",
    };
    let missing = SealError::MissingKey {
        table: "endpoint",
        column: "headers",
        record_id: "ep_1".into(),
        key_id: key_a.clone(),
    };
    let does_not_open = |column, record_id: &str| SealError::DoesNotOpen {
        table: "endpoint",
        column,
        record_id: record_id.into(),
        key_id: key_a.clone(),
    };
    let malformed = SealError::Malformed {
        table: "endpoint",
        column: "headers",
        record_id: "ep_1".into(),
    };
    let truncated = format!("enc:v1:{key_a}:AAAA");
    let not_base64 = format!("enc:v1:{key_a}:not base64!");
    let plain = Sealing::plain();
    // (who opens, where, stored value, expected error)
    let cases: Vec<(&Sealing, Place<'_>, &str, SealError)> = vec![
        (&b, place("ep_1"), &sealed, missing.clone()),
        (&plain, place("ep_1"), &sealed, missing),
        (
            &a,
            place("ep_1"),
            &tampered,
            does_not_open("headers", "ep_1"),
        ),
        (&a, place("ep_2"), &sealed, does_not_open("headers", "ep_2")),
        (&a, in_another_column, &sealed, does_not_open("url", "ep_1")),
        (&a, place("ep_1"), &truncated, malformed.clone()),
        (&a, place("ep_1"), "enc:v1:nothex!!:AAAA", malformed.clone()),
        (&a, place("ep_1"), "enc:v2:whatever", malformed.clone()),
        (&a, place("ep_1"), &not_base64, malformed),
    ];
    for (sealing, place, stored, expected) in cases {
        assert_eq!(
            sealing.open(place, stored),
            Err(expected.clone()),
            "{stored}"
        );
        assert!(!expected.to_string().is_empty());
    }
    let message = b.open(place("ep_1"), &sealed).unwrap_err().to_string();
    assert!(
        message.contains(key_a.as_str()) && message.contains("HOOKD_ENCRYPTION_KEY"),
        "{message}"
    );
}

#[test]
fn plain_values_read_as_they_are_and_are_sealed_by_a_rotation() {
    let plain = Sealing::plain();
    assert_eq!(plain.seal(place("ep_1"), "{\"a\":\"b\"}"), "{\"a\":\"b\"}");
    assert_eq!(
        plain.open(place("ep_1"), "{\"a\":\"b\"}").unwrap(),
        "{\"a\":\"b\"}"
    );
    assert!(!plain.needs_reseal("{}"));
    let a = sealing(KEY_A, None);
    assert_eq!(a.open(place("ep_1"), "whsec_x").unwrap(), "whsec_x");
    assert!(a.needs_reseal("whsec_x"));
}

#[test]
fn rotation_opens_old_values_and_reseals_them_under_the_newest_key() {
    let a = sealing(KEY_A, None);
    let b_with_a = sealing(KEY_B, Some(KEY_A));
    let sealed_a = a.seal(place("ep_1"), "secret");
    assert!(b_with_a.needs_reseal(&sealed_a));
    assert_eq!(b_with_a.open(place("ep_1"), &sealed_a).unwrap(), "secret");
    let sealed_b = b_with_a.reseal(place("ep_1"), &sealed_a).unwrap();
    assert!(!b_with_a.needs_reseal(&sealed_b));
    let b_alone = sealing(KEY_B, None);
    assert_eq!(b_alone.open(place("ep_1"), &sealed_b).unwrap(), "secret");
    assert_eq!(
        sealed_with(&sealed_b[..SEALED_HEAD_LEN]),
        Some(Some(b_alone.keyring().unwrap().newest_id().clone()))
    );
    assert_eq!(sealed_with("{\"a\":1}"), None);
}

#[test]
fn bad_keys_are_refused_with_the_setting_and_position() {
    let short = STANDARD.encode([7u8; 16]);
    let cases: [(Option<&str>, Option<&str>, KeyError); 4] = [
        (
            Some("not base64 at all!"),
            None,
            KeyError::NotBase64 {
                setting: "HOOKD_ENCRYPTION_KEY",
                position: 1,
            },
        ),
        (
            Some(KEY_A),
            Some(&short),
            KeyError::WrongLength {
                setting: "HOOKD_ENCRYPTION_OLD_KEYS",
                position: 1,
                length: 16,
            },
        ),
        (
            Some(KEY_A),
            Some(&format!("{KEY_B},{KEY_A}")),
            KeyError::Repeated {
                setting: "HOOKD_ENCRYPTION_OLD_KEYS",
                position: 2,
                key_id: KeyId::of(&decode_key("", 0, KEY_A).unwrap()),
            },
        ),
        (None, Some(KEY_A), KeyError::OldKeysWithoutKey),
    ];
    for (newest, older, expected) in cases {
        assert_eq!(Keyring::parse(newest, older).unwrap_err(), expected);
    }
    assert!(Keyring::parse(None, None).unwrap().is_none());
    assert!(Keyring::parse(Some(""), Some("")).unwrap().is_none());
    // Hex is not accepted by mistake as base64 of the wrong length.
    let hex_key = "00".repeat(32);
    assert!(Keyring::parse(Some(&hex_key), None).is_err());
}

#[test]
fn debug_output_never_shows_a_key() {
    let keyring = Keyring::parse(Some(KEY_A), Some(KEY_B)).unwrap().unwrap();
    let debug = format!("{keyring:?}");
    // Not as given, nor in any form a careless `Debug` would print the 32 bytes.
    for key in [KEY_A, KEY_B] {
        let bytes = decode_key("test", 0, key).unwrap();
        for shown in [key.to_owned(), hex::encode(bytes), format!("{bytes:?}")] {
            assert!(!debug.contains(&shown), "{debug} shows {shown}");
        }
    }
    assert!(debug.starts_with("Keyring { newest: "), "{debug}");
}
