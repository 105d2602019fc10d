//! The one way the provider waits: an attempt repeated at a pace until it is done, fails
//! for good, or an explicit deadline passes. Kubernetes rollouts and deletions
//! (`k8s::wait`) and "Redis is ready" (`redis::wait_until`) are built on it.

use std::future::Future;
use std::time::Duration;

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
pub async fn until<T, E, F, Fut>(
    timeout: Duration,
    pace: Pace,
    mut attempt: F,
) -> Result<T, Stopped<E>>
where
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
                Attempt::Retry(e) => last = Some(e),
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
}
