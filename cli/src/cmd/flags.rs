//! Flag values shared by many verbs: `--filter KEY=VALUE` lists and `KEY=VALUE` maps
//! (`--label`, `--opt`), parsed once so every verb reports mistakes the same way.

use anyhow::{Context as _, bail};
use berth_engine::api::models::Filters;

/// `--filter KEY=VALUE` (repeatable) as engine filters.
pub fn filters(list: &[String]) -> anyhow::Result<Filters> {
    let mut f = Filters::default();
    for item in list {
        let (k, v) = item
            .split_once('=')
            .with_context(|| format!("--filter {item:?}: expected KEY=VALUE"))?;
        f = f.with(k, v);
    }
    Ok(f)
}

/// `KEY=VALUE` items of the flag `what`; a bare `KEY` means an empty value unless `need_value`.
pub fn key_values<C: FromIterator<(String, String)>>(
    list: &[String],
    what: &str,
    need_value: bool,
) -> anyhow::Result<C> {
    list.iter()
        .map(|item| {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k, v),
                None if !need_value => (item.as_str(), ""),
                None => bail!("{what} {item:?}: expected KEY=VALUE"),
            };
            if k.is_empty() {
                bail!("{what} {item:?}: the key is empty");
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn key_values_and_filters_report_mistakes() {
        assert!(key_values::<BTreeMap<_, _>>(&["type".into()], "--opt", true).is_err());
        assert!(key_values::<BTreeMap<_, _>>(&["=x".into()], "--label", false).is_err());
        let m: BTreeMap<String, String> = key_values(&["a".into()], "--label", false).unwrap();
        assert_eq!(m["a"], "");
        let f = filters(&["label!=x".into(), "dangling=true".into()]).unwrap();
        assert_eq!(f.get("label!"), ["x"]);
        assert!(filters(&["nokey".into()]).is_err());
    }
}
