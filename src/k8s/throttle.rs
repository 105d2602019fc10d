//! How the provider treats the API server under load: a bound on its requests in flight
//! (shared by every resource of one provider process), and throttling (429) retried with
//! back-off for as long as the operation's own deadline allows. Never sees Terraform types.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use rand::Rng as _;
use tokio::sync::Semaphore;
use tower::retry::Policy;
use tower::{BoxError, Layer, Service, ServiceExt as _};

/// The default bound on requests in flight (and on Redis connections being opened).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 16;
/// The longest wait between two tries of a throttled request, whatever Retry-After says.
pub const MAX_THROTTLE_DELAY: Duration = Duration::from_secs(5);
/// The first back-off when the server gives no Retry-After.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Retries of 503 and 504 (the server or a proxy in front of it unavailable): a few,
/// then the error, which names the cause.
const UNAVAILABLE_RETRIES: u32 = 3;

/// Slots for requests in flight, shared by every clone of one client.
#[derive(Clone, Debug)]
pub struct Slots(Arc<Semaphore>);

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Self {
        Self(Arc::new(Semaphore::new(n.max(1))))
    }

    /// Waits for a free slot; it is given back when the returned value is dropped.
    pub async fn take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        // The semaphore is never closed: an error cannot happen, and would mean no bound.
        self.0.clone().acquire_owned().await.ok()
    }

    /// Slots free now.
    pub fn free(&self) -> usize {
        self.0.available_permits()
    }
}

/// A layer that lets at most as many requests through at once as there are [`Slots`];
/// a request holds its slot until the response's head arrives (a watch or a port-forward
/// stream does not keep it).
#[derive(Clone, Debug)]
pub struct InFlightLayer(pub Slots);

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlight<S>;
    fn layer(&self, inner: S) -> InFlight<S> {
        InFlight {
            inner,
            slots: self.0.clone(),
        }
    }
}

/// The service of [`InFlightLayer`].
#[derive(Clone, Debug)]
pub struct InFlight<S> {
    inner: S,
    slots: Slots,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> Service<R> for InFlight<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Readiness is waited for in `call`, once a slot is held.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        let slots = self.slots.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let _slot = slots.take().await;
            inner.oneshot(request).await
        })
    }
}

/// The retry policy: 429 (throttled) is retried until the caller gives up (its timeout
/// or Terraform's stop drops the request), waiting what Retry-After asks capped at
/// [`MAX_THROTTLE_DELAY`], or an exponential back-off with jitter without it; 503 and
/// 504 are retried [`UNAVAILABLE_RETRIES`] times. Nothing else is retried.
#[derive(Clone, Debug)]
pub struct Throttled {
    max_delay: Duration,
    throttled: u32,
    unavailable: u32,
}

impl Default for Throttled {
    fn default() -> Self {
        Self::with_max_delay(MAX_THROTTLE_DELAY)
    }
}

impl Throttled {
    /// A policy that never waits longer than `max_delay` between tries.
    pub fn with_max_delay(max_delay: Duration) -> Self {
        Self {
            max_delay,
            throttled: 0,
            unavailable: 0,
        }
    }

    /// The back-off before try `attempt + 1` (attempt counted from 1): 200 ms doubling,
    /// capped, with up to half of it taken off at random so that throttled clients do
    /// not come back all at once.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = FIRST_BACKOFF
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// How long to wait after a 429 carrying `retry_after` (seconds), on its `attempt`th
    /// retry: what the server asks, at least the back-off, at most `max_delay`.
    fn throttle_delay(&self, retry_after: Option<u64>, attempt: u32) -> Duration {
        let backoff = self.backoff(attempt);
        match retry_after {
            Some(secs) => Duration::from_secs(secs.min(self.max_delay.as_secs() + 1))
                .max(backoff)
                .min(self.max_delay),
            None => backoff,
        }
    }
}

fn retry_after<B>(response: &Response<B>) -> Option<u64> {
    response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for Throttled {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let delay = match response.status() {
            StatusCode::TOO_MANY_REQUESTS => {
                self.throttled += 1;
                self.throttle_delay(retry_after(response), self.throttled)
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
                if self.unavailable < UNAVAILABLE_RETRIES =>
            {
                self.unavailable += 1;
                self.backoff(self.unavailable)
            }
            _ => return None,
        };
        tracing::debug!(
            status = response.status().as_u16(),
            method = %request.method(),
            path = request.uri().path(),
            retry_after = ?retry_after(response),
            delay_ms = delay.as_millis() as u64,
            throttled = self.throttled,
            "API server refused the request for now: retrying"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        // A streaming body cannot be sent twice: such a request is not retried.
        let body = request.body().try_clone()?;
        let mut copy = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version())
            .body(body)
            .ok()?;
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Result<Response<()>, BoxError> {
        let mut r = Response::builder().status(status);
        if let Some(v) = retry_after {
            r = r.header("Retry-After", v);
        }
        Ok(r.body(()).unwrap())
    }

    fn wait_of(policy: &mut Throttled, status: u16, retry_after: Option<&str>) -> Option<Duration> {
        let mut request = Request::new(Body::empty());
        let mut result = answer(status, retry_after);
        let start = tokio::time::Instant::now();
        policy
            .retry(&mut request, &mut result)
            .map(|sleep| sleep.deadline() - start)
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_without_a_count_limit_waiting_what_retry_after_asks() {
        let mut policy = Throttled::default();
        for _ in 0..100 {
            let wait = wait_of(&mut policy, 429, Some("1")).expect("429 is retried");
            // At least what the server asks; later tries wait the capped back-off.
            assert!(wait >= Duration::from_secs(1), "{wait:?}");
            assert!(wait <= MAX_THROTTLE_DELAY, "{wait:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_retry_after_is_capped() {
        let mut policy = Throttled::default();
        let wait = wait_of(&mut policy, 429, Some("1000")).unwrap();
        assert_eq!(wait, MAX_THROTTLE_DELAY);
        let wait = wait_of(&mut policy, 429, Some(&u64::MAX.to_string())).unwrap();
        assert_eq!(wait, MAX_THROTTLE_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_the_back_off_grows_with_jitter_up_to_the_cap() {
        let mut policy = Throttled::default();
        let first = wait_of(&mut policy, 429, None).unwrap();
        assert!(
            first >= FIRST_BACKOFF / 2 && first <= FIRST_BACKOFF,
            "{first:?}"
        );
        let mut last = first;
        for _ in 0..20 {
            last = wait_of(&mut policy, 429, Some("soon")).unwrap();
        }
        assert!(
            last >= MAX_THROTTLE_DELAY / 2 && last <= MAX_THROTTLE_DELAY,
            "{last:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unavailable_is_retried_three_times_and_other_errors_never() {
        let mut policy = Throttled::default();
        for _ in 0..UNAVAILABLE_RETRIES {
            assert!(wait_of(&mut policy, 503, None).is_some());
        }
        assert!(wait_of(&mut policy, 504, None).is_none());
        // Throttling still is.
        assert!(wait_of(&mut policy, 429, None).is_some());
        for status in [400, 401, 403, 404, 409, 500] {
            assert!(wait_of(&mut Throttled::default(), status, None).is_none());
        }
    }

    #[tokio::test]
    async fn no_more_requests_run_at_once_than_there_are_slots() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let inner = tower::service_fn(move |_: ()| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            }
        });
        let slots = Slots::new(3);
        let service = InFlightLayer(slots.clone()).layer(inner);
        let calls = (0..20).map(|_| service.clone().oneshot(()));
        for outcome in futures::future::join_all(calls).await {
            outcome.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(slots.free(), 3, "every slot given back");
    }
}
