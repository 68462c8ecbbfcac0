//! No input may panic the parser, the expander, the config applier or the ignore matcher:
//! thousands of pseudo-random Dockerfiles and `.dockerignore`s built from tricky tokens
//! (deterministic seed, so a failure reproduces).

use std::collections::BTreeMap;

use berth_build::dockerignore::Matcher;
use berth_build::expand::{BuildInputs, Platform};
use oci_spec::image::Config;

const TOKENS: &[&str] = &[
    "FROM ",
    "FROM a AS b\n",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "SHELL ",
    "EXPOSE ",
    "WORKDIR ",
    "USER ",
    "VOLUME ",
    "STOPSIGNAL ",
    "ENTRYPOINT ",
    "MAINTAINER ",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\\",
    "`",
    "# escape=`\n",
    "#",
    "\"",
    "'",
    "$",
    "${",
    "}",
    ":-",
    ":+",
    ":?",
    "%%",
    "##",
    "=",
    "<<EOF",
    "<<-EOF",
    "EOF\n",
    "\tEOF\n",
    "<<'X'",
    "X\n",
    "--from=",
    "--from=0 ",
    "--mount=type=cache,target=/c ",
    "--interval=1s ",
    "--retries=-2 ",
    "--",
    "[",
    "]",
    "[\"a\"]",
    "[1]",
    ",",
    "a",
    "b/c",
    "**",
    "*",
    "?",
    "!",
    "/",
    "./",
    "..",
    "[a-",
    "µs",
    "é",
    "80-90/udp",
    "NONE",
    "\u{feff}",
    "0",
    "AS",
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn text(&mut self) -> String {
        let len = self.next() % 40;
        (0..len)
            .map(|_| TOKENS[self.next() % TOKENS.len()])
            .collect()
    }
}

#[test]
fn random_dockerfiles_never_panic() {
    let inputs = BuildInputs {
        build_args: BTreeMap::from([("a".to_string(), "x y".to_string())]),
        build_platform: Platform::parse("linux/amd64").expect("platform"),
        target_platform: Platform::parse("linux/arm/v7").expect("platform"),
    };
    let mut rng = Lcg(0x5eed);
    let mut parsed = 0;
    for _ in 0..4000 {
        let text = rng.text();
        let text = format!("FROM a\n{text}");
        let Ok(prepared) = berth_build::prepare(&text, &inputs, None) else {
            continue;
        };
        parsed += 1;
        for i in 0..prepared.dockerfile.stages.len() {
            let _ = prepared.stage_steps(i, &inputs, Config::default(), &[rng.text()]);
        }
    }
    assert!(
        parsed > 100,
        "too few inputs parsed ({parsed}): the generator is broken"
    );
}

#[test]
fn random_dockerignores_never_panic() {
    let mut rng = Lcg(0xd0c);
    for _ in 0..3000 {
        let text = rng.text();
        if let Ok(m) = Matcher::parse(&text) {
            let path = rng.text();
            let _ = m.excluded(&path);
            let _ = m.can_skip_dir(&path);
        }
    }
}
