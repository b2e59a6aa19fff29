//! The consumer tenant's admin, played as a person would: reads the approval mail, opens its
//! link in a browser, approves (and on Microsoft's consent page consents, the first time the
//! tenant meets the app), then grants the app Contributor on the resource group as in the
//! portal. [`ConsumerAdmin`] is one admin's moves; [`AdminScript`] plays one admin through many
//! requests with a person's pauses, on the simulator's clock.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, bail};
use azure_sim::{
    Mail, Sim,
    scenario::{demo, fleet},
};
use azure_transport::Transport;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::browser::Browser;

/// One consumer tenant's admin: where they act and how they sign in.
#[derive(Clone)]
pub struct ConsumerAdmin {
    /// Their tenant.
    pub tenant: String,
    /// The subscription of the resource group they grant on.
    pub subscription: String,
    /// The resource group the app gets Contributor on.
    pub resource_group: String,
    /// Their sign-in name (the address approval mail goes to).
    pub upn: String,
    /// Their password.
    password: String,
}

impl std::fmt::Debug for ConsumerAdmin {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerAdmin")
            .field("tenant", &self.tenant)
            .field("subscription", &self.subscription)
            .field("resource_group", &self.resource_group)
            .field("upn", &self.upn)
            .finish_non_exhaustive()
    }
}

impl ConsumerAdmin {
    /// The demo's Fabrikam admin.
    pub fn fabrikam() -> Self {
        Self {
            tenant: demo::FABRIKAM_TENANT.to_owned(),
            subscription: demo::FABRIKAM_SUBSCRIPTION.to_owned(),
            resource_group: demo::FABRIKAM_RESOURCE_GROUP.to_owned(),
            upn: demo::FABRIKAM_ADMIN_UPN.to_owned(),
            password: demo::FABRIKAM_ADMIN_PASSWORD.to_owned(),
        }
    }

    /// The admin of a generated consumer tenant ([`fleet::consumer`]).
    pub fn of(consumer: &fleet::Consumer) -> Self {
        Self {
            tenant: consumer.tenant.clone(),
            subscription: consumer.subscription.clone(),
            resource_group: consumer.resource_group.clone(),
            upn: consumer.admin_upn.clone(),
            password: consumer.admin_password.clone(),
        }
    }

    /// The resource group's ARM scope.
    pub fn resource_group_scope(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.resource_group
        )
    }

    /// Whether `mail` is addressed to this admin.
    pub fn is_addressed_to(&self, mail: &Mail) -> bool {
        mail.to.iter().any(|t| t.eq_ignore_ascii_case(&self.upn))
    }

    /// The approval links in the mail to this admin, oldest first: one per request, each
    /// working for its own request only.
    pub fn approval_links(&self, mails: &[Mail]) -> Vec<Url> {
        mails
            .iter()
            .filter(|m| self.is_addressed_to(m))
            .filter_map(approval_link)
            .collect()
    }

    /// Opens the approval link and approves: on the page itself when the tenant consented to
    /// the app before, else on Microsoft's consent page (sign in, accept).
    pub async fn approve_in_browser(
        &self,
        transport: &Transport,
        link: &Url,
    ) -> anyhow::Result<Approval> {
        let browser = Browser::new(transport.clone())?;
        let approval = browser.open(link).await?;
        if !approval.status.is_success() {
            bail!(
                "the approval page answered {}: {}",
                approval.status,
                approval.html
            );
        }
        let consented = approval.form("approve").is_err();
        let done = if let Ok(form) = approval.form("approve") {
            browser.submit(&form, &[]).await?
        } else {
            let consent = approval.link("consent")?;
            let signin = browser.open(&consent).await?;
            let form = signin.form("signin")?;
            let consent = browser
                .submit(
                    &form,
                    &[
                        ("login", self.upn.as_str()),
                        ("passwd", self.password.as_str()),
                    ],
                )
                .await?;
            let accept = consent.form("accept")?;
            let redirect = browser.submit(&accept, &[]).await?;
            browser.follow(&redirect).await?
        };
        if !done.status.is_success() {
            bail!("the approval answered {}: {}", done.status, done.html);
        }
        Ok(Approval {
            html: done.html,
            consented,
        })
    }

    /// Grants the app Contributor on the resource group, as in the portal (the simulator
    /// acts with the admin's own rights).
    pub async fn grant_contributor(&self, sim: &Sim, app_id: &str) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/role-assignments", sim.url()))
            .json(&json!({
                "tenant": self.tenant,
                "admin": self.upn,
                "scope": self.resource_group_scope(),
                "role": "Contributor",
                "principal": {"appId": app_id}
            }))
            .send()
            .await
            .context("granting Contributor")?;
        if !response.status().is_success() {
            bail!(
                "the role grant was refused: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// An approval made.
#[derive(Clone, Debug)]
pub struct Approval {
    /// The last page, ours.
    pub html: String,
    /// Whether it went through Microsoft's consent page (the tenant's first consent to the
    /// app) rather than the approval page's own button.
    pub consented: bool,
}

/// The approval link in one mail (`href` to `/api/approval?`), as a person clicks it.
pub fn approval_link(mail: &Mail) -> Option<Url> {
    mail.content
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .find(|href| href.contains("/api/approval?"))
        .and_then(|href| Url::parse(&href).ok())
}

/// The app an approval mail asks Contributor for: the `--assignee` of the command it shows.
pub fn app_of_mail(mail: &Mail) -> Option<String> {
    let rest = mail.content.split("--assignee ").nth(1)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    (id.len() == 36).then_some(id)
}

/// The request an approval link is for: its `state` starts with the request id.
pub fn request_of_link(link: &Url) -> Option<String> {
    link.query_pairs()
        .find(|(k, _)| k == "state")
        .and_then(|(_, v)| v.split_once('.').map(|(id, _)| id.to_owned()))
}

/// How long a person takes, in simulated seconds, drawn evenly from each range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pauses {
    /// From the mail's arrival to opening its link and approving.
    pub approve: (u32, u32),
    /// From approving to the role grant (when the app has none yet).
    pub grant: (u32, u32),
}

impl Default for Pauses {
    /// Seconds to a minute for each.
    fn default() -> Self {
        Self {
            approve: (5, 60),
            grant: (10, 60),
        }
    }
}

/// One thing the admin will do.
#[derive(Clone, Debug)]
enum Task {
    Approve {
        link: Url,
        app_id: Option<String>,
        /// Earlier tries that met "Please try again" (503).
        reloads: u32,
    },
    Grant {
        app_id: String,
    },
}

/// How often an admin reloads a page that asks them to try again in a minute, before giving
/// up as a person would.
const RELOADS: u32 = 3;

/// What an [`AdminScript`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdminCounts {
    /// Approval links opened and approved.
    pub approved: usize,
    /// Of those, approvals that went through Microsoft's consent page.
    pub consented: usize,
    /// Contributor grants made.
    pub granted: usize,
    /// Moves that failed (the request is left to its deadline).
    pub failed: usize,
    /// Approval pages reloaded a minute after they answered 503 ("Please try again").
    pub reloaded: usize,
}

