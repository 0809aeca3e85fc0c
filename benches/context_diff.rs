//! Context update + diff of a 2,000-line context through the ContextHub (target < 5 ms),
//! and the diff alone for reference.

use std::hint::black_box;

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::Config;
use aios::context::{Caller, Cause, diff_texts};
use criterion::{Criterion, criterion_group, criterion_main};

const LINES: usize = 2_000;

fn document(edit: usize) -> String {
    let mut out = String::with_capacity(LINES * 48);
    for i in 0..LINES {
        // Each revision changes 5 lines spread through the document.
        if i % 400 == 7 {
            out.push_str(&format!("line {i}: revised in edit {edit}\n"));
        } else {
            out.push_str(&format!("line {i}: the agent's working notes, unchanged\n"));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.runtime.data_dir = dir.path().to_path_buf();
    // The in-process bus: measure the hub, not a Redis that happens to run here.
    config.bus.backend = aios::config::BusBackend::Memory;
    let runtime = rt
        .block_on(Runtime::start(
            RuntimeOptions::owning(config).expect("data dir lock"),
        ))
        .expect("runtime");
    let hub = runtime.hub().clone();
    let me = Caller::operator("bench");
    let cause = Cause {
        caller: me.to_string(),
        intent_id: None,
        tool: None,
    };
    rt.block_on(hub.update_context(&me, "ops-agent", document(0), "seed".into(), cause.clone()))
        .expect("seed");

    let mut edit = 0usize;
    c.bench_function("context update + diff, 2000 lines", |b| {
        b.iter(|| {
            edit += 1;
            rt.block_on(async {
                let v = hub
                    .update_context(
                        &me,
                        "ops-agent",
                        document(edit),
                        format!("edit {edit}"),
                        cause.clone(),
                    )
                    .await
                    .expect("update");
                let d = hub
                    .diff_context(&me, "ops-agent", v.version - 1, v.version)
                    .await
                    .expect("diff");
                black_box(d.added);
            })
        })
    });

    let (a, b2) = (document(1), document(2));
    c.bench_function("diff only, 2000 lines", |b| {
        b.iter(|| black_box(diff_texts("ops-agent", 1, &a, 2, &b2).added))
    });
    rt.block_on(runtime.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
