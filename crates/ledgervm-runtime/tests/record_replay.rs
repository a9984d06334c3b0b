//! Record then replay is bit-identical (results, fuel, transcript, output) for every
//! guest, and a replay that is fed something else reports it.

mod support;

use ledgervm_runtime::value::Value;
use ledgervm_runtime::{
    CallError, CallOutcome, CallRequest, LoadedApp, OracleEvent, SharedState, Transcript,
};
use support::*;

/// Records `func(args)` live on `live_state`, replays it on `replay_state` and checks
/// the two outcomes are equal in every field.
async fn round_trip(
    app: &LoadedApp,
    func: &str,
    args: Vec<Value>,
    live_state: SharedState,
    replay_state: SharedState,
) -> CallOutcome {
    let live = app
        .call(CallRequest::live(func, args.clone()), live_state)
        .await;
    let again = app
        .call(
            CallRequest::replay(func, args.clone(), live.transcript.clone()),
            replay_state,
        )
        .await;
    assert_eq!(again, live, "{func}({args:?}) replay differs");
    live
}

/// 1,000 calls across every guest and export, each recorded and replayed.
#[test]
fn thousand_calls_replay_bit_identically() {
    let rt = runtime();
    let oracle = load(&rt, "oracle_guest.wasm");
    let sum = load(&rt, "sum.wasm");
    let cmd = load(&rt, "sum-command.wat");
    let nan = load(&rt, "float-nan.wat");
    let trap = load(&rt, "hostile-trap.wat");
    let lp = load(&rt, "hostile-loop.wat");
    let rec = load(&rt, "hostile-recursion.wat");
    let bomb = load(&rt, "hostile-membomb.wat");
    let mut calls = 0usize;
    let mut with_events = 0usize;
    let mut distinct_random = std::collections::BTreeSet::new();
    // The state evolves on both sides identically: live and replay each keep their
    // own store, as the node (live) and an auditor (replay) do.
    let (live_state, replay_state) = (fresh_state(), fresh_state());
    block_on(async {
        for i in 0..1_000u32 {
            let (app, func, args): (&LoadedApp, &str, Vec<Value>) = match i % 20 {
                0..=3 => (&oracle, "RandomU32", vec![]),
                4 | 5 => (&oracle, "Dice", vec![]),
                6 => (&oracle, "NowNanos", vec![]),
                7 => (&oracle, "Elapsed", vec![Value::U32(i)]),
                8 | 9 => (&oracle, "Mix", vec![Value::U32(i)]),
                10 => (&oracle, "SwapRandom", vec![]),
                11 => (&oracle, "Count", vec![Value::I64(i64::from(i))]),
                12 => (&sum, "Sum", vec![Value::U32(i), Value::U32(i * 7)]),
                13 => (&cmd, "Sum", vec![Value::U32(i), Value::U32(1)]),
                14 => (&nan, "churn", vec![Value::I32(i as i32)]),
                15 => (
                    &nan,
                    "nan_payload_add",
                    vec![Value::I64(0x7ff0_0000_0000_0001 + i64::from(i))],
                ),
                16 => (
                    &trap,
                    "div",
                    vec![Value::I32(i as i32), Value::I32((i % 3) as i32)],
                ),
                17 => (&lp, "spin", vec![]),
                18 => (&rec, "recurse", vec![Value::I64(0)]),
                _ => (&bomb, "grow_count", vec![]),
            };
            // Keep the infinite loop cheap.
            let out = if func == "spin" {
                let mut limits = rt.config().default_limits.clone();
                limits.fuel = 20_000;
                let live = app
                    .call(
                        CallRequest::live(func, args.clone()).with_limits(limits.clone()),
                        fresh_state(),
                    )
                    .await;
                let again = app
                    .call(
                        CallRequest::replay(func, args, live.transcript.clone())
                            .with_limits(limits),
                        fresh_state(),
                    )
                    .await;
                assert_eq!(again, live);
                live
            } else if std::ptr::eq(app, &oracle) {
                round_trip(app, func, args, live_state.clone(), replay_state.clone()).await
            } else {
                round_trip(app, func, args, fresh_state(), fresh_state()).await
            };
            calls += 1;
            if !out.transcript.events.is_empty() {
                with_events += 1;
            }
            if func == "RandomU32" {
                distinct_random.insert(format!("{:?}", out.result));
            }
        }
    });
    assert_eq!(calls, 1_000);
    assert!(with_events >= 400, "only {with_events} calls used oracles");
    // Live randomness is real: 200 draws of a u32 are not all the same.
    assert!(distinct_random.len() > 150, "{}", distinct_random.len());
    assert_eq!(state_contents(&live_state), state_contents(&replay_state));
    assert_eq!(state_contents(&live_state).len(), 2);
}

