//! examples/lb: 30 requests through nginx reach all three `web` replicas.

use std::collections::BTreeSet;

use super::{Example, curl};

#[test]
fn example_lb_spreads_over_three_replicas() {
    let ex = Example::start("lb");
    let s = ex.stack(&[]);
    ex.build(&s);
    ex.up(&s);
    ex.timed("checks", || {
        let mut seen = BTreeSet::new();
        for i in 0..30 {
            let (ok, body) = curl(ex.engine(), &["http://127.0.0.1:8081/"]);
            assert!(ok, "request {i} through nginx failed: {body}");
            seen.insert(body.trim().to_owned());
        }
        assert_eq!(seen.len(), 3, "30 requests reached {seen:?}");
    });
    ex.timed("down -v", || s.ok(&["down", "-v"]));
    drop(s);
    ex.finish();
}
