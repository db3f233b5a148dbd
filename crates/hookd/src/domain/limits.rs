//! What free-form input may hold: the lengths and characters of names, descriptions and
//! metadata, and the path segments that no id may be.
//!
//! Svix limits few of these; where it has a rule hookd applies the same one, and elsewhere the
//! limits below are hookd's own (documented in the README). Every text refuses control
//! characters that a terminal, a log line or an HTTP header would act on, and the Unicode
//! bidirectional embedding/override/isolate characters, which make a name display as something
//! other than what it is. Descriptions may span lines (`\n` and `\t` are allowed there).

use super::{InvalidInput, Metadata};

/// How long a text may be and whether it may span lines.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    /// What the text is, as an error message names it ("name", "description", ...).
    pub what: &'static str,
    pub min_chars: usize,
    pub max_chars: usize,
    /// Allows `\n` and `\t`; every other control character is refused either way.
    pub multi_line: bool,
}

/// An application's name.
pub const APPLICATION_NAME: TextRule = TextRule {
    what: "name",
    min_chars: 1,
    max_chars: 256,
    multi_line: false,
};

/// An endpoint's or an event type's description.
pub const DESCRIPTION: TextRule = TextRule {
    what: "description",
    min_chars: 0,
    max_chars: 4096,
    multi_line: true,
};

/// An event type's group name or feature flag.
pub const LABEL: TextRule = TextRule {
    what: "value",
    min_chars: 1,
    max_chars: 256,
    multi_line: false,
};

/// A message tag.
pub const TAG: TextRule = TextRule {
    what: "tag",
    min_chars: 1,
    max_chars: 128,
    multi_line: false,
};

const METADATA_KEY: TextRule = TextRule {
    what: "metadata key",
    min_chars: 1,
    max_chars: 256,
    multi_line: false,
};

const METADATA_VALUE: TextRule = TextRule {
    what: "metadata value",
    min_chars: 0,
    max_chars: 1024,
    multi_line: false,
};

/// Most metadata entries on one application or endpoint.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// Checks `value` against `rule`.
pub fn check_text(value: &str, rule: TextRule) -> Result<(), InvalidInput> {
    let chars = value.chars().count();
    if chars < rule.min_chars || chars > rule.max_chars {
        return Err(InvalidInput::new(if rule.min_chars == 0 {
            format!(
                "{} must be at most {} characters long",
                rule.what, rule.max_chars
            )
        } else {
            format!(
                "{} must be {} to {} characters long",
                rule.what, rule.min_chars, rule.max_chars
            )
        }));
    }
    if rule.min_chars > 0 && value.trim().is_empty() {
        return Err(InvalidInput::new(format!(
            "{} must not be blank",
            rule.what
        )));
    }
    if let Some(refused) = value.chars().find(|c| is_refused(*c, rule.multi_line)) {
        return Err(InvalidInput::new(format!(
            "{} may not contain the character U+{:04X} (control and bidirectional-override \
             characters are refused)",
            rule.what, refused as u32
        )));
    }
    Ok(())
}

/// A metadata entry that breaks a rule: its key (for the error's location) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata {
    pub key: Option<String>,
    pub error: InvalidInput,
}

/// Checks every key and value of `metadata`, and how many entries it has.
pub fn check_metadata(metadata: &Metadata) -> Result<(), InvalidMetadata> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(InvalidMetadata {
            key: None,
            error: InvalidInput::new(format!(
                "metadata may hold at most {MAX_METADATA_ENTRIES} entries"
            )),
        });
    }
    for (key, value) in metadata {
        check_text(key, METADATA_KEY)
            .and_then(|()| check_text(value, METADATA_VALUE))
            .map_err(|error| InvalidMetadata {
                key: Some(key.clone()),
                error,
            })?;
    }
    Ok(())
}

/// `.` and `..` are path segments that clients and proxies remove before a request is sent
/// (`/app/X/endpoint/..` becomes `/app/X`), so no id, uid or name that appears in a URL path
/// may be one: a call meant for it would reach another resource.
pub fn check_path_segment(value: &str, what: &str) -> Result<(), InvalidInput> {
    if matches!(value, "." | "..") {
        return Err(InvalidInput::new(format!(
            "{what} may not be '.' or '..': URLs drop those path segments, so it could not be \
             addressed"
        )));
    }
    Ok(())
}

fn is_refused(c: char, multi_line: bool) -> bool {
    let bidi_control = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let allowed_whitespace = multi_line && matches!(c, '\n' | '\t');
    bidi_control || (c.is_control() && !allowed_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_checked_by_their_rule() {
        let cases: &[(&str, TextRule, bool)] = &[
            ("Acme", APPLICATION_NAME, true),
            ("Acmé 株式会社", APPLICATION_NAME, true),
            ("", APPLICATION_NAME, false),
            ("   ", APPLICATION_NAME, false),
            ("Acme\r\nX-Injected: 1", APPLICATION_NAME, false),
            ("Acme\n", APPLICATION_NAME, false),
            ("Acme\u{0007}", APPLICATION_NAME, false),
            ("evil\u{202E}gnp.exe", APPLICATION_NAME, false),
            ("isolate\u{2066}x", APPLICATION_NAME, false),
            (&"a".repeat(256), APPLICATION_NAME, true),
            (&"a".repeat(257), APPLICATION_NAME, false),
            // Characters, not bytes: 256 three-byte characters fit.
            (&"é".repeat(256), APPLICATION_NAME, true),
            ("", DESCRIPTION, true),
            ("line one\nline two\tindented", DESCRIPTION, true),
            ("carriage\rreturn", DESCRIPTION, false),
            ("nul\0", DESCRIPTION, false),
            ("bidi\u{202D}", DESCRIPTION, false),
            (&"d".repeat(4096), DESCRIPTION, true),
            (&"d".repeat(4097), DESCRIPTION, false),
            ("billing", LABEL, true),
            ("", LABEL, false),
            ("tag-1", TAG, true),
            (&"t".repeat(129), TAG, false),
        ];
        for (value, rule, accepted) in cases {
            let result = check_text(value, *rule);
            assert_eq!(
                result.is_ok(),
                *accepted,
                "{:?} as {}: {result:?}",
                value.chars().take(40).collect::<String>(),
                rule.what
            );
        }
    }

    #[test]
    fn metadata_entries_are_checked_and_counted() {
        let entries = |pairs: &[(&str, &str)]| -> Metadata {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        };
        assert!(check_metadata(&entries(&[("plan", "pro"), ("empty", "")])).is_ok());
        let bad_key = check_metadata(&entries(&[("", "x")])).unwrap_err();
        assert_eq!(bad_key.key.as_deref(), Some(""));
        let bad_value = check_metadata(&entries(&[("k", "a\nb")])).unwrap_err();
        assert_eq!(bad_value.key.as_deref(), Some("k"));
        let long_value = "v".repeat(1025);
        assert!(check_metadata(&entries(&[("k", &long_value)])).is_err());
        let many: Metadata = (0..=MAX_METADATA_ENTRIES)
            .map(|n| (format!("k{n}"), String::new()))
            .collect();
        assert_eq!(check_metadata(&many).unwrap_err().key, None);
    }

    #[test]
    fn dot_segments_are_refused() {
        for (value, accepted) in [(".", false), ("..", false), ("...", true), ("a.b", true)] {
            assert_eq!(
                check_path_segment(value, "uid").is_ok(),
                accepted,
                "{value}"
            );
        }
    }
}
