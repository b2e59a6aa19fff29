//! The fleet bench's run, small: fifty shares for five generated consumer tenants through two
//! instances (two func-hosts, each with its own handler) on one Azurite table store and one
//! simulator, Resource Manager's and Graph's throttling on, every tenant's admin played by its
//! script, the simulator's clock driven. Counts, not times: nothing fails, nothing is left
//! active, nothing is made twice, and every `Retry-After` is honoured.

use std::{path::PathBuf, time::Duration};

use local_run::{
    fleet::{self, FleetOptions},
    stack::LocalStore,
};

use crate::stack::Scratch;

#[tokio::test]
async fn fifty_shares_for_five_tenants_on_two_instances_finish_once_each_within_the_throttling_limits()
 {
    crate::logs::capture();
    let scratch =
        Scratch(std::env::temp_dir().join(format!("imageshare-e2e-{}", uuid::Uuid::new_v4())));
    let mut options = FleetOptions::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        PathBuf::from(env!("CARGO_BIN_EXE_handler")),
        scratch.0.clone(),
    );
    options.shares = 50;
    options.tenants = 5;
    options.instances = 2;
    options.store = LocalStore::Azurite;
    options.timeout = Duration::from_secs(240);
    let report = fleet::run(&options).await.unwrap();
    let text = report.render();

    assert_eq!(report.submitted, 50, "{text}");
    assert_eq!(report.completed(), 50, "every share completed:\n{text}");
    assert_eq!(report.failed(), 0, "{text}");
    assert_eq!(report.still_active, 0, "nothing left active:\n{text}");
    let d = &report.duplicates;
    assert_eq!(d.tenants_with_one_app, 5, "one app per tenant:\n{text}");
    assert_eq!(d.tenants_with_more_apps, 0, "{text}");
    assert_eq!(d.most_service_principals_per_app_and_tenant, 1, "{text}");
    assert_eq!(
        (d.apps_with_one_reader, d.most_readers_per_app),
        (5, 1),
        "one Reader per (tenant, image definition):\n{text}"
    );
    assert_eq!(d.most_contributors_per_app, 1, "one grant per app:\n{text}");
    assert_eq!(d.vms, 50, "one VM per request:\n{text}");
    assert_eq!((d.vms_twice, d.completed_without_vm), (0, 0), "{text}");
    assert_eq!(
        d.approval_mails, 50,
        "one approval mail per request:\n{text}"
    );
    assert_eq!(report.admins.approved, 50, "{text}");
    assert_eq!(report.admins.granted, 5, "{text}");
    assert_eq!(report.admins.failed, 0, "{text}");
    assert_eq!(
        report.throttled.early(),
        0,
        "every 429's Retry-After honoured:\n{text}"
    );
    assert_eq!(
        report.events.delivered, report.events.history_entries,
        "one event per history entry:\n{text}"
    );
}
