//! Parsers of `hookd serve`'s flag values that several commands share: durations, database
//! URLs and counts. Each refusal says what to write instead.

use clap::builder::RangedU64ValueParser;
use std::time::Duration;

/// Why a duration flag (`--disable-after`, `--payload-retention`) was refused.
#[derive(Debug, thiserror::Error)]
pub enum DurationFlagError {
    #[error(
        "{written:?} is not a duration ({reason}); write a number and a unit, as in 90s, 30m, 12h, 5d or 1y"
    )]
    NotADuration {
        written: String,
        reason: humantime::DurationError,
    },
    #[error("{written:?} is zero; the duration must be longer than that")]
    Zero { written: String },
}

/// Parses a duration flag with humantime (`500ms`, `90s`, `30m`, `12h`, `5d`, `2w`, `1y`,
/// `1h 30m`). Zero is refused: every duration flag means "after this long", and zero would
/// disable every endpoint at its first failure or purge every payload at once.
pub fn parse_positive_duration(written: &str) -> Result<Duration, DurationFlagError> {
    let trimmed = written.trim();
    let duration =
        humantime::parse_duration(trimmed).map_err(|reason| DurationFlagError::NotADuration {
            written: trimmed.to_owned(),
            reason,
        })?;
    if duration.is_zero() {
        return Err(DurationFlagError::Zero {
            written: trimmed.to_owned(),
        });
    }
    Ok(duration)
}

/// Why a `--database-url` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error(
        "{scheme}:// databases are not supported: hookd keeps its data in SQLite (the default, \
         in --data-dir) or in PostgreSQL (postgres://user:password@host:port/database)"
    )]
    UnsupportedScheme { scheme: String },
    #[error(
        "not a PostgreSQL connection URL ({0}); write postgres://user:password@host:port/database"
    )]
    Unparsable(#[source] tokio_postgres::Error),
}

/// Accepts a PostgreSQL connection string (`postgres://` or `postgresql://` URL, or libpq
/// `key=value` pairs). An empty value stands for "not set", as an empty environment variable does.
pub fn parse_database_url(written: &str) -> Result<String, DatabaseUrlError> {
    if written.is_empty() {
        return Ok(String::new());
    }
    match written.split_once("://") {
        Some(("postgres" | "postgresql", _)) | None => {}
        Some((scheme, _)) => {
            return Err(DatabaseUrlError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
    }
    written
        .parse::<tokio_postgres::Config>()
        .map_err(DatabaseUrlError::Unparsable)?;
    Ok(written.to_owned())
}

/// A count flag that must be at least one (a limit of zero would stall delivery or refuse
/// every request).
pub(crate) fn at_least_one<T>() -> RangedU64ValueParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
    <T as TryFrom<u64>>::Error: std::error::Error + Send + Sync + 'static,
{
    RangedU64ValueParser::<T>::new().range(1..)
}