fn state_contents(s: &SharedState) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut g = s.lock();
    let ks = g.list_keys(b"", None, 100).unwrap();
    ks.iter().map(|k| (k.clone(), g.get(k).unwrap())).collect()
}

#[test]
fn replay_state_matches_live_state() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    let (a, b) = (fresh_state(), fresh_state());
    block_on(async {
        for i in 0..50 {
            let f = if i % 2 == 0 { "SwapRandom" } else { "Count" };
            let args = if f == "Count" {
                vec![Value::I64(i)]
            } else {
                vec![]
            };
            round_trip(&app, f, args, a.clone(), b.clone()).await;
        }
    });
    assert_eq!(state_contents(&a), state_contents(&b));
    assert_eq!(state_contents(&a).len(), 2);
}

fn random_events(t: &Transcript) -> Vec<usize> {
    t.events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, OracleEvent::Random { .. }))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn tampered_random_bytes_change_the_result() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    block_on(async {
        let live = call(&app, "RandomU32", vec![]).await;
        let mut t = live.transcript.clone();
        let i = *random_events(&t).last().unwrap();
        let OracleEvent::Random { bytes } = &mut t.events[i] else {
            unreachable!()
        };
        bytes[0] ^= 0xff;
        let replayed = app
            .call(
                CallRequest::replay("RandomU32", vec![], t.clone()),
                fresh_state(),
            )
            .await;
        // The replay follows the (tampered) transcript, so it does not diverge, but its
        // result differs from the recorded one: the auditor's comparison catches it.
        assert_eq!(replayed.transcript, t);
        assert!(replayed.result.is_ok());
        assert_ne!(replayed.result, live.result);
    });
}

#[test]
fn tampered_clock_changes_the_result() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    block_on(async {
        let live = call(&app, "NowNanos", vec![]).await;
        let mut t = live.transcript.clone();
        let pos = t
            .events
            .iter()
            .position(|e| matches!(e, OracleEvent::WallClock { .. }))
            .unwrap();
        let OracleEvent::WallClock { secs, .. } = &mut t.events[pos] else {
            unreachable!()
        };
        *secs += 1;
        let replayed = app
            .call(CallRequest::replay("NowNanos", vec![], t), fresh_state())
            .await;
        let (Ok(a), Ok(b)) = (&live.result, &replayed.result) else {
            panic!()
        };
        let (Value::I64(a), Value::I64(b)) = (&a[0], &b[0]) else {
            panic!()
        };
        assert_eq!(b - a, 1_000_000_000);
    });
}

