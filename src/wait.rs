//! The one way the provider waits: an attempt repeated at a pace until it is done, fails
//! for good, or an explicit deadline passes. Kubernetes rollouts and deletions
//! (`k8s::wait`) and "Redis is ready" (`redis::wait_until`) are built on it.
//!
//! An operation bounded as a whole ([`bounded`], which `tf::Context::bounded` uses) keeps
//! the last thing any wait inside it was still waiting for, and why ([`saw`]): when its
//! own deadline passes first, its error quotes that instead of only the time. Retries
//! below the waits (the Kubernetes client's reconnects) ask it how much time is left
//! ([`remaining`]).

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// What the waits of one bounded operation saw last, and its deadline; a bounded
/// operation inside another passes what it sees on to the outer one.
#[derive(Debug)]
struct Witness {
    deadline: Instant,
    last: Mutex<Option<Seen>>,
    outer: Option<Arc<Witness>>,
}

tokio::task_local! {
    static WITNESS: Arc<Witness>;
}

/// The last thing a wait was still waiting for when its operation's deadline passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// What was awaited (`statefulset apps/cache rollout`), when the wait said.
    pub what: Option<String>,
    /// What stood in the way (`0/1 ready`, `connection refused`).
    pub why: String,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.what {
            Some(what) => write!(f, "waiting for {what}; last: {}", self.why),
            None => write!(f, "last: {}", self.why),
        }
    }
}

/// Records that the operation this task runs (if bounded) is still waiting for `what`
/// because of `why`; the latest record is what its timeout quotes.
pub fn saw(what: Option<&str>, why: &dyn Display) {
    let _ = WITNESS.try_with(|w| {
        let seen = Seen {
            what: what.map(str::to_owned),
            why: why.to_string(),
        };
        let mut next = Some(w.as_ref());
        while let Some(w) = next {
            if let Ok(mut last) = w.last.lock() {
                *last = Some(seen.clone());
            }
            next = w.outer.as_deref();
        }
    });
}

/// Time left before the deadline of the bounded operation this task runs (the nearest
/// of nested ones); `None` outside any.
pub fn remaining() -> Option<Duration> {
    WITNESS
        .try_with(|w| {
            let mut deadline = w.deadline;
            let mut next = w.outer.as_deref();
            while let Some(o) = next {
                deadline = deadline.min(o.deadline);
                next = o.outer.as_deref();
            }
            deadline.saturating_duration_since(Instant::now())
        })
        .ok()
}

/// Why [`bounded`] gave up: the limit passed, and what its waits saw last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    /// The limit.
    pub after: Duration,
    /// The last thing a wait inside was waiting for, if any said.
    pub last: Option<Seen>,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "timed out after {:?}", self.after)?;
        match &self.last {
            Some(seen) => write!(f, " {seen}"),
            None => Ok(()),
        }
    }
}

/// Runs `operation` for at most `limit`; at the limit the error quotes what the waits
/// inside it saw last ([`saw`]).
pub async fn bounded<F: Future>(limit: Duration, operation: F) -> Result<F::Output, Expired> {
    let witness = Arc::new(Witness {
        deadline: Instant::now() + limit,
        last: Mutex::new(None),
        outer: WITNESS.try_with(Arc::clone).ok(),
    });
    let outcome = WITNESS
        .scope(witness.clone(), tokio::time::timeout(limit, operation))
        .await;
    outcome.map_err(|_| Expired {
        after: limit,
        last: witness.last.lock().ok().and_then(|last| last.clone()),
    })
}

/// What one attempt found.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// The condition holds; here is the value.
    Done(T),
    /// Not yet; waiting may cure this (kept as the cause if the deadline passes).
    Retry(E),
    /// Waiting cannot cure this: stop now and say why.
    Fail(E),
}

/// Why a wait ended without the condition.
#[derive(Debug)]
pub enum Stopped<E> {
    /// An attempt failed for good.
    Failed(E),
    /// The deadline passed; `last` is the last attempt's finding, if any finished.
    TimedOut {
        /// The timeout.
        after: Duration,
        /// The last attempt's finding.
        last: Option<E>,
    },
}

/// Pauses between attempts: `first`, doubled after each attempt up to `max`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Pace {
    /// The same pause every time.
    pub const fn every(pause: Duration) -> Pace {
        Pace {
            first: pause,
            max: pause,
        }
    }
}

/// Repeats `attempt` until it is done or fails for good, at most `timeout` in all
/// (an attempt that never completes is cut off at the deadline too).
pub async fn until<T, E, F, Fut>(timeout: Duration, pace: Pace, attempt: F) -> Result<T, Stopped<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    until_named(None, timeout, pace, attempt).await
}

