//! examples/wordpress: `up --wait`; the installer on the published port; the install completed
//! by the installer's form post; a post made over XML-RPC kept across `down` + `up`; the
//! database's main process killed, restarted by `restart: always`, and the site answering again.

use std::process::Command;
use std::time::Duration;

use super::{Example, curl, eventually};
use crate::harness::Engine;

const BASE: &str = "http://127.0.0.1:8080";
const TITLE: &str = "Survives down and up";

fn install(e: &Engine) {
    let (ok, page) = curl(e, &[&format!("{BASE}/wp-admin/install.php")]);
    assert!(ok && page.contains("WordPress"), "installer page: {page}");
    let (ok, page) = curl(
        e,
        &[
            "-X",
            "POST",
            &format!("{BASE}/wp-admin/install.php?step=2"),
            "--data-urlencode",
            "weblog_title=berth e2e",
            "--data-urlencode",
            "user_name=admin",
            "--data-urlencode",
            "admin_password=Berth-e2e-1",
            "--data-urlencode",
            "admin_password2=Berth-e2e-1",
            "--data-urlencode",
            "pw_weak=on",
            "--data-urlencode",
            "admin_email=admin@example.invalid",
            "--data-urlencode",
            "blog_public=0",
        ],
    );
    assert!(ok && page.contains("Success"), "install: {page}");
}

fn new_post(e: &Engine, title: &str) {
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>wp.newPost</methodName><params>\
         <param><value><int>1</int></value></param>\
         <param><value><string>admin</string></value></param>\
         <param><value><string>Berth-e2e-1</string></value></param>\
         <param><value><struct>\
         <member><name>post_title</name><value><string>{title}</string></value></member>\
         <member><name>post_content</name><value><string>e2e</string></value></member>\
         <member><name>post_status</name><value><string>publish</string></value></member>\
         </struct></value></param></params></methodCall>"
    );
    let (ok, reply) = curl(
        e,
        &[
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            &body,
            &format!("{BASE}/xmlrpc.php"),
        ],
    );
    assert!(ok && !reply.contains("fault"), "xmlrpc: {reply}");
}

fn home_shows_post(e: &Engine) -> bool {
    let (ok, home) = curl(e, &[&format!("{BASE}/")]);
    ok && home.contains(TITLE)
}

#[test]
fn example_wordpress_installs_keeps_posts_and_restarts_the_db() {
    let ex = Example::start("wordpress");
    let e = ex.engine();
    let s = ex.stack(&[]);
    ex.build(&s);
    ex.up(&s);
    ex.timed("install + post", || {
        install(e);
        new_post(e, TITLE);
        assert!(home_shows_post(e), "the new post is not on the home page");
    });
    ex.timed("down", || s.ok(&["down"]));
    ex.up(&s);
    assert!(home_shows_post(e), "the post did not survive down + up");
    ex.timed("db killed and restarted", || {
        let db = s.ok(&["ps", "-q", "db"]);
        let pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", &db]);
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -KILL {pid} (the db's mariadbd)");
        assert!(
            eventually(Duration::from_secs(60), || {
                e.ok(&["inspect", "-f", "{{.RestartCount}}", &db]) != "0"
            }),
            "the database was not restarted by its policy"
        );
        assert!(
            eventually(Duration::from_secs(60), || home_shows_post(e)),
            "the site did not answer again after the database restarted"
        );
    });
    ex.timed("down -v", || s.ok(&["down", "-v"]));
    drop(s);
    ex.finish();
}
