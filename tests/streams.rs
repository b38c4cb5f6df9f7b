//! The streams of every paginated list against the sandbox twins: every item exactly once and
//! in order across pages; resuming from a persisted cursor yields only what follows (for the
//! feeds: only what changed since); garbled cursors and failed calls are typed errors that keep
//! the position; CarmaChain's wait reaches `Done` or times out with a typed error.

// The generated clients' errors carry whole responses.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::time::Duration;

use customer_data::runtime::paginate::{Cursor, CursorError, StreamError};
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};

mod common;
use futures_util::{Stream, StreamExt, TryStreamExt};

async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

/// Every item of `stream`, which must not fail.
async fn drain<T, E: Debug>(stream: &mut (impl Stream<Item = Result<T, E>> + Unpin)) -> Vec<T> {
    let mut items = Vec::new();
    while let Some(item) = stream.try_next().await.expect("no error") {
        items.push(item);
    }
    items
}

mod consumer_intelligence {
    use super::*;
    use customer_data::consumer_intelligence::stream::{
        self as ci, PageSize, consumers, subscribed_persons, subscribed_persons_since,
    };
    use customer_data::consumer_intelligence::{Client, SLUG, types};
    use customer_data_sandbox::synthetic::{Person, population};

    fn client(sandbox: &Sandbox) -> Client {
        crate::common::ci_client(sandbox)
    }

    fn size(n: i64) -> PageSize {
        PageSize::new(n).unwrap()
    }

    fn config(synthetic_persons: u64) -> SandboxConfig {
        SandboxConfig {
            consumer_intelligence_synthetic_persons: Some(synthetic_persons),
            consumer_intelligence_identify_delay: Duration::from_millis(50),
            ..SandboxConfig::default()
        }
    }

    fn gedis(persons: &[types::SubscribedPersonDto]) -> Vec<String> {
        persons
            .iter()
            .map(|p| p.gedi.clone().expect("a gedi"))
            .collect()
    }

    fn synthetic_gedis(positions: std::ops::RangeInclusive<u64>) -> Vec<String> {
        positions.map(|p| format!("gedi-synthetic-{p}")).collect()
    }

    /// Uploads consumers `<prefix>-<i>` identifying as `people` (by legal id).
    async fn upload(client: &Client, prefix: &str, people: &[Person]) {
        let batch = people
            .iter()
            .enumerate()
            .map(|(i, person)| types::UploadConsumerDto {
                consumer_id: format!("{prefix}-{i}").parse().unwrap(),
                market: person.market.parse().unwrap(),
                data: types::ConsumerDataDto::builder()
                    .legal_id(Some(person.legal_id.parse().unwrap()))
                    .try_into()
                    .unwrap(),
            })
            .collect::<Vec<_>>();
        client.upload_consumers().body(batch).send().await.unwrap();
    }

    /// The sandbox-only route: person `gedi` moves to another address.
    async fn move_person(sandbox: &Sandbox, gedi: &str) {
        let http = customer_data::runtime::http::default_client().unwrap();
        let token = crate::common::ci_token(sandbox).await;
        let moved = http
            .post(format!(
                "{}/sandbox/persons/{gedi}/change",
                sandbox.url(SLUG)
            ))
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                sandbox.sandbox_key(),
            )
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn the_subscribed_feed_yields_every_person_once_in_order_across_pages() {
        let sandbox = start(config(250)).await;
        let client = client(&sandbox);
        let mut pages = subscribed_persons(&client, size(100), None);
        let (mut sizes, mut seen) = (Vec::new(), Vec::new());
        while let Some(page) = pages.try_next().await.unwrap() {
            sizes.push(page.len());
            seen.extend(gedis(page.items()));
        }
        assert_eq!(sizes, [100, 100, 50, 0], "the feed ends on its empty page");
        assert_eq!(seen, synthetic_gedis(1..=250));
        assert_eq!(sandbox.requests(SLUG, "/subscriptions/persons"), 4);
        assert!(pages.is_finished());
        assert!(
            pages.resume_cursor().is_some(),
            "the final cursor is exposed"
        );
        // The same feed by items, and from a date (the first page asks with fromDate).
        let items = drain(&mut subscribed_persons(&client, size(64), None).items()).await;
        assert_eq!(gedis(&items), synthetic_gedis(1..=250));
        let today = chrono::Utc::now().date_naive();
        let since = drain(&mut subscribed_persons_since(&client, size(100), today).items()).await;
        assert_eq!(gedis(&since), synthetic_gedis(1..=250));
    }

