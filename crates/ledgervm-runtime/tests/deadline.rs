//! A call stopped by the wall-clock deadline records the fuel consumed at the stop; a
//! replay given exactly that fuel stops at the same point.

mod support;

use ledgervm_runtime::exec::FUEL_SLICE;
use ledgervm_runtime::{CallError, CallOutcome, CallRequest, Limits, LoadedApp};
use std::time::Duration;
use support::*;

fn huge_fuel_short_deadline() -> Limits {
    Limits {
        fuel: u64::MAX / 4,
        deadline: Duration::from_millis(150),
        ..Limits::default()
    }
}

async fn live_then_replay(app: &LoadedApp, func: &str) -> (CallOutcome, CallOutcome) {
    let live = app
        .call(
            CallRequest::live(func, vec![]).with_limits(huge_fuel_short_deadline()),
            fresh_state(),
        )
        .await;
    let replay = app
        .call(
            CallRequest::replay(func, vec![], live.transcript.clone())
                .with_limits(huge_fuel_short_deadline()),
            fresh_state(),
        )
        .await;
    (live, replay)
}

#[test]
fn deadline_replay_stops_at_the_recorded_fuel() {
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    block_on(async {
        let (live, replay) = live_then_replay(&app, "spin").await;
        let Err(CallError::Deadline { fuel_consumed }) = live.result else {
            panic!("expected deadline, got {:?}", live.result)
        };
        assert_eq!(live.transcript.deadline_fuel, Some(fuel_consumed));
        // 150 ms of a tight loop is far more than one fuel slice; a stale count (the
        // bug this guards against) read 0 here.
        assert!(fuel_consumed > FUEL_SLICE, "{fuel_consumed}");
        assert_eq!(live.fuel_consumed, fuel_consumed);
        assert_eq!(replay, live);
    });
}

#[test]
fn deadline_with_near_max_fuel_records_real_fuel() {
    // The fuel limit itself must not matter: u64::MAX (more than wasmtime injects at
    // once) stops at the deadline with the same exact accounting.
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    let limits = Limits {
        fuel: u64::MAX,
        ..huge_fuel_short_deadline()
    };
    block_on(async {
        let live = app
            .call(
                CallRequest::live("spin_clock", vec![]).with_limits(limits.clone()),
                fresh_state(),
            )
            .await;
        let Err(CallError::Deadline { fuel_consumed }) = live.result else {
            panic!("expected deadline, got {:?}", live.result)
        };
        assert!(fuel_consumed > FUEL_SLICE, "{fuel_consumed}");
        assert_eq!(live.transcript.deadline_fuel, Some(fuel_consumed));
        let replay = app
            .call(
                CallRequest::replay("spin_clock", vec![], live.transcript.clone())
                    .with_limits(limits),
                fresh_state(),
            )
            .await;
        assert_eq!(replay, live);
    });
}

#[test]
fn deadline_replay_reproduces_oracle_answers_before_the_stop() {
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    block_on(async {
        let (live, replay) = live_then_replay(&app, "spin_clock").await;
        assert!(
            matches!(live.result, Err(CallError::Deadline { .. })),
            "{:?}",
            live.result
        );
        assert!(
            !live.transcript.events.is_empty(),
            "the loop reads the clock every 4096 iterations"
        );
        assert_eq!(replay, live);
    });
}

#[test]
fn deadline_fuel_is_what_pins_the_stop() {
    // Replaying with one unit less fuel than recorded must not match: the recorded fuel,
    // not the wall clock, decides where a replay stops.
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    block_on(async {
        let live = app
            .call(
                CallRequest::live("spin", vec![]).with_limits(huge_fuel_short_deadline()),
                fresh_state(),
            )
            .await;
        let mut t = live.transcript.clone();
        let f = t.deadline_fuel.unwrap();
        t.deadline_fuel = Some(f - 1);
        let replay = app
            .call(
                CallRequest::replay("spin", vec![], t).with_limits(huge_fuel_short_deadline()),
                fresh_state(),
            )
            .await;
        assert_eq!(
            replay.result,
            Err(CallError::Deadline {
                fuel_consumed: f - 1
            })
        );
        assert_ne!(replay, live);
    });
}
