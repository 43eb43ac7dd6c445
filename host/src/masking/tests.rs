//! The host's side of masking, without plugins (an empty chain, or findings
//! given directly): what a document costs, keys, numbers and limits.

use super::*;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes this thread allocates, so a test can measure what a
/// piece of masking costs.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes)));
}

// SAFETY: every call is handed to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes allocated on this thread while `f` runs.
fn allocated_by<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATED.with(Cell::get);
    let r = f();
    (ALLOCATED.with(Cell::get) - before, r)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

struct Setup {
    policy: MaskingPolicy,
    key: MaskKey,
}

impl Setup {
    fn new() -> Self {
        let mut policy = MaskingPolicy::default();
        policy
            .operators
            .insert("credit_card".into(), Operator::LastFour);
        Self {
            policy,
            key: MaskKey::from_bytes([3; 32]),
        }
    }

    /// A masker with no plugins.
    fn masker(&self, limits: Limits) -> Masker<'_> {
        Masker {
            chain: Vec::new(),
            policy: &self.policy,
            key: &self.key,
            project: "p",
            agent: "a",
            session: "s",
            request_id: "r",
            findings: None,
            limits,
        }
    }
}

fn span(kind: &str, start: usize, end: usize) -> Span {
    Span {
        kind: kind.into(),
        plugin: 0,
        start,
        end,
        split_head: false,
    }
}

/// `{"<key_len bytes>": [0, 0, …]}` with `n` zeros.
fn long_key_doc(key_len: usize, n: usize) -> Value {
    json!({ "k".repeat(key_len): vec![0; n] })
}

#[test]
fn what_a_value_costs_does_not_grow_with_its_keys() {
    // Every value under a 16 KiB key once cost a copy of its pointer:
    // 4,096 zeros cost 64 MiB (a 0.5 MB body reached 2 GB).
    let setup = Setup::new();
    let masker = setup.masker(Limits::default());
    let rt = runtime();
    let cost = |key_len: usize| {
        let doc = long_key_doc(key_len, 4096);
        let (bytes, masked) = allocated_by(|| rt.block_on(masker.mask_json(doc)));
        assert!(masked.is_ok_and(|(_, found)| found.is_empty()));
        bytes
    };
    let short = cost(16);
    let long = cost(16 << 10);
    // The key is copied a few times (the document's pieces, the text the
    // plugins read), never once per value.
    assert!(
        long.saturating_sub(short) < 8 * (16 << 10),
        "a 16 KiB key cost {} more bytes over 4,096 values",
        long.saturating_sub(short)
    );
}

#[test]
fn pointers_are_built_only_for_findings_and_only_within_the_limit() {
    let setup = Setup::new();
    let masker = setup.masker(Limits::default());
    let n = 4096;
    let card = "4111111111111111";
    let doc = || json!({ "k".repeat(16 << 10): vec![card; n] });
    let card_spans = |every: usize| -> Vec<Vec<Span>> {
        (0..=n)
            .map(|i| {
                // Piece 0 is the key; values are 1..=n.
                if i > 0 && i % every == 0 {
                    vec![span("credit_card", 0, 16)]
                } else {
                    Vec::new()
                }
            })
            .collect()
    };
    // A finding in every value: 4,096 pointers of 16 KiB would be 64 MiB.
    // It fails before building any.
    let (bytes, r) = allocated_by(|| masker.finish_json(Doc::new(doc()), card_spans(1)));
    let e = r.map(|_| ()).unwrap_err();
    assert!(
        matches!(
            e,
            crate::Error::MaskingLimit {
                setting: "max_pointer_bytes",
                ..
            }
        ),
        "{e}"
    );
    assert!(bytes < 4 << 20, "{bytes} bytes allocated");
    // A finding in one value in 1,024: four pointers, fine.
    let (out, found) = masker
        .finish_json(Doc::new(doc()), card_spans(1024))
        .expect("within limits");
    assert_eq!(found.len(), 4);
    let pointer = format!("/{}/1023", "k".repeat(16 << 10));
    assert_eq!(found[0].pointer.as_deref(), Some(pointer.as_str()));
    assert_eq!(
        out.as_object()
            .and_then(|m| m.values().next())
            .and_then(|a| a.get(1023)),
        Some(&json!("************1111"))
    );
}

#[test]
fn keys_are_masked_and_pointers_use_the_masked_key() {
    let setup = Setup::new();
    let masker = setup.masker(Limits::default());
    let doc = Doc::new(
        json!({"customers": {"jane.doe@example.com": {"card": "4111111111111111"}, "4111111111111111": 1}}),
    );
    // Pieces: customers, jane…, card, 4111… (value), 4111… (key), 1.
    let mut spans = vec![Vec::new(); doc.pieces.len()];
    spans[1].push(span("email", 0, 20));
    spans[3].push(span("credit_card", 0, 16));
    spans[4].push(span("credit_card", 0, 16));
    let (out, found) = masker.finish_json(doc, spans).expect("masked");
    assert_eq!(
        out,
        json!({"customers": {"[REDACTED:email]": {"card": "************1111"}, "************1111": 1}})
    );
    let got: Vec<_> = found
        .iter()
        .map(|f| (f.pointer.as_deref().unwrap_or_default(), f.in_key))
        .collect();
    assert_eq!(
        got,
        [
            ("/customers/[REDACTED:email]", true),
            ("/customers/[REDACTED:email]/card", false),
            ("/customers/************1111", true),
        ]
    );
    let answer = serde_json::to_string(&found).unwrap_or_default();
    assert!(
        !answer.contains("jane") && !answer.contains("4111"),
        "{answer}"
    );
}

#[test]
fn too_many_findings_or_too_large_an_answer_fail_closed() {
    let setup = Setup::new();
    let n = 100;
    let doc = || json!(vec!["ab"; n]);
    let every_byte = || -> Vec<Vec<Span>> {
        (0..n)
            .map(|_| vec![span("x", 0, 1), span("y", 1, 2)])
            .collect()
    };
    let limits = Limits {
        max_findings: 2 * n - 1,
        ..Limits::default()
    };
    let e = setup
        .masker(limits)
        .finish_json(Doc::new(doc()), every_byte())
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("the content has 200 findings; the limit is `masking.max_findings` (199)"),
        "{e}"
    );
    let limits = Limits {
        max_answer_bytes: 1024,
        ..Limits::default()
    };
    let e = setup
        .masker(limits)
        .finish_json(Doc::new(doc()), every_byte())
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.to_string().contains("`masking.max_answer_bytes` (1024)"),
        "{e}"
    );
    // Within both, every byte is masked.
    let (out, found) = setup
        .masker(Limits::default())
        .finish_json(Doc::new(doc()), every_byte())
        .expect("within limits");
    assert_eq!(found.len(), 2 * n);
    assert_eq!(out[0], "[REDACTED:x][REDACTED:y]");
}

#[test]
fn touching_findings_of_one_kind_merge_and_others_do_not() {
    let per_byte: Vec<Span> = (0..1000).map(|i| span("x", i, i + 1)).collect();
    let merged = merge(per_byte);
    assert_eq!(
        merged.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
        [(0, 1000)]
    );
    let merged = merge(vec![span("x", 0, 1), span("y", 1, 2), span("x", 2, 3)]);
    assert_eq!(merged.len(), 3, "different kinds stay apart");
    let m = merge(vec![span("k", 5, 9), span("k", 0, 6), span("k", 12, 14)]);
    let got: Vec<_> = m.iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(got, [(0, 9), (12, 14)], "overlaps merge into their union");
}