    #[tokio::test]
    async fn a_feed_resumed_from_its_persisted_cursor_yields_only_what_changed_since() {
        let config = config(30);
        let register = population(config.seed, 2);
        let sandbox = start(config).await;
        let client = client(&sandbox);

        let mut first_run = subscribed_persons(&client, size(20), None).items();
        assert_eq!(gedis(&drain(&mut first_run).await), synthetic_gedis(1..=30));
        // Persisted as text, as a caller would between runs.
        let persisted = first_run.resume_cursor().unwrap().to_string();

        let mut idle =
            subscribed_persons(&client, size(20), Some(persisted.parse().unwrap())).items();
        assert!(drain(&mut idle).await.is_empty(), "nothing changed");
        assert_eq!(idle.resume_cursor().unwrap().to_string(), persisted);

        // Two persons of the register are subscribed (their consumers get identified).
        upload(&client, "resume", &register).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut second_run =
            subscribed_persons(&client, size(20), Some(persisted.parse().unwrap())).items();
        let subscribed = drain(&mut second_run).await;
        assert_eq!(gedis(&subscribed), ["gedi-0", "gedi-1"]);
        let persisted = second_run.resume_cursor().unwrap().to_string();

        // Person 1 moves: the next run yields exactly that person, at the new address.
        move_person(&sandbox, "gedi-1").await;
        let mut third_run =
            subscribed_persons(&client, size(20), Some(persisted.parse().unwrap())).items();
        let moved = drain(&mut third_run).await;
        assert_eq!(gedis(&moved), ["gedi-1"]);
        assert_ne!(
            moved[0].extra["addresses"],
            subscribed[1].extra["addresses"]
        );
        let persisted = third_run.resume_cursor().unwrap().clone();
        let mut fourth_run = subscribed_persons(&client, size(20), Some(persisted)).items();
        assert!(drain(&mut fourth_run).await.is_empty());
    }

    #[tokio::test]
    async fn the_audit_feed_resumes_after_the_events_already_read() {
        let config = config(0);
        let register = population(config.seed, 3);
        let sandbox = start(config).await;
        let client = client(&sandbox);
        upload(&client, "audit", &register).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut run = ci::audit_events(&client, size(2), None).items();
        let events = drain(&mut run).await;
        let kinds: Vec<String> = events.iter().map(|e| e.type_.to_string()).collect();
        let identified = ["CONSUMER_IDENTIFIED", "PERSON_SUBSCRIBED"];
        let expected: Vec<&str> = ["CONSUMER_UPLOADED"; 3]
            .into_iter()
            .chain(identified.repeat(3))
            .collect();
        assert_eq!(kinds, expected);
        let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 9, "each event once");
        // 9 events in pages of 2, then the empty page.
        assert_eq!(sandbox.requests(SLUG, "/audit-events"), 6);
        let persisted = run.resume_cursor().unwrap().clone();