fn divergence(out: &CallOutcome) -> &ledgervm_runtime::Divergence {
    match &out.result {
        Err(CallError::Divergence(d)) => d,
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn missing_extra_and_wrong_kind_events_diverge_precisely() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    block_on(async {
        let live = call(&app, "Mix", vec![Value::U32(1)]).await;
        let events = &live.transcript.events;
        assert!(events.len() >= 3);

        // Missing: drop the last event.
        let mut t = live.transcript.clone();
        t.events.pop();
        let out = app
            .call(
                CallRequest::replay("Mix", vec![Value::U32(1)], t),
                fresh_state(),
            )
            .await;
        let d = divergence(&out);
        assert_eq!(d.oracle_index, events.len() - 1);
        assert_eq!(d.expected, "end of transcript");
        assert_eq!(d.asked, events.last().unwrap().describe());
        assert_eq!(out.transcript.events[..], events[..events.len() - 1]);

        // Extra: append an event the guest never asks for.
        let mut t = live.transcript.clone();
        t.events.push(OracleEvent::MonotonicClock { nanos: 5 });
        let out = app
            .call(
                CallRequest::replay("Mix", vec![Value::U32(1)], t),
                fresh_state(),
            )
            .await;
        let d = divergence(&out);
        assert_eq!(
            (d.oracle_index, d.asked.as_str(), d.expected.as_str()),
            (events.len(), "end of call", "monotonic clock")
        );

        // Wrong kind: swap the first event for a wall-clock reading.
        let mut t = live.transcript.clone();
        let first = t.events[0].describe();
        t.events[0] = OracleEvent::WallClock { secs: 1, nanos: 0 };
        let out = app
            .call(
                CallRequest::replay("Mix", vec![Value::U32(1)], t),
                fresh_state(),
            )
            .await;
        let d = divergence(&out);
        assert_eq!(
            (d.oracle_index, d.asked.as_str(), d.expected.as_str()),
            (0, first.as_str(), "wall clock")
        );
        assert!(
            d.call_index.is_none(),
            "the caller layer fills the call number"
        );

        // Wrong size: random bytes of another length.
        let mut t = live.transcript.clone();
        let i = random_events(&t)[0];
        let OracleEvent::Random { bytes } = &mut t.events[i] else {
            unreachable!()
        };
        bytes.push(0);
        let n = bytes.len();
        let out = app
            .call(
                CallRequest::replay("Mix", vec![Value::U32(1)], t),
                fresh_state(),
            )
            .await;
        let d = divergence(&out);
        assert_eq!(d.oracle_index, i);
        assert_eq!(d.expected, format!("random({n} bytes)"));
    });
}

#[test]
fn tampered_argument_is_reported() {
    let rt = runtime();
    let oracle = load(&rt, "oracle_guest.wasm");
    let sum = load(&rt, "sum.wasm");
    block_on(async {
        // A pure function: a changed argument gives a different result.
        let live = call(&sum, "Sum", vec![Value::U32(5), Value::U32(7)]).await;
        let replayed = replay(&sum, "Sum", vec![Value::U32(5), Value::U32(8)], &live).await;
        assert_ne!(replayed.result, live.result);
        // With oracles, the changed argument changes the output while following the
        // transcript: the comparison sees it.
        let live = call(&oracle, "Mix", vec![Value::U32(1)]).await;
        let replayed = replay(&oracle, "Mix", vec![Value::U32(2)], &live).await;
        assert_ne!(replayed.result, live.result);
        assert_ne!(replayed.stdout, live.stdout);
        // A changed argument that makes the guest ask different questions diverges:
        // Elapsed(0) vs Elapsed(n) both read the clock twice, but Count(…) asks nothing
        // while the recorded Dice call asked for random bytes.
        let live = call(&oracle, "Dice", vec![]).await;
        let replayed = oracle
            .call(
                CallRequest::replay("Count", vec![Value::I64(1)], live.transcript.clone()),
                fresh_state(),
            )
            .await;
        let d = divergence(&replayed);
        assert_eq!(d.asked, "end of call");
        // And an argument of the wrong type is refused before running.
        let replayed = replay(&sum, "Sum", vec![Value::F64(1), Value::U32(7)], &live).await;
        assert_eq!(replayed.result.unwrap_err().code(), "bad_arguments");
    });
}

/// `random_get(0, 16)` then `random_get(65530, 16)` (outside the one-page memory):
/// returns both errnos and the first 8 bytes drawn.
const RANDOM_CALLS: &str = r#"(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "draw") (result i32 i32 i64)
    (call $rand (i32.const 0) (i32.const 16))
    (call $rand (i32.const 65530) (i32.const 16))
    (i64.load (i32.const 0))))"#;

#[test]
fn one_random_event_per_random_get() {
    let rt = runtime();
    let app = rt.load(RANDOM_CALLS.as_bytes()).unwrap();
    block_on(async {
        let live = call(&app, "draw", vec![]).await;
        let Ok(vals) = &live.result else {
            panic!("{:?}", live.result)
        };
        // 21 = EFAULT: the out-of-bounds request draws nothing and records nothing.
        assert_eq!(vals[..2], [Value::I32(0), Value::I32(21)]);
        match live.transcript.events.as_slice() {
            [OracleEvent::Random { bytes }] => {
                assert_eq!(bytes.len(), 16);
                let first = i64::from_le_bytes(bytes[..8].try_into().unwrap());
                assert_eq!(vals[2], Value::I64(first));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(replay(&app, "draw", vec![], &live).await, live);
    });
}
