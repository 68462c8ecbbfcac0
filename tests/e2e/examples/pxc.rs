//! examples/pxc: through HAProxy's published port a table is created and rows written; every
//! node reads them directly; with node1 stopped HAProxy's stats page shows MySQL_1 DOWN and
//! HAProxy keeps serving (six inserts); after `berth start node1` it rejoins and has the rows
//! written meanwhile.

use std::process::Output;
use std::time::Duration;

use super::{Example, curl, eventually, in_netns};
use crate::util::show;

const PASSWORD: &str = "abc123456";

#[test]
fn example_pxc_serves_through_haproxy_and_rejoins() {
    let ex = Example::start("pxc");
    let e = ex.engine();
    let s = ex.stack(&[]);
    ex.build(&s);
    ex.up(&s);
    let via_haproxy = |sql: &str| -> Output {
        in_netns(
            e,
            "mariadb",
            &[
                "-h",
                "127.0.0.1",
                "-P",
                "4002",
                "-uroot",
                &format!("-p{PASSWORD}"),
                "-NB",
                "-e",
                sql,
            ],
        )
    };
    let count = "SELECT COUNT(*) FROM e2e.t";
    ex.timed("write via haproxy, read on nodes", || {
        let out = via_haproxy(
            "CREATE DATABASE e2e; CREATE TABLE e2e.t (id INT PRIMARY KEY); \
             INSERT INTO e2e.t VALUES (1),(2)",
        );
        assert!(out.status.success(), "{}", show(&out));
        // Galera certifies a commit on every node but applies it on the others a moment later.
        for node in ["node1", "node2", "node3"] {
            assert!(
                eventually(Duration::from_secs(30), || s.sql(node, PASSWORD, count)
                    == (true, "2".to_owned())),
                "{node} does not have the 2 rows: {:?}",
                s.sql(node, PASSWORD, count)
            );
        }
    });
    ex.timed("node1 stopped", || {
        s.ok(&["stop", "node1"]);
        // HAProxy's checks (every second, down after two failures) take node1 out of the
        // rotation; from then on every connection goes to a live node.
        let stats_url = "http://127.0.0.1:4001/dbs;csv";
        let user = format!("admin:{PASSWORD}");
        assert!(
            eventually(Duration::from_secs(30), || {
                let (_, csv) = curl(e, &["-u", &user, stats_url]);
                csv.lines()
                    .any(|l| l.starts_with("proxy-mysql,MySQL_1,") && l.contains(",DOWN,"))
            }),
            "the stats page never showed MySQL_1 down:\n{}",
            curl(e, &["-u", &user, stats_url]).1
        );
        for i in 3..9 {
            let out = via_haproxy(&format!("INSERT INTO e2e.t VALUES ({i})"));
            assert!(
                out.status.success(),
                "haproxy stopped serving with node1 down: {}",
                show(&out)
            );
        }
    });
    ex.timed("node1 rejoined", || {
        s.ok(&["start", "node1"]);
        // Back in the cluster of three (not a new cluster of its own) ...
        let size = "SHOW STATUS LIKE 'wsrep_cluster_size'";
        assert!(
            eventually(Duration::from_secs(180), || s.sql("node1", PASSWORD, size)
                == (true, "wsrep_cluster_size\t3".to_owned())),
            "node1 did not rejoin the cluster: {:?}",
            s.sql("node1", PASSWORD, size)
        );
        // ... with the rows written while it was down (incremental state transfer).
        assert!(
            eventually(Duration::from_secs(60), || s.sql("node1", PASSWORD, count)
                == (true, "8".to_owned())),
            "node1 rejoined without the rows written while it was down: {:?}",
            s.sql("node1", PASSWORD, count)
        );
    });
    ex.timed("down -v", || s.ok(&["down", "-v"]));
    drop(s);
    ex.finish();
}