        client
            .delete_consumers()
            .body(types::DeleteConsumersDto {
                consumer_ids: vec!["audit-0".parse().unwrap()],
            })
            .send()
            .await
            .unwrap();
        let mut next_run = ci::audit_events(&client, size(2), Some(persisted)).items();
        let kinds: Vec<String> = drain(&mut next_run)
            .await
            .iter()
            .map(|e| e.type_.to_string())
            .collect();
        assert_eq!(kinds, ["CONSUMER_DELETED", "PERSON_UNSUBSCRIBED"]);
    }

    #[tokio::test]
    async fn the_consumer_list_ends_at_its_null_token_and_resumes_from_a_cursor() {
        let config = config(0);
        let register = population(config.seed, 5);
        let sandbox = start(config).await;
        let client = client(&sandbox);
        upload(&client, "list", &register).await;
        let ids = |page: &[types::ConsumerDto]| -> Vec<String> {
            page.iter().map(|c| c.consumer_id.to_string()).collect()
        };

        let mut pages = consumers(&client, size(2), None, None);
        let (mut sizes, mut seen) = (Vec::new(), Vec::new());
        while let Some(page) = pages.try_next().await.unwrap() {
            sizes.push(page.len());
            seen.extend(ids(page.items()));
        }
        assert_eq!(sizes, [2, 2, 1], "no extra request after the null token");
        assert_eq!(seen, ["list-0", "list-1", "list-2", "list-3", "list-4"]);

        let mut pages = consumers(&client, size(2), None, None);
        pages.try_next().await.unwrap().unwrap();
        let persisted: Cursor = pages.resume_cursor().unwrap().to_string().parse().unwrap();
        drop(pages);
        let rest = drain(&mut consumers(&client, size(2), None, Some(persisted)).items()).await;
        assert_eq!(ids(&rest), ["list-2", "list-3", "list-4"]);
    }

    #[tokio::test]
    async fn a_garbled_persisted_cursor_is_a_typed_error_never_a_panic() {
        assert_eq!("".parse::<Cursor>(), Err(CursorError::Empty));
        assert!(matches!(
            "pos\n12".parse::<Cursor>(),
            Err(CursorError::InvalidCharacter { position: 3 })
        ));
        let sandbox = start(config(10)).await;
        let client = client(&sandbox);
        // Text a cursor may hold, but no token of this list: the service refuses it.
        let garbled: Cursor = "bm90LWEtdG9rZW4".parse().unwrap();
        let mut items = subscribed_persons(&client, size(5), Some(garbled.clone())).items();
        match items.next().await {
            Some(Err(StreamError::Call(error))) => {
                assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error}");
            }
            other => panic!("expected a refused call, got {other:?}"),
        }
        assert!(items.next().await.is_none(), "the stream ends");
        assert_eq!(
            items.resume_cursor(),
            Some(&garbled),
            "the position is kept"
        );
    }

    #[tokio::test]
    async fn a_failed_call_ends_the_stream_and_its_cursor_resumes_without_loss() {
        let config = config(50);
        let sandbox = start(config.clone()).await;
        let mut items = subscribed_persons(&client(&sandbox), size(10), None).items();
        let mut seen = Vec::new();
        for _ in 0..25 {
            seen.push(items.try_next().await.unwrap().unwrap());
        }
        // The service goes away while the third page is half read.
        sandbox.shutdown().await;
        let error = loop {
            match items.next().await {
                Some(Ok(person)) => seen.push(person),
                Some(Err(error)) => break error,
                None => panic!("the stream ended without an error"),
            }
        };
        assert!(matches!(error, StreamError::Call(_)), "{error}");
        assert_eq!(seen.len(), 30, "the page in hand is handed out in full");
        let persisted = items.resume_cursor().unwrap().to_string();

        // It is back (same data): resuming from the cursor loses and repeats nothing.
        let sandbox = start(config).await;
        let resumed = subscribed_persons(
            &client(&sandbox),
            size(10),
            Some(persisted.parse().unwrap()),
        );
        seen.extend(drain(&mut resumed.items()).await);
        assert_eq!(gedis(&seen), synthetic_gedis(1..=50));
    }
}

mod blink {
    use super::*;
    use customer_data::blink_customer_management::stream::{
        Limit, contact_details, customers, persons,
    };
    use customer_data::blink_customer_management::{
        Client, Config, Grant, SLUG, connect, next_cursor,
    };

    fn client(sandbox: &Sandbox) -> Client {
        connect(Config::new(
            sandbox.url(SLUG),
            credentials::BLINK_CLIENT_ID,
            "streams-test",
            credentials::BLINK_TARGET_ID,
            Grant::AuthorizationCode(credentials::BLINK_AUTHORIZATION_CODE.into()),
        ))
        .unwrap()
    }

    fn limit(n: u32) -> Limit {
        Limit::new(n).unwrap()
    }