/// One admin playing through every approval mail they get: each link is approved a person's
/// pause after its mail arrived, and the app is granted Contributor once, a pause after the
/// first approval that names it. Times are the simulator's; the pauses come from a seeded
/// generator, so a run is repeatable.
#[derive(Debug)]
pub struct AdminScript {
    admin: ConsumerAdmin,
    pauses: Pauses,
    rng: StdRng,
    /// Requests whose link was planned (a link is answered once).
    planned: HashSet<String>,
    /// Apps granted (or planned to be).
    granting: HashSet<String>,
    /// Planned moves by due time (ties in order of planning).
    plan: BTreeMap<(OffsetDateTime, u64), Task>,
    /// The approval pause drawn for each request, by request id (the fleet's chain bound).
    approve_pauses: HashMap<String, Duration>,
    /// The pause drawn before the first grant.
    grant_pause: Option<Duration>,
    /// When the first grant was made (the simulator's clock).
    granted_at: Option<OffsetDateTime>,
    order: u64,
    counts: AdminCounts,
    errors: Vec<String>,
}

impl AdminScript {
    /// `admin` with `pauses` drawn from a generator seeded with `seed`.
    pub fn new(admin: ConsumerAdmin, pauses: Pauses, seed: u64) -> Self {
        Self {
            admin,
            pauses,
            rng: StdRng::seed_from_u64(seed),
            planned: HashSet::new(),
            granting: HashSet::new(),
            plan: BTreeMap::new(),
            approve_pauses: HashMap::new(),
            grant_pause: None,
            granted_at: None,
            order: 0,
            counts: AdminCounts::default(),
            errors: Vec::new(),
        }
    }

    /// The admin.
    pub fn admin(&self) -> &ConsumerAdmin {
        &self.admin
    }

    /// What the script did so far.
    pub fn counts(&self) -> AdminCounts {
        self.counts
    }

    /// The pauses drawn so far: each request's before its approval, by request id, and the
    /// one before the first grant. A reload after a 503 is not one: it is the app's doing.
    pub fn pauses_taken(&self) -> (&HashMap<String, Duration>, Option<Duration>) {
        (&self.approve_pauses, self.grant_pause)
    }

    /// When the first grant was made, on the simulator's clock.
    pub fn granted_at(&self) -> Option<OffsetDateTime> {
        self.granted_at
    }

