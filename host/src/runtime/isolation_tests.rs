//! Which calls an instance may serve, and each plugin's share of the
//! engine, against the hostile fixture (which remembers what it was given)
//! and the glob plugin.

use super::types::{DecisionRequest, Effect, Rule, Verdict};
use super::*;
use crate::error::Error;
use std::time::Duration;

const HOSTILE: &str = env!("PALISADE_FIXTURE_HOSTILE");

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(HOSTILE).unwrap_or_else(|e| panic!("cannot read fixture {HOSTILE}: {e}"))
}

fn runtime(max_instances: u32) -> Runtime {
    let settings = EngineSettings {
        pooling: true,
        max_instances,
        ..EngineSettings::default()
    };
    Runtime::new(&settings, None).unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .block_on(f)
}

fn request(caller: &Caller, action: &str, resource: &str) -> DecisionRequest {
    DecisionRequest {
        request_id: caller.request_id.clone(),
        agent: caller.agent.clone(),
        session: caller.session.clone(),
        project: caller.project.clone(),
        service: "files".into(),
        action: action.into(),
        resource: resource.into(),
        attributes: vec![("card".into(), format!("{}-card", caller.agent))],
    }
}

fn evaluate(
    plugin: &Plugin,
    caller: &Caller,
    action: &str,
    resource: &str,
) -> crate::Result<Verdict> {
    block_on(plugin.evaluate(caller, &request(caller, action, resource), &[])).map(|o| o.value)
}

