//! What one dispatcher knows about each endpoint between claims: attempts in flight, an
//! adaptive concurrency limit, a circuit breaker, pauses asked for with `Retry-After`, and
//! throttle buckets for endpoints and applications.
//!
//! Pure: no I/O and no clock of its own; every call is given `now`. The store enforces the hard
//! per-endpoint limit and FIFO across all nodes (see `store::ClaimBudget`); this module narrows
//! each claim with what only this node has seen, and decides whether a claimed delivery may be
//! sent now or must be handed back for later (throttling, which never counts as an attempt).
//!
//! The policy, per endpoint:
//! - **Adaptive limit (AIMD)**: starts at the endpoint's `maxInFlight`; halves on a response
//!   that asks for less load (429, 502, 503, 504 or any `Retry-After`); grows by one per success.
//! - **Pause**: a `Retry-After` pauses the whole endpoint for that long (capped), not only the
//!   delivery that got it.
//! - **Circuit breaker**: after `circuit_failure_threshold` consecutive failures the endpoint is
//!   paused with exponential backoff; when the pause ends one probe goes alone; its success closes
//!   the circuit, its failure reopens it for twice as long. Due deliveries wait meanwhile and keep
//!   their attempts.
//! - **Throttle**: a token bucket per endpoint and per application (`throttleRate`, messages per
//!   second) holding a tenth of a second's worth (at least one token), so no one-second window
//!   sees much more than the rate.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::outcome::AttemptOutcome;
use crate::domain::{AppId, EndpointId};
use crate::store::{ClaimBudget, ClaimedDelivery};

/// Tuning for the scheduler; defaults in `Default`.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub default_max_in_flight: u32,
    pub circuit_failure_threshold: u32,
    pub circuit_initial_backoff: Duration,
    pub circuit_max_backoff: Duration,
    /// Longest pause a `Retry-After` can impose on a whole endpoint.
    pub max_pause: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            default_max_in_flight: 16,
            circuit_failure_threshold: 5,
            circuit_initial_backoff: Duration::from_secs(5),
            circuit_max_backoff: Duration::from_secs(600),
            max_pause: Duration::from_secs(3600),
        }
    }
}

/// Whether a claimed delivery goes now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Send,
    /// Throttled: hand it back, due after this long.
    Defer(Duration),
}

/// A token bucket: `rate` tokens a second, holding a tenth of a second's worth (at least one).
#[derive(Debug, Clone)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        let mut bucket = TokenBucket {
            rate: 1.0,
            tokens: 0.0,
            updated: now,
        };
        bucket.set_rate(rate);
        bucket.tokens = bucket.capacity();
        bucket
    }

    fn capacity(&self) -> f64 {
        (self.rate / 10.0).max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity());
        self.updated = now;
    }

    fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens.max(0.0).floor() as u32
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// How long until the bucket holds a whole token, if it does not now.
    fn time_to_next_token(&self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let tokens = (self.tokens + elapsed * self.rate).min(self.capacity());
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.rate))
    }

    fn give_back(&mut self) {
        self.tokens += 1.0;
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity()
    }

    fn set_rate(&mut self, rate: u32) {
        self.rate = f64::from(rate.max(1));
    }
}

#[derive(Debug, Clone)]
struct EndpointState {
    in_flight: u32,
    max: u32,
    limit: u32,
    consecutive_failures: u32,
    paused_until: Option<Instant>,
    backoff: Duration,
    bucket: Option<TokenBucket>,
}

