//! examples/redis: a key set on the primary is read from the replica.

use std::time::Duration;

use super::{Example, eventually};

#[test]
fn example_redis_replicates() {
    let ex = Example::start("redis");
    let s = ex.stack(&[]);
    ex.build(&s);
    ex.up(&s);
    ex.timed("checks", || {
        s.ok(&[
            "exec",
            "primary",
            "redis-cli",
            "set",
            "berth-e2e",
            "replicated",
        ]);
        assert!(
            eventually(Duration::from_secs(20), || {
                s.run(&["exec", "replica", "redis-cli", "get", "berth-e2e"])
                    .stdout
                    .starts_with(b"replicated")
            }),
            "the replica never saw the key"
        );
    });
    ex.timed("down -v", || s.ok(&["down", "-v"]));
    drop(s);
    ex.finish();
}