/// [`until`], for a wait that says what it waits for (`what`): the enclosing bounded
/// operation's timeout then names it.
pub async fn waiting_for<T, E, F, Fut>(
    what: &str,
    timeout: Duration,
    pace: Pace,
    attempt: F,
) -> Result<T, Stopped<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    until_named(Some(what), timeout, pace, attempt).await
}

async fn until_named<T, E, F, Fut>(
    what: Option<&str>,
    timeout: Duration,
    pace: Pace,
    mut attempt: F,
) -> Result<T, Stopped<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let mut last = None;
    let attempts = async {
        let mut pause = pace.first;
        loop {
            match attempt().await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e) => {
                    saw(what, &e);
                    last = Some(e);
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(pace.max);
        }
    };
    match tokio::time::timeout(timeout, attempts).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Stopped::Failed(e)),
        Err(_) => Err(Stopped::TimedOut {
            after: timeout,
            last,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_when_the_condition_holds() {
        let mut n = 0;
        let got = until(
            Duration::from_secs(10),
            Pace::every(Duration::from_secs(1)),
            || {
                n += 1;
                let now = n;
                async move {
                    if now < 3 {
                        Attempt::Retry("not yet")
                    } else {
                        Attempt::Done(now)
                    }
                }
            },
        )
        .await;
        assert_eq!(got.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_waiting_cannot_cure_ends_the_wait_at_once() {
        let got: Result<(), _> = until(
            Duration::from_secs(10),
            Pace::every(Duration::from_secs(1)),
            || async { Attempt::Fail("crash loop") },
        )
        .await;
        assert!(matches!(got, Err(Stopped::Failed("crash loop"))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_wait_with_the_last_finding() {
        let got: Result<(), _> = until(
            Duration::from_secs(5),
            Pace::every(Duration::from_secs(1)),
            || async { Attempt::Retry("1/3 ready") },
        )
        .await;
        match got {
            Err(Stopped::TimedOut { after, last }) => {
                assert_eq!(after, Duration::from_secs(5));
                assert_eq!(last, Some("1/3 ready"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_never_returns_is_cut_off_at_the_deadline() {
        let got: Result<(), Stopped<&str>> = until(
            Duration::from_secs(2),
            Pace::every(Duration::from_secs(1)),
            || async {
                std::future::pending::<()>().await;
                Attempt::Done(())
            },
        )
        .await;
        assert!(matches!(got, Err(Stopped::TimedOut { last: None, .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_operation_that_times_out_quotes_what_its_wait_saw_last() {
        let waiting = waiting_for(
            "statefulset apps/cache rollout",
            Duration::from_secs(600),
            Pace::every(Duration::from_secs(1)),
            || async { Attempt::<(), _>::Retry("0/1 ready: pod cache-0 not scheduled") },
        );
        let err = bounded(Duration::from_secs(120), waiting)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 120s waiting for statefulset apps/cache rollout; last: 0/1 ready: \
             pod cache-0 not scheduled"
        );
        let quiet = bounded(Duration::from_secs(1), std::future::pending::<()>());
        assert_eq!(
            quiet.await.unwrap_err().to_string(),
            "timed out after 1s",
            "nothing seen: only the time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_inner_bound_passes_what_it_saw_to_the_outer_one() {
        let outer = bounded(Duration::from_secs(10), async {
            let inner = bounded(Duration::from_secs(5), async {
                let _ = until(
                    Duration::from_secs(2),
                    Pace::every(Duration::from_millis(500)),
                    || async { Attempt::<(), _>::Retry("connection refused") },
                )
                .await;
            });
            assert!(inner.await.is_ok(), "the inner wait ended on its own");
            std::future::pending::<()>().await
        });
        let err = outer.await.unwrap_err();
        assert_eq!(
            err.last,
            Some(Seen {
                what: None,
                why: "connection refused".into()
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_left_is_the_nearest_deadline_and_unknown_outside_a_bound() {
        assert_eq!(remaining(), None);
        bounded(Duration::from_secs(10), async {
            assert_eq!(remaining(), Some(Duration::from_secs(10)));
            tokio::time::sleep(Duration::from_secs(4)).await;
            bounded(Duration::from_secs(60), async {
                assert_eq!(remaining(), Some(Duration::from_secs(6)), "the outer one's");
            })
            .await
            .unwrap();
        })
        .await
        .unwrap();
    }
}