fn reason(plugin: &Plugin, caller: &Caller, action: &str, resource: &str) -> String {
    match evaluate(plugin, caller, action, resource) {
        Ok(Verdict::Allow(r) | Verdict::Deny(r) | Verdict::Approve(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn kinds(plugin: &Plugin, caller: &Caller, text: &str) -> String {
    match block_on(plugin.mask(caller, text)) {
        Ok(out) => out
            .value
            .into_iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>()
            .join(","),
        Err(e) => panic!("{e}"),
    }
}

fn load(rt: &Runtime, bytes: &[u8], first_party: bool, limits: Limits) -> Plugin {
    let options = PluginOptions {
        first_party,
        limits,
        ..PluginOptions::default()
    };
    rt.load("hostile", bytes, options)
        .unwrap_or_else(|e| panic!("load: {e}"))
}

fn who(project: &str, agent: &str, session: &str) -> Caller {
    Caller::new(project, agent, session, format!("req-{agent}-{session}"))
}

#[test]
fn a_plugin_that_remembers_tells_each_caller_only_its_own() {
    let rt = runtime(64);
    let hostile = load(&rt, &hostile_bytes(), false, Limits::default());
    let (alice, bob) = (who("p", "alice", "s1"), who("p", "bob", "s1"));
    assert_eq!(
        reason(&hostile, &alice, "remember", "alice-resource"),
        "remembered: []"
    );
    // Bob, even under alice's session name, gets an instance of his own.
    assert_eq!(
        reason(&hostile, &bob, "remember", "bob-resource"),
        "remembered: []"
    );
    // Alice's own instance did remember: the fixture does leak when shared.
    let again = reason(&hostile, &alice, "remember", "alice-resource-2");
    assert!(
        again.contains("resource=alice-resource ") && again.contains("alice-card"),
        "{again}"
    );
    // Masking instances are not policy instances: alice's decisions do not
    // reach her masking calls, and her text does not reach bob's.
    assert_eq!(kinds(&hostile, &alice, "remember alice-text 4111"), "m:");
    assert_eq!(
        kinds(&hostile, &alice, "remember"),
        "m:remember alice-text 4111"
    );
    assert_eq!(kinds(&hostile, &bob, "remember"), "m:");
    let other_project = who("q", "alice", "s1");
    assert_eq!(kinds(&hostile, &other_project, "remember"), "m:");
}

#[test]
fn instances_are_reused_only_within_their_scope() {
    let rt = runtime(64);
    let bytes = hostile_bytes();
    let count = |p: &Plugin, c: &Caller| reason(p, c, "count", "x");
    let (alice, bob) = (who("p", "alice", "s"), who("p", "bob", "s"));
    let (alice_t, alice_q) = (who("p", "alice", "t"), who("q", "alice", "s"));

    // Not first-party: one agent's session.
    let other = load(&rt, &bytes, false, Limits::default());
    assert_eq!(count(&other, &alice), "1");
    assert_eq!(count(&other, &alice), "2");
    assert_eq!(count(&other, &bob), "1");
    assert_eq!(count(&other, &alice_t), "1");
    assert_eq!(count(&other, &alice_q), "1");
    assert_eq!(count(&other, &alice), "3");
    assert_eq!(other.reuse_scope(&alice), ["p", "alice", "s"]);

    // First-party: every agent of one project, never another project.
    let first = load(&rt, &bytes, true, Limits::default());
    assert_eq!(count(&first, &alice), "1");
    assert_eq!(count(&first, &bob), "2");
    assert_eq!(count(&first, &alice_t), "3");
    assert_eq!(count(&first, &alice_q), "1");
    assert_eq!(first.reuse_scope(&alice), ["p", "", ""]);

    // The two exports never share an instance: a masking call is not
    // counted by the policy instance of the same scope.
    let fresh_scope = who("p", "carol", "s");
    assert_eq!(kinds(&other, &fresh_scope, "count"), "");
    assert_eq!(count(&other, &fresh_scope), "1");
}

#[test]
fn idle_instances_of_other_callers_make_room() {
    let rt = runtime(64);
    let limits = Limits {
        max_instances: Some(2),
        ..Limits::default()
    };
    let hostile = load(&rt, &hostile_bytes(), false, limits);
    let count = |c: &Caller| reason(&hostile, c, "count", "x");
    let (alice, bob, carol) = (
        who("p", "alice", "s"),
        who("p", "bob", "s"),
        who("p", "carol", "s"),
    );
    assert_eq!((count(&alice), count(&bob)), ("1".into(), "1".into()));
    assert_eq!((hostile.idle_instances(), hostile.live_instances()), (2, 2));
    // Carol's call needs a third instance: the oldest idle one (alice's) goes.
    assert_eq!(count(&carol), "1");
    assert_eq!((hostile.idle_instances(), hostile.live_instances()), (2, 2));
    assert_eq!(count(&bob), "2");
    assert_eq!(count(&alice), "1", "alice's instance was evicted");
}

/// Waits (bounded) until `plugin` has `n` live instances.
async fn until_live(plugin: &Plugin, n: u32) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while plugin.live_instances() < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never reached {n} live instances");
}

#[test]
fn a_plugin_at_its_share_cannot_take_another_plugins_instances() {
    // Room for four instances in the whole engine: two for each plugin.
    let rt = runtime(4);
    let limits = Limits {
        fuel: u64::MAX / 2,
        deadline_ms: 3000,
        max_instances: Some(2),
        max_calls_per_agent: Some(2),
        ..Limits::default()
    };
    let hostile = load(&rt, &hostile_bytes(), false, limits);
    let glob = rt
        .load(
            "glob",
            crate::builtin::plugin("glob").unwrap_or_default(),
            PluginOptions {
                first_party: true,
                limits: Limits {
                    max_instances: Some(2),
                    ..Limits::default()
                },
                ..PluginOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let alice = who("p", "alice", "s");
    let bob = who("p", "bob", "s");
    block_on(async {
        let spin = |n: usize| {
            let (hostile, caller) = (hostile.clone(), alice.clone());
            tokio::spawn(async move {
                let req = request(&caller, "loop", &format!("f/{n}"));
                hostile.evaluate(&caller, &req, &[]).await.map(|o| o.value)
            })
        };
        let spinning = [spin(1), spin(2)];
        until_live(&hostile, 2).await;
        // A third call of the hostile plugin is refused at once, by name.
        let refused = hostile
            .evaluate(&bob, &request(&bob, "ok", "x"), &[])
            .await
            .map(|o| o.value);
        match refused {
            Err(Error::TooManyCalls {
                setting, limit: 2, ..
            }) => {
                assert_eq!(setting, "max_instances")
            }
            other => panic!("{other:?}"),
        }
        // The glob plugin still gets instances of its own, twice at once.
        let rules = [Rule {
            id: "t.yaml:1".into(),
            effect: Effect::Allow,
            actions: vec!["read".into()],
            resources: vec!["files/*".into()],
            qualifiers: vec![],
            approval: None,
        }];
        let read = request(&bob, "read", "files/a");
        let (a, b) = tokio::join!(
            glob.evaluate(&bob, &read, &rules),
            glob.evaluate(&alice, &read, &rules)
        );
        for answer in [a, b] {
            assert!(
                matches!(answer.as_ref().map(|o| &o.value), Ok(Verdict::Allow(_))),
                "{answer:?}"
            );
        }
        assert!(
            spinning.iter().all(|t| !t.is_finished()),
            "the loops ended first"
        );
        for t in spinning {
            let end = t.await.unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(end, Err(Error::DeadlineExceeded { .. })),
                "{end:?}"
            );
        }
    });
}