    /// The failures so far, oldest first.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    fn pause(&mut self, (low, high): (u32, u32)) -> Duration {
        Duration::seconds(i64::from(self.rng.random_range(low..=high.max(low))))
    }

    fn schedule(&mut self, at: OffsetDateTime, task: Task) {
        self.order += 1;
        self.plan.insert((at, self.order), task);
    }

    /// Reads one mail: an approval mail to this admin plans its approval (once per request);
    /// anything else is ignored.
    pub fn read(&mut self, mail: &Mail) {
        if !self.admin.is_addressed_to(mail) {
            return;
        }
        let Some(link) = approval_link(mail) else {
            return;
        };
        let Some(request) = request_of_link(&link) else {
            return;
        };
        if !self.planned.insert(request.clone()) {
            return;
        }
        let pause = self.pause(self.pauses.approve);
        self.approve_pauses.insert(request, pause);
        let app_id = app_of_mail(mail);
        self.schedule(
            mail.sent_at + pause,
            Task::Approve {
                link,
                app_id,
                reloads: 0,
            },
        );
    }

    /// When the next planned move is due.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        self.plan.keys().next().map(|(at, _)| *at)
    }

    /// Whether no move is planned.
    pub fn idle(&self) -> bool {
        self.plan.is_empty()
    }

    /// Makes every move due by `now` (the simulator's clock); the number made.
    pub async fn act(&mut self, sim: &Sim, transport: &Transport, now: OffsetDateTime) -> usize {
        let mut made = 0;
        while let Some(entry) = self.plan.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let task = entry.remove();
            made += 1;
            match task {
                Task::Approve {
                    link,
                    app_id,
                    reloads,
                } => {
                    match self.admin.approve_in_browser(transport, &link).await {
                        Ok(approval) => {
                            self.counts.approved += 1;
                            self.counts.consented += usize::from(approval.consented);
                            if let Some(app_id) = app_id
                                && self.granting.insert(app_id.clone())
                            {
                                let pause = self.pause(self.pauses.grant);
                                self.grant_pause.get_or_insert(pause);
                                self.schedule(sim.now() + pause, Task::Grant { app_id });
                            }
                        }
                        // The page asks to reload in a minute when it could not record
                        // the answer (the store was unavailable): a person does.
                        Err(e) if reloads < RELOADS && format!("{e:#}").contains("503") => {
                            self.counts.reloaded += 1;
                            self.schedule(
                                sim.now() + Duration::minutes(1),
                                Task::Approve {
                                    link,
                                    app_id,
                                    reloads: reloads + 1,
                                },
                            );
                        }
                        Err(e) => {
                            self.counts.failed += 1;
                            self.errors.push(format!("approving {link}: {e:#}"));
                        }
                    }
                }
                Task::Grant { app_id } => match self.admin.grant_contributor(sim, &app_id).await {
                    Ok(()) => {
                        self.counts.granted += 1;
                        self.granted_at.get_or_insert(sim.now());
                    }
                    Err(e) => {
                        self.counts.failed += 1;
                        self.errors
                            .push(format!("granting Contributor to {app_id}: {e:#}"));
                    }
                },
            }
        }
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str, content: &str, at: OffsetDateTime) -> Mail {
        Mail {
            tenant: demo::CONTOSO_TENANT.to_owned(),
            from: demo::MAILBOX_UPN.to_owned(),
            to: vec![to.to_owned()],
            subject: "Action needed".to_owned(),
            content_type: "HTML".to_owned(),
            content: content.to_owned(),
            sent_at: at,
            message: serde_json::Value::Null,
        }
    }

    const APP: &str = "0a0a0a0a-0000-4000-8000-00000000000a";

    fn approval(request: &str) -> String {
        format!(
            "<p><a href=\"http://127.0.0.1:7071/api/approval?state={request}.abc&amp;x=1\">review</a></p>\
             <p><code>az role assignment create --assignee {APP} --role Contributor --scope /s</code></p>"
        )
    }

    #[test]
    fn an_approval_mail_names_its_link_its_request_and_its_app() {
        let m = mail("a@b", &approval("r1"), OffsetDateTime::UNIX_EPOCH);
        let link = approval_link(&m).unwrap();
        assert_eq!(link.query_pairs().count(), 2);
        assert_eq!(request_of_link(&link).as_deref(), Some("r1"));
        assert_eq!(app_of_mail(&m).as_deref(), Some(APP));
    }

    #[test]
    fn the_script_plans_each_request_once_after_a_seeded_pause() {
        let admin = ConsumerAdmin::of(&fleet::consumer(1));
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let plan = |seed| {
            let mut s = AdminScript::new(admin.clone(), Pauses::default(), seed);
            s.read(&mail(&admin.upn, &approval("r1"), t0));
            s.read(&mail(&admin.upn, &approval("r1"), t0));
            s.read(&mail("someone@else", &approval("r2"), t0));
            (s.plan.len(), s.next_due())
        };
        let (n, due) = plan(7);
        assert_eq!(
            n, 1,
            "one move for one request, none for another admin's mail"
        );
        let due = due.unwrap();
        assert!(due >= t0 + Duration::seconds(5) && due <= t0 + Duration::seconds(60));
        assert_eq!(plan(7).1, Some(due), "the same seed, the same pause");
    }
}