    #[tokio::test]
    async fn every_list_yields_each_item_once_in_order_across_pages() {
        let sandbox = start(SandboxConfig::default()).await;
        let client = client(&sandbox);

        // The reference: one page holding the whole list (no next cursor).
        let all_customers = client
            .get_customers()
            .limit(limit(100))
            .send()
            .await
            .unwrap();
        assert_eq!(next_cursor(&all_customers), None);
        let all_customers = all_customers.into_inner();
        let mut pages = customers(&client, limit(10), None);
        let (mut sizes, mut streamed) = (Vec::new(), Vec::new());
        while let Some(page) = pages.try_next().await.unwrap() {
            sizes.push(page.len());
            streamed.extend(page.into_items());
        }
        assert_eq!(sizes, [10, 10, 10, 10, 5]);
        assert_eq!(streamed, all_customers);

        let all_persons = client.get_persons().limit(limit(100)).send().await.unwrap();
        assert_eq!(next_cursor(&all_persons), None);
        let all_persons = all_persons.into_inner();
        assert!(all_persons.len() > 7);
        assert_eq!(
            drain(&mut persons(&client, limit(7), None).items()).await,
            all_persons
        );

        let person = all_persons
            .iter()
            .find(|p| p.contact_information.len() > 1)
            .expect("a person with several contact details");
        let person_id = serde_json::to_value(&person.person_identification)
            .unwrap()
            .as_str()
            .map(str::to_string)
            .expect("the person id is text");
        let details =
            drain(&mut contact_details(&client, &person_id, limit(1), None).items()).await;
        assert_eq!(details, person.contact_information);
    }

    #[tokio::test]
    async fn a_stream_resumed_from_a_persisted_cursor_yields_only_what_follows() {
        let sandbox = start(SandboxConfig::default()).await;
        let client = client(&sandbox);
        let all = drain(&mut customers(&client, limit(100), None).items()).await;

        let mut pages = customers(&client, limit(10), None);
        let mut first = Vec::new();
        for _ in 0..2 {
            first.extend(pages.try_next().await.unwrap().unwrap().into_items());
        }
        let persisted = pages.resume_cursor().unwrap().to_string();
        drop(pages);
        let rest =
            drain(&mut customers(&client, limit(10), Some(persisted.parse().unwrap())).items())
                .await;
        assert_eq!(rest.len(), all.len() - 20);
        first.extend(rest);
        assert_eq!(first, all);
    }

    #[tokio::test]
    async fn a_cursor_of_another_list_is_a_typed_error() {
        let sandbox = start(SandboxConfig::default()).await;
        let client = client(&sandbox);
        let mut pages = customers(&client, limit(5), None);
        pages.try_next().await.unwrap().unwrap();
        let customers_cursor = pages.resume_cursor().unwrap().clone();
        let mut wrong = persons(&client, limit(5), Some(customers_cursor)).items();
        match wrong.next().await {
            Some(Err(StreamError::Call(error))) => {
                assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error}");
                assert!(
                    error.correlation_id().is_some(),
                    "bLink errors name the call"
                );
            }
            other => panic!("expected a refused call, got {other:?}"),
        }
        assert!(wrong.next().await.is_none());
    }
}

mod biq {
    use super::*;
    use customer_data::biq::{Environment, Session};
    use customer_data::biq_alert_changes::stream::{
        approved_changes, notifications, store_bookmark, stored_bookmark,
    };
    use customer_data::biq_alert_changes::types;
    use customer_data_sandbox::twins::biq_alert_changes::PAGE_SIZE;

    const SLUG: &str = "biq_alert_changes";