/// The per-node scheduling state. See the module docs for the policy.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    endpoints: HashMap<EndpointId, EndpointState>,
    apps: HashMap<AppId, TokenBucket>,
    /// Deliveries handed back because of throttling in the current claim, per endpoint, so each
    /// one is due a little later than the one before.
    deferred_in_claim: HashMap<EndpointId, u32>,
}

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Self {
        Scheduler {
            config,
            endpoints: HashMap::new(),
            apps: HashMap::new(),
            deferred_in_claim: HashMap::new(),
        }
    }

    /// The budget for the next claim of at most `limit` deliveries.
    pub fn budget(&mut self, limit: usize, now: Instant) -> ClaimBudget {
        self.forget_idle(now);
        self.deferred_in_claim.clear();
        let threshold = self.config.circuit_failure_threshold;
        let endpoint_allowance = self
            .endpoints
            .iter_mut()
            .map(|(id, state)| {
                let paused = state.paused_until.is_some_and(|until| until > now);
                let probing = state.consecutive_failures >= threshold;
                let mut allowance = if paused {
                    0
                } else if probing {
                    u32::from(state.in_flight == 0)
                } else {
                    state.limit.saturating_sub(state.in_flight)
                };
                if let Some(bucket) = &mut state.bucket {
                    allowance = allowance.min(bucket.available(now));
                }
                (id.clone(), allowance)
            })
            .collect();
        let blocked_apps: HashSet<AppId> = self
            .apps
            .iter_mut()
            .filter_map(|(id, bucket)| (bucket.available(now) == 0).then(|| id.clone()))
            .collect();
        ClaimBudget {
            limit,
            default_max_in_flight: self.config.default_max_in_flight,
            endpoint_allowance,
            blocked_apps,
        }
    }

    /// Decides whether a claimed delivery is sent now; a sent one counts as in flight until
    /// `finished`.
    pub fn admit(&mut self, claim: &ClaimedDelivery, now: Instant) -> Admission {
        let default_max = self.config.default_max_in_flight;
        let state = self
            .endpoints
            .entry(claim.endpoint_id.clone())
            .or_insert_with(|| {
                let max = claim.options.max_in_flight.unwrap_or(default_max).max(1);
                EndpointState {
                    in_flight: 0,
                    max,
                    limit: max,
                    consecutive_failures: 0,
                    paused_until: None,
                    backoff: Duration::ZERO,
                    bucket: None,
                }
            });
        state.max = claim.options.max_in_flight.unwrap_or(default_max).max(1);
        state.limit = state.limit.min(state.max);
        sync_bucket(&mut state.bucket, claim.endpoint_throttle_rate, now);
        if let Err(wait) = take_token(&mut state.bucket, now) {
            return self.defer(&claim.endpoint_id, wait, claim.endpoint_throttle_rate);
        }
        let mut app_bucket = self.apps.remove(&claim.app_id);
        sync_bucket(&mut app_bucket, claim.app_throttle_rate, now);
        let app_result = take_token(&mut app_bucket, now);
        if let Some(bucket) = app_bucket {
            self.apps.insert(claim.app_id.clone(), bucket);
        }
        let state = self
            .endpoints
            .get_mut(&claim.endpoint_id)
            .expect("endpoint state was just inserted");
        if let Err(wait) = app_result {
            if let Some(bucket) = &mut state.bucket {
                bucket.give_back();
            }
            return self.defer(&claim.endpoint_id, wait, claim.app_throttle_rate);
        }
        state.in_flight += 1;
        Admission::Send
    }

    /// Records how an admitted attempt ended.
    pub fn finished(&mut self, endpoint_id: &EndpointId, outcome: &AttemptOutcome, now: Instant) {
        let Some(state) = self.endpoints.get_mut(endpoint_id) else {
            return;
        };
        state.in_flight = state.in_flight.saturating_sub(1);
        match outcome {
            AttemptOutcome::Delivered { .. } => {
                state.consecutive_failures = 0;
                state.backoff = Duration::ZERO;
                state.paused_until = None;
                state.limit = (state.limit + 1).min(state.max);
            }
            AttemptOutcome::Failed {
                status,
                retry_after,
                ..
            } => {
                state.consecutive_failures += 1;
                let asks_for_less = matches!(status, Some(429 | 502 | 503 | 504));
                if asks_for_less || retry_after.is_some() {
                    state.limit = (state.limit / 2).max(1);
                }
                if let Some(delay) = retry_after {
                    pause(state, now + (*delay).min(self.config.max_pause));
                }
                let already_paused = state.paused_until.is_some_and(|until| until > now);
                if state.consecutive_failures >= self.config.circuit_failure_threshold
                    && !already_paused
                {
                    state.backoff = if state.backoff.is_zero() {
                        self.config.circuit_initial_backoff
                    } else {
                        (state.backoff * 2).min(self.config.circuit_max_backoff)
                    };
                    pause(state, now + state.backoff);
                }
            }
        }
    }

    /// How long until something blocked may go again (a pause ending, or an empty throttle
    /// bucket earning its next token), if anything is blocked.
    pub fn next_change(&self, now: Instant) -> Option<Duration> {
        let pauses = self
            .endpoints
            .values()
            .filter_map(|state| state.paused_until)
            .filter(|until| *until > now)
            .map(|until| until - now);
        let endpoint_tokens = self
            .endpoints
            .values()
            .filter_map(|state| state.bucket.as_ref())
            .filter_map(|bucket| bucket.time_to_next_token(now));
        let app_tokens = self
            .apps
            .values()
            .filter_map(|bucket| bucket.time_to_next_token(now));
        pauses.chain(endpoint_tokens).chain(app_tokens).min()
    }

    fn defer(&mut self, endpoint_id: &EndpointId, wait: Duration, rate: Option<u32>) -> Admission {
        // Space the deliveries handed back in one claim a token apart, so they do not all fall
        // due at the same instant.
        let earlier = self
            .deferred_in_claim
            .entry(endpoint_id.clone())
            .or_insert(0);
        let spacing =
            Duration::from_secs_f64(f64::from(*earlier) / f64::from(rate.unwrap_or(1).max(1)));
        *earlier += 1;
        Admission::Defer(wait + spacing)
    }

    /// Drops state that says nothing the defaults would not.
    fn forget_idle(&mut self, now: Instant) {
        self.endpoints.retain(|_, state| {
            let idle = state.in_flight == 0
                && state.consecutive_failures == 0
                && state.limit == state.max
                && state.paused_until.is_none_or(|until| until <= now);
            let bucket_full = state
                .bucket
                .as_mut()
                .is_none_or(|bucket| bucket.is_full(now));
            !(idle && bucket_full)
        });
        self.apps.retain(|_, bucket| !bucket.is_full(now));
    }
}

