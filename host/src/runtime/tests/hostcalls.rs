//! Host calls against their limits: the log budget and escaping, fuel for
//! host calls, `wasi:random`'s size, resource handles, `wasi:cli/exit`, and
//! the WASI that is not offered.

use super::*;
use std::sync::{Arc, Mutex};

/// Log output of the calls made on this thread while the guard lives.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

fn log_limits(lines_per_call: u32, lines_per_sec: u32) -> Limits {
    Limits {
        log_lines_per_call: lines_per_call,
        log_lines_per_sec: lines_per_sec,
        log_bytes_per_sec: 1 << 20,
        ..Limits::default()
    }
}

#[test]
fn a_log_flood_is_cut_to_the_call_budget_and_counted() {
    each_isolation(|i| {
        let (out, _guard) = capture();
        let rt = runtime();
        let hostile = load(
            &rt,
            "hostile",
            &hostile_bytes(),
            options(i, log_limits(10, 1000)),
        );
        let verdict = hostile
            .evaluate_now(&request("log", "x"), &[])
            .map(|o| o.value);
        assert!(matches!(verdict, Ok(Verdict::Allow(_))), "{verdict:?}");
        let lines = out.lines();
        let written = lines
            .iter()
            .filter(|l| l.contains("hostile log line"))
            .count();
        assert_eq!(written, 10, "{i:?}: the per-call budget");
        assert_eq!(hostile.log_lines_dropped(), 990);
        let summary: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("plugin log lines dropped"))
            .collect();
        assert_eq!(summary.len(), 1, "{summary:?}");
        assert!(summary[0].contains("dropped_lines=990"), "{}", summary[0]);
        assert!(
            summary[0].contains("request_id=\"req-1\""),
            "{}",
            summary[0]
        );
    });
}

/// The plugin's bucket is shared by its calls and instances (its refill is
/// tested on a fake clock in `host_log`): with no lines a second, nothing
/// is written whatever the per-call budget.
#[test]
fn the_plugin_budget_applies_across_calls() {
    let (out, _guard) = capture();
    let rt = runtime();
    let hostile = load(
        &rt,
        "hostile",
        &hostile_bytes(),
        options(Isolation::Fresh, log_limits(10, 0)),
    );
    for _ in 0..3 {
        assert!(hostile.evaluate_now(&request("log", "x"), &[]).is_ok());
    }
    let written = out
        .lines()
        .iter()
        .filter(|l| l.contains("hostile log line"))
        .count();
    assert_eq!(written, 0);
    assert_eq!(hostile.log_lines_dropped(), 3000);
}

#[test]
fn host_calls_are_charged_fuel_by_size() {
    let rt = runtime();
    let hostile = load(
        &rt,
        "hostile",
        &hostile_bytes(),
        options(Isolation::Fresh, Limits::default()),
    );
    let out = hostile
        .evaluate_now(&request("log", "x"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    // 1,000 log calls of 100 bytes each.
    let charged = 1000 * (HOST_CALL_FUEL + 100 * HOST_CALL_FUEL_PER_BYTE);
    assert!(out.fuel_used >= charged, "used {}", out.fuel_used);
}

#[test]
fn an_endless_log_loop_runs_out_of_fuel_within_its_budget() {
    each_isolation(|i| {
        let (out, _guard) = capture();
        let limits = Limits {
            fuel: 50_000_000,
            deadline_ms: 60_000,
            ..log_limits(10, 1000)
        };
        hostile_case(i, "log_forever", limits, |e| {
            matches!(
                e,
                Error::OutOfFuel {
                    fuel: 50_000_000,
                    ..
                }
            )
        });
        let written = out
            .lines()
            .iter()
            .filter(|l| l.contains("hostile log line"))
            .count();
        assert_eq!(written, 10, "{i:?}");
    });
}

#[test]
fn a_forged_log_line_comes_out_as_one_escaped_line() {
    let (out, _guard) = capture();
    let rt = runtime();
    let hostile = load(&rt, "hostile", &hostile_bytes(), PluginOptions::default());
    assert!(
        hostile
            .evaluate_now(&request("log_forge", "x"), &[])
            .is_ok()
    );
    let lines = out.lines();
    let forged: Vec<_> = lines.iter().filter(|l| l.contains("innocent")).collect();
    assert_eq!(forged.len(), 1, "{lines:?}");
    let line = forged[0];
    assert!(
        line.contains(
            r#""innocent\n2026-12-06T07:00:00.000000Z  INFO palisade::api: decision=allow agent=admin\r\u{001b}[2K\u{202e}""#
        ),
        "{line}"
    );
    assert!(line.contains("plugin=\"hostile\""), "{line}");
    assert!(
        !lines.iter().any(|l| l.starts_with("2026-12-06T07:00:00")),
        "{lines:?}"
    );
}

#[test]
fn a_huge_random_request_fails_fast_and_named() {
    each_isolation(|i| {
        hostile_case(i, "random", Limits::default(), |e| {
            matches!(e, Error::HostCallLimit { detail, .. }
                if detail.contains("get-random-bytes") && detail.contains("67108864")
                    && detail.contains(&MAX_RANDOM_BYTES.to_string()))
        });
    });
}

#[test]
fn leaking_resource_handles_stops_at_the_store_limit() {
    each_isolation(|i| {
        let limits = Limits {
            fuel: u64::MAX / 2,
            deadline_ms: 60_000,
            ..Limits::default()
        };
        hostile_case(
            i,
            "handles",
            limits,
            |e| matches!(e, Error::HandleLimit { limit, .. } if *limit == MAX_HANDLES),
        );
    });
}

#[test]
fn exiting_is_named() {
    each_isolation(|i| {
        hostile_case(i, "exit", Limits::default(), |e| {
            matches!(e, Error::PluginExited { .. }) && e.kind() == "plugin_exited"
        });
    });
}

/// A component that imports `wasi:sockets/tcp` and nothing else.
fn sockets_component() -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    let mut imports = ComponentImportSection::new();
    imports.import("wasi:sockets/tcp@0.2.0", ComponentTypeRef::Instance(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

#[test]
fn a_plugin_importing_sockets_is_refused_at_load() {
    let rt = runtime();
    let err = rt
        .load("net", &sockets_component(), PluginOptions::default())
        .map(|_| ())
        .expect_err("sockets are not offered");
    match err {
        Error::InvalidPlugin { message, .. } => {
            assert!(message.contains("`wasi:sockets/tcp@0.2.0`"), "{message}");
            assert!(message.contains("no network"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// What the first-party plugins import is what the host offers.
#[test]
fn first_party_plugins_load_on_the_narrowed_linker() {
    let rt = runtime();
    for name in ["aws", "git", "glob", "pii", "secrets", "stripe"] {
        let bytes = crate::builtin::plugin(name).unwrap_or_default();
        let info = rt.inspect(bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            info.imports.iter().all(|i| !i.starts_with("wasi:sockets/")),
            "{name}: {:?}",
            info.imports
        );
        load(&rt, name, bytes, PluginOptions::default());
    }
}
