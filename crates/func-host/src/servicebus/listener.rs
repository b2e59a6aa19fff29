//! The receive loop of one Service Bus-triggered function: peek-lock, invoke, settle.

use std::{sync::Arc, time::Duration};

use azure_messaging_servicebus::service_bus::PeekLockResponse;
use futures::stream::{FuturesUnordered, StreamExt};
use time::OffsetDateTime;
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};

use super::{
    Receiver, ServiceBusTrigger,
    message::{RawHeaders, ReceivedMessage, TriggerContext, invocation_for},
    output::OutputSet,
};
use crate::invoke::{InvocationError, Invoker, log_handler_logs};

/// How long one peek-lock request waits for a message (`?timeout=`).
pub const RECEIVE_WAIT: Duration = Duration::from_secs(30);
/// Pause after a failed receive.
const RECEIVE_BACKOFF: Duration = Duration::from_secs(1);
/// At most this many receives of one function open at once.
pub const RECEIVES_AT_ONCE: usize = 8;
/// Lock duration assumed when LockedUntilUtc is missing (the Service Bus default).
const DEFAULT_LOCK: Duration = Duration::from_secs(60);

/// Everything a function's receive loop needs.
#[derive(Clone, Debug)]
pub struct Listener {
    /// The function name.
    pub function: String,
    /// The trigger.
    pub trigger: ServiceBusTrigger,
    /// The receiver for the trigger's entity.
    pub receiver: Receiver,
    /// The function's Service Bus outputs.
    pub outputs: OutputSet,
    /// The handler.
    pub invoker: Invoker,
    /// `maxConcurrentCalls`.
    pub max_concurrent_calls: usize,
    /// `maxAutoLockRenewalDuration` (`None` = no limit).
    pub max_lock_renewal: Option<Duration>,
    /// How long in-flight invocations may run on after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Listener {
    /// Receives until `shutdown` turns true, then lets in-flight invocations finish
    /// within the grace period.
    ///
    /// Like the host's `ServiceBusProcessor`, which keeps `maxConcurrentCalls` receives
    /// open, receives run concurrently while there is work: one long-poll while the entity
    /// is empty, one more each time a receive brings a message (up to [`RECEIVES_AT_ONCE`]
    /// and the free slots), one fewer each time one comes back empty. One receive at a time
    /// left a backlog waiting on the round trips while slots were free.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.max_concurrent_calls.max(1)));
        let mut in_flight = JoinSet::new();
        let identifier = format!("{}-{}", this.trigger.entity.path(), uuid::Uuid::new_v4());
        let identifier: Arc<str> = Arc::from(identifier);
        let mut receiving = FuturesUnordered::new();
        let mut wanted = 1usize;
        loop {
            if *shutdown.borrow() {
                break;
            }
            while receiving.len() < wanted {
                let permit = if receiving.is_empty() {
                    tokio::select! {
                        p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                        _ = shutdown.changed() => break,
                    }
                } else {
                    match permits.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => break,
                    }
                };
                let receiver = this.clone();
                receiving
                    .push(async move { (permit, receiver.receiver.peek_lock(RECEIVE_WAIT).await) });
            }
            if receiving.is_empty() {
                // Shutdown was asked for while waiting for a slot.
                break;
            }
            let (permit, received) = tokio::select! {
                Some(r) = receiving.next() => r,
                _ = shutdown.changed() => break,
            };
            while in_flight.try_join_next().is_some() {}
            let response = match received {
                Ok(r) => r,
                Err(e) => {
                    drop(permit);
                    wanted = 1;
                    tracing::warn!(function = %this.function, error = %e, "receive failed");
                    if pause(&mut shutdown, RECEIVE_BACKOFF).await {
                        break;
                    }
                    continue;
                }
            };
            let status = u16::from(*response.status());
            if status == 204 {
                drop(permit);
                wanted = wanted.saturating_sub(1).max(1);
                continue;
            }
            if !(200..300).contains(&status) {
                drop(permit);
                wanted = 1;
                tracing::warn!(function = %this.function, status, "peek-lock refused");
                if pause(&mut shutdown, RECEIVE_BACKOFF).await {
                    break;
                }
                continue;
            }
            wanted = (wanted + 1).min(RECEIVES_AT_ONCE);
            let task = this.clone();
            let id = identifier.clone();
            in_flight.spawn(async move {
                task.process(response, &id).await;
                drop(permit);
            });
        }
        // Receives still open are dropped: a message one of them locked meanwhile comes back
        // when its lock runs out, as with a host that stopped.
        drop(receiving);
        if !in_flight.is_empty() {
            tracing::info!(
                function = %this.function,
                in_flight = in_flight.len(),
                "stopping: letting in-flight invocations finish"
            );
            let drain = async { while in_flight.join_next().await.is_some() {} };
            if tokio::time::timeout(this.shutdown_grace, drain)
                .await
                .is_err()
            {
                in_flight.abort_all();
            }
        }
    }

    async fn process(&self, response: PeekLockResponse, identifier: &str) {
        let headers: RawHeaders = match response.custom_properties() {
            Ok(h) => h,
            Err(never) => match never {},
        };
        let message = ReceivedMessage::from_parts(response.body(), &headers);
        let fqns = format!(
            "{}.servicebus.windows.net",
            self.trigger.connection.namespace
        );
        let entity_path = self.trigger.entity.path();
        let ctx = TriggerContext {
            function: &self.function,
            binding: &self.trigger.binding,
            data_type: self.trigger.data_type,
            fully_qualified_namespace: &fqns,
            entity_path: &entity_path,
            client_identifier: identifier,
        };
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let body = match invocation_for(&message, &ctx, OffsetDateTime::now_utc()) {
            Ok(body) => body.to_json(),
            Err(e) => {
                // The binding fails before the handler is called; like any failed
                // invocation the message is abandoned and comes back with DeliveryCount + 1.
                tracing::error!(
                    function = %self.function,
                    invocation_id,
                    error = %e,
                    "Executed 'Functions.{}' (Failed); abandoning the message",
                    self.function
                );
                if let Err(e) = response.unlock_message().await {
                    tracing::warn!(function = %self.function, error = %e, "abandon failed");
                }
                return;
            }
        };
        tracing::info!(
            function = %self.function,
            invocation_id,
            message_id = message.message_id().unwrap_or_default(),
            delivery_count = message.delivery_count().unwrap_or_default(),
            "Executing 'Functions.{}' (Reason='(null)')",
            self.function
        );

        let renewal = self.renew_while(&response, &message);
        let work = async {
            let result = self
                .invoker
                .invoke(&self.function, &invocation_id, body)
                .await?;
            log_handler_logs(&self.function, &invocation_id, &result.logs);
            self.outputs.send(&result).await?;
            Ok::<_, InvocationError>(())
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = renewal => unreachable_renewal(),
        };

        match outcome {
            Ok(()) => {
                tracing::info!(function = %self.function, invocation_id, "Executed 'Functions.{}' (Succeeded)", self.function);
                if self.trigger.auto_complete
                    && let Err(e) = response.delete_message().await
                {
                    tracing::warn!(function = %self.function, error = %e, "complete failed");
                }
            }
            Err(e) => {
                tracing::error!(
                    function = %self.function,
                    invocation_id,
                    error = %e,
                    "Executed 'Functions.{}' (Failed); abandoning the message",
                    self.function
                );
                if let Err(e) = response.unlock_message().await {
                    tracing::warn!(function = %self.function, error = %e, "abandon failed");
                }
            }
        }
    }

    /// Renews the lock while the invocation runs, up to maxAutoLockRenewalDuration.
    /// Never completes on its own.
    async fn renew_while(&self, response: &PeekLockResponse, message: &ReceivedMessage) {
        let started = tokio::time::Instant::now();
        let lock = message.lock_duration().unwrap_or(DEFAULT_LOCK);
        let interval = (lock / 2).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(interval).await;
            let renewing_allowed = self
                .max_lock_renewal
                .is_none_or(|max| started.elapsed() + interval <= max);
            if !renewing_allowed {
                std::future::pending::<()>().await;
            }
            if let Err(e) = response.renew_message_lock().await {
                tracing::warn!(function = %self.function, error = %e, "lock renewal failed");
            }
        }
    }
}

fn unreachable_renewal() -> Result<(), InvocationError> {
    // renew_while loops forever; select! needs an arm value all the same.
    Err(InvocationError::Output {
        binding: String::new(),
        message: "lock renewal ended unexpectedly".to_owned(),
    })
}

/// Sleeps, returning true if shutdown was asked for meanwhile.
async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        _ = shutdown.changed() => true,
    }
}