fn pause(state: &mut EndpointState, until: Instant) {
    state.paused_until = Some(
        state
            .paused_until
            .map_or(until, |current| current.max(until)),
    );
}

fn sync_bucket(bucket: &mut Option<TokenBucket>, rate: Option<u32>, now: Instant) {
    match (bucket.as_mut(), rate) {
        (_, None) => *bucket = None,
        (Some(existing), Some(rate)) => existing.set_rate(rate),
        (None, Some(rate)) => *bucket = Some(TokenBucket::new(rate, now)),
    }
}

fn take_token(bucket: &mut Option<TokenBucket>, now: Instant) -> Result<(), Duration> {
    bucket.as_mut().map_or(Ok(()), |bucket| bucket.take(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outcome::FailureCode;
    use crate::domain::{DeliveryId, DeliveryOptions, EventTypeName, MessageId, TriggerType};

    fn claim(endpoint: &str, endpoint_rate: Option<u32>, app_rate: Option<u32>) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id: DeliveryId::from_trusted("dlv_1"),
            lease_token: 1,
            app_id: AppId::from_trusted("app_1"),
            msg_id: MessageId::from_trusted("msg_1"),
            endpoint_id: EndpointId::from_trusted(endpoint),
            event_type: EventTypeName::parse("a.b").unwrap(),
            attempts_made: 0,
            trigger_type: TriggerType::Scheduled,
            url: "http://example.com".into(),
            headers: Default::default(),
            options: DeliveryOptions {
                max_in_flight: Some(8),
                ..DeliveryOptions::default()
            },
            endpoint_throttle_rate: endpoint_rate,
            app_throttle_rate: app_rate,
            secrets: Vec::new(),
            payload: Some("{}".into()),
        }
    }

    fn failed(status: u16, retry_after: Option<u64>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            code: FailureCode::HttpStatus,
            status: Some(status),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn allowance(scheduler: &mut Scheduler, endpoint: &str, now: Instant) -> Option<u32> {
        scheduler
            .budget(100, now)
            .endpoint_allowance
            .get(&EndpointId::from_trusted(endpoint))
            .copied()
    }

    #[test]
    fn in_flight_attempts_use_up_the_limit() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        for _ in 0..3 {
            assert_eq!(
                scheduler.admit(&claim("ep_a", None, None), now),
                Admission::Send
            );
        }
        assert_eq!(allowance(&mut scheduler, "ep_a", now), Some(5));
        let endpoint = EndpointId::from_trusted("ep_a");
        for _ in 0..3 {
            scheduler.finished(&endpoint, &AttemptOutcome::Delivered { status: 200 }, now);
        }
        // Idle with default limits: nothing to say, so nothing is kept.
        assert_eq!(allowance(&mut scheduler, "ep_a", now), None);
    }

    #[test]
    fn backpressure_halves_the_limit_and_success_recovers_it() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        let endpoint = EndpointId::from_trusted("ep_a");
        for status in [429, 502] {
            scheduler.admit(&claim("ep_a", None, None), now);
            scheduler.finished(&endpoint, &failed(status, None), now);
        }
        assert_eq!(
            allowance(&mut scheduler, "ep_a", now),
            Some(2),
            "8 -> 4 -> 2"
        );
        for _ in 0..3 {
            scheduler.admit(&claim("ep_a", None, None), now);
            scheduler.finished(&endpoint, &AttemptOutcome::Delivered { status: 200 }, now);
        }
        assert_eq!(allowance(&mut scheduler, "ep_a", now), Some(5));
    }

    #[test]
    fn retry_after_pauses_the_endpoint() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        let endpoint = EndpointId::from_trusted("ep_a");
        scheduler.admit(&claim("ep_a", None, None), now);
        scheduler.finished(&endpoint, &failed(503, Some(30)), now);
        assert_eq!(allowance(&mut scheduler, "ep_a", now), Some(0));
        assert_eq!(scheduler.next_change(now), Some(Duration::from_secs(30)));
        let later = now + Duration::from_secs(31);
        assert_eq!(allowance(&mut scheduler, "ep_a", later), Some(4));
    }

    #[test]
    fn the_circuit_opens_after_consecutive_failures_and_probes_alone() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        let endpoint = EndpointId::from_trusted("ep_a");
        for _ in 0..5 {
            scheduler.admit(&claim("ep_a", None, None), now);
            scheduler.finished(&endpoint, &failed(500, None), now);
        }
        assert_eq!(allowance(&mut scheduler, "ep_a", now), Some(0), "open");
        let after_backoff = now + Duration::from_secs(6);
        assert_eq!(
            allowance(&mut scheduler, "ep_a", after_backoff),
            Some(1),
            "one probe"
        );
        scheduler.admit(&claim("ep_a", None, None), after_backoff);
        assert_eq!(
            allowance(&mut scheduler, "ep_a", after_backoff),
            Some(0),
            "probe in flight"
        );
        scheduler.finished(&endpoint, &failed(500, None), after_backoff);
        let soon = after_backoff + Duration::from_secs(6);
        assert_eq!(
            allowance(&mut scheduler, "ep_a", soon),
            Some(0),
            "backoff doubled to 10s"
        );
        let probe_time = after_backoff + Duration::from_secs(11);
        scheduler.admit(&claim("ep_a", None, None), probe_time);
        scheduler.finished(
            &endpoint,
            &AttemptOutcome::Delivered { status: 200 },
            probe_time,
        );
        assert_eq!(
            allowance(&mut scheduler, "ep_a", probe_time),
            None,
            "closed and forgotten"
        );
    }

    #[test]
    fn throttles_defer_without_counting_in_flight() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        // 2 per second: one goes at once, the next two wait half a second and a second.
        assert_eq!(
            scheduler.admit(&claim("ep_a", Some(2), None), now),
            Admission::Send
        );
        let waits: Vec<Admission> = (0..2)
            .map(|_| scheduler.admit(&claim("ep_a", Some(2), None), now))
            .collect();
        assert_eq!(
            waits,
            vec![
                Admission::Defer(Duration::from_millis(500)),
                Admission::Defer(Duration::from_millis(1000))
            ]
        );
        assert_eq!(allowance(&mut scheduler, "ep_a", now), Some(0));
        assert_eq!(scheduler.next_change(now), Some(Duration::from_millis(500)));
        let later = now + Duration::from_secs(1);
        assert_eq!(
            allowance(&mut scheduler, "ep_a", later),
            Some(1),
            "capacity of one"
        );
    }

    #[test]
    fn fast_throttles_allow_a_tenth_of_a_second_in_one_claim() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        assert_eq!(
            scheduler.admit(&claim("ep_a", Some(1000), None), now),
            Admission::Send
        );
        let later = now + Duration::from_secs(1);
        // 100 tokens, but the endpoint's own limit (8, one in flight) binds first.
        assert_eq!(allowance(&mut scheduler, "ep_a", later), Some(7));
    }

    #[test]
    fn an_application_throttle_spans_its_endpoints() {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(SchedulerConfig::default());
        assert_eq!(
            scheduler.admit(&claim("ep_a", None, Some(1)), now),
            Admission::Send
        );
        assert!(matches!(
            scheduler.admit(&claim("ep_b", None, Some(1)), now),
            Admission::Defer(_)
        ));
        let budget = scheduler.budget(10, now);
        assert!(budget.blocked_apps.contains(&AppId::from_trusted("app_1")));
        let budget = scheduler.budget(10, now + Duration::from_secs(1));
        assert!(budget.blocked_apps.is_empty());
    }
}
