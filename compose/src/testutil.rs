//! Helpers shared by the crate's unit tests.

use std::path::Path;

use crate::yaml::Node;

/// The first document of `text`, parsed as `c.yaml`.
pub(crate) fn node(text: &str) -> Node {
    crate::yaml::parse(text, Path::new("c.yaml"))
        .expect("test YAML parses")
        .remove(0)
}

/// `count` pseudo-random strings of up to `max_len` characters from `alphabet`, from a fixed
/// seed (xorshift), for no-panic tests over arbitrary input.
pub(crate) fn random_strings(alphabet: &str, seed: u64, count: usize, max_len: u64) -> Vec<String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut seed = seed;
    (0..count)
        .map(|_| {
            let len = (seed % max_len) as usize;
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect()
        })
        .collect()
}

/// `text` normalized as project `name` in `/NAME`, with no environment or profiles.
pub(crate) fn project(text: &str, name: &str) -> crate::model::Project {
    let env = indexmap::IndexMap::new();
    let dir = Path::new("/").join(name);
    let ctx = crate::model::NormalizeContext {
        name,
        working_dir: &dir,
        environment: &env,
        profiles: &[],
    };
    crate::model::Project::from_node(&node(text), &ctx).expect("test project is valid")
}