    fn session(sandbox: &Sandbox) -> Session {
        Session::new(
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url(SLUG),
            },
            credentials::BIQ_API_KEY,
        )
        .unwrap()
    }

    /// The tenant's shadow sources: the private customers' first.
    async fn sources(session: &Session, tenant: &str) -> Vec<i32> {
        session
            .customer_shadow()
            .unwrap()
            .list_shadow_sources()
            .tenant_id(tenant)
            .send()
            .await
            .unwrap()
            .into_inner()
            .iter()
            .map(|s| s.id.unwrap())
            .collect()
    }

    /// The sandbox-only script route: `count` changes of `event_type` for `source`.
    async fn script(
        sandbox: &Sandbox,
        source: i32,
        count: usize,
        event_type: &str,
    ) -> serde_json::Value {
        customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!(
                "{}/sandbox/tenants/{}/script",
                sandbox.url(SLUG),
                credentials::BIQ_TENANT_ID
            ))
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                sandbox.sandbox_key(),
            )
            .json(&serde_json::json!({
                "count": count, "shadowSourceId": source, "eventType": event_type
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn committed(changes: &[types::ApprovedChange]) -> Vec<chrono::DateTime<chrono::Utc>> {
        changes.iter().map(|c| c.committed.unwrap()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_of_100000_changes_yields_each_once_in_commit_order() {
        const CHANGES: u64 = 100_000;
        let sandbox = start(SandboxConfig {
            biq_synthetic_changes: Some(CHANGES),
            ..SandboxConfig::default()
        })
        .await;
        let session = session(&sandbox);
        let tenant = session.tenant_id().await.unwrap();
        let source = sources(&session, &tenant).await[0];
        let client = session.alert_changes().unwrap();
        let mut items = approved_changes(&client, &tenant, source, None).items();
        let (mut count, mut last) = (0u64, None);
        let mut ids = std::collections::HashSet::new();
        while let Some(change) = items.try_next().await.unwrap() {
            assert!(change.committed > last, "strictly in commit order");
            assert_eq!(change.shadow_source_id, Some(source));
            last = change.committed;
            ids.insert(change.id.unwrap());
            count += 1;
        }
        assert_eq!(count, CHANGES);
        assert_eq!(ids.len() as u64, CHANGES, "each change once");
        assert_eq!(items.resume_cursor().copied(), last);
        let batches = sandbox.requests(
            SLUG,
            &format!("/tenants/{tenant}/shadowsources/{source}/next-approved-changes/"),
        );
        assert_eq!(batches, CHANGES / PAGE_SIZE as u64);
    }

    #[tokio::test]
    async fn a_feed_resumed_from_its_cursor_yields_only_what_was_committed_since() {
        let sandbox = start(SandboxConfig {
            biq_synthetic_changes: Some(120),
            ..SandboxConfig::default()
        })
        .await;
        let session = session(&sandbox);
        let tenant = session.tenant_id().await.unwrap();
        let source = sources(&session, &tenant).await[0];
        let client = session.alert_changes().unwrap();
        let all = drain(&mut approved_changes(&client, &tenant, source, None).items()).await;
        assert_eq!(all.len(), 120);

        let mut pages = approved_changes(&client, &tenant, source, None);
        let first = pages.try_next().await.unwrap().unwrap();
        assert_eq!(first.len(), PAGE_SIZE);
        let persisted: chrono::DateTime<chrono::Utc> =
            pages.resume_cursor().unwrap().to_rfc3339().parse().unwrap();
        drop(pages);
        let mut rest_run = approved_changes(&client, &tenant, source, Some(persisted)).items();
        let rest = drain(&mut rest_run).await;
        assert_eq!(committed(&rest), committed(&all[PAGE_SIZE..]));

        // Five changes are committed later: the next run yields exactly those.
        let scripted = script(&sandbox, source, 5, "name-change").await;
        let scripted: Vec<String> = scripted["approvedChanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        let bookmark = *rest_run.resume_cursor().unwrap();
        let mut next_run = approved_changes(&client, &tenant, source, Some(bookmark)).items();
        let new: Vec<String> = drain(&mut next_run)
            .await
            .iter()
            .map(|c| c.id.unwrap().to_string())
            .collect();
        assert_eq!(new, scripted);
        // The other source saw none of the scripted changes (only its own synthetic ones).
        let latest = *next_run.resume_cursor().unwrap();
        let other = sources(&session, &tenant).await[1];
        let other_changes =
            drain(&mut approved_changes(&client, &tenant, other, None).items()).await;
        assert_eq!(other_changes.len(), 120);
        assert!(other_changes.iter().all(|c| c.committed.unwrap() < latest));
    }

    #[tokio::test]
    async fn notifications_stream_and_the_bookmark_is_kept_on_the_server() {
        let sandbox = start(SandboxConfig::default()).await;
        let session = session(&sandbox);
        let tenant = session.tenant_id().await.unwrap();
        let source = sources(&session, &tenant).await[0];
        let client = session.alert_changes().unwrap();

        script(&sandbox, source, 3, "person-deceased").await;
        let mut run = notifications(&client, &tenant, source, None).items();
        let deceased = drain(&mut run).await;
        assert_eq!(deceased.len(), 3);
        let bookmark = *run.resume_cursor().unwrap();
        assert_eq!(Some(bookmark), deceased[2].committed);
        let mut again = notifications(&client, &tenant, source, Some(bookmark)).items();
        assert!(drain(&mut again).await.is_empty());

        assert_eq!(stored_bookmark(&client, &tenant).await.unwrap(), None);
        store_bookmark(&client, &tenant, bookmark).await.unwrap();
        assert_eq!(
            stored_bookmark(&client, &tenant).await.unwrap(),
            Some(bookmark)
        );
    }
}

mod accountsiq {
    use super::*;
    use customer_data::accountsiq_v1_1::Endpoint;
    use customer_data::accountsiq_v1_1::stream::DEFAULT_CLOCK_MARGIN;
    use customer_data::{accountsiq_v1_1 as v1_1, accountsiq_v2_0 as v2_0};

    fn codes<'a>(customers: impl IntoIterator<Item = &'a v1_1::types::Customer>) -> Vec<String> {
        customers
            .into_iter()
            .map(|c| c.code.clone().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn v1_1_reads_every_customer_once_then_only_what_changed_since() {
        let sandbox = start(SandboxConfig::default()).await;
        let session = v1_1::Session::new(
            &Endpoint::Custom(sandbox.url(v1_1::SLUG)),
            v1_1::Credentials::new(
                credentials::ACCOUNTSIQ_COMPANY_ID,
                credentials::ACCOUNTSIQ_PARTNER_KEY,
                credentials::ACCOUNTSIQ_USER_KEY,
            ),
        )
        .unwrap();
        let list = session
            .call(async |client, token| {
                let request = v1_1::types::GetCustomerList {
                    token: Some(token.into()),
                };
                client.get_customer_list(&request).await
            })
            .await
            .unwrap()
            .unwrap()
            .customer;

        let mut first_run = v1_1::stream::customers_changed(&session, None, Duration::ZERO).items();
        let everyone = drain(&mut first_run).await;
        assert_eq!(
            codes(&everyone),
            codes(&list),
            "every customer once, in order"
        );
        let persisted = first_run.resume_cursor().unwrap().to_rfc3339();

        let mut changed = everyone[3].clone();
        changed.email = Some("streams@example.invalid".into());
        session
            .call(async |client, token| {
                let request = v1_1::types::UpdateCustomer {
                    token: Some(token.into()),
                    customer: Some(changed.clone()),
                    create: false,
                };
                client.update_customer(&request).await
            })
            .await
            .unwrap();
        let since = persisted.parse().unwrap();
        let mut second_run =
            v1_1::stream::customers_changed(&session, Some(since), Duration::ZERO).items();
        let updated = drain(&mut second_run).await;
        assert_eq!(codes(&updated), codes([&changed]));
        assert_eq!(updated[0].email, changed.email);

        let later = *second_run.resume_cursor().unwrap();
        let mut third_run =
            v1_1::stream::customers_changed(&session, Some(later), Duration::ZERO).items();
        assert!(drain(&mut third_run).await.is_empty(), "nothing since");
        // With a clock margin, a customer written within it comes again: at least once.
        let mut with_margin =
            v1_1::stream::customers_changed(&session, Some(later), DEFAULT_CLOCK_MARGIN).items();
        drain(&mut with_margin).await;
        let repeat_from = *with_margin.resume_cursor().unwrap();
        let mut repeated =
            v1_1::stream::customers_changed(&session, Some(repeat_from), DEFAULT_CLOCK_MARGIN)
                .items();
        assert_eq!(codes(&drain(&mut repeated).await), codes([&changed]));
    }

    #[tokio::test]
    async fn v2_0_reads_every_customer_once_then_only_what_changed_since() {
        let sandbox = start(SandboxConfig::default()).await;
        let session = v2_0::Session::new(
            &Endpoint::Custom(sandbox.url(v2_0::SLUG)),
            v2_0::Credentials::new(
                credentials::ACCOUNTSIQ_CLIENT_ID,
                credentials::ACCOUNTSIQ_CLIENT_SECRET,
                credentials::ACCOUNTSIQ_COMPANY_ID,
            ),
        )
        .unwrap();
        let list = session
            .call(async |client| {
                client
                    .get_customer_list(&v2_0::types::GetCustomerList { token: None })
                    .await
            })
            .await
            .unwrap()
            .unwrap()
            .customer;
        let mut first_run = v2_0::stream::customers_changed(&session, None, Duration::ZERO).items();
        let everyone = drain(&mut first_run).await;
        let codes = |customers: &[v2_0::types::Customer]| -> Vec<String> {
            customers.iter().map(|c| c.code.clone().unwrap()).collect()
        };
        assert_eq!(codes(&everyone), codes(&list));
        let since = *first_run.resume_cursor().unwrap();

        let mut changed = everyone[0].clone();
        changed.name = Some("Streams Renamed Ltd".into());
        session
            .call(async |client| {
                let request = v2_0::types::UpdateCustomer {
                    token: None,
                    customer: Some(changed.clone()),
                    create: false,
                };
                client.update_customer(&request).await
            })
            .await
            .unwrap();
        let mut second_run =
            v2_0::stream::customers_changed(&session, Some(since), Duration::ZERO).items();
        let updated = drain(&mut second_run).await;
        assert_eq!(codes(&updated), codes(std::slice::from_ref(&changed)));
        assert_eq!(updated[0].name, changed.name);
    }
}

mod carmachain {
    use super::*;
    use customer_data::carmachain::wait::{
        Polling, WaitError, wait_until_done, wait_until_done_with,
    };
    use customer_data::carmachain::{Client, SLUG, connect, types};

    /// Opens one data request and returns its id.
    async fn create(client: &Client) -> String {
        let created = client
            .create_request()
            .body(types::CreateRequest {
                type_request: types::TypeRequest::Array(vec![types::DataCategory::Address]),
                value: vec![types::PersonQuery {
                    phone_number: Some("+380990000001".into()),
                    ..Default::default()
                }],
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        created.parametr_request[0].id_request.clone().unwrap()
    }

    #[tokio::test]
    async fn the_wait_polls_with_backoff_until_done() {
        let sandbox = start(SandboxConfig {
            carmachain_answer_delay: Duration::from_millis(400),
            ..SandboxConfig::default()
        })
        .await;
        let client = connect(&sandbox.url(SLUG)).unwrap();
        let id = create(&client).await;
        let started = std::time::Instant::now();
        let polling = Polling {
            first_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(200),
        };
        let results = wait_until_done_with(
            &client,
            std::slice::from_ref(&id),
            Duration::from_secs(10),
            polling,
        )
        .await
        .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].id_request.as_deref(), Some(id.as_str()));
        assert!(matches!(
            results[0].status,
            Some(types::RequestStatus::Done)
        ));
        assert!(!results[0].request_details.is_empty());
        // Sleeps of 50, 100, 200, 200 ms...: 4 to 6 polls for a 400 ms answer, never a busy loop.
        let polls = sandbox.requests(SLUG, "/api/respond");
        assert!((3..=7).contains(&polls), "{polls} polls");
    }

    #[tokio::test]
    async fn a_deadline_shorter_than_the_answer_is_a_typed_error() {
        let sandbox = start(SandboxConfig {
            carmachain_answer_delay: Duration::from_secs(5),
            ..SandboxConfig::default()
        })
        .await;
        let client = connect(&sandbox.url(SLUG)).unwrap();
        let id = create(&client).await;
        let started = std::time::Instant::now();
        let error = wait_until_done(
            &client,
            std::slice::from_ref(&id),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        let elapsed = started.elapsed();
        match &error {
            WaitError::DeadlineExceeded {
                pending,
                polls,
                waited,
            } => {
                assert_eq!(pending, std::slice::from_ref(&id));
                assert!(*polls >= 2, "{polls}");
                assert!(*waited >= Duration::from_millis(300), "{waited:?}");
            }
            other => panic!("expected the deadline, got {other}"),
        }
        assert!(
            elapsed < Duration::from_millis(1500),
            "the deadline holds: {elapsed:?}"
        );
        assert!(error.to_string().contains(&id));
    }

    #[tokio::test]
    async fn unknown_or_no_requests_are_typed_errors() {
        let sandbox = start(SandboxConfig::default()).await;
        let client = connect(&sandbox.url(SLUG)).unwrap();
        let error = wait_until_done(&client, &["req-999".to_string()], Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, WaitError::UnknownRequest(id) if id == "req-999"),
            "{error}"
        );
        let error = wait_until_done(&client, &[], Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(error, WaitError::NoRequests));
    }
}
