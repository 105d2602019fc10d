//! Waiting for "Redis is ready": a readiness condition retried on fresh connections until a deadline.
//!
//! Modelled on kube-runtime's `wait::Condition` plus an explicit `tokio::time::timeout`:
//! [`check_ready`] is the condition (one look, no waiting), [`wait_ready`] polls it with
//! backoff on fresh connections and gives up at the deadline with the last failure as the
//! cause; [`wait_until`] is the same loop for any other condition.

use std::future::Future;
use std::time::Duration;

use super::conn::{RedisConn, RedisError, Transport};
use crate::wait::{self, Attempt, Pace, Stopped};

/// The first pause between attempts; doubled after each failure up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The longest pause between attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// The readiness condition: `PING` answers `PONG` and `INFO persistence` shows `loading:0`.
///
/// `Ok(())` when ready; [`RedisError::NotReady`] when Redis answers but is still loading;
/// any other error as it happened.
pub async fn check_ready<S: Transport>(conn: &mut RedisConn<S>) -> Result<(), RedisError> {
    conn.ping().await?;
    let info = conn.info("persistence").await?;
    match info.loading() {
        Some(false) => Ok(()),
        Some(true) => Err(RedisError::NotReady {
            reason: "still loading the dataset".to_owned(),
        }),
        None => Err(RedisError::NotReady {
            reason: "INFO persistence does not report `loading`".to_owned(),
        }),
    }
}

/// Connects with `connect` and checks [`check_ready`] until it passes, then returns that
/// ready connection.
///
/// Failures that waiting can cure ([`RedisError::is_transient`]: connection refused, port
/// forward not yet possible, timeouts, `LOADING`) are retried on a fresh connection with
/// backoff; others (a wrong password, an unknown command) are returned at once. The whole
/// wait, including a `connect` that never completes, is bounded by `timeout`: then the
/// result is [`RedisError::ReadyTimeout`] whose source is the last attempt's error.
pub async fn wait_ready<S, F, Fut>(
    mut connect: F,
    timeout: Duration,
) -> Result<RedisConn<S>, RedisError>
where
    S: Transport,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<RedisConn<S>, RedisError>>,
{
    wait_until(
        move || {
            let connecting = connect();
            async move {
                let mut conn = connecting.await?;
                check_ready(&mut conn).await?;
                Ok(conn)
            }
        },
        timeout,
    )
    .await
}

/// Runs `attempt` until it succeeds and returns its value: the retry loop of
/// [`wait_ready`] for any condition, e.g. "every Sentinel sees the primary" (return
/// [`RedisError::NotReady`] from `attempt` to keep waiting).
///
/// Transient failures ([`RedisError::is_transient`]) are retried with backoff from
/// [`FIRST_RETRY_DELAY`] to [`MAX_RETRY_DELAY`]; any other failure is returned at once.
/// At `timeout` (which also bounds an attempt that never completes) the result is
/// [`RedisError::ReadyTimeout`] carrying the last failure.
pub async fn wait_until<T, F, Fut>(mut attempt: F, timeout: Duration) -> Result<T, RedisError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RedisError>>,
{
    let pace = Pace {
        first: FIRST_RETRY_DELAY,
        max: MAX_RETRY_DELAY,
    };
    let outcome = wait::until(timeout, pace, || {
        let trying = attempt();
        async move {
            match trying.await {
                Ok(value) => Attempt::Done(value),
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "redis condition not met yet");
                    Attempt::Retry(e)
                }
                Err(e) => Attempt::Fail(e),
            }
        }
    })
    .await;
    match outcome {
        Ok(value) => Ok(value),
        Err(Stopped::Failed(e)) => Err(e),
        Err(Stopped::TimedOut { after, last }) => Err(RedisError::ReadyTimeout {
            after,
            last: last.map(Box::new),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::redis::resp::{self, Reply};

    const T: Duration = Duration::from_secs(2);

    /// A fake server that answers PING and INFO persistence with the given `loading` flag,
    /// and `DBSIZE` never.
    fn server(loading: bool) -> DuplexStream {
        let (client, mut server) = duplex(4096);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                let Ok(Some((Reply::Array(words), used))) = resp::parse_reply(&buf) else {
                    if server.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    continue;
                };
                buf.drain(..used);
                let answer: Vec<u8> = match words.first().and_then(Reply::as_text).as_deref() {
                    Some("PING") => b"+PONG\r\n".to_vec(),
                    Some("INFO") => {
                        let text = format!("# Persistence\r\nloading:{}\r\n", u8::from(loading));
                        format!("${}\r\n{text}\r\n", text.len()).into_bytes()
                    }
                    _ => b"-ERR unknown command\r\n".to_vec(),
                };
                if server.write_all(&answer).await.is_err() {
                    return;
                }
            }
        });
        client
    }

    #[tokio::test]
    async fn a_loading_server_is_not_ready() {
        let mut conn = RedisConn::handshake(server(true), None, T).await.unwrap();
        let err = check_ready(&mut conn).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "redis is not ready: still loading the dataset"
        );
        let mut conn = RedisConn::handshake(server(false), None, T).await.unwrap();
        check_ready(&mut conn).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_retries_transient_failures_until_redis_answers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let conn = wait_ready(
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => Err(RedisError::connect("pod:6379", "connection refused")),
                        1 => RedisConn::handshake(server(true), None, T).await,
                        _ => RedisConn::handshake(server(false), None, T).await,
                    }
                }
            },
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(conn.is_usable());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_times_out_with_the_last_error_as_its_source() {
        let err = wait_ready(
            || async { RedisConn::handshake(server(true), None, T).await },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        let RedisError::ReadyTimeout { after, last } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*after, Duration::from_secs(5));
        assert!(matches!(last.as_deref(), Some(RedisError::NotReady { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_bounds_a_connect_that_never_completes() {
        let err = wait_ready(
            std::future::pending::<Result<RedisConn<DuplexStream>, RedisError>>,
            Duration::from_secs(3),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, RedisError::ReadyTimeout { last: None, .. }),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_returns_the_value_of_the_first_successful_attempt() {
        let mut tries = 0u32;
        let value = wait_until(
            || {
                tries += 1;
                let n = tries;
                async move {
                    if n < 4 {
                        Err(RedisError::NotReady {
                            reason: format!("{n} of 3 sentinels"),
                        })
                    } else {
                        Ok(n * 10)
                    }
                }
            },
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(value, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_returns_a_permanent_failure_at_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let err = wait_ready(
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    Err::<RedisConn<DuplexStream>, _>(RedisError::Server {
                        command: "AUTH".into(),
                        message: "WRONGPASS invalid username-password pair".into(),
                    })
                }
            },
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
        assert!(err.is_auth_failure());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
