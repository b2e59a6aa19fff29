//! Timer triggers: NCRONTAB schedules (or a TimeSpan interval), `runOnStartup`, and the
//! TimerInfo object the host sends as `Data.<name>`.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::{
    error::ConfigError,
    function_json::{BindingDef, FunctionDef},
    invocation_body::InvocationBody,
    invoke::{Invoker, log_handler_logs},
    ncrontab::Schedule,
    netjson,
    servicebus::output::OutputSet,
    settings::AppSettings,
    timespan,
};

/// When a timer fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerSchedule {
    /// A six-field NCRONTAB expression.
    Cron(Schedule),
    /// A TimeSpan interval (`00:05:00`).
    Interval(Duration),
}

impl TimerSchedule {
    fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Self::Cron(s) => s.next_after(after),
            Self::Interval(d) => Some(after + *d),
        }
    }

    /// The schedule as written.
    pub fn describe(&self) -> String {
        match self {
            Self::Cron(s) => s.text().to_owned(),
            Self::Interval(d) => format!("every {d:?}"),
        }
    }
}

/// A `timerTrigger` binding.
#[derive(Clone, Debug)]
pub struct TimerTrigger {
    /// The binding name.
    pub binding: String,
    /// The schedule.
    pub schedule: TimerSchedule,
    /// `runOnStartup`.
    pub run_on_startup: bool,
}

impl TimerTrigger {
    /// Reads a `timerTrigger` binding; `%Setting%` schedules resolve from app settings.
    pub fn from_binding(
        function: &FunctionDef,
        binding: &BindingDef,
        settings: &AppSettings,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Binding {
            function: function.name.clone(),
            message,
        };
        let raw = binding
            .string("schedule")
            .ok_or_else(|| invalid("timerTrigger has no schedule".to_owned()))?;
        let text = settings.resolve_binding_expression(&raw)?;
        let schedule = if text.split_whitespace().count() == 1 && text.contains(':') {
            let span = timespan::parse(&text)
                .and_then(timespan::TimeSpan::bounded)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid(format!("invalid TimeSpan schedule '{text}'")))?;
            TimerSchedule::Interval(span)
        } else {
            TimerSchedule::Cron(Schedule::parse(&text).map_err(|e| invalid(e.to_string()))?)
        };
        Ok(Self {
            binding: binding.name.clone(),
            schedule,
            run_on_startup: binding.boolean("runOnStartup").unwrap_or(false),
        })
    }
}

/// A timer function's loop.
#[derive(Clone, Debug)]
pub struct TimerRunner {
    /// The function name.
    pub function: String,
    /// The trigger.
    pub trigger: TimerTrigger,
    /// Service Bus outputs.
    pub outputs: OutputSet,
    /// The handler.
    pub invoker: Invoker,
}

const NEVER: &str = "0001-01-01T00:00:00";

impl TimerRunner {
    /// Fires on schedule until shutdown. Like the TimerTrigger listener, the next
    /// occurrence is computed after each invocation, so runs never overlap.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last: Option<OffsetDateTime> = None;
        if self.trigger.run_on_startup {
            let now = OffsetDateTime::now_utc();
            let next = self.trigger.schedule.next_after(now);
            tokio::select! {
                () = self.fire(last, next, false) => {}
                _ = shutdown.changed() => return,
            }
            last = Some(now);
        }
        loop {
            let now = OffsetDateTime::now_utc();
            let Some(due) = self.trigger.schedule.next_after(now) else {
                tracing::warn!(function = %self.function, "schedule has no further occurrence");
                return;
            };
            let wait = Duration::try_from(due - now).unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            let next = self.trigger.schedule.next_after(due);
            let late = OffsetDateTime::now_utc() - due > time::Duration::seconds(1);
            tokio::select! {
                () = self.fire(last, next, late) => {}
                _ = shutdown.changed() => return,
            }
            last = Some(due);
        }
    }

    /// Runs the function once now, as the host's admin API does
    /// (`POST /admin/functions/{name}`): the schedule goes on as it was.
    pub async fn fire_on_request(&self) {
        let now = OffsetDateTime::now_utc();
        let next = self.trigger.schedule.next_after(now);
        self.invoke(
            None,
            next,
            false,
            "This function was programmatically called via the host APIs.".to_owned(),
        )
        .await;
    }

    async fn fire(
        &self,
        last: Option<OffsetDateTime>,
        next: Option<OffsetDateTime>,
        past_due: bool,
    ) {
        let reason = format!(
            "Timer fired at {}",
            netjson::date_time_offset(OffsetDateTime::now_utc())
        );
        self.invoke(last, next, past_due, reason).await;
    }

    async fn invoke(
        &self,
        last: Option<OffsetDateTime>,
        next: Option<OffsetDateTime>,
        past_due: bool,
        reason: String,
    ) {
        let now = OffsetDateTime::now_utc();
        let mut body = InvocationBody::new();
        body.set_data(&self.trigger.binding, timer_info(last, next, now, past_due));
        body.set_sys(&self.function, now);
        let invocation_id = uuid::Uuid::new_v4().to_string();
        tracing::info!(function = %self.function, invocation_id, "Executing 'Functions.{}' (Reason='{reason}')", self.function);
        let result = match self
            .invoker
            .invoke(&self.function, &invocation_id, body.to_json())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(function = %self.function, invocation_id, error = %e, "Executed 'Functions.{}' (Failed)", self.function);
                return;
            }
        };
        log_handler_logs(&self.function, &invocation_id, &result.logs);
        match self.outputs.send(&result).await {
            Ok(_) => {
                tracing::info!(function = %self.function, invocation_id, "Executed 'Functions.{}' (Succeeded)", self.function)
            }
            Err(e) => {
                tracing::error!(function = %self.function, invocation_id, error = %e, "Executed 'Functions.{}' (Failed)", self.function)
            }
        }
    }
}

/// TimerInfo as the host serializes it: Schedule, ScheduleStatus, IsPastDue. Status dates
/// are local DateTimes (UTC on Azure hosts).
pub fn timer_info(
    last: Option<OffsetDateTime>,
    next: Option<OffsetDateTime>,
    now: OffsetDateTime,
    past_due: bool,
) -> Value {
    let date =
        |t: Option<OffsetDateTime>| t.map_or_else(|| NEVER.to_owned(), netjson::date_time_offset);
    json!({
        "Schedule": {"AdjustForDST": true},
        "ScheduleStatus": {"Last": date(last), "Next": date(next), "LastUpdated": date(Some(now))},
        "IsPastDue": past_due,
    })
}
